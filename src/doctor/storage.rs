//! Storage checks: the ring directory is writable, and its file system has room for every
//! shard's ring (reserved in full at start).

use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use super::{count, human_bytes, Check};
use crate::buffer::ring::Ring;
use crate::config::Config;

/// The data-directory checks for `cfg`.
pub fn check(cfg: &Config) -> Vec<Check> {
    let dir = &cfg.buffer.data_dir;
    vec![writable(dir), free_space(cfg), spill_space(cfg)]
}

/// Room for the spill budget on top of the rings: a warning, not a failure, since a full
/// disk only holds the inputs back (the spill is not reserved in advance).
fn spill_space(cfg: &Config) -> Check {
    const NAME: &str = "data_dir spill space";
    if !cfg.buffer.spill_enabled {
        return Check::skip(NAME, "[buffer] spill_enabled = false");
    }
    let shards = cfg.shard_cores().len() as u64;
    let rings = shards * Ring::file_bytes(cfg.buffer.ring_bytes_max);
    let spill = shards * cfg.buffer.spill_bytes_max;
    let want = format!(
        ">= {} (rings) + {} ({shards} × spill_bytes_max)",
        human_bytes(rings),
        human_bytes(spill)
    );
    let Some(base) = existing_ancestor(&cfg.buffer.data_dir) else {
        return Check::skip(NAME, "no existing ancestor of data_dir");
    };
    let free = match available_bytes(&base) {
        Ok(f) => f,
        Err(e) => return Check::skip(NAME, format!("statvfs {}: {e}", base.display())),
    };
    let found = format!("{} available on {}", human_bytes(free), base.display());
    if free >= rings + spill {
        Check::pass(NAME, found, want)
    } else {
        Check::warn(
            NAME,
            found,
            want,
            "free space there, lower [buffer] spill_bytes_max, or move [buffer] data_dir (when the disk fills, spilling stops and inputs back off)",
        )
    }
}

/// `dir` itself, or its nearest existing ancestor (where run will create it).
pub(crate) fn existing_ancestor(dir: &Path) -> Option<PathBuf> {
    let abs = if dir.is_absolute() {
        dir.to_owned()
    } else {
        std::env::current_dir().ok()?.join(dir)
    };
    abs.ancestors().find(|a| a.is_dir()).map(Path::to_owned)
}

fn writable(dir: &Path) -> Check {
    let name = format!("data_dir {}", dir.display());
    let want = "a writable directory";
    let Some(base) = existing_ancestor(dir) else {
        return Check::fail(name, "no existing ancestor", want, "set [buffer] data_dir");
    };
    if dir.exists() && !dir.is_dir() {
        return Check::fail(
            name,
            "exists and is not a directory",
            want,
            "set [buffer] data_dir to a directory",
        );
    }
    let probe = base.join(format!(".linerate-doctor-{}", std::process::id()));
    let created = std::fs::write(&probe, b"probe");
    let _ = std::fs::remove_file(&probe);
    let found = if base == dir || dir.is_dir() {
        "exists".to_string()
    } else {
        format!("absent; run creates it under {}", base.display())
    };
    match created {
        Ok(()) => Check::pass(name, format!("{found}, writable"), want),
        Err(e) => Check::fail(
            name,
            format!("{found}, not writable: {e}"),
            want,
            format!(
                "chown the directory to the appliance's user (the unit's StateDirectory= does it), or set [buffer] data_dir (checked in {})",
                base.display()
            ),
        ),
    }
}

fn free_space(cfg: &Config) -> Check {
    const NAME: &str = "data_dir free space";
    let dir = &cfg.buffer.data_dir;
    let shards = cfg.shard_cores().len();
    let file = Ring::file_bytes(cfg.buffer.ring_bytes_max);
    // Rings that already exist have their space reserved.
    let needed: u64 = (0..shards)
        .map(|i| {
            let have = std::fs::metadata(crate::buffer::ring_path(dir, i)).map_or(0, |m| m.len());
            file.saturating_sub(have)
        })
        .sum();
    let want = format!(
        ">= {}: {} of {}, less what existing rings hold",
        human_bytes(needed),
        count(shards, "ring"),
        human_bytes(file)
    );
    let Some(base) = existing_ancestor(dir) else {
        return Check::skip(NAME, "no existing ancestor of data_dir");
    };
    let free = match available_bytes(&base) {
        Ok(f) => f,
        Err(e) => return Check::skip(NAME, format!("statvfs {}: {e}", base.display())),
    };
    let found = format!("{} available on {}", human_bytes(free), base.display());
    if free >= needed {
        Check::pass(NAME, found, want)
    } else {
        Check::fail(
            NAME,
            found,
            want,
            "free space there, lower [buffer] ring_bytes_max, or move [buffer] data_dir",
        )
    }
}

/// Bytes an unprivileged process may still allocate on the file system holding `path`.
fn available_bytes(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    // SAFETY: statvfs fills a zeroed local struct (all-integer, so zero is valid) from a
    // NUL-terminated path.
    let (rc, st) = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        (libc::statvfs(c.as_ptr(), &mut st), st)
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    // fsblkcnt_t and c_ulong are u64 on 64-bit Linux, narrower on some 32-bit targets.
    #[allow(clippy::useless_conversion)]
    let (blocks, block_bytes) = (u64::from(st.f_bavail), u64::from(st.f_frsize));
    Ok(blocks * block_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn missing_dir_is_created_under_a_writable_ancestor() {
        let tmp = tempfile::tempdir().unwrap();
        let c = writable(&tmp.path().join("a/b"));
        assert_eq!(c.status, Status::Pass, "{c}");
        assert!(c.found.contains("run creates it"), "{c}");
        let file = tmp.path().join("f");
        std::fs::write(&file, "x").unwrap();
        assert_eq!(writable(&file).status, Status::Fail);
    }

    #[test]
    fn rings_larger_than_the_disk_fail() {
        let tmp = tempfile::tempdir().unwrap();
        let mut cfg = Config::default();
        cfg.shards.cores = vec![0, 1];
        cfg.buffer.data_dir = tmp.path().to_owned();
        assert_eq!(free_space(&cfg).status, Status::Pass);
        cfg.buffer.ring_bytes_max = 1 << 60;
        let c = free_space(&cfg);
        assert_eq!(c.status, Status::Fail, "{c}");
    }
}
