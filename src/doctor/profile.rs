//! A tuning profile: a sysctl file (`tuning/NAME.conf`), parsed the way `sysctl -p` reads it.
//!
//! Syntax: one `key = value` per line; blank lines and lines starting with `#` or `;` are
//! ignored; a leading `-` on the key (sysctl.d's "ignore if absent") is accepted and dropped.
//! Anything else is an error naming the file and line, including a comment after a value,
//! which `sysctl -p` would try to write into the kernel as part of the value.

use std::path::{Path, PathBuf};

/// Where `--profile NAME` is looked for, after `./tuning/`: relative to the binary
/// (`target/debug/linerate` → the repository's `tuning/`), then the installed copy.
const INSTALLED_DIR: &str = "/etc/linerate/tuning";

/// One `key = value` setting of a profile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Setting {
    /// Dotted sysctl name, e.g. `net.core.rmem_max`.
    pub key: String,
    /// Whitespace-separated value, normalized to single spaces (e.g. `4096 65536 16777216`).
    pub value: String,
    /// 1-based line in the profile file.
    pub line: usize,
}

/// A parsed profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// The file it was read from.
    pub path: PathBuf,
    /// Its settings in file order.
    pub settings: Vec<Setting>,
}

/// A profile that could not be found, read or parsed.
#[derive(Debug, thiserror::Error)]
pub enum ProfileError {
    #[error("profile `{name}` not found (looked in: {searched})")]
    NotFound { name: String, searched: String },
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}:{line}: {reason}")]
    Invalid {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

impl Profile {
    /// Read and parse the profile at `path`.
    pub fn load(path: &Path) -> Result<Self, ProfileError> {
        let text = std::fs::read_to_string(path).map_err(|source| ProfileError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(&text, path)
    }

    /// Parse profile text; `path` labels errors.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ProfileError> {
        let invalid = |line: usize, reason: String| ProfileError::Invalid {
            path: path.to_owned(),
            line,
            reason,
        };
        let mut settings: Vec<Setting> = Vec::new();
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let t = raw.trim();
            if t.is_empty() || t.starts_with('#') || t.starts_with(';') {
                continue;
            }
            let Some((key, value)) = t.split_once('=') else {
                return Err(invalid(line, format!("`{t}`: expected `key = value`")));
            };
            let key = key.trim();
            let key = key.strip_prefix('-').unwrap_or(key).trim();
            if key.is_empty() {
                return Err(invalid(line, "missing key before `=`".into()));
            }
            if let Some(bad) = key
                .chars()
                .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/')))
            {
                return Err(invalid(
                    line,
                    format!(
                        "`{key}`: `{bad}` cannot appear in a sysctl name (globs are not supported)"
                    ),
                ));
            }
            let value = value.split_whitespace().collect::<Vec<_>>().join(" ");
            if value.is_empty() {
                return Err(invalid(line, format!("`{key}`: missing value after `=`")));
            }
            if value.contains('#') || value.contains(';') {
                return Err(invalid(
                    line,
                    format!("`{key}`: a comment after the value would be written into the kernel as part of it; put it on its own line"),
                ));
            }
            let key = key.replace('/', ".");
            if let Some(first) = settings.iter().find(|s| s.key == key) {
                return Err(invalid(
                    line,
                    format!("`{key}` is already set on line {}", first.line),
                ));
            }
            settings.push(Setting { key, value, line });
        }
        Ok(Self {
            path: path.to_owned(),
            settings,
        })
    }
}

/// The file `--profile NAME` names: NAME itself when it is an existing file, else
/// `NAME.conf` in `./tuning/`, in `tuning/` beside the binary's ancestors, or in
/// `/etc/linerate/tuning/`.
pub fn resolve(name: &str) -> Result<PathBuf, ProfileError> {
    let direct = Path::new(name);
    if direct.is_file() {
        return Ok(direct.to_owned());
    }
    let file = format!("{name}.conf");
    let mut dirs = vec![PathBuf::from("tuning")];
    if let Ok(exe) = std::env::current_exe() {
        dirs.extend(exe.ancestors().skip(1).take(4).map(|d| d.join("tuning")));
    }
    dirs.push(PathBuf::from(INSTALLED_DIR));
    for dir in &dirs {
        let candidate = dir.join(&file);
        if candidate.is_file() {
            return Ok(candidate);
        }
    }
    Err(ProfileError::NotFound {
        name: name.to_owned(),
        searched: dirs
            .iter()
            .map(|d| d.join(&file).display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Profile, ProfileError> {
        Profile::parse(text, Path::new("p.conf"))
    }

    #[test]
    fn comments_blanks_and_settings() {
        let p = parse(
            "# why\n\n; also a comment\nnet.core.rmem_max = 33554432\n\
             -net.core.busy_poll=50\nnet/ipv4/tcp_wmem =  4096\t65536   16777216  \n",
        )
        .unwrap();
        let got: Vec<_> = p
            .settings
            .iter()
            .map(|s| (s.key.as_str(), s.value.as_str(), s.line))
            .collect();
        assert_eq!(
            got,
            [
                ("net.core.rmem_max", "33554432", 4),
                ("net.core.busy_poll", "50", 5),
                ("net.ipv4.tcp_wmem", "4096 65536 16777216", 6),
            ]
        );
    }

    #[test]
    fn bad_lines_name_their_line() {
        for (text, line, needle) in [
            ("# ok\nnet.core.rmem_max 4\n", 2, "expected `key = value`"),
            ("\n\n = 4\n", 3, "missing key"),
            ("a.b =\n", 1, "missing value"),
            ("a.b = 1\na.c = 2 # why\n", 2, "own line"),
            ("net.ipv4.conf.*.rp_filter = 1\n", 1, "globs"),
            ("a.b = 1\n\na.b = 2\n", 3, "already set on line 1"),
        ] {
            let err = parse(text).unwrap_err().to_string();
            assert!(err.starts_with(&format!("p.conf:{line}: ")), "{err}");
            assert!(err.contains(needle), "{err}");
        }
    }

    #[test]
    fn shipped_profiles_parse_and_comment_every_setting() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tuning");
        for name in ["throughput", "low-latency"] {
            let path = dir.join(format!("{name}.conf"));
            let p = Profile::load(&path).unwrap();
            assert!(!p.settings.is_empty(), "{name}");
            let text = std::fs::read_to_string(&path).unwrap();
            let lines: Vec<&str> = text.lines().collect();
            for s in &p.settings {
                let above = lines[s.line - 2].trim_start();
                assert!(
                    above.starts_with('#'),
                    "{name}.conf:{}: `{}` has no comment above it saying why",
                    s.line,
                    s.key
                );
            }
        }
    }

    #[test]
    fn resolves_a_path_and_reports_where_it_looked() {
        let tmp = tempfile::NamedTempFile::new().unwrap();
        let p = tmp.path().to_str().unwrap();
        assert_eq!(resolve(p).unwrap(), tmp.path());
        let err = resolve("no-such-profile").unwrap_err().to_string();
        assert!(err.contains("tuning/no-such-profile.conf"), "{err}");
    }
}
