//! loadgen's monitor thread: a progress bar with the live rate (indicatif, when stderr is a
//! terminal; plain lines once a second with `--progress` otherwise), and once a second the
//! latency series' intervals appended to loadgen's interval log.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use indicatif::{ProgressBar, ProgressStyle};

use crate::latency::hlog::HlogWriter;
use crate::loadgen::series::Series;

/// How often the bar is redrawn.
const TICK: Duration = Duration::from_millis(200);
/// Length of an interval in the log (and of a plain progress line).
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// How the monitor shows progress.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    None,
    Bar,
    Lines,
}

impl Display {
    /// A bar on a terminal; with `forced` and no terminal, plain lines.
    pub fn choose(forced: bool) -> Self {
        match (std::io::stderr().is_terminal(), forced) {
            (true, _) => Display::Bar,
            (false, true) => Display::Lines,
            (false, false) => Display::None,
        }
    }
}

/// What the monitor watches; set `done` to stop it.
pub struct Watched {
    pub sent: Arc<AtomicU64>,
    pub done: Arc<AtomicBool>,
    /// Messages to send, when known.
    pub total: Option<u64>,
    /// Series and their tags in the interval log.
    pub series: Vec<(&'static str, Arc<Series>)>,
    pub log: Option<HlogWriter>,
    /// Also shows how many sequence numbers the verifier has seen.
    pub verified: Option<Arc<AtomicU64>>,
}

/// Run the monitor until `w.done` (then write the last intervals); returns the log writer.
pub fn run(mut w: Watched, display: Display) -> Option<HlogWriter> {
    let bar = (display == Display::Bar).then(|| match w.total {
        Some(n) => ProgressBar::new(n).with_style(
            ProgressStyle::with_template("{elapsed_precise} [{bar:30}] {pos}/{len} sent, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar())
                .progress_chars("=> "),
        ),
        None => ProgressBar::new_spinner().with_style(
            ProgressStyle::with_template("{elapsed_precise} {spinner} {pos} sent, {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        ),
    });
    let started = Instant::now();
    let (mut last_at, mut last_sent) = (started, 0u64);
    let mut last_log = started;
    let mut rate = 0.0;
    loop {
        let done = w.done.load(Ordering::Relaxed);
        let sent = w.sent.load(Ordering::Relaxed);
        let dt = last_at.elapsed();
        if dt >= Duration::from_secs(1) || done {
            rate = (sent - last_sent) as f64 / dt.as_secs_f64().max(1e-9);
            (last_at, last_sent) = (Instant::now(), sent);
        }
        let verified = w
            .verified
            .as_ref()
            .map(|v| format!(", {} verified", v.load(Ordering::Relaxed)))
            .unwrap_or_default();
        if let Some(bar) = &bar {
            bar.set_position(sent);
            bar.set_message(format!("{rate:.0} msg/s{verified}"));
        }
        if last_log.elapsed() >= LOG_INTERVAL || done {
            last_log = Instant::now();
            if display == Display::Lines {
                eprintln!(
                    "loadgen: {:.0}s {sent} sent, {rate:.0} msg/s{verified}",
                    started.elapsed().as_secs_f64()
                );
            }
            if let Some(log) = &mut w.log {
                for (tag, s) in &w.series {
                    let i = s.take_interval();
                    if i.count() == 0 {
                        continue;
                    }
                    let length = Duration::from_micros(
                        u64::try_from(i.end_unix_micros - i.start_unix_micros).unwrap_or(0),
                    );
                    if let Err(e) = log.write(Some(tag), &i.histogram, i.start_unix_micros, length)
                    {
                        eprintln!("loadgen: latency log: {e}");
                    }
                }
            }
        }
        if done {
            break;
        }
        std::thread::sleep(TICK);
    }
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    w.log
}
