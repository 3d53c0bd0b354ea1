//! The CPUs left to the threads that are not shards: librdkafka's (each producer's broker
//! and main threads, the embedded mock cluster), the control API, the aggregator, the Kafka
//! probe. Shards own their cores (as Seastar's do); the default layout
//! ([`crate::config::shard_cores_on`]) leaves a quarter of the CPUs for these threads, and
//! pinning them there keeps a shard's core to its shard. Measured on the 2-core VM
//! (`bench/tls.sh`): unpinned, a producer's broker thread was found on the shard's CPU a
//! third of the times it ran.
//!
//! Threads inherit the CPU set of the thread that starts them, so the process pins its
//! main thread before it starts anything else ([`pin_current_thread`]); shard threads are
//! then pinned to their own core by glommio.

use std::io;

/// The CPUs in `allowed` that no shard is pinned to, in order (empty when every allowed CPU
/// runs a shard: the helpers then share the shards' CPUs, unpinned).
pub fn helper_cpus(allowed: &[usize], shard_cores: &[usize]) -> Vec<usize> {
    allowed
        .iter()
        .copied()
        .filter(|c| !shard_cores.contains(c))
        .collect()
}

/// The CPUs the calling thread may run on.
pub fn allowed_cpus() -> io::Result<Vec<usize>> {
    // SAFETY: an all-zero cpu_set_t is the empty set; the kernel writes at most its size.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    let rc =
        unsafe { libc::sched_getaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &mut set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    // SAFETY: `c` is below the set's capacity in bits.
    Ok((0..max)
        .filter(|&c| unsafe { libc::CPU_ISSET(c, &set) })
        .collect())
}

/// Pin the calling thread to `cpus` (not empty); threads it starts afterwards inherit them.
pub fn pin_current_thread(cpus: &[usize]) -> io::Result<()> {
    let max = 8 * std::mem::size_of::<libc::cpu_set_t>();
    if cpus.is_empty() || cpus.iter().any(|&c| c >= max) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("no CPU set to pin to in {cpus:?}"),
        ));
    }
    // SAFETY: an all-zero cpu_set_t is the empty set; every CPU set is below its capacity.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    for &c in cpus {
        unsafe { libc::CPU_SET(c, &mut set) };
    }
    let rc = unsafe { libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn helpers_get_the_cpus_no_shard_runs_on() {
        assert_eq!(helper_cpus(&[0, 1], &[1]), vec![0]);
        assert_eq!(helper_cpus(&[0, 1, 2, 3], &[1, 2, 3]), vec![0]);
        assert_eq!(helper_cpus(&[0, 1], &[0, 1]), Vec::<usize>::new());
        // Two shards on one CPU, a CPU the process may not use.
        assert_eq!(helper_cpus(&[2, 3, 4], &[3, 3, 7]), vec![2, 4]);
    }

    /// Pinning a thread to one of its CPUs takes effect, and a thread it starts inherits it.
    #[test]
    fn a_pinned_thread_and_its_children_run_on_the_set() {
        std::thread::spawn(|| {
            let allowed = allowed_cpus().unwrap();
            assert!(!allowed.is_empty());
            let last = *allowed.last().unwrap();
            pin_current_thread(&[last]).unwrap();
            assert_eq!(allowed_cpus().unwrap(), vec![last]);
            let child = std::thread::spawn(|| allowed_cpus().unwrap())
                .join()
                .unwrap();
            assert_eq!(child, vec![last]);
        })
        .join()
        .unwrap();
        assert!(pin_current_thread(&[]).is_err());
    }
}
