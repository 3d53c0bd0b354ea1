//! Process resource limits the appliance raises at start and `linerate doctor` checks.

use std::io;

/// A resource limit linerate cares about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resource {
    /// RLIMIT_MEMLOCK: glommio's io_uring buffers are locked memory.
    LockedMemory,
    /// RLIMIT_NOFILE: every TCP connection is a descriptor.
    OpenFiles,
}

/// Soft and hard values of a limit; `None` is unlimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    /// The value in force.
    pub soft: Option<u64>,
    /// How far an unprivileged process may raise `soft`.
    pub hard: Option<u64>,
}

impl Limit {
    /// Whether the soft limit allows `needed`.
    pub fn soft_allows(&self, needed: u64) -> bool {
        self.soft.is_none_or(|s| s >= needed)
    }

    /// Whether the hard limit allows `needed` (the process may raise its soft limit to it).
    pub fn hard_allows(&self, needed: u64) -> bool {
        self.hard.is_none_or(|h| h >= needed)
    }
}

fn from_raw(v: libc::rlim_t) -> Option<u64> {
    (v != libc::RLIM_INFINITY).then_some(v)
}

fn to_raw(v: Option<u64>) -> libc::rlim_t {
    v.unwrap_or(libc::RLIM_INFINITY)
}

/// The current limit of `resource`.
pub fn get(resource: Resource) -> io::Result<Limit> {
    let mut raw = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    let which = match resource {
        Resource::LockedMemory => libc::RLIMIT_MEMLOCK,
        Resource::OpenFiles => libc::RLIMIT_NOFILE,
    };
    // SAFETY: getrlimit writes into a local struct of the right type.
    if unsafe { libc::getrlimit(which, &mut raw) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(Limit {
        soft: from_raw(raw.rlim_cur),
        hard: from_raw(raw.rlim_max),
    })
}

fn set(resource: Resource, limit: Limit) -> io::Result<()> {
    let raw = libc::rlimit {
        rlim_cur: to_raw(limit.soft),
        rlim_max: to_raw(limit.hard),
    };
    let which = match resource {
        Resource::LockedMemory => libc::RLIMIT_MEMLOCK,
        Resource::OpenFiles => libc::RLIMIT_NOFILE,
    };
    // SAFETY: setrlimit reads a local struct of the right type.
    if unsafe { libc::setrlimit(which, &raw) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Raise the soft limit of `resource` to at least `needed`: past the hard limit when the
/// process is privileged (CAP_SYS_RESOURCE), else up to the hard limit. Returns the limit in
/// force afterwards, which may still fall short of `needed`.
pub fn raise(resource: Resource, needed: u64) -> io::Result<Limit> {
    let now = get(resource)?;
    if now.soft_allows(needed) {
        return Ok(now);
    }
    let max = |v: Option<u64>| v.map(|v| v.max(needed));
    let wanted = Limit {
        soft: Some(needed),
        hard: max(now.hard),
    };
    if set(resource, wanted).is_err() {
        // Unprivileged: the hard limit is as far as we may go.
        let capped = Limit {
            soft: now.hard,
            hard: now.hard,
        };
        // RLIMIT_NOFILE cannot exceed fs.nr_open even when "unlimited": leave it as it was.
        let _ = set(resource, capped);
    }
    get(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_both_limits() {
        let l = get(Resource::OpenFiles).unwrap();
        assert!(l.soft_allows(1));
        assert!(l.hard_allows(l.soft.unwrap_or(u64::MAX)));
    }

    #[test]
    fn raising_to_what_is_in_force_changes_nothing() {
        let before = get(Resource::OpenFiles).unwrap();
        let after = raise(Resource::OpenFiles, 16).unwrap();
        assert_eq!(before, after);
    }
}
