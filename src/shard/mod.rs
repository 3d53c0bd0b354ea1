//! Shards: one glommio executor pinned per core, owning its sockets, parser, producer and
//! counters. Shards share nothing on the per-event path; the only thing that leaves a shard
//! is a [`stats::ShardSnapshot`] per interval, sent to the aggregator.

pub mod pipeline;
pub mod stats;

use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};

use crate::config::Config;
use crate::sink::kafka::KafkaSink;
use pipeline::Pipeline;
use stats::{ShardSnapshot, ShardStats};

/// How often a shard serves librdkafka's delivery reports.
const KAFKA_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// How long shutdown waits for input tasks to notice it.
const INPUTS_STOP_WAIT: Duration = Duration::from_secs(5);

/// What one shard is given at start: its sockets (already bound, so bind errors surface
/// before any thread starts) and its producer.
pub struct ShardSetup {
    pub shard: usize,
    pub core: usize,
    pub udp: Option<socket2::Socket>,
    pub tcp: Option<socket2::Socket>,
    pub sink: KafkaSink,
}

/// A running shard; join it to wait for its shutdown to finish.
pub type ShardHandle = glommio::ExecutorJoinHandle<()>;

/// Start shard `setup.shard` on its core. It runs until `shutdown` is set, then stops reading,
/// flushes its producer (bounded by `kafka.shutdown_flush_ms`), sends a last snapshot with
/// `stopped = true` and returns.
pub fn spawn(
    setup: ShardSetup,
    cfg: Arc<Config>,
    stats_tx: SyncSender<ShardSnapshot>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<ShardHandle> {
    let ShardSetup {
        shard,
        core,
        udp,
        tcp,
        sink,
    } = setup;
    let parse = cfg.parse_options().map_err(std::io::Error::other)?;
    LocalExecutorBuilder::new(Placement::Fixed(core))
        .name(&format!("shard-{shard}"))
        .io_memory(cfg.shards.io_memory_bytes.max(256 << 10))
        .spawn(move || async move {
            let p = Rc::new(Pipeline {
                shard,
                sink,
                stats: ShardStats::default(),
                parse,
                message_bytes_max: cfg.syslog.message_bytes_max,
                shutdown,
            });
            if let Some(sock) = udp {
                // SAFETY: the fd comes from a socket we own and hand over whole.
                let sock = unsafe { glommio::net::UdpSocket::from_raw_fd(sock.into_raw_fd()) };
                glommio::spawn_local(crate::ingest::udp::serve(
                    p.clone(),
                    sock,
                    cfg.syslog.udp_batch_max,
                ))
                .detach();
            }
            if let Some(sock) = tcp {
                // SAFETY: as above.
                let listener =
                    unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
                glommio::spawn_local(crate::ingest::tcp::serve(
                    p.clone(),
                    listener,
                    cfg.syslog.tcp_read_buffer_bytes,
                    cfg.syslog.tcp_connections_max,
                ))
                .detach();
            }
            let poller = p.clone();
            glommio::spawn_local(async move {
                loop {
                    poller.sink.poll_batch();
                    glommio::timer::sleep(KAFKA_POLL_INTERVAL).await;
                }
            })
            .detach();
            let interval = Duration::from_millis(cfg.stats.interval_ms);
            let reporter = p.clone();
            let report_tx = stats_tx.clone();
            glommio::spawn_local(async move {
                loop {
                    glommio::timer::sleep(interval).await;
                    // A full channel means the aggregator is behind: skip, the next one carries all.
                    let _ =
                        report_tx.try_send(reporter.stats.snapshot(shard, core, &reporter.sink));
                }
            })
            .detach();

            while !p.stopping() {
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
            let started = Instant::now();
            while p.stats.inputs_active.get() > 0 && started.elapsed() < INPUTS_STOP_WAIT {
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            let flush_deadline =
                Instant::now() + Duration::from_millis(cfg.kafka.shutdown_flush_ms);
            while p.sink.in_flight() > 0 && Instant::now() < flush_deadline {
                p.sink.poll();
                glommio::timer::sleep(Duration::from_millis(2)).await;
            }
            p.sink.poll();
            let mut last = p.stats.snapshot(shard, core, &p.sink);
            last.stopped = true;
            if last.kafka_in_flight > 0 {
                tracing::error!(
                    shard,
                    in_flight = last.kafka_in_flight,
                    "shutdown flush timed out"
                );
            }
            let _ = stats_tx.send(last);
        })
        .map_err(|e| std::io::Error::other(e.to_string()))
}
