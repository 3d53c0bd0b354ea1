//! From scraped metrics to the rows `linerate top` shows: pure functions, no I/O.
//!
//! [`Counters::from_samples`] keeps what `top` needs of one appliance's `/metrics`;
//! [`rows`] turns each appliance's previous and current counters into one row for the
//! appliance and one per shard, with rates over the time between the two scrapes.

use std::collections::BTreeMap;

use super::prom::Sample;

/// What `top` keeps of one shard's metrics (counters are totals since the appliance started).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ShardCounters {
    /// `linerate_events_received_total`, every transport.
    pub received: f64,
    /// `linerate_events_delivered_total`, every topic.
    pub delivered: f64,
    /// `linerate_events_dropped_total` by reason.
    pub dropped: BTreeMap<String, f64>,
    /// `linerate_buffer_ring_bytes_used`.
    pub ring_bytes_used: f64,
    /// `linerate_buffer_ring_bytes_capacity`.
    pub ring_bytes_capacity: f64,
    /// `linerate_buffer_spill_bytes`.
    pub spill_bytes: f64,
    /// `linerate_buffer_spill_blocked` is 1.
    pub spill_blocked: bool,
    /// `linerate_shard_up` is 1.
    pub up: bool,
    /// `linerate_receive_to_ack_latency_seconds_bucket`: cumulative count by upper bound
    /// (seconds; `+Inf` last).
    pub latency_buckets: Vec<(f64, f64)>,
}

/// What `top` keeps of one appliance's metrics.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Counters {
    /// By shard index.
    pub shards: BTreeMap<u32, ShardCounters>,
    /// `linerate_kafka_reachable`; `None` when the appliance did not export it.
    pub kafka_reachable: Option<bool>,
}

impl Counters {
    /// Collect the counters `top` shows from one scrape's samples; samples of other metrics
    /// and samples without a parseable `shard` label are ignored.
    pub fn from_samples(samples: &[Sample]) -> Self {
        let mut c = Counters::default();
        for s in samples {
            if s.name == "linerate_kafka_reachable" {
                c.kafka_reachable = Some(s.value >= 1.0);
                continue;
            }
            let Some(shard) = s.label("shard").and_then(|v| v.parse::<u32>().ok()) else {
                continue;
            };
            let sh = c.shards.entry(shard).or_default();
            match s.name.as_str() {
                "linerate_events_received_total" => sh.received += s.value,
                "linerate_events_delivered_total" => sh.delivered += s.value,
                "linerate_events_dropped_total" => {
                    let reason = s.label("reason").unwrap_or("unknown").to_string();
                    *sh.dropped.entry(reason).or_default() += s.value;
                }
                "linerate_buffer_ring_bytes_used" => sh.ring_bytes_used = s.value,
                "linerate_buffer_ring_bytes_capacity" => sh.ring_bytes_capacity = s.value,
                "linerate_buffer_spill_bytes" => sh.spill_bytes = s.value,
                "linerate_buffer_spill_blocked" => sh.spill_blocked = s.value >= 1.0,
                "linerate_shard_up" => sh.up = s.value >= 1.0,
                "linerate_receive_to_ack_latency_seconds_bucket" => {
                    let le = match s.label("le") {
                        Some("+Inf") => f64::INFINITY,
                        Some(v) => match v.parse() {
                            Ok(le) => le,
                            Err(_) => continue,
                        },
                        None => continue,
                    };
                    sh.latency_buckets.push((le, s.value));
                }
                _ => {}
            }
        }
        for sh in c.shards.values_mut() {
            sh.latency_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        }
        c
    }
}

/// An appliance's last two scrapes, as [`rows`] takes them.
#[derive(Debug, Clone)]
pub struct Observed<'a> {
    /// The appliance's address as given on the command line.
    pub target: &'a str,
    /// The scrape before the current one and its time in seconds (any fixed origin), if any.
    pub prev: Option<(f64, &'a Counters)>,
    /// The current scrape and its time, or why it failed.
    pub cur: Result<(f64, &'a Counters), &'a str>,
}

/// Kafka as one appliance sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaState {
    /// The last metadata request succeeded.
    Reachable,
    /// The last metadata request failed.
    Unreachable,
    /// The appliance did not say.
    Unknown,
    /// The appliance itself could not be scraped (why).
    ApplianceDown(String),
}

/// One line of the table: an appliance (`shard: None`, its shards summed) or one shard.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// The appliance's address.
    pub appliance: String,
    /// The shard, or `None` for the appliance's total.
    pub shard: Option<u32>,
    /// Messages received per second (`None` until two scrapes).
    pub receive_per_sec: Option<f64>,
    /// Records Kafka acknowledged per second, every topic (an event sent to the raw and the
    /// normalized topic counts twice; `None` until two scrapes).
    pub deliver_per_sec: Option<f64>,
    /// Drops per second by reason, only reasons that dropped something.
    pub drops_per_sec: Vec<(String, f64)>,
    /// Ring bytes used / capacity (0..=1).
    pub ring_fill: Option<f64>,
    /// Spill bytes on disk.
    pub spill_bytes: Option<f64>,
    /// The spill cannot take more.
    pub spill_blocked: bool,
    /// Receive→ack 99th percentile between the two scrapes (since start on the first),
    /// seconds: the upper bound of the bucket it falls in (`INFINITY`: above the last).
    pub p99_secs: Option<f64>,
    /// Kafka's state (the same for every shard of an appliance).
    pub kafka: KafkaState,
    /// Shards not reporting (appliance rows: how many; shard rows: 0 or 1).
    pub shards_down: usize,
}

/// The table: per appliance a total row followed by its shards' rows (by shard index).
/// Appliances are sorted by receive rate, highest first, then by address; an appliance that
/// could not be scraped gets a single row saying why, at the end.
pub fn rows(observed: &[Observed]) -> Vec<Row> {
    let mut groups: Vec<(f64, &str, Vec<Row>)> = observed
        .iter()
        .map(|o| {
            let rows = appliance_rows(o);
            let key = match &o.cur {
                Ok(_) => rows[0].receive_per_sec.unwrap_or(0.0),
                Err(_) => f64::NEG_INFINITY,
            };
            (key, o.target, rows)
        })
        .collect();
    groups.sort_by(|a, b| b.0.total_cmp(&a.0).then_with(|| a.1.cmp(b.1)));
    groups.into_iter().flat_map(|(_, _, r)| r).collect()
}

fn appliance_rows(o: &Observed) -> Vec<Row> {
    let (t, cur) = match o.cur {
        Ok(c) => c,
        Err(why) => {
            return vec![Row {
                appliance: o.target.to_string(),
                shard: None,
                receive_per_sec: None,
                deliver_per_sec: None,
                drops_per_sec: Vec::new(),
                ring_fill: None,
                spill_bytes: None,
                spill_blocked: false,
                p99_secs: None,
                kafka: KafkaState::ApplianceDown(why.to_string()),
                shards_down: 0,
            }]
        }
    };
    let kafka = match cur.kafka_reachable {
        Some(true) => KafkaState::Reachable,
        Some(false) => KafkaState::Unreachable,
        None => KafkaState::Unknown,
    };
    let dt = o.prev.map(|(pt, _)| t - pt).filter(|dt| *dt > 0.0);
    let empty = ShardCounters::default();
    let mut shard_rows = Vec::new();
    let mut total = ShardCounters::default();
    let mut total_prev = ShardCounters::default();
    let mut shards_down = 0;
    for (shard, now) in &cur.shards {
        let before = o
            .prev
            .and_then(|(_, p)| p.shards.get(shard))
            .unwrap_or(&empty);
        shard_rows.push(row(o.target, Some(*shard), now, before, dt, kafka.clone()));
        add(&mut total, now);
        add(&mut total_prev, before);
        shards_down += usize::from(!now.up);
    }
    let mut first = row(o.target, None, &total, &total_prev, dt, kafka);
    first.shards_down = shards_down;
    let mut out = vec![first];
    out.extend(shard_rows);
    out
}

/// Sum `s` into `into` (gauges and counters alike; histograms bucket by bucket).
fn add(into: &mut ShardCounters, s: &ShardCounters) {
    into.received += s.received;
    into.delivered += s.delivered;
    for (r, n) in &s.dropped {
        *into.dropped.entry(r.clone()).or_default() += n;
    }
    into.ring_bytes_used += s.ring_bytes_used;
    into.ring_bytes_capacity += s.ring_bytes_capacity;
    into.spill_bytes += s.spill_bytes;
    into.spill_blocked |= s.spill_blocked;
    into.up = true;
    for (le, n) in &s.latency_buckets {
        match into.latency_buckets.iter_mut().find(|(b, _)| b == le) {
            Some((_, m)) => *m += n,
            None => into.latency_buckets.push((*le, *n)),
        }
    }
    into.latency_buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
}

fn row(
    appliance: &str,
    shard: Option<u32>,
    now: &ShardCounters,
    before: &ShardCounters,
    dt: Option<f64>,
    kafka: KafkaState,
) -> Row {
    let rate = |a: f64, b: f64| dt.map(|dt| (a - b).max(0.0) / dt);
    let drops_per_sec = now
        .dropped
        .iter()
        .filter_map(|(reason, n)| {
            let r = rate(*n, before.dropped.get(reason).copied().unwrap_or(0.0))?;
            (r > 0.0).then(|| (reason.clone(), r))
        })
        .collect();
    Row {
        appliance: appliance.to_string(),
        shard,
        receive_per_sec: rate(now.received, before.received),
        deliver_per_sec: rate(now.delivered, before.delivered),
        drops_per_sec,
        ring_fill: (now.ring_bytes_capacity > 0.0)
            .then(|| now.ring_bytes_used / now.ring_bytes_capacity),
        spill_bytes: Some(now.spill_bytes),
        spill_blocked: now.spill_blocked,
        p99_secs: quantile(0.99, &now.latency_buckets, &before.latency_buckets),
        kafka,
        shards_down: usize::from(shard.is_some() && !now.up),
    }
}

/// The upper bound of the bucket holding quantile `q` of the observations between `before`
/// and `now` (cumulative buckets, sorted by bound); `None` when there were none.
pub fn quantile(q: f64, now: &[(f64, f64)], before: &[(f64, f64)]) -> Option<f64> {
    let delta: Vec<(f64, f64)> = now
        .iter()
        .map(|(le, n)| {
            let b = before
                .iter()
                .find(|(l, _)| l == le)
                .map_or(0.0, |(_, m)| *m);
            (*le, (n - b).max(0.0))
        })
        .collect();
    let total = delta.last()?.1;
    if total <= 0.0 {
        return None;
    }
    let rank = q * total;
    delta.iter().find(|(_, n)| *n >= rank).map(|(le, _)| *le)
}

impl Row {
    /// The row as the table's cells, in [`HEADER`] order.
    pub fn cells(&self) -> [String; 9] {
        let dash = || "-".to_string();
        let drops = if self.drops_per_sec.is_empty() {
            if self.receive_per_sec.is_some() {
                "0".into()
            } else {
                dash()
            }
        } else {
            self.drops_per_sec
                .iter()
                .map(|(r, n)| format!("{r} {}", fmt_rate(*n)))
                .collect::<Vec<_>>()
                .join(", ")
        };
        let kafka = match &self.kafka {
            KafkaState::Reachable => "ok".into(),
            KafkaState::Unreachable => "UNREACHABLE".into(),
            KafkaState::Unknown => "?".into(),
            KafkaState::ApplianceDown(why) => format!("appliance down: {why}"),
        };
        let shard = match (self.shard, self.shards_down) {
            (Some(s), 0) => s.to_string(),
            (Some(s), _) => format!("{s} DOWN"),
            (None, 0) => "all".into(),
            (None, n) => format!("all ({n} down)"),
        };
        let spill = match (self.spill_bytes, self.spill_blocked) {
            (Some(b), false) => fmt_bytes(b),
            (Some(b), true) => format!("{} BLOCKED", fmt_bytes(b)),
            (None, _) => dash(),
        };
        [
            if self.shard.is_some() {
                String::new()
            } else {
                self.appliance.clone()
            },
            shard,
            self.receive_per_sec.map_or_else(dash, fmt_rate),
            self.deliver_per_sec.map_or_else(dash, fmt_rate),
            drops,
            self.ring_fill
                .map_or_else(dash, |f| format!("{:.1}%", f * 100.0)),
            spill,
            self.p99_secs.map_or_else(dash, fmt_secs),
            kafka,
        ]
    }
}

/// The table's column titles.
pub const HEADER: [&str; 9] = [
    "APPLIANCE",
    "SHARD",
    "RECV/s",
    "DELIV/s",
    "DROPS/s",
    "RING",
    "SPILL",
    "P99 R→ACK",
    "KAFKA",
];

/// A rate with a k/M suffix: `950`, `12.3k`, `4.56M`.
pub fn fmt_rate(r: f64) -> String {
    if r >= 1e6 {
        format!("{:.2}M", r / 1e6)
    } else if r >= 1e4 {
        format!("{:.1}k", r / 1e3)
    } else if r >= 10.0 || r == 0.0 {
        format!("{r:.0}")
    } else {
        format!("{r:.1}")
    }
}

/// Bytes in binary units: `0 B`, `512 B`, `1.5 MiB`.
pub fn fmt_bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v >= 1024.0 && u + 1 < UNITS.len() {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{v:.0} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

/// A bucket bound as `≤5ms`, `≤2.5s`, or `>60s` past the last one.
pub fn fmt_secs(s: f64) -> String {
    if s.is_infinite() {
        return ">60s".into();
    }
    if s < 1.0 {
        format!("≤{}ms", trim(s * 1e3))
    } else {
        format!("≤{}s", trim(s))
    }
}

fn trim(v: f64) -> String {
    let s = format!("{v:.1}");
    s.strip_suffix(".0").map(str::to_string).unwrap_or(s)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::top::prom::parse;

    fn counters(text: &str) -> Counters {
        Counters::from_samples(&parse(text).unwrap())
    }

    fn scrape(received: [u64; 2], delivered: [u64; 2], dropped_udp: u64, p99_le: &str) -> String {
        let mut t = String::from("linerate_kafka_reachable 1\n");
        for s in 0..2 {
            t += &format!(
                "linerate_events_received_total{{shard=\"{s}\",transport=\"udp\"}} {}\n\
                 linerate_events_received_total{{shard=\"{s}\",transport=\"tcp\"}} {}\n\
                 linerate_events_delivered_total{{shard=\"{s}\",topic=\"logs.raw\"}} {}\n\
                 linerate_events_dropped_total{{shard=\"{s}\",reason=\"udp_receive_buffer_full\"}} {}\n\
                 linerate_events_dropped_total{{shard=\"{s}\",reason=\"paused\"}} 0\n\
                 linerate_buffer_ring_bytes_used{{shard=\"{s}\"}} 256\n\
                 linerate_buffer_ring_bytes_capacity{{shard=\"{s}\"}} 1024\n\
                 linerate_buffer_spill_bytes{{shard=\"{s}\"}} {}\n\
                 linerate_buffer_spill_blocked{{shard=\"{s}\"}} {}\n\
                 linerate_shard_up{{shard=\"{s}\"}} 1\n",
                received[s] / 2,
                received[s] - received[s] / 2,
                delivered[s],
                if s == 1 { dropped_udp } else { 0 },
                s * 3 * 1024 * 1024,
                s,
            );
            for le in ["0.005", "0.05", "1", "+Inf"] {
                // Every event in the bucket `p99_le` (cumulative: in every bucket above).
                let bound = |v: &str| v.parse::<f64>().unwrap_or(f64::INFINITY);
                let n = if bound(le) >= bound(p99_le) {
                    received[s]
                } else {
                    0
                };
                t += &format!(
                    "linerate_receive_to_ack_latency_seconds_bucket{{shard=\"{s}\",le=\"{le}\"}} {n}\n"
                );
            }
        }
        t
    }

    #[test]
    fn rates_drops_fill_and_p99_per_appliance_and_shard() {
        let prev = counters(&scrape([100, 200], [100, 200], 0, "0.005"));
        let cur = counters(&scrape([300, 600], [250, 500], 40, "0.05"));
        let rows = rows(&[Observed {
            target: "a:9514",
            prev: Some((10.0, &prev)),
            cur: Ok((12.0, &cur)),
        }]);
        assert_eq!(rows.len(), 3);
        let (all, s0, s1) = (&rows[0], &rows[1], &rows[2]);
        assert_eq!(all.shard, None);
        assert_eq!(all.receive_per_sec, Some(300.0));
        assert_eq!(all.deliver_per_sec, Some(225.0));
        assert_eq!(
            all.drops_per_sec,
            vec![("udp_receive_buffer_full".into(), 20.0)]
        );
        assert_eq!(all.ring_fill, Some(0.25));
        assert_eq!(all.kafka, KafkaState::Reachable);
        assert!(all.spill_blocked);
        // Between the scrapes every event of both shards fell in (0.005, 0.05].
        assert_eq!(all.p99_secs, Some(0.05));
        assert_eq!(s0.shard, Some(0));
        assert_eq!(s0.receive_per_sec, Some(100.0));
        assert!(s0.drops_per_sec.is_empty());
        assert!(!s0.spill_blocked);
        assert_eq!(s1.receive_per_sec, Some(200.0));
        assert_eq!(
            s1.drops_per_sec,
            vec![("udp_receive_buffer_full".into(), 20.0)]
        );
        assert_eq!(
            all.cells(),
            [
                "a:9514",
                "all",
                "300",
                "225",
                "udp_receive_buffer_full 20",
                "25.0%",
                "3.0 MiB BLOCKED",
                "≤50ms",
                "ok"
            ]
            .map(String::from)
        );
        assert_eq!(s0.cells()[0], "");
        assert_eq!(s0.cells()[4], "0");
    }

    #[test]
    fn first_scrape_has_no_rates_and_down_appliances_sort_last() {
        let cur = counters(&scrape([10, 10], [10, 10], 0, "0.005"));
        let busy = counters(&scrape([1000, 1000], [10, 10], 0, "0.005"));
        let rows = rows(&[
            Observed {
                target: "down:1",
                prev: None,
                cur: Err("connection refused"),
            },
            Observed {
                target: "quiet:1",
                prev: Some((0.0, &cur)),
                cur: Ok((1.0, &cur)),
            },
            Observed {
                target: "new:1",
                prev: None,
                cur: Ok((1.0, &cur)),
            },
            Observed {
                target: "busy:1",
                prev: Some((0.0, &cur)),
                cur: Ok((1.0, &busy)),
            },
        ]);
        let order: Vec<_> = rows
            .iter()
            .filter(|r| r.shard.is_none())
            .map(|r| r.appliance.as_str())
            .collect();
        assert_eq!(order, ["busy:1", "new:1", "quiet:1", "down:1"]);
        let new = rows.iter().find(|r| r.appliance == "new:1").unwrap();
        assert_eq!(new.receive_per_sec, None);
        assert_eq!(new.cells()[2], "-");
        assert_eq!(new.cells()[4], "-");
        // The first scrape's p99 is over everything since start.
        assert_eq!(new.p99_secs, Some(0.005));
        let down = rows.last().unwrap();
        assert_eq!(
            down.kafka,
            KafkaState::ApplianceDown("connection refused".into())
        );
        assert_eq!(down.cells()[8], "appliance down: connection refused");
    }

    #[test]
    fn shard_down_and_kafka_unreachable_show() {
        let text = scrape([1, 1], [1, 1], 0, "0.005")
            .replace("linerate_kafka_reachable 1", "linerate_kafka_reachable 0")
            .replace(
                "linerate_shard_up{shard=\"1\"} 1",
                "linerate_shard_up{shard=\"1\"} 0",
            );
        let c = counters(&text);
        let rows = rows(&[Observed {
            target: "a:1",
            prev: None,
            cur: Ok((0.0, &c)),
        }]);
        assert_eq!(rows[0].cells()[1], "all (1 down)");
        assert_eq!(rows[0].cells()[8], "UNREACHABLE");
        assert_eq!(rows[2].cells()[1], "1 DOWN");
    }

    #[test]
    fn quantile_takes_the_bucket_of_the_rank() {
        let before = [(0.01, 10.0), (0.1, 10.0), (f64::INFINITY, 10.0)];
        let now = [(0.01, 109.0), (0.1, 110.0), (f64::INFINITY, 110.0)];
        assert_eq!(quantile(0.99, &now, &before), Some(0.01));
        assert_eq!(quantile(0.999, &now, &before), Some(0.1));
        assert_eq!(quantile(0.99, &before, &before), None);
        let tail = [(0.01, 0.0), (0.1, 0.0), (f64::INFINITY, 5.0)];
        assert_eq!(quantile(0.99, &tail, &[]), Some(f64::INFINITY));
        assert_eq!(fmt_secs(f64::INFINITY), ">60s");
        assert_eq!(fmt_secs(0.0025), "≤2.5ms");
        assert_eq!(fmt_secs(2.5), "≤2.5s");
        assert_eq!(fmt_rate(12_345.0), "12.3k");
        assert_eq!(fmt_rate(4_560_000.0), "4.56M");
        assert_eq!(fmt_rate(2.24), "2.2");
        assert_eq!(fmt_bytes(512.0), "512 B");
        assert_eq!(fmt_bytes(1536.0 * 1024.0), "1.5 MiB");
    }
}
