//! CPU checks: the shards' cores against the online CPUs, and their frequency governor.

use std::path::Path;

use super::{count, Check};
use crate::config::Config;

const CPU_DIR: &str = "/sys/devices/system/cpu";

/// The CPUs in a kernel CPU list such as `0-3,8,10-11`; `None` if it is malformed.
pub fn parse_cpu_list(text: &str) -> Option<Vec<usize>> {
    let mut cpus = Vec::new();
    for part in text.trim().split(',').filter(|p| !p.is_empty()) {
        match part.split_once('-') {
            Some((a, b)) => {
                let (a, b): (usize, usize) = (a.parse().ok()?, b.parse().ok()?);
                if a > b {
                    return None;
                }
                cpus.extend(a..=b);
            }
            None => cpus.push(part.parse().ok()?),
        }
    }
    Some(cpus)
}

/// `[0, 1, 2, 5]` → `0-2,5`.
pub fn format_cpu_list(cpus: &[usize]) -> String {
    let mut sorted = cpus.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let mut out: Vec<String> = Vec::new();
    let mut i = 0;
    while i < sorted.len() {
        let mut j = i;
        while j + 1 < sorted.len() && sorted[j + 1] == sorted[j] + 1 {
            j += 1;
        }
        out.push(if i == j {
            sorted[i].to_string()
        } else {
            format!("{}-{}", sorted[i], sorted[j])
        });
        i = j + 1;
    }
    out.join(",")
}

/// The online CPUs (`/sys/devices/system/cpu/online`), else `0..available_parallelism`.
pub fn online_cpus() -> Vec<usize> {
    std::fs::read_to_string(Path::new(CPU_DIR).join("online"))
        .ok()
        .and_then(|t| parse_cpu_list(&t))
        .unwrap_or_else(|| {
            let n = std::thread::available_parallelism().map_or(1, |n| n.get());
            (0..n).collect()
        })
}

/// The shard-layout and governor checks for `cfg`.
pub fn check(cfg: &Config) -> Vec<Check> {
    let cores = cfg.shard_cores();
    vec![
        shards_vs_cpus(&cores, &online_cpus()),
        governor(&cores, Path::new(CPU_DIR)),
    ]
}

fn shards_vs_cpus(cores: &[usize], online: &[usize]) -> Check {
    const NAME: &str = "cpu shards";
    let found = format!(
        "{} on cores {} of {} ({})",
        count(cores.len(), "shard"),
        format_cpu_list(cores),
        count(online.len(), "online CPU"),
        format_cpu_list(online)
    );
    let want = "one shard per online core";
    let missing: Vec<usize> = cores
        .iter()
        .copied()
        .filter(|c| !online.contains(c))
        .collect();
    if !missing.is_empty() {
        return Check::fail(
            NAME,
            found,
            want,
            format!(
                "list only online CPUs in [shards] cores (cores {} do not exist here; see `lscpu -e` and shards/)",
                format_cpu_list(&missing)
            ),
        );
    }
    let mut distinct = cores.to_vec();
    distinct.sort_unstable();
    distinct.dedup();
    if distinct.len() < cores.len() {
        return Check::warn(
            NAME,
            found,
            want,
            "one shard per core: lower [shards] count or list distinct [shards] cores",
        );
    }
    if online.len() > 2 && distinct.len() == online.len() {
        return Check::warn(
            NAME,
            found,
            "cores left for Kafka's threads and the kernel",
            "leave 2 or more cores out of [shards] cores (see shards/single-socket-16.toml)",
        );
    }
    Check::pass(NAME, found, want)
}

fn governor(cores: &[usize], cpu_dir: &Path) -> Check {
    const NAME: &str = "cpu governor";
    let want = "performance on the shards' cores";
    let mut slow: Vec<String> = Vec::new();
    let mut seen = 0;
    for &c in cores {
        let path = cpu_dir.join(format!("cpu{c}/cpufreq/scaling_governor"));
        if let Ok(g) = std::fs::read_to_string(&path) {
            seen += 1;
            let g = g.trim();
            if g != "performance" {
                slow.push(format!("cpu{c} {g}"));
            }
        }
    }
    if seen == 0 {
        return Check::skip(
            NAME,
            "no cpufreq in /sys (a VM, or a CPU whose frequency the OS does not set): nothing to set",
        );
    }
    if slow.is_empty() {
        Check::pass(
            NAME,
            format!("performance on {}", count(seen, "core")),
            want,
        )
    } else {
        Check::warn(
            NAME,
            slow.join(", "),
            want,
            "cpupower frequency-set -g performance (or the BIOS power profile \"maximum performance\")",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;

    #[test]
    fn cpu_lists() {
        assert_eq!(
            parse_cpu_list("0-3,8,10-11\n"),
            Some(vec![0, 1, 2, 3, 8, 10, 11])
        );
        assert_eq!(parse_cpu_list("0"), Some(vec![0]));
        assert_eq!(parse_cpu_list("3-1"), None);
        assert_eq!(parse_cpu_list("a"), None);
        assert_eq!(format_cpu_list(&[5, 0, 1, 2, 7, 8]), "0-2,5,7-8");
        assert_eq!(format_cpu_list(&[]), "");
    }

    #[test]
    fn shard_layouts() {
        let online: Vec<usize> = (0..2).collect();
        assert_eq!(shards_vs_cpus(&[0, 1], &online).status, Status::Pass);
        assert_eq!(shards_vs_cpus(&[0, 1, 0], &online).status, Status::Warn);
        let c = shards_vs_cpus(&[4, 5, 6], &online);
        assert_eq!(c.status, Status::Fail);
        assert!(c.fix.unwrap().contains("cores 4-6"));
        let sixteen: Vec<usize> = (0..16).collect();
        assert_eq!(shards_vs_cpus(&sixteen, &sixteen).status, Status::Warn);
        assert_eq!(shards_vs_cpus(&sixteen[4..], &sixteen).status, Status::Pass);
    }

    #[test]
    fn governors() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(governor(&[0], dir.path()).status, Status::Skip);
        for (c, g) in [(0, "performance"), (1, "powersave")] {
            let d = dir.path().join(format!("cpu{c}/cpufreq"));
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join("scaling_governor"), format!("{g}\n")).unwrap();
        }
        assert_eq!(governor(&[0], dir.path()).status, Status::Pass);
        let w = governor(&[0, 1], dir.path());
        assert_eq!(w.status, Status::Warn);
        assert_eq!(w.found, "cpu1 powersave");
    }
}
