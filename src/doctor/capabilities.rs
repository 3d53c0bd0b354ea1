//! The process's effective capabilities, from `/proc/self/status` (no libcap needed).

/// CAP_NET_ADMIN: SO_RCVBUFFORCE past `net.core.rmem_max`.
pub const CAP_NET_ADMIN: u32 = 12;
/// CAP_IPC_LOCK: locked memory not counted against RLIMIT_MEMLOCK.
pub const CAP_IPC_LOCK: u32 = 14;
/// CAP_SYS_RESOURCE: raise a hard resource limit.
pub const CAP_SYS_RESOURCE: u32 = 24;

/// Whether this process has capability `cap` in its effective set (false if unreadable).
pub fn effective(cap: u32) -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| parse_cap_eff(&s))
        .is_some_and(|mask| mask >> cap & 1 == 1)
}

fn parse_cap_eff(status: &str) -> Option<u64> {
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_effective_mask() {
        let status = "Name:\tx\nCapPrm:\t0000000000000000\nCapEff:\t0000000000001000\n";
        assert_eq!(parse_cap_eff(status), Some(1 << CAP_NET_ADMIN));
        assert_eq!(parse_cap_eff("Name:\tx\n"), None);
    }
}
