//! Kernel feature checks: io_uring (glommio's only I/O path) and transparent huge pages.

use std::path::Path;

use super::Check;

/// Oldest kernel glommio 0.9 supports.
const KERNEL_MIN: (u32, u32) = (5, 8);
/// Size of `struct io_uring_params` (include/uapi/linux/io_uring.h).
const IO_URING_PARAMS_BYTES: usize = 120;
const THP_ENABLED: &str = "/sys/kernel/mm/transparent_hugepage/enabled";

/// Whether this process may create an io_uring: `io_uring_setup` with 4 entries, closed at once.
pub fn io_uring() -> Check {
    const NAME: &str = "io_uring";
    let release = kernel_release();
    let want = format!(
        "io_uring allowed, kernel >= {}.{}",
        KERNEL_MIN.0, KERNEL_MIN.1
    );
    let mut params = [0u64; IO_URING_PARAMS_BYTES / 8];
    // SAFETY: io_uring_setup reads and writes `params`, a zeroed buffer of the struct's size;
    // the returned descriptor, if any, is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_io_uring_setup, 4u32, params.as_mut_ptr()) };
    if fd < 0 {
        let err = std::io::Error::last_os_error();
        let fix = match err.raw_os_error() {
            Some(libc::ENOSYS) => "a kernel built with CONFIG_IO_URING (5.8 or later)".to_string(),
            Some(libc::EPERM) => format!(
                "sysctl -w kernel.io_uring_disabled=0 (now {}), or allow io_uring_setup/enter/register in the container's seccomp profile",
                std::fs::read_to_string("/proc/sys/kernel/io_uring_disabled")
                    .map(|s| s.trim().to_string())
                    .unwrap_or_else(|_| "absent".into())
            ),
            Some(libc::ENOMEM) => "raise the memlock limit (see `limit memlock`)".to_string(),
            _ => "see io_uring_setup(2)".to_string(),
        };
        return Check::fail(
            NAME,
            format!("io_uring_setup: {err} (kernel {release})"),
            want,
            fix,
        );
    }
    // SAFETY: `fd` is the io_uring descriptor just created, owned by nobody else.
    unsafe { libc::close(fd as libc::c_int) };
    match parse_version(&release) {
        Some(v) if v < KERNEL_MIN => Check::fail(
            NAME,
            format!("io_uring_setup works, but kernel {release}"),
            want,
            "upgrade the kernel: glommio needs 5.8 or later",
        ),
        _ => Check::pass(
            NAME,
            format!("io_uring_setup works (kernel {release})"),
            want,
        ),
    }
}

fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".into())
}

/// `6.18.44-fc` → `(6, 18)`.
fn parse_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(|c: char| !c.is_ascii_digit());
    let major = parts.next()?.parse().ok()?;
    let minor = parts.next()?.parse().ok()?;
    Some((major, minor))
}

/// THP mode: `always` makes khugepaged and direct compaction stall threads at random
/// moments (latency spikes in the shards and librdkafka); `madvise` or `never` avoids that.
pub fn transparent_huge_pages() -> Check {
    thp_from(Path::new(THP_ENABLED))
}

fn thp_from(path: &Path) -> Check {
    const NAME: &str = "transparent huge pages";
    let want = "madvise or never";
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) => return Check::skip(NAME, format!("{}: {e}", path.display())),
    };
    let mode = text
        .split_whitespace()
        .find_map(|w| w.strip_prefix('[').and_then(|w| w.strip_suffix(']')))
        .unwrap_or("unknown");
    match mode {
        "madvise" | "never" => Check::pass(NAME, mode, want),
        _ => Check::warn(
            NAME,
            mode,
            want,
            format!("echo madvise > {THP_ENABLED} (boot: transparent_hugepage=madvise)"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn versions() {
        assert_eq!(parse_version("6.18.44-fc-v782"), Some((6, 18)));
        assert_eq!(parse_version("5.4.0"), Some((5, 4)));
        assert!(parse_version("5.4.0").unwrap() < KERNEL_MIN);
        assert_eq!(parse_version("x"), None);
    }

    #[test]
    fn thp_modes() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("enabled");
        std::fs::write(&f, "[always] madvise never\n").unwrap();
        assert_eq!(thp_from(&f).status, Status::Warn);
        std::fs::write(&f, "always [madvise] never\n").unwrap();
        assert_eq!(thp_from(&f).status, Status::Pass);
        assert_eq!(thp_from(&dir.path().join("nope")).status, Status::Skip);
    }

    #[test]
    fn io_uring_answers() {
        // Whatever this host says, it says it on one line with a reason.
        let c = io_uring();
        assert!(c.found.contains("kernel"), "{c}");
    }
}
