//! `linerate doctor`: checks this host against a tuning profile and a config, one line per
//! check: `PASS|WARN|FAIL|SKIP  <check>: <found> (want <expected>) — fix: <command>`.
//!
//! FAIL is what stops the appliance from starting or from doing what its config asks
//! (no io_uring, a receive buffer the kernel will not grant, a port in use, a sysctl below the
//! profile); WARN is what costs throughput or latency; SKIP is a check this host cannot answer
//! (no cpufreq on a VM, one NUMA node), with the reason.

pub mod capabilities;
pub mod cpu;
pub mod encryption;
pub mod kernel;
pub mod limits;
pub mod net;
pub mod profile;
pub mod storage;
pub mod sysctl;

use std::fmt;

use serde::Serialize;

use crate::config::Config;
use profile::Profile;

/// The outcome of one check.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// The host meets it.
    Pass,
    /// The appliance runs, but slower or with more jitter than it could.
    Warn,
    /// The appliance will not start, or will not do what the config asks.
    Fail,
    /// This host cannot answer it (the reason is in `found`).
    Skip,
}

impl Status {
    /// The four-letter label that starts each line.
    pub fn label(self) -> &'static str {
        match self {
            Status::Pass => "PASS",
            Status::Warn => "WARN",
            Status::Fail => "FAIL",
            Status::Skip => "SKIP",
        }
    }
}

/// One check's result.
#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// Pass, warn, fail or skip.
    pub status: Status,
    /// What was checked, e.g. `sysctl net.core.rmem_max`.
    pub check: String,
    /// What this host has.
    pub found: String,
    /// What the profile or config wants; empty when there is nothing to compare.
    pub want: String,
    /// The command or setting that fixes it, for WARN and FAIL.
    pub fix: Option<String>,
}

impl Check {
    /// A met check.
    pub fn pass(
        check: impl Into<String>,
        found: impl Into<String>,
        want: impl Into<String>,
    ) -> Self {
        Self::new(Status::Pass, check, found, want, None)
    }

    /// A check that costs performance, with its fix.
    pub fn warn(
        check: impl Into<String>,
        found: impl Into<String>,
        want: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(Status::Warn, check, found, want, Some(fix.into()))
    }

    /// A failed check, with its fix.
    pub fn fail(
        check: impl Into<String>,
        found: impl Into<String>,
        want: impl Into<String>,
        fix: impl Into<String>,
    ) -> Self {
        Self::new(Status::Fail, check, found, want, Some(fix.into()))
    }

    /// A check this host cannot answer, and why.
    pub fn skip(check: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(Status::Skip, check, reason, "", None)
    }

    fn new(
        status: Status,
        check: impl Into<String>,
        found: impl Into<String>,
        want: impl Into<String>,
        fix: Option<String>,
    ) -> Self {
        Self {
            status,
            check: check.into(),
            found: found.into(),
            want: want.into(),
            fix,
        }
    }
}

impl fmt::Display for Check {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}  {}: {}", self.status.label(), self.check, self.found)?;
        if !self.want.is_empty() {
            write!(f, " (want {})", self.want)?;
        }
        if let Some(fix) = &self.fix {
            write!(f, " — fix: {fix}")?;
        }
        Ok(())
    }
}

/// What the doctor checks the host against.
pub struct Inputs<'a> {
    /// The sysctl profile; `None` skips the sysctl checks (`why_no_profile` says why).
    pub profile: Option<&'a Profile>,
    /// Why there is no profile, shown on the SKIP line.
    pub why_no_profile: String,
    /// The appliance's configuration (the defaults when no `--config` was given).
    pub config: &'a Config,
}

/// Run every check, in a fixed order: sysctls, limits, kernel, CPUs, network, storage,
/// encryption at rest.
pub fn run(inputs: &Inputs<'_>) -> Vec<Check> {
    let cfg = inputs.config;
    let mut checks = Vec::new();
    match inputs.profile {
        Some(p) => checks.extend(sysctl::check(p, &sysctl::ProcSys::host())),
        None => checks.push(Check::skip("sysctl", inputs.why_no_profile.clone())),
    }
    checks.extend(limits::check(cfg));
    checks.push(kernel::io_uring());
    checks.push(kernel::transparent_huge_pages());
    checks.extend(cpu::check(cfg));
    checks.extend(net::check(cfg));
    checks.extend(storage::check(cfg));
    checks.push(encryption::check(cfg));
    checks
}

/// Counts of each status, for the summary line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// PASS lines.
    pub pass: usize,
    /// WARN lines.
    pub warn: usize,
    /// FAIL lines.
    pub fail: usize,
    /// SKIP lines.
    pub skip: usize,
}

impl Summary {
    /// Count the statuses of `checks`.
    pub fn of(checks: &[Check]) -> Self {
        let mut s = Self::default();
        for c in checks {
            match c.status {
                Status::Pass => s.pass += 1,
                Status::Warn => s.warn += 1,
                Status::Fail => s.fail += 1,
                Status::Skip => s.skip += 1,
            }
        }
        s
    }
}

impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} checks: {} pass, {} warn, {} fail, {} skip",
            self.pass + self.warn + self.fail + self.skip,
            self.pass,
            self.warn,
            self.fail,
            self.skip
        )
    }
}

/// `1 shard`, `2 shards`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// Bytes for people in the largest binary unit they reach: `8 MiB` when exact, else one
/// decimal (`53.8 GiB`).
pub fn human_bytes(n: u64) -> String {
    const UNITS: [(u64, &str); 3] = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")];
    for (size, unit) in UNITS {
        if n >= size {
            return if n.is_multiple_of(size) {
                format!("{} {unit}", n / size)
            } else {
                format!("{:.1} {unit}", n as f64 / size as f64)
            };
        }
    }
    format!("{n} bytes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_format() {
        let c = Check::fail(
            "sysctl net.core.rmem_max",
            "4194304",
            ">= 33554432",
            "sysctl -w net.core.rmem_max=33554432",
        );
        assert_eq!(
            c.to_string(),
            "FAIL  sysctl net.core.rmem_max: 4194304 (want >= 33554432) — fix: sysctl -w net.core.rmem_max=33554432"
        );
        let s = Check::skip("cpu governor", "no cpufreq");
        assert_eq!(s.to_string(), "SKIP  cpu governor: no cpufreq");
        assert_eq!(
            Summary::of(&[c, s]).to_string(),
            "2 checks: 0 pass, 0 warn, 1 fail, 1 skip"
        );
    }

    #[test]
    fn bytes_for_people() {
        assert_eq!(human_bytes(8 << 20), "8 MiB");
        assert_eq!(human_bytes(1000), "1000 bytes");
        assert_eq!(human_bytes(3 << 30), "3 GiB");
        assert_eq!(human_bytes((3 << 30) + (1 << 29)), "3.5 GiB");
        assert_eq!(human_bytes(327_684 << 10), "320.0 MiB");
    }
}
