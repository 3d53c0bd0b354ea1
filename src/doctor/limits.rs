//! Resource-limit checks: locked memory (glommio's io_uring buffers) and open files (one per
//! TCP connection). The limits checked are the doctor's own, inherited from the shell or unit
//! that runs it: run it the way the appliance runs (the systemd unit runs it before start).

use super::capabilities::{self, CAP_IPC_LOCK, CAP_SYS_RESOURCE};
use super::{count, human_bytes, Check};
use crate::config::Config;
use crate::rlimit::{self, Limit, Resource};

/// The memlock and open-files checks for `cfg`.
pub fn check(cfg: &Config) -> Vec<Check> {
    vec![locked_memory(cfg), open_files(cfg)]
}

fn show(limit: Limit, unit: fn(u64) -> String) -> String {
    let one = |v: Option<u64>| v.map_or("unlimited".to_string(), unit);
    format!("soft {}, hard {}", one(limit.soft), one(limit.hard))
}

fn locked_memory(cfg: &Config) -> Check {
    const NAME: &str = "limit memlock";
    let needed = cfg.locked_memory_bytes();
    let want = format!(
        ">= {}: {} × (io_memory_bytes + 1 MiB){}",
        human_bytes(needed),
        count(cfg.shard_cores().len(), "shard"),
        if cfg.http.listen.is_empty() {
            ""
        } else {
            " + 1.25 MiB (control API)"
        }
    );
    let limit = match rlimit::get(Resource::LockedMemory) {
        Ok(l) => l,
        Err(e) => return Check::skip(NAME, format!("getrlimit: {e}")),
    };
    let found = show(limit, human_bytes);
    let fix = format!(
        "LimitMEMLOCK={} in the unit (tuning/linerate.service), or `ulimit -l {}`",
        needed.div_ceil(1 << 20) * (1 << 20),
        needed.div_ceil(1024)
    );
    if limit.soft_allows(needed) {
        Check::pass(NAME, found, want)
    } else if limit.hard_allows(needed) {
        Check::pass(NAME, format!("{found}; run raises the soft limit"), want)
    } else if capabilities::effective(CAP_IPC_LOCK) {
        Check::pass(
            NAME,
            format!("{found}; CAP_IPC_LOCK: locked memory is not counted against it"),
            want,
        )
    } else if capabilities::effective(CAP_SYS_RESOURCE) {
        Check::pass(
            NAME,
            format!("{found}; CAP_SYS_RESOURCE: run raises it"),
            want,
        )
    } else {
        Check::fail(NAME, found, want, fix)
    }
}

fn open_files(cfg: &Config) -> Check {
    const NAME: &str = "limit nofile";
    let needed = cfg.open_files_needed();
    let http_input = if cfg.http_input.listen.is_empty() {
        String::new()
    } else {
        format!(
            " + http_input connections_max {}",
            cfg.http_input.connections_max
        )
    };
    let control = if cfg.http.listen.is_empty() {
        String::new()
    } else {
        format!(" + http connections_max {}", cfg.http.connections_max)
    };
    let want = format!(
        ">= {needed}: {} × (tcp_connections_max {}{http_input} + 64) + 256{control}",
        count(cfg.shard_cores().len(), "shard"),
        cfg.syslog.tcp_connections_max
    );
    let limit = match rlimit::get(Resource::OpenFiles) {
        Ok(l) => l,
        Err(e) => return Check::skip(NAME, format!("getrlimit: {e}")),
    };
    let found = show(limit, |v| v.to_string());
    let fix = format!(
        "LimitNOFILE={needed} in the unit (tuning/linerate.service), or `ulimit -n {needed}`"
    );
    // Even a privileged process cannot pass fs.nr_open.
    let nr_open: Option<u64> = std::fs::read_to_string("/proc/sys/fs/nr_open")
        .ok()
        .and_then(|t| t.trim().parse().ok());
    if limit.soft_allows(needed) {
        Check::pass(NAME, found, want)
    } else if limit.hard_allows(needed) {
        Check::pass(NAME, format!("{found}; run raises the soft limit"), want)
    } else if capabilities::effective(CAP_SYS_RESOURCE) && nr_open.is_some_and(|n| n >= needed) {
        Check::pass(
            NAME,
            format!("{found}; privileged (CAP_SYS_RESOURCE), run raises it"),
            want,
        )
    } else {
        Check::fail(NAME, found, want, fix)
    }
}
