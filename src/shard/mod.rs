//! Shards: one glommio executor pinned per core, owning its sockets, parser, producer and
//! counters. Shards share nothing on the per-event path; the only thing that leaves a shard
//! is a [`stats::ShardSnapshot`] per interval, sent to the aggregator.

pub mod delivery;
pub mod helper_cpus;
pub mod pipeline;

use std::os::fd::{FromRawFd, IntoRawFd};
use std::rc::Rc;
use std::sync::atomic::AtomicBool;
use std::sync::mpsc::SyncSender;
use std::sync::Arc;
use std::time::{Duration, Instant};

use glommio::{LocalExecutorBuilder, Placement};

use crate::buffer::spill::{Spill, SpillWriter};
use crate::buffer::ShardBuffer;
use crate::config::Config;
use crate::config::FsyncPolicy;
use crate::ingest::pause::PauseFlags;
use crate::normalize::windows_filter::WindowsFilter;
use crate::sink::kafka::KafkaSink;
use crate::stats::{ShardSnapshot, ShardStats};
use delivery::Delivery;
use pipeline::Pipeline;

/// How often a shard serves librdkafka's delivery reports.
const KAFKA_POLL_INTERVAL: Duration = Duration::from_millis(1);
/// The UDP reader's share of the shard's time against each other task queue's (glommio's
/// default is 1000) when both have work: it takes datagrams from the socket before the
/// kernel's buffer fills, and only reads and appends to the ring, so it never needs much.
const UDP_READ_SHARES: usize = 10_000;
/// How soon a readable UDP socket preempts the task running (at its next
/// `yield_if_needed`, which the sender reaches every [`pipeline::PUMP_EVENTS_MAX`] events).
const UDP_READ_LATENCY: Duration = Duration::from_micros(500);
/// How long shutdown waits for input tasks to notice it.
const INPUTS_STOP_WAIT: Duration = Duration::from_secs(5);

/// What one shard is given at start: its sockets (already bound), its ring (already opened
/// and checked) and its producer, so that every start-up error surfaces before any thread
/// starts.
pub struct ShardSetup {
    pub shard: usize,
    pub core: usize,
    /// The inputs it serves.
    pub inputs: ShardInputs,
    pub buffer: ShardBuffer,
    pub sink: KafkaSink,
    /// The enrichment table (`[enrich] table`), read-only, when configured.
    pub enrich: Option<Arc<crate::normalize::enrich::EnrichTable>>,
}

/// A shard's share of a listener's connection balance over every shard
/// ([`crate::ingest::tcp_balance`]): the balance, and this shard's inbox in it.
pub type BalanceShare = (
    Arc<crate::ingest::tcp_balance::TcpBalance<glommio::net::AcceptedTcpStream>>,
    crate::ingest::tcp_balance::Inbox<glommio::net::AcceptedTcpStream>,
);

/// The sockets and inputs a shard serves, handed to its executor.
pub struct ShardInputs {
    pub udp: Option<socket2::Socket>,
    pub tcp: Option<socket2::Socket>,
    /// This shard's share of the TCP listeners' connection balance.
    pub tcp_balance: BalanceShare,
    /// The syslog TLS listener (bound), its reloadable server configuration and this shard's
    /// share of the TLS listeners' connection balance, when `[syslog] tls_listen` is set.
    pub tls: Option<(
        socket2::Socket,
        Arc<crate::tls::config::ReloadableTls>,
        BalanceShare,
    )>,
    /// The HTTP input's listener (bound), when `[http_input] listen` is set.
    pub http: Option<socket2::Socket>,
    /// The HTTP input's settings (with the Firehose key already read).
    pub http_input: Option<crate::ingest::http::HttpInput>,
    /// The EVTX directory inputs this shard polls.
    pub evtx: Vec<crate::ingest::evtx_poll::EvtxInput>,
    /// The control plane's pause flags of the inputs, read by the input tasks.
    pub paused: PauseFlags,
}

/// First wait after a failed spill write; doubles up to [`SPILL_RETRY_MAX`].
const SPILL_RETRY_MIN: Duration = Duration::from_millis(20);
const SPILL_RETRY_MAX: Duration = Duration::from_secs(1);
/// How often an idle spill task looks at the ring.
const SPILL_POLL_INTERVAL: Duration = Duration::from_millis(2);

/// The shard's ring sync for `fsync = "interval"`: every `fsync_interval_ms`, fdatasync of
/// the ring file through io_uring (the kernel writes the pages the mapping dirtied, as msync
/// would), so the shard's thread goes on serving sockets and Kafka while the disk works. A
/// blocking msync here stopped every event of the shard for as long as the disk took: at
/// 100k events/s a second of ring pages, the receive→ack tail. Durability is unchanged: what
/// was appended before a sync starts is on disk when it ends. Stops at shutdown (the final
/// sync is the shard's own, after its last delivery).
async fn run_ring_sync(p: Rc<Pipeline>, path: std::path::PathBuf, interval: Duration) {
    let file = match glommio::io::BufferedFile::open(&path).await {
        Ok(f) => f,
        Err(e) => {
            tracing::error!(shard = p.shard, ring = %path.display(), error = %e, "ring sync: cannot open the ring file; syncing on the shard's thread instead");
            while !p.stopping() {
                glommio::timer::sleep(interval).await;
                p.delivery.borrow_mut().sync(&p.stats);
            }
            return;
        }
    };
    while !p.stopping() {
        glommio::timer::sleep(interval).await;
        if let Err(e) = file.fdatasync().await {
            crate::stats::add(&p.stats.sync_errors, 1);
            tracing::error!(shard = p.shard, error = %e, "ring fdatasync failed");
        }
    }
    let _ = file.close().await;
}

/// The shard's spill task: while the ring is above its high watermark (until below the
/// low one), move its oldest events to the spill a block at a time. A failed write (disk
/// full) leaves the events in the ring and is retried with backoff; meanwhile the ring
/// fills and the inputs back off. `spill_blocked` is 1 exactly while a block waits to be
/// written and cannot be: a successful write, or nothing left to spill, sets it back to 0.
/// Stops at shutdown (the ring keeps what it holds).
async fn run_spill(p: Rc<Pipeline>, mut w: SpillWriter, cfg: Arc<Config>) {
    let with_spill = |f: &mut dyn FnMut(&mut Spill)| {
        if let Some(s) = p.delivery.borrow_mut().spill_mut() {
            f(s)
        }
    };
    let block_bytes_max = cfg.buffer.spill_block_bytes_max;
    let sync_interval = Duration::from_millis(cfg.buffer.fsync_interval_ms);
    let mut last_sync = Instant::now();
    let mut backoff = SPILL_RETRY_MIN;
    while !p.stopping() {
        if cfg.buffer.fsync == FsyncPolicy::Interval
            && w.is_open()
            && last_sync.elapsed() >= sync_interval
        {
            last_sync = Instant::now();
            if let Err(e) = w.sync().await {
                crate::stats::add(&p.stats.sync_errors, 1);
                tracing::error!(shard = p.shard, error = %e, "spill: fdatasync failed");
            }
        }
        let wanted = p.delivery.borrow_mut().spill_wanted();
        let collected = if wanted {
            p.delivery
                .borrow_mut()
                .collect_for_spill(&mut w.frames, block_bytes_max)
        } else {
            None
        };
        let Some(c) = collected else {
            // Nothing waits to be spilled (the ring is below its watermark again, or holds
            // nothing it could move): whatever held spilling back no longer holds anything.
            if p.stats.spill_blocked.get() != 0 {
                tracing::info!(
                    shard = p.shard,
                    "spill: no longer blocked (nothing to spill)"
                );
                p.stats.spill_blocked.set(0);
                backoff = SPILL_RETRY_MIN;
            }
            // Idle: seal a segment whose events are all acknowledged, so it can go.
            let drained = p.delivery.borrow().spill().is_some_and(|s| s.is_drained());
            if w.is_open() && drained {
                if let Err(e) = w.close(&with_spill).await {
                    tracing::warn!(shard = p.shard, error = %e, "spill: closing a segment failed");
                }
            }
            glommio::timer::sleep(SPILL_POLL_INTERVAL).await;
            continue;
        };
        match w.write_block(c, &with_spill).await {
            Ok(_) => {
                p.delivery.borrow_mut().spilled(&c);
                if p.stats.spill_blocked.get() != 0 {
                    tracing::info!(shard = p.shard, "spill: writing again");
                }
                p.stats.spill_blocked.set(0);
                backoff = SPILL_RETRY_MIN;
            }
            Err(e) => {
                let budget = matches!(e, crate::buffer::spill::WriteError::BudgetFull);
                if !budget {
                    crate::stats::add(&p.stats.spill_write_errors, 1);
                }
                if p.stats.spill_blocked.get() == 0 {
                    tracing::error!(shard = p.shard, error = %e, "spill: cannot write; events stay in the ring (inputs back off when it is full) and the write is retried");
                }
                p.stats.spill_blocked.set(1);
                glommio::timer::sleep(backoff).await;
                backoff = (backoff * 2).min(SPILL_RETRY_MAX);
            }
        }
    }
    if let Err(e) = w.close(&with_spill).await {
        tracing::warn!(shard = p.shard, error = %e, "spill: closing the segment at shutdown failed");
    }
}

/// The UDP reader's task queue: latency-sensitive (its readiness wait completes on glommio's
/// latency ring, which preempts the running task) and with [`UDP_READ_SHARES`], so a
/// readable socket is drained before the shard goes on producing.
fn udp_read_queue() -> glommio::TaskQueueHandle {
    glommio::executor().create_task_queue(
        glommio::Shares::Static(UDP_READ_SHARES),
        glommio::Latency::Matters(UDP_READ_LATENCY),
        "udp-read",
    )
}

/// A running shard; join it to wait for its shutdown to finish.
pub type ShardHandle = glommio::ExecutorJoinHandle<()>;

/// Start shard `setup.shard` on its core. It runs until `shutdown` is set, then stops reading,
/// sends what its ring holds until Kafka acknowledged all of it (bounded by
/// `kafka.shutdown_flush_ms`; what is left stays in the ring for the next start), syncs the
/// ring, sends a last snapshot with `stopped = true` and returns.
pub fn spawn(
    setup: ShardSetup,
    cfg: Arc<Config>,
    stats_tx: SyncSender<ShardSnapshot>,
    shutdown: Arc<AtomicBool>,
) -> std::io::Result<ShardHandle> {
    let ShardSetup {
        shard,
        core,
        inputs,
        buffer,
        sink,
        enrich,
    } = setup;
    let in_flight_max = sink.acks().capacity().min(cfg.buffer.in_flight_events_max);
    let delivery = Delivery::new(
        shard,
        buffer.ring,
        buffer.spill,
        &cfg.buffer,
        in_flight_max,
        enrich,
    );
    let parse = cfg.parse_options().map_err(std::io::Error::other)?;
    let windows_filter = |f| WindowsFilter::new(f).map_err(std::io::Error::other);
    let socket_windows_filter = windows_filter(&cfg.syslog.windows_filter)?;
    let http_windows_filter = windows_filter(&cfg.http_input.windows_filter)?;
    LocalExecutorBuilder::new(Placement::Fixed(core))
        .name(&format!("shard-{shard}"))
        .io_memory(cfg.shards.io_memory_effective_bytes())
        .spawn(move || async move {
            let p = Rc::new(Pipeline {
                shard,
                sink,
                stats: ShardStats::default(),
                parse,
                message_bytes_max: cfg.syslog.message_bytes_max,
                detect_windows: cfg.syslog.detect_windows,
                socket_windows_filter,
                http_windows_filter,
                delivery: std::cell::RefCell::new(delivery),
                shutdown,
            });
            if let Err(e) = start_inputs(&p, inputs, &cfg) {
                tracing::error!(shard, error = %e, "cannot start the inputs");
                return;
            }
            start_buffer_tasks(&p, &cfg);
            if let Err(e) = start_kafka_poller(&p) {
                tracing::error!(shard, error = %e, "cannot start the Kafka poller");
                return;
            }
            start_reporter(&p, core, &cfg, stats_tx.clone());
            while !p.stopping() {
                glommio::timer::sleep(Duration::from_millis(50)).await;
            }
            let last = shut_down(&p, core, &cfg).await;
            let _ = stats_tx.send(last);
        })
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// A syslog listener with its share of the connection balance, capped at
/// `tcp_connections_max` (plain TCP's and TLS's connections together).
fn balanced(
    listener: glommio::net::TcpListener,
    (balance, inbox): BalanceShare,
    cfg: &Config,
) -> crate::ingest::accept::BalancedListener {
    crate::ingest::accept::BalancedListener {
        listener,
        balance,
        inbox,
        connections_max: cfg.syslog.tcp_connections_max,
    }
}

/// Spawn the shard's input tasks: UDP (in its own priority queue), TCP, TLS, HTTP, EVTX
/// directories.
fn start_inputs(
    p: &Rc<Pipeline>,
    inputs: ShardInputs,
    cfg: &Config,
) -> Result<(), glommio::GlommioError<()>> {
    let ShardInputs {
        udp,
        tcp,
        tcp_balance,
        tls,
        http,
        http_input,
        evtx,
        paused,
    } = inputs;
    if let Some(sock) = udp {
        // SAFETY: the fd comes from a socket we own and hand over whole.
        let sock = unsafe { glommio::net::UdpSocket::from_raw_fd(sock.into_raw_fd()) };
        let reader =
            crate::ingest::udp::serve(p.clone(), sock, cfg.syslog.udp_batch_max, paused.udp);
        glommio::spawn_local_into(reader, udp_read_queue())?.detach();
    }
    if let Some(sock) = tcp {
        // SAFETY: as above.
        let listener = unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
        let input = crate::ingest::tcp::TcpInput {
            listener: balanced(listener, tcp_balance, cfg),
            read_buffer_bytes: cfg.syslog.tcp_read_buffer_bytes,
            idle_timeout: std::time::Duration::from_secs(cfg.syslog.tcp_idle_timeout_secs),
        };
        glommio::spawn_local(crate::ingest::tcp::serve(
            p.clone(),
            input,
            paused.tcp.clone(),
        ))
        .detach();
    }
    if let Some((sock, config, share)) = tls {
        // SAFETY: as above.
        let listener = unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
        let input = crate::ingest::tls::TlsInput {
            listener: balanced(listener, share, cfg),
            config,
            read_buffer_bytes: cfg.syslog.tcp_read_buffer_bytes,
            handshake_timeout: Duration::from_millis(cfg.syslog.tls.tls_handshake_timeout_ms),
            idle_timeout: Duration::from_millis(cfg.syslog.tls_idle_timeout_ms),
        };
        glommio::spawn_local(crate::ingest::tls::serve(
            p.clone(),
            input,
            paused.tls.clone(),
        ))
        .detach();
    }
    if let (Some(sock), Some(input)) = (http, http_input) {
        // SAFETY: as above.
        let listener = unsafe { glommio::net::TcpListener::from_raw_fd(sock.into_raw_fd()) };
        glommio::spawn_local(crate::ingest::http::serve(
            p.clone(),
            listener,
            Rc::new(input),
        ))
        .detach();
    }
    for input in evtx {
        glommio::spawn_local(crate::ingest::evtx_poll::serve(p.clone(), input)).detach();
    }
    Ok(())
}

/// Spawn the buffer's background tasks: the spill writer and, with `fsync = "interval"`,
/// the ring's periodic sync.
fn start_buffer_tasks(p: &Rc<Pipeline>, cfg: &Arc<Config>) {
    let writer = p.delivery.borrow().spill().map(SpillWriter::new);
    match writer {
        Some(Ok(w)) => {
            glommio::spawn_local(run_spill(p.clone(), w, cfg.clone())).detach();
        }
        Some(Err(e)) => {
            tracing::error!(shard = p.shard, error = %e, "spill: cannot start the writer; the ring will not spill")
        }
        None => {}
    }
    if cfg.buffer.fsync == FsyncPolicy::Interval {
        let path = crate::buffer::ring_path(&cfg.buffer.data_dir, p.shard);
        let interval = Duration::from_millis(cfg.buffer.fsync_interval_ms);
        glommio::spawn_local(run_ring_sync(p.clone(), path, interval)).detach();
    }
}

/// Spawn the sender (the Kafka poller). It serves delivery reports, which free ring space and
/// end each event's receive→ack latency, and sends what the inputs appended: in a
/// latency-sensitive queue of its own, so socket readers busy with a backlog yield to it
/// (their `yield_if_needed`) at least every `KAFKA_POLL_INTERVAL` instead of it waiting for
/// the readers' turn to end.
fn start_kafka_poller(p: &Rc<Pipeline>) -> Result<(), glommio::GlommioError<()>> {
    let poll_queue = glommio::executor().create_task_queue(
        glommio::Shares::default(),
        glommio::Latency::Matters(KAFKA_POLL_INTERVAL),
        "kafka-poll",
    );
    let poller = p.clone();
    glommio::spawn_local_into(
        async move {
            loop {
                // A backlog is sent a turn at a time, letting the readers in between.
                if poller.service() {
                    glommio::yield_if_needed().await;
                } else {
                    glommio::timer::sleep(KAFKA_POLL_INTERVAL).await;
                }
            }
        },
        poll_queue,
    )
    .map(|t| {
        t.detach();
    })
}

/// Spawn the reporter: a snapshot of the shard's counters to the aggregator every
/// `[stats] interval_ms`.
fn start_reporter(
    p: &Rc<Pipeline>,
    core: usize,
    cfg: &Config,
    report_tx: SyncSender<ShardSnapshot>,
) {
    let interval = Duration::from_millis(cfg.stats.interval_ms);
    let reporter = p.clone();
    glommio::spawn_local(async move {
        loop {
            glommio::timer::sleep(interval).await;
            // A full channel means the aggregator is behind: skip, the next one carries
            // all (the counters are cumulative; the latencies are put back).
            let snap = reporter
                .stats
                .snapshot(reporter.shard, core, &reporter.sink);
            if let Err(std::sync::mpsc::TrySendError::Full(snap)) = report_tx.try_send(snap) {
                if let Some(l) = &snap.latency {
                    reporter.stats.latency.restore(l);
                }
            }
        }
    })
    .detach();
}

/// The shutdown: wait for the inputs to stop (bounded), send what the ring holds until
/// Kafka acknowledged it (bounded by `kafka.shutdown_flush_ms`), sync the ring; returns the
/// last snapshot (`stopped = true`).
async fn shut_down(p: &Rc<Pipeline>, core: usize, cfg: &Config) -> ShardSnapshot {
    let started = Instant::now();
    while p.stats.inputs_active.get() > 0 && started.elapsed() < INPUTS_STOP_WAIT {
        glommio::timer::sleep(Duration::from_millis(10)).await;
    }
    let flush_deadline = Instant::now() + Duration::from_millis(cfg.kafka.shutdown_flush_ms);
    while !p.delivery.borrow().is_drained() && Instant::now() < flush_deadline {
        p.service();
        glommio::timer::sleep(Duration::from_millis(2)).await;
    }
    p.service();
    p.delivery.borrow_mut().sync(&p.stats);
    let mut last = p.stats.snapshot(p.shard, core, &p.sink);
    last.stopped = true;
    if !p.delivery.borrow().is_drained() {
        tracing::error!(
            shard = p.shard,
            ring_bytes_used = last.ring_bytes_used,
            in_flight = last.in_flight_events,
            "shutdown flush timed out: unacknowledged events stay in the ring and are sent at the next start"
        );
    }
    last
}
