//! librdkafka's own threads (`rdk:main`, `rdk:broker*`, and the embedded cluster's
//! `rdk:mock`) run at a lower CPU priority than the shards: on a box with fewer cores than
//! threads, the kernel would otherwise let them take a shard's core for a whole time slice
//! while its UDP socket fills (8 MiB of 256-byte datagrams lasts about 13 ms at a loggen
//! burst's rate). They still get every idle cycle, and their share when the shards are busy
//! (nice 5 against 0: about a quarter), so Kafka keeps draining the rings.
//!
//! librdkafka offers no hook to its thread creation from this binding, so a watcher thread
//! looks for new `rdk:` threads of this process every [`RENICE_INTERVAL`] (brokers' threads
//! start as metadata names them) and lowers each once.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

/// How much nicer than the process librdkafka's threads run.
pub const LIBRDKAFKA_NICE_DELTA: i32 = 5;
/// How often new librdkafka threads are looked for.
pub const RENICE_INTERVAL: Duration = Duration::from_millis(500);

/// Lower every `rdk:` thread of this process not seen before by [`LIBRDKAFKA_NICE_DELTA`];
/// returns how many were lowered now. Threads that end meanwhile are skipped.
pub fn renice_new_threads(seen: &mut HashSet<i32>) -> usize {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0;
    };
    let mut lowered = 0;
    for task in tasks.flatten() {
        let Some(tid) = task
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<i32>().ok())
        else {
            continue;
        };
        if seen.contains(&tid) {
            continue;
        }
        let Ok(comm) = std::fs::read_to_string(task.path().join("comm")) else {
            continue;
        };
        if !comm.starts_with("rdk:") {
            continue;
        }
        seen.insert(tid);
        // SAFETY: plain syscalls on a thread id of this process; on Linux PRIO_PROCESS with
        // a thread id sets that thread's nice value. Raising nice needs no privilege.
        let ok = unsafe {
            *libc::__errno_location() = 0;
            let now = libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t);
            libc::setpriority(
                libc::PRIO_PROCESS,
                tid as libc::id_t,
                (now + LIBRDKAFKA_NICE_DELTA).min(19),
            ) == 0
        };
        if ok {
            lowered += 1;
        } else {
            tracing::debug!(tid, error = %std::io::Error::last_os_error(), "cannot lower a librdkafka thread's priority");
        }
    }
    lowered
}

/// Start the watcher thread ([`renice_new_threads`] every [`RENICE_INTERVAL`]) until
/// `shutdown` is set.
pub fn spawn_renicer(shutdown: Arc<AtomicBool>) -> std::io::Result<()> {
    std::thread::Builder::new()
        .name("kafka-nice".into())
        .spawn(move || {
            let mut seen = HashSet::new();
            while !shutdown.load(Ordering::Relaxed) {
                renice_new_threads(&mut seen);
                std::thread::sleep(RENICE_INTERVAL);
            }
        })
        .map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A producer's threads are lowered once, by the delta, and other threads not at all.
    #[test]
    fn librdkafka_threads_run_nicer_than_the_process() {
        let producer: rdkafka::producer::BaseProducer = rdkafka::config::ClientConfig::new()
            .set("bootstrap.servers", "127.0.0.1:1")
            .create()
            .unwrap();
        let nice_of =
            |tid: i32| unsafe { libc::getpriority(libc::PRIO_PROCESS, tid as libc::id_t) };
        // SAFETY: gettid has no preconditions.
        let me = unsafe { libc::gettid() };
        let before = nice_of(me);
        let mut seen = HashSet::new();
        assert!(renice_new_threads(&mut seen) >= 1, "no rdk: thread found");
        assert_eq!(renice_new_threads(&mut seen), 0, "lowered twice");
        for tid in &seen {
            let comm = std::fs::read_to_string(format!("/proc/self/task/{tid}/comm"));
            if comm.is_ok_and(|c| c.starts_with("rdk:")) {
                assert_eq!(nice_of(*tid), (before + LIBRDKAFKA_NICE_DELTA).min(19));
            }
        }
        assert_eq!(nice_of(me), before);
        drop(producer);
    }
}
