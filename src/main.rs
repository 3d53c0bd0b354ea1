//! The `linerate` binary: `run` the appliance, `parse` syslog from stdin or a file, `import`
//! Windows and cloud log files, `loadgen`, `report` (latency logs to HTML and SVG), `top` (a fleet's live view), `doctor` (this host against a tuning profile and a
//! config).

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand};
use linerate::config::Config;
use linerate::control::aggregator::{self, State};
use linerate::control::api::Api;
use linerate::control::inputs::Inputs;
use linerate::control::latency::LatencyLog;
use linerate::doctor::{self, profile::Profile, Summary};
use linerate::rlimit::{self, Resource};
use linerate::shard::{self, ShardInputs, ShardSetup};
use linerate::sink::kafka::{EmbeddedKafka, KafkaSink};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[derive(Parser, Debug)]
#[command(
    name = "linerate",
    version,
    about = "Thread-per-core log ingestion: syslog in, Kafka out, normalized to ECS."
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Run the appliance (with no --config: one shard per core, syslog on 0.0.0.0:5514, embedded Kafka).
    Run {
        /// TOML configuration file (see README "Configuration").
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Parse syslog lines and print one ECS JSON object per message.
    Parse(linerate::cli_parse::ParseArgs),
    /// Import Windows and cloud log files, normalized to ECS (to Kafka, or `--stdout`).
    #[command(subcommand)]
    Import(linerate::cli_import::ImportCommand),
    /// Send syslog load at an address.
    Loadgen(Box<linerate::loadgen::LoadgenArgs>),
    /// Turn latency interval logs (appliance, loadgen) into an HTML report with SVG plots.
    Report(linerate::report::ReportArgs),
    /// Watch one or many appliances: per appliance and shard the rates, drops, ring and
    /// spill, receive→ack p99 and Kafka's state, refreshed every second (`q` quits).
    Top(linerate::top::TopArgs),
    /// Load the normalized topic into PostgreSQL, exactly once (see docs/retention.md).
    Store(linerate::cli_store::StoreArgs),
    /// The PostgreSQL tiers: `run` the retention job, `status` of each partition.
    #[command(subcommand)]
    Retention(linerate::cli_store::RetentionCommand),
    /// Check this host against a sysctl profile and a config: one line per check, exit 1 on
    /// any FAIL.
    Doctor {
        /// sysctl profile: a name in tuning/ (`throughput`, `low-latency`) or a file.
        #[arg(long, default_value = DEFAULT_PROFILE)]
        profile: String,
        /// TOML configuration file to check (default: the built-in defaults `run` uses).
        #[arg(long)]
        config: Option<PathBuf>,
        /// One JSON object instead of lines.
        #[arg(long)]
        json: bool,
    },
}

/// The profile `doctor` checks when none is named; its absence is a SKIP, not an error.
const DEFAULT_PROFILE: &str = "throughput";

fn main() {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run { config } => run(config),
        Command::Parse(args) => linerate::cli_parse::run(&args),
        Command::Import(cmd) => linerate::cli_import::run(&cmd),
        Command::Loadgen(args) => linerate::loadgen::run(&args).map(|_| ()),
        Command::Report(args) => linerate::report::run(&args),
        Command::Top(args) => linerate::top::run(&args),
        Command::Store(args) => {
            init_logging();
            linerate::cli_store::store(&args)
        }
        Command::Retention(cmd) => {
            init_logging();
            linerate::cli_store::retention(&cmd)
        }
        Command::Doctor {
            profile,
            config,
            json,
        } => doctor(&profile, config, json),
    };
    if let Err(e) = result {
        eprintln!("linerate: {e:#}");
        std::process::exit(1);
    }
}

fn init_logging() {
    linerate::logging::init("info");
}

/// Raise a resource limit towards what the config needs, and say so when it falls short.
fn raise_limit(resource: Resource, needed: u64, hint: &str) {
    match rlimit::raise(resource, needed) {
        Ok(limit) if limit.soft_allows(needed) => {}
        Ok(limit) => tracing::warn!(
            ?resource,
            needed,
            soft = ?limit.soft,
            hard = ?limit.hard,
            "could not raise the limit as far as the config needs ({hint}; `linerate doctor` checks it)"
        ),
        Err(e) => tracing::warn!(?resource, error = %e, "getrlimit/setrlimit failed"),
    }
}

/// `linerate doctor`: print the checks, exit 1 when any failed.
fn doctor(profile: &str, config: Option<PathBuf>, json: bool) -> Result<()> {
    let cfg = match &config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    // A profile named on the command line must exist; the default one may be absent.
    let (profile, why_no_profile) = match doctor::profile::resolve(profile) {
        Ok(path) => (Some(Profile::load(&path)?), String::new()),
        Err(e) if profile == DEFAULT_PROFILE => {
            (None, format!("no profile: {e}; pass --profile FILE"))
        }
        Err(e) => return Err(e.into()),
    };
    let checks = doctor::run(&doctor::Inputs {
        profile: profile.as_ref(),
        why_no_profile,
        config: &cfg,
    });
    let summary = Summary::of(&checks);
    let about = format!(
        "profile {}, config {}",
        profile
            .as_ref()
            .map_or("none".into(), |p| p.path.display().to_string()),
        config
            .as_ref()
            .map_or("defaults".into(), |p| p.display().to_string())
    );
    if json {
        let out = serde_json::json!({
            "profile": profile.as_ref().map(|p| p.path.display().to_string()),
            "config": config.as_ref().map(|p| p.display().to_string()),
            "checks": checks,
            "summary": summary,
        });
        println!("{out}");
    } else {
        for c in &checks {
            println!("{c}");
        }
    }
    eprintln!("doctor: {summary} ({about})");
    if summary.fail > 0 {
        std::process::exit(1);
    }
    Ok(())
}

/// The EVTX directory inputs of each shard: input `i` is polled by shard `i % shards`, with
/// its filter compiled, its pause flag `paused[i]` and its state directory
/// (`data_dir/evtx-state`) created.
/// A TLS listener's reloadable server configuration, loaded now (fail closed: an unreadable,
/// invalid or mismatched file stops start-up naming it), with its reload watcher started.
fn load_tls(
    keys: linerate::config::TlsKeys,
    what: &str,
) -> anyhow::Result<std::sync::Arc<linerate::tls::config::ReloadableTls>> {
    let files = linerate::tls::config::TlsFiles::from_keys(keys).context(what.to_string())?;
    let tls = linerate::tls::config::ReloadableTls::load(files)
        .with_context(|| format!("{what}: loading the certificate"))?;
    tls.spawn_watcher(Duration::from_millis(keys.reload_check_ms))
        .with_context(|| format!("{what}: starting the certificate reload watcher"))?;
    Ok(tls)
}

fn evtx_inputs(
    cfg: &Config,
    shards: usize,
    paused: &[linerate::ingest::pause::PauseFlag],
) -> Result<Vec<Vec<linerate::ingest::evtx_poll::EvtxInput>>> {
    let mut per_shard: Vec<Vec<_>> = (0..shards).map(|_| Vec::new()).collect();
    if cfg.evtx_input.is_empty() {
        return Ok(per_shard);
    }
    let state_dir = cfg.buffer.data_dir.join("evtx-state");
    std::fs::create_dir_all(&state_dir)
        .with_context(|| format!("creating {}", state_dir.display()))?;
    for (i, (input, paused)) in cfg.evtx_input.iter().zip(paused).enumerate() {
        let filter = linerate::normalize::windows_filter::WindowsFilter::new(&input.filter)
            .with_context(|| format!("evtx_input {}", i + 1))?;
        tracing::info!(input = %linerate::control::inputs::evtx_name(i), dir = %input.dir.display(), shard = i % shards, filter = filter.is_active(), "evtx_input: polling");
        per_shard[i % shards].push(linerate::ingest::evtx_poll::EvtxInput {
            dir: input.dir.clone(),
            poll_interval: Duration::from_millis(input.poll_interval_ms),
            records_per_step_max: input.records_per_step_max,
            filter,
            state_file: linerate::ingest::evtx_state::state_path(&state_dir, &input.dir),
            paused: paused.clone(),
        });
    }
    Ok(per_shard)
}

fn run(config: Option<PathBuf>) -> Result<()> {
    init_logging();
    let cfg = match &config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    warn_unsafe_delivery(&cfg);
    let api_token = cfg
        .http
        .api_token()
        .context("reading [http] api_token_file")?;
    let cfg = Arc::new(cfg);
    let cores = cfg.shard_cores();
    // Before any thread starts: every one started from here on inherits the set.
    if cfg.shards.pin_helpers {
        keep_helpers_off_shard_cores(&cores);
    }
    let inputs = Arc::new(Inputs::from_config(&cfg, cores.len()));
    raise_limits(&cfg);
    // The producers' settings with the security keys resolved (the SASL password read from
    // its file): used to build clients only, never logged (`cfg` is what the API shows).
    let kafka_cfg = cfg
        .kafka
        .with_security()
        .context("reading the Kafka security files")?;
    let listen = Listen::parse(&cfg)?;
    let embedded = start_embedded_kafka(&cfg)?;
    let bootstrap = embedded
        .as_ref()
        .map(|k| k.bootstrap_servers())
        .unwrap_or_else(|| cfg.kafka.brokers.clone());
    let setups = shard_setups(&cfg, &cores, &listen, &inputs, &kafka_cfg, &bootstrap)?;
    let interval = Duration::from_millis(cfg.stats.interval_ms);
    let state = Arc::new(Mutex::new(State::new(
        cores.len(),
        topic_names(&cfg),
        interval,
    )));
    start_control_api(&cfg, &state, &inputs, api_token, &cores)?;
    aggregator::spawn_kafka_probe(
        state.clone(),
        linerate::sink::kafka::probe_config(&kafka_cfg, &bootstrap),
        interval,
    );
    let shutdown = Arc::new(AtomicBool::new(false));
    let (stats_tx, stats_rx) = std::sync::mpsc::sync_channel(cores.len() * 8);
    let agg_stop = Arc::new(AtomicBool::new(false));
    let aggregator = start_aggregator(&cfg, &state, stats_rx, &agg_stop, cores.len())?;
    let mut handles = Vec::with_capacity(cores.len());
    for setup in setups {
        let shard = setup.shard;
        handles.push(
            shard::spawn(setup, cfg.clone(), stats_tx.clone(), shutdown.clone())
                .with_context(|| format!("starting shard {shard}"))?,
        );
    }
    drop(stats_tx);
    tracing::info!(
        shards = cores.len(),
        cores = ?cores,
        udp = %cfg.syslog.udp_listen,
        tcp = %cfg.syslog.tcp_listen,
        tls = %cfg.syslog.tls_listen,
        http_input = %cfg.http_input.listen,
        kafka = %bootstrap,
        "linerate running"
    );
    watch_signals(shutdown.clone())?;
    for h in handles {
        if let Err(e) = h.join() {
            tracing::error!(error = %e, "shard ended with an error");
        }
    }
    agg_stop.store(true, Ordering::Relaxed);
    let totals = aggregator
        .join()
        .map_err(|_| anyhow::anyhow!("aggregator panicked"))?;
    log_final_counts(&totals);
    println!("{}", serde_json::to_string(&totals)?);
    drop(embedded);
    Ok(())
}

/// Pin this thread, and so every thread it starts but the shards (librdkafka's, the
/// embedded cluster's, the control API's, the aggregator), to the CPUs no shard runs on
/// ([`linerate::shard::helper_cpus`]); when every CPU runs a shard they stay unpinned.
fn keep_helpers_off_shard_cores(cores: &[usize]) {
    use linerate::shard::helper_cpus::{allowed_cpus, helper_cpus, pin_current_thread};
    let allowed = match allowed_cpus() {
        Ok(a) => a,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read the CPU set: helper threads unpinned");
            return;
        }
    };
    let helpers = helper_cpus(&allowed, cores);
    if helpers.is_empty() {
        tracing::info!(shard_cores = ?cores, "every CPU runs a shard: librdkafka's and the helper threads share them");
        return;
    }
    match pin_current_thread(&helpers) {
        Ok(()) => {
            tracing::info!(helper_cpus = ?helpers, shard_cores = ?cores, "librdkafka's threads, the control API and the aggregator pinned off the shards' cores")
        }
        Err(e) => {
            tracing::warn!(error = %e, helper_cpus = ?helpers, "cannot pin the helper threads: unpinned")
        }
    }
}

/// With `[kafka] unsafe_delivery`, one loud warning per property that weakens the guarantee.
fn warn_unsafe_delivery(cfg: &Config) {
    if !cfg.kafka.unsafe_delivery {
        return;
    }
    for w in linerate::config::weakened_guarantees(&cfg.kafka.properties) {
        tracing::warn!(
            property = %w.key,
            value = %w.value,
            "UNSAFE DELIVERY: [kafka] unsafe_delivery = true lets [kafka.properties] weaken \
             the delivery guarantee: EVENTS MAY BE LOST OR DUPLICATED. {}",
            w.reason
        );
    }
}

/// Raise the locked-memory and open-files limits to what the config needs (a warning when
/// the hard limit is lower).
fn raise_limits(cfg: &Config) {
    raise_limit(
        Resource::LockedMemory,
        cfg.locked_memory_bytes(),
        "glommio locks its io_uring buffers: shards may fail to start; see `ulimit -l`",
    );
    raise_limit(
        Resource::OpenFiles,
        cfg.open_files_needed(),
        "TCP connections past it are refused; see `ulimit -n`",
    );
}

/// The enrichment table, when `[enrich]` names a topic and a table.
fn load_enrichment(cfg: &Config) -> Result<Option<Arc<linerate::normalize::enrich::EnrichTable>>> {
    let Some(topic) = cfg.enrich.enabled_topic() else {
        return Ok(None);
    };
    let table = linerate::normalize::enrich::EnrichTable::load(
        std::path::Path::new(&cfg.enrich.table),
        cfg.enrich.table_rows_max,
    )
    .context("loading the enrichment table ([enrich] table)")?;
    tracing::info!(rows = table.len(), table = %cfg.enrich.table, topic, "enrichment table loaded");
    Ok(Some(Arc::new(table)))
}

/// The topics the appliance produces to (the embedded cluster creates them).
fn produced_topics(cfg: &Config) -> Vec<&str> {
    [
        cfg.kafka
            .raw_enabled
            .then_some(cfg.kafka.raw_topic.as_str()),
        cfg.kafka
            .normalized_enabled
            .then_some(cfg.kafka.normalized_topic.as_str()),
        cfg.kafka
            .dead_letter_enabled
            .then_some(cfg.kafka.dead_letter_topic.as_str()),
        cfg.enrich.enabled_topic(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The topic names by topic index, as the metrics label them (empty: that topic is off).
fn topic_names(cfg: &Config) -> [String; 3] {
    let on = |enabled: bool, topic: &str| {
        if enabled {
            topic.to_string()
        } else {
            String::new()
        }
    };
    [
        on(cfg.kafka.raw_enabled, &cfg.kafka.raw_topic),
        on(cfg.kafka.normalized_enabled, &cfg.kafka.normalized_topic),
        cfg.enrich.enabled_topic().unwrap_or_default().to_string(),
    ]
}

/// `brokers = "embedded"`: librdkafka's mock cluster in this process, announced loudly.
fn start_embedded_kafka(cfg: &Config) -> Result<Option<EmbeddedKafka>> {
    if cfg.kafka.brokers != "embedded" {
        return Ok(None);
    }
    let k = EmbeddedKafka::start(&produced_topics(cfg), cfg.kafka.embedded_partitions)
        .context("starting the embedded Kafka mock cluster")?;
    tracing::warn!(
        bootstrap = %k.bootstrap_servers(),
        "EMBEDDED KAFKA: brokers = \"embedded\" runs librdkafka's in-process MOCK cluster. \
         Events live in this process's memory only and are LOST when it exits. \
         Set [kafka] brokers to a real cluster for any real deployment."
    );
    Ok(Some(k))
}

/// The listen addresses of the inputs (`None`: that input is off).
struct Listen {
    udp: Option<std::net::SocketAddr>,
    tcp: Option<std::net::SocketAddr>,
    tls: Option<std::net::SocketAddr>,
    http: Option<std::net::SocketAddr>,
}

impl Listen {
    /// The configured addresses; at least one input must be on.
    fn parse(cfg: &Config) -> Result<Self> {
        let addr = |text: &str| -> Result<Option<std::net::SocketAddr>> {
            Ok((!text.is_empty()).then(|| text.parse()).transpose()?)
        };
        let listen = Listen {
            udp: addr(&cfg.syslog.udp_listen)?,
            tcp: addr(&cfg.syslog.tcp_listen)?,
            tls: addr(&cfg.syslog.tls_listen)?,
            http: addr(&cfg.http_input.listen)?,
        };
        if listen.udp.is_none()
            && listen.tcp.is_none()
            && listen.tls.is_none()
            && listen.http.is_none()
            && cfg.evtx_input.is_empty()
        {
            bail!("no input: syslog.udp_listen, syslog.tcp_listen, syslog.tls_listen and http_input.listen are empty and there is no evtx_input");
        }
        Ok(listen)
    }
}

/// The syslog TLS listener's configuration, loaded and watched for reloads. Fails closed: a
/// certificate, key or CA that cannot be loaded stops start-up.
fn syslog_tls(
    cfg: &Config,
    listen: &Listen,
) -> Result<Option<Arc<linerate::tls::config::ReloadableTls>>> {
    if listen.tls.is_none() {
        return Ok(None);
    }
    Ok(Some(load_tls(cfg.syslog.tls.tls_keys(), "syslog TLS")?))
}

/// An HTTP server's TLS side when its section sets `tls_cert_file` (loaded now, fail closed,
/// reload watcher started; `what` names the server in errors).
fn https(
    tls: &linerate::config::TlsServerConfig,
    what: &str,
) -> Result<Option<linerate::http_server::Tls>> {
    if !tls.enabled() {
        return Ok(None);
    }
    Ok(Some(linerate::http_server::Tls {
        config: load_tls(tls.tls_keys(), what)?,
        handshake_timeout: Duration::from_millis(tls.tls_handshake_timeout_ms),
    }))
}

/// The HTTP input's settings (the Firehose key read from its file), when it listens.
fn http_input(
    cfg: &Config,
    listen: &Listen,
    inputs: &Inputs,
) -> Result<Option<linerate::ingest::http::HttpInput>> {
    if listen.http.is_none() {
        return Ok(None);
    }
    let input = linerate::ingest::http::HttpInput {
        body_bytes_max: cfg.http_input.body_bytes_max,
        record_bytes_max: cfg.syslog.message_bytes_max,
        connections_max: cfg.http_input.connections_max,
        request_timeout: Duration::from_millis(cfg.http_input.request_timeout_ms),
        idle_timeout: Duration::from_millis(cfg.http_input.idle_timeout_ms),
        firehose_access_key: cfg
            .http_input
            .firehose_access_key()
            .context("reading http_input.firehose_access_key_file")?,
        paused: inputs.flags().http,
        tls: https(&cfg.http_input.tls, "http_input HTTPS")?,
    };
    if input.firehose_access_key.is_none() {
        tracing::warn!("http_input: no firehose_access_key: POST /firehose is not authenticated");
    }
    Ok(Some(input))
}

/// Every shard's ring and spill, opened (its pages populated) before any socket is bound: a
/// socket that is bound already takes datagrams and connections, which would wait (or, UDP,
/// be dropped) while a later shard's ring is still being faulted in.
fn open_buffers(cfg: &Config, shards: usize) -> Result<Vec<linerate::buffer::ShardBuffer>> {
    (0..shards)
        .map(|shard| {
            linerate::buffer::open_shard(&cfg.buffer, shard)
                .with_context(|| format!("opening shard {shard}'s buffer"))
        })
        .collect()
}

/// Everything each shard owns, made on the main thread so start-up errors (a port in use, a
/// damaged buffer, a bad certificate) stop the process before any shard runs.
fn shard_setups(
    cfg: &Arc<Config>,
    cores: &[usize],
    listen: &Listen,
    inputs: &Inputs,
    kafka_cfg: &linerate::config::KafkaConfig,
    bootstrap: &str,
) -> Result<Vec<ShardSetup>> {
    let enrich = load_enrichment(cfg)?;
    let tls_config = syslog_tls(cfg, listen)?;
    let http_input = http_input(cfg, listen, inputs)?;
    let mut evtx_inputs = evtx_inputs(cfg, cores.len(), &inputs.flags().evtx)?;
    let balance = || {
        let (balance, inboxes) =
            linerate::ingest::tcp_balance::TcpBalance::new(cores.len(), cfg.syslog.tcp_balance);
        inboxes
            .into_iter()
            .map(move |inbox| (balance.clone(), inbox))
    };
    // TCP and TLS connections are balanced each over their own listeners.
    let (mut tcp_shares, mut tls_shares) = (balance(), balance());
    let mut buffers = open_buffers(cfg, cores.len())?.into_iter();
    let syslog = &cfg.syslog;
    let bind_tcp = |a| {
        linerate::ingest::sockets::bind_tcp(a, syslog.recv_buffer_bytes, syslog.tcp_backlog_max)
    };
    let mut setups = Vec::with_capacity(cores.len());
    for (shard, &core) in cores.iter().enumerate() {
        let udp = listen
            .udp
            .map(|a| linerate::ingest::sockets::bind_udp(a, syslog.recv_buffer_bytes))
            .transpose()
            .with_context(|| format!("binding UDP {}", syslog.udp_listen))?;
        let tcp = listen
            .tcp
            .map(bind_tcp)
            .transpose()
            .with_context(|| format!("binding TCP {}", syslog.tcp_listen))?;
        let tls = listen
            .tls
            .map(bind_tcp)
            .transpose()
            .with_context(|| format!("binding TLS {}", syslog.tls_listen))?
            .zip(tls_config.clone())
            .zip(tls_shares.next())
            .map(|((sock, config), share)| (sock, config, share));
        let http = listen
            .http
            .map(|a| linerate::ingest::sockets::bind_tcp_listener(a, cfg.http_input.backlog_max))
            .transpose()
            .with_context(|| format!("binding HTTP input {}", cfg.http_input.listen))?;
        let buffer = buffers.next().context("one buffer per shard")?;
        let sink = KafkaSink::new(
            kafka_cfg,
            cfg.enrich.enabled_topic(),
            bootstrap,
            shard,
            cfg.buffer.in_flight_events_max,
        )
        .context("creating the Kafka producer")?;
        setups.push(ShardSetup {
            shard,
            core,
            inputs: ShardInputs {
                udp,
                tcp,
                tcp_balance: tcp_shares.next().context("one TCP inbox per shard")?,
                tls,
                http,
                http_input: http_input.clone(),
                evtx: std::mem::take(&mut evtx_inputs[shard]),
                paused: inputs.flags(),
            },
            buffer,
            sink,
            enrich: enrich.clone(),
        });
    }
    Ok(setups)
}

/// The control API on `[http] listen` (when set): /metrics, /health, /api/v1.
fn start_control_api(
    cfg: &Config,
    state: &Arc<Mutex<State>>,
    inputs: &Arc<Inputs>,
    api_token: Option<String>,
    cores: &[usize],
) -> Result<()> {
    if cfg.http.listen.is_empty() {
        return Ok(());
    }
    let token_required = api_token.is_some();
    let api = Api::new(
        inputs.clone(),
        cfg.to_redacted_json(),
        api_token,
        cores.to_vec(),
    );
    let tls = https(&cfg.http.tls, "http (control API) HTTPS")?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let addr = linerate::control::http::spawn(&cfg.http, state.clone(), api, tls)
        .with_context(|| format!("binding HTTP {}", cfg.http.listen))?;
    tracing::info!(%addr, scheme, token_required, "http: /metrics /health /api/v1");
    Ok(())
}

/// The aggregator thread: takes the shards' snapshots into `state` until `stop`, writing
/// the latency log when configured; returns the final totals.
fn start_aggregator(
    cfg: &Config,
    state: &Arc<Mutex<State>>,
    stats_rx: std::sync::mpsc::Receiver<linerate::stats::ShardSnapshot>,
    stop: &Arc<AtomicBool>,
    shards: usize,
) -> Result<std::thread::JoinHandle<aggregator::Totals>> {
    let interval = Duration::from_millis(cfg.stats.interval_ms);
    let latency_log = if cfg.stats.latency_log_bytes_max > 0 {
        Some(
            LatencyLog::open(
                &cfg.buffer.data_dir,
                shards,
                interval,
                cfg.stats.latency_log_bytes_max,
                cfg.stats.latency_log_files_max,
            )
            .context("opening the latency log directory")?,
        )
    } else {
        None
    };
    let summary_every = Duration::from_millis(cfg.stats.summary_log_interval_ms);
    let (state, stop) = (state.clone(), stop.clone());
    Ok(std::thread::Builder::new()
        .name("aggregator".into())
        .spawn(move || aggregator::run(state, stats_rx, stop, latency_log, summary_every))?)
}

/// SIGINT / SIGTERM: the first starts a graceful shutdown (`shutdown` set), a second exits.
fn watch_signals(shutdown: Arc<AtomicBool>) -> Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([
        signal_hook::consts::SIGINT,
        signal_hook::consts::SIGTERM,
    ])?;
    std::thread::Builder::new().name("signals".into()).spawn(move || {
        let mut seen = 0;
        for sig in signals.forever() {
            seen += 1;
            if seen == 1 {
                tracing::info!(signal = sig, "shutting down: inputs stop, producers flush (a second signal exits at once)");
                shutdown.store(true, Ordering::Relaxed);
            } else {
                eprintln!("linerate: second signal, exiting now");
                std::process::exit(130);
            }
        }
    })?;
    Ok(())
}

/// The final counts, logged once at exit.
fn log_final_counts(totals: &aggregator::Totals) {
    let received: u64 = totals.received.iter().sum();
    tracing::info!(
        received,
        received_udp = totals.received[0],
        received_tcp = totals.received[1],
        parse_errors = totals.parse_errors,
        truncated = totals.truncated,
        produced = ?totals.produced,
        delivered = ?totals.delivered,
        delivery_failed = ?totals.delivery_failed,
        dropped = ?totals.dropped,
        "final counts"
    );
}
