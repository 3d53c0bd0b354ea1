//! Sysctl checks: each setting of a profile against `/proc/sys`.
//!
//! How a value is compared depends on what kind of key it is:
//! - capacities (socket buffer sizes and caps, queue and backlog lengths, file and map
//!   counts): the host passes with the profile's value **or more** — a larger buffer or
//!   backlog only absorbs more. Multi-value keys (`tcp_rmem`, `udp_mem`) compare element by
//!   element.
//! - everything else (busy-poll times, NAPI budgets, switches such as
//!   `kernel.numa_balancing`): **equal** values only, because more is not better — more
//!   busy polling burns more CPU, a larger budget holds the core longer in softirq.

use std::io;
use std::path::{Path, PathBuf};

use super::profile::{Profile, Setting};
use super::Check;

/// Last components of capacity keys compared with "at least" (besides any key ending in
/// `mem_max`, `mem_default`, `mem_min` or `_backlog`).
const AT_LEAST_KEYS: &[&str] = &[
    "somaxconn",
    "tcp_rmem",
    "tcp_wmem",
    "tcp_mem",
    "udp_mem",
    "file-max",
    "nr_open",
    "max_map_count",
];

/// How a setting's value is compared with the host's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Comparison {
    /// Each number on the host at least the profile's.
    AtLeast,
    /// The same value, token by token.
    Equal,
}

impl Comparison {
    /// The comparison for `key` (see the module documentation).
    pub fn for_key(key: &str) -> Self {
        let last = key.rsplit('.').next().unwrap_or(key);
        let capacity = AT_LEAST_KEYS.contains(&last)
            || ["mem_max", "mem_default", "mem_min", "_backlog"]
                .iter()
                .any(|s| last.ends_with(s));
        if capacity {
            Comparison::AtLeast
        } else {
            Comparison::Equal
        }
    }

    /// Whether `found` (from the host) meets `want` (from the profile); both are
    /// whitespace-separated values.
    pub fn met(self, found: &str, want: &str) -> bool {
        let found: Vec<&str> = found.split_whitespace().collect();
        let want: Vec<&str> = want.split_whitespace().collect();
        if found.len() != want.len() {
            return false;
        }
        found.iter().zip(&want).all(|(f, w)| match self {
            Comparison::Equal => f == w,
            Comparison::AtLeast => match (f.parse::<i128>(), w.parse::<i128>()) {
                (Ok(f), Ok(w)) => f >= w,
                _ => f == w,
            },
        })
    }

    fn describe(self, want: &str) -> String {
        match self {
            Comparison::AtLeast => format!(">= {want}"),
            Comparison::Equal => format!("= {want}"),
        }
    }
}

/// Where sysctls are read from: `/proc/sys` on the host, a directory in tests.
#[derive(Debug, Clone)]
pub struct ProcSys {
    root: PathBuf,
}

impl ProcSys {
    /// This host's `/proc/sys`.
    pub fn host() -> Self {
        Self::at(Path::new("/proc/sys"))
    }

    /// A tree laid out like `/proc/sys` under `root`.
    pub fn at(root: &Path) -> Self {
        Self {
            root: root.to_owned(),
        }
    }

    /// The value of dotted `key`, whitespace normalized to single spaces.
    pub fn read(&self, key: &str) -> io::Result<String> {
        let text = std::fs::read_to_string(self.root.join(key.replace('.', "/")))?;
        Ok(text.split_whitespace().collect::<Vec<_>>().join(" "))
    }
}

/// One check per setting of `profile`.
pub fn check(profile: &Profile, sys: &ProcSys) -> Vec<Check> {
    profile
        .settings
        .iter()
        .map(|s| check_one(profile, s, sys))
        .collect()
}

fn check_one(profile: &Profile, s: &Setting, sys: &ProcSys) -> Check {
    let name = format!("sysctl {}", s.key);
    let how = Comparison::for_key(&s.key);
    let want = how.describe(&s.value);
    let assignment = if s.value.contains(' ') {
        format!("'{}={}'", s.key, s.value)
    } else {
        format!("{}={}", s.key, s.value)
    };
    let fix = format!(
        "sysctl -w {assignment} (all of them: sysctl -p {})",
        profile.path.display()
    );
    match sys.read(&s.key) {
        Ok(found) if how.met(&found, &s.value) => Check::pass(name, found, want),
        Ok(found) => Check::fail(name, found, want, fix),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Check::warn(
            name,
            "absent (this kernel, or this network namespace, does not have it)",
            want,
            format!(
                "none here; drop line {} of {} on such hosts",
                s.line,
                profile.path.display()
            ),
        ),
        Err(e) => Check::warn(name, format!("cannot read: {e}"), want, "run as root"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn comparison_per_key_kind() {
        for key in [
            "net.core.rmem_max",
            "net.core.rmem_default",
            "net.ipv4.udp_rmem_min",
            "net.core.netdev_max_backlog",
            "net.ipv4.tcp_max_syn_backlog",
            "net.core.somaxconn",
            "net.ipv4.tcp_wmem",
        ] {
            assert_eq!(Comparison::for_key(key), Comparison::AtLeast, "{key}");
        }
        for key in [
            "net.core.busy_poll",
            "net.core.netdev_budget",
            "net.core.netdev_budget_usecs",
            "kernel.numa_balancing",
        ] {
            assert_eq!(Comparison::for_key(key), Comparison::Equal, "{key}");
        }
        let at_least = Comparison::AtLeast;
        assert!(at_least.met("33554432", "33554432"));
        assert!(at_least.met("67108864", "33554432"));
        assert!(!at_least.met("4194304", "33554432"));
        assert!(at_least.met("4096 131072 33554432", "4096 65536 16777216"));
        assert!(!at_least.met("4096 16384 4194304", "4096 65536 16777216"));
        assert!(!at_least.met("4096", "4096 65536"));
        assert!(Comparison::Equal.met("50", "50"));
        assert!(!Comparison::Equal.met("100", "50"));
    }

    #[test]
    fn checks_against_a_proc_sys_tree() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("net/core")).unwrap();
        std::fs::write(root.path().join("net/core/rmem_max"), "4194304\n").unwrap();
        std::fs::write(root.path().join("net/core/busy_poll"), "50\n").unwrap();
        let profile = Profile::parse(
            "net.core.rmem_max = 33554432\nnet.core.busy_poll = 50\nnet.core.gone = 1\n",
            Path::new("t.conf"),
        )
        .unwrap();
        let checks = check(&profile, &ProcSys::at(root.path()));
        let statuses: Vec<Status> = checks.iter().map(|c| c.status).collect();
        assert_eq!(statuses, [Status::Fail, Status::Pass, Status::Warn]);
        assert_eq!(
            checks[0].to_string(),
            "FAIL  sysctl net.core.rmem_max: 4194304 (want >= 33554432) — fix: \
             sysctl -w net.core.rmem_max=33554432 (all of them: sysctl -p t.conf)"
        );
    }
}
