//! Prometheus text exposition (format 0.0.4) of the aggregated shard snapshots.
//!
//! Hand-written: a few dozen lines of text formatting do not justify a metrics registry
//! whose atomics would tempt use from the hot path.

use std::fmt::Write as _;
use std::time::Instant;

use crate::control::aggregator::State;
use crate::control::inputs::{InputState, Inputs};
use crate::event::TRANSPORT_NAMES;
use crate::http_server::REJECT_NAMES;
use crate::latency::buckets::{le_label, BUCKET_BOUNDS_MICROS};
use crate::stats::{ShardSnapshot, DROP_REASON_NAMES};
use crate::tls::failure::{TlsListener, TLS_FAILURE_COUNT, TLS_FAILURE_NAMES, TLS_LISTENER_NAMES};

/// Reads one per-topic counter (by topic index) from a shard snapshot.
type TopicCounter = fn(&ShardSnapshot, usize) -> u64;

type Getter = fn(&ShardSnapshot) -> u64;

/// A family with one sample per shard and label value: name, help, label name, label
/// values (by index), the snapshot's value at an index. All are counters.
struct Labelled {
    name: &'static str,
    help: &'static str,
    label: &'static str,
    values: &'static [&'static str],
    get: TopicCounter,
}

const RECEIVED: Labelled = Labelled {
    name: "linerate_events_received_total",
    help: "Messages received, by shard and transport.",
    label: "transport",
    values: &TRANSPORT_NAMES,
    get: |s, t| s.received[t],
};

const RECEIVED_BYTES: Labelled = Labelled {
    name: "linerate_received_bytes_total",
    help: "Bytes of messages received, by shard and transport.",
    label: "transport",
    values: &TRANSPORT_NAMES,
    get: |s, t| s.received_bytes[t],
};

const HTTP_REJECTED: Labelled = Labelled {
    name: "linerate_http_requests_rejected_total",
    help: "HTTP input requests or connections refused, by reason (nothing of them accepted; paused and full-ring 503s included).",
    label: "reason",
    values: &REJECT_NAMES,
    get: |s, r| s.http_rejected[r],
};

const DEAD_LETTERED: Labelled = Labelled {
    name: "linerate_events_dead_lettered_total",
    help: "Records Kafka rejected for good (too large, invalid topic...), by where they went: the dead-letter topic or the dead-letter file.",
    label: "destination",
    values: &["topic", "file"],
    get: |s, i| s.dead_lettered[i],
};

const DROPPED: Labelled = Labelled {
    name: "linerate_events_dropped_total",
    help: "Events lost, by reason.",
    label: "reason",
    values: &DROP_REASON_NAMES,
    get: |s, r| s.dropped[r],
};

/// The families with one sample per shard and topic: name, help, the snapshot's value.
const PER_TOPIC: [(&str, &str, TopicCounter); 3] = [
    (
        "linerate_events_produced_total",
        "Records handed to the Kafka producer.",
        |s, t| s.produced[t],
    ),
    (
        "linerate_events_delivered_total",
        "Records Kafka acknowledged.",
        |s, t| s.delivered[t],
    ),
    (
        "linerate_delivery_failures_total",
        "Delivery reports that said failed (the record is sent again, not dropped).",
        |s, t| s.delivery_failed[t],
    ),
];

/// The families with one sample per shard: name, type, help, the snapshot's value.
const PER_SHARD: [(&str, &str, &str, Getter); 32] = [
    (
        "linerate_nesting_too_deep_total",
        "counter",
        "Bodies (HTTP 400) and records (pipeline_error events) refused for JSON or XML nested deeper than 128 levels.",
        |s| s.nesting_too_deep,
    ),
    (
        "linerate_events_parsed_total",
        "counter",
        "Messages parsed into events.",
        |s| s.parsed,
    ),
    (
        "linerate_parse_errors_total",
        "counter",
        "Messages that could not be parsed (emitted as pipeline_error events).",
        |s| s.parse_errors,
    ),
    (
        "linerate_events_truncated_total",
        "counter",
        "Messages longer than message_bytes_max, truncated.",
        |s| s.truncated,
    ),
    (
        "linerate_tcp_connections_open",
        "gauge",
        "Open TCP connections.",
        |s| s.tcp_connections_open,
    ),
    (
        "linerate_tcp_connections_accepted_total",
        "counter",
        "TCP connections accepted.",
        |s| s.tcp_connections_accepted,
    ),
    (
        "linerate_tcp_connections_moved_total",
        "counter",
        "TCP connections this shard accepted and handed to the shard serving fewest (balancing).",
        |s| s.tcp_connections_moved,
    ),
    (
        "linerate_tcp_connections_rejected_total",
        "counter",
        "TCP connections closed at once because tcp_connections_max was reached.",
        |s| s.tcp_connections_rejected,
    ),
    (
        "linerate_tcp_connections_idle_closed_total",
        "counter",
        "TCP connections closed because they sent nothing for tcp_idle_timeout_secs.",
        |s| s.tcp_connections_idle_closed,
    ),
    (
        "linerate_tcp_framing_errors_total",
        "counter",
        "TCP connections closed because their stream could not be framed (octet count beyond the bound; a pipeline_error event each).",
        |s| s.tcp_framing_errors,
    ),
    (
        "linerate_backpressure_waits_total",
        "counter",
        "Times an event could not be handed to Kafka because the producer queue was full (it is resent).",
        |s| s.backpressure_waits,
    ),
    (
        "linerate_buffer_ring_bytes_used",
        "gauge",
        "Bytes of the ring holding events Kafka has not acknowledged.",
        |s| s.ring_bytes_used,
    ),
    (
        "linerate_buffer_ring_bytes_capacity",
        "gauge",
        "Data capacity of the ring (buffer.ring_bytes_max).",
        |s| s.ring_bytes_capacity,
    ),
    (
        "linerate_buffer_in_flight_events",
        "gauge",
        "Events handed to the producer and not yet acknowledged.",
        |s| s.in_flight_events,
    ),
    (
        "linerate_buffer_replayed_events_total",
        "counter",
        "Events an earlier run received and Kafka had not acknowledged, sent again at start (possible duplicates).",
        |s| s.replayed,
    ),
    (
        "linerate_buffer_resent_events_total",
        "counter",
        "Events sent again after a failed delivery or a full producer queue (possible duplicates).",
        |s| s.resent,
    ),
    (
        "linerate_buffer_corrupt_records_skipped_total",
        "counter",
        "Damaged buffered events (ring frames or spill blocks failing their crc) skipped.",
        |s| s.corrupt_skipped,
    ),
    (
        "linerate_buffer_spill_bytes",
        "gauge",
        "Bytes of spill segments on disk (compressed).",
        |s| s.spill_bytes,
    ),
    (
        "linerate_buffer_spill_segments",
        "gauge",
        "Spill segment files on disk.",
        |s| s.spill_segments,
    ),
    (
        "linerate_buffer_spilled_events_total",
        "counter",
        "Events moved from the ring to spill segments.",
        |s| s.spilled_events,
    ),
    (
        "linerate_buffer_spill_write_errors_total",
        "counter",
        "Spill block writes that failed (disk full, I/O error); their events stayed in the ring.",
        |s| s.spill_write_errors,
    ),
    (
        "linerate_buffer_spill_blocked",
        "gauge",
        "1 while the spill cannot take more (spill_bytes_max reached or writes failing): the ring fills and inputs back off.",
        |s| s.spill_blocked,
    ),
    (
        "linerate_buffer_sync_errors_total",
        "counter",
        "Failed msyncs of the ring.",
        |s| s.sync_errors,
    ),
    (
        "linerate_enrich_matches_total",
        "counter",
        "Events an enrichment table row matched (sent to the enriched topic with labels).",
        |s| s.enriched_matches,
    ),
    (
        "linerate_kafka_in_flight",
        "gauge",
        "Records queued in the producer and not yet acknowledged.",
        |s| s.kafka_in_flight,
    ),
    (
        "linerate_evtx_files_watched",
        "gauge",
        "EVTX files in the directories of the shard's EVTX inputs.",
        |s| s.evtx_files_watched,
    ),
    (
        "linerate_evtx_records_read_total",
        "counter",
        "New EVTX records read by the shard's EVTX inputs (appended or filtered out).",
        |s| s.evtx_records_read,
    ),
    (
        "linerate_evtx_corrupt_chunks_total",
        "counter",
        "EVTX chunks the evtx crate cannot read, skipped (their records are lost).",
        |s| s.evtx_corrupt_chunks,
    ),
    (
        "linerate_evtx_corrupt_records_total",
        "counter",
        "EVTX records the evtx crate cannot read, skipped.",
        |s| s.evtx_corrupt_records,
    ),
    (
        "linerate_http_requests_total",
        "counter",
        "Requests the HTTP input answered.",
        |s| s.http_requests,
    ),
    (
        "linerate_http_records_accepted_total",
        "counter",
        "Records of the HTTP input's accepted requests (appended or filtered out).",
        |s| s.http_records_accepted,
    ),
    (
        "linerate_events_filtered_total",
        "counter",
        "Records an input's Windows filter dropped (not buffered, not sent).",
        |s| s.filtered,
    ),
];

/// Render every metric of `state` and the inputs' states as Prometheus text (passes
/// `promtool check metrics`).
pub fn render(state: &State, inputs: &Inputs, control_tls: &ControlTls) -> String {
    let mut out = String::with_capacity(8192);
    let snaps: Vec<&ShardSnapshot> = state.shards.iter().flatten().map(|(_, s)| s).collect();
    labelled(&mut out, &snaps, &RECEIVED);
    labelled(&mut out, &snaps, &RECEIVED_BYTES);
    for (name, kind, help, get) in PER_SHARD {
        family(&mut out, name, kind, help);
        for s in &snaps {
            let _ = writeln!(out, "{name}{{shard=\"{}\"}} {}", s.shard, get(s));
        }
    }
    labelled(&mut out, &snaps, &HTTP_REJECTED);
    tls(&mut out, &snaps, control_tls);
    labelled(&mut out, &snaps, &DEAD_LETTERED);
    backpressure_seconds(&mut out, &snaps);
    per_topic(&mut out, state, &snaps);
    latency(&mut out, state);
    labelled(&mut out, &snaps, &DROPPED);
    process_state(&mut out, state, inputs);
    out
}

/// One [`Labelled`] family: a sample per shard and label value.
fn labelled(out: &mut String, snaps: &[&ShardSnapshot], f: &Labelled) {
    family(out, f.name, "counter", f.help);
    for s in snaps {
        for (i, value) in f.values.iter().enumerate() {
            let _ = writeln!(
                out,
                "{}{{shard=\"{}\",{}=\"{value}\"}} {}",
                f.name,
                s.shard,
                f.label,
                (f.get)(s, i)
            );
        }
    }
}

/// The control API's own TLS counters (it serves beside the shards, so they are in no
/// shard's stats): handshakes completed and refusals by [`TLS_FAILURE_NAMES`] index.
#[derive(Debug, Clone, Default)]
pub struct ControlTls {
    /// Whether the control API serves HTTPS (`[http] tls_cert_file`); else no sample.
    pub enabled: bool,
    pub handshakes: u64,
    pub failures: [u64; TLS_FAILURE_COUNT],
}

/// The TLS listeners' families: handshakes and refusals per shard, listener (`syslog`,
/// `http_input`) and reason, the control API's (`listener="control"`, no shard label) when it
/// serves HTTPS, and the certificate reloads.
fn tls(out: &mut String, snaps: &[&ShardSnapshot], control: &ControlTls) {
    const SHARD_LISTENERS: [TlsListener; 2] = [TlsListener::Syslog, TlsListener::HttpInput];
    family(
        out,
        "linerate_tls_handshakes_total",
        "counter",
        "TLS handshakes completed (connections then served), by listener: syslog (tls_listen), http_input (HTTPS) or control (the control API's HTTPS, no shard label).",
    );
    for s in snaps {
        for l in SHARD_LISTENERS {
            let _ = writeln!(
                out,
                "linerate_tls_handshakes_total{{shard=\"{}\",listener=\"{}\"}} {}",
                s.shard, TLS_LISTENER_NAMES[l as usize], s.tls_handshakes[l as usize]
            );
        }
    }
    let control_name = TLS_LISTENER_NAMES[TlsListener::Control as usize];
    if control.enabled {
        let _ = writeln!(
            out,
            "linerate_tls_handshakes_total{{listener=\"{control_name}\"}} {}",
            control.handshakes
        );
    }
    family(
        out,
        "linerate_tls_handshake_failures_total",
        "counter",
        "Connections a TLS listener refused before or during the handshake (plaintext ones included), by listener and reason.",
    );
    for s in snaps {
        for l in SHARD_LISTENERS {
            for (i, reason) in TLS_FAILURE_NAMES.iter().enumerate() {
                let _ = writeln!(
                    out,
                    "linerate_tls_handshake_failures_total{{shard=\"{}\",listener=\"{}\",reason=\"{reason}\"}} {}",
                    s.shard, TLS_LISTENER_NAMES[l as usize], s.tls_handshake_failures[l as usize][i]
                );
            }
        }
    }
    if control.enabled {
        for (reason, n) in TLS_FAILURE_NAMES.iter().zip(control.failures) {
            let _ = writeln!(
                out,
                "linerate_tls_handshake_failures_total{{listener=\"{control_name}\",reason=\"{reason}\"}} {n}"
            );
        }
    }
    family(
        out,
        "linerate_tls_certificate_reloads_total",
        "counter",
        "Reloads of a TLS listener's certificate (SIGHUP or changed files; syslog's and HTTPS's together), by result: loaded (new connections use it) or refused (the previous one stays).",
    );
    let (loaded, refused) = crate::tls::config::reload_counts();
    let _ = writeln!(
        out,
        "linerate_tls_certificate_reloads_total{{result=\"loaded\"}} {loaded}"
    );
    let _ = writeln!(
        out,
        "linerate_tls_certificate_reloads_total{{result=\"refused\"}} {refused}"
    );
}

/// `linerate_backpressure_wait_seconds_total`, per shard.
fn backpressure_seconds(out: &mut String, snaps: &[&ShardSnapshot]) {
    family(
        out,
        "linerate_backpressure_wait_seconds_total",
        "counter",
        "Time TCP inputs waited for ring space, seconds (the sockets were not read meanwhile).",
    );
    for s in snaps {
        let _ = writeln!(
            out,
            "linerate_backpressure_wait_seconds_total{{shard=\"{}\"}} {}",
            s.shard,
            s.backpressure_micros as f64 / 1e6
        );
    }
}

/// The [`PER_TOPIC`] families, for the topics that are on.
fn per_topic(out: &mut String, state: &State, snaps: &[&ShardSnapshot]) {
    for (name, help, get) in PER_TOPIC {
        family(out, name, "counter", help);
        for s in snaps {
            for (t, topic) in state.topic_names.iter().enumerate() {
                if !topic.is_empty() {
                    let _ = writeln!(
                        out,
                        "{name}{{shard=\"{}\",topic=\"{topic}\"}} {}",
                        s.shard,
                        get(s, t)
                    );
                }
            }
        }
    }
}

/// The process-wide gauges: shards up, Kafka reachable, inputs paused.
fn process_state(out: &mut String, state: &State, inputs: &Inputs) {
    let now = Instant::now();
    family(
        out,
        "linerate_shard_up",
        "gauge",
        "1 while the shard reports snapshots.",
    );
    for i in 0..state.shards.len() {
        let _ = writeln!(
            out,
            "linerate_shard_up{{shard=\"{i}\"}} {}",
            u8::from(state.shard_alive(i, now))
        );
    }
    family(
        out,
        "linerate_kafka_reachable",
        "gauge",
        "1 when the last Kafka metadata request succeeded.",
    );
    let _ = writeln!(
        out,
        "linerate_kafka_reachable {}",
        u8::from(state.kafka_reachable)
    );
    family(
        out,
        "linerate_input_paused",
        "gauge",
        "1 while the input is paused through the control API (TCP: not read; UDP: datagrams dropped as reason paused; EVTX: files not read; HTTP: requests answered 503).",
    );
    for i in inputs.iter() {
        let _ = writeln!(
            out,
            "linerate_input_paused{{input=\"{}\"}} {}",
            i.name,
            u8::from(i.state() == InputState::Paused)
        );
    }
}

/// Append `linerate_control_http_requests_rejected_total`: the control API's refusals,
/// `counts` by [`REJECT_NAMES`] index.
pub fn render_control_http(out: &mut String, counts: &[u64]) {
    const NAME: &str = "linerate_control_http_requests_rejected_total";
    family(
        out,
        NAME,
        "counter",
        "Control API (/metrics, /health, /api/v1) requests or connections refused, by reason.",
    );
    for (reason, n) in REJECT_NAMES.iter().zip(counts) {
        let _ = writeln!(out, "{NAME}{{reason=\"{reason}\"}} {n}");
    }
}

/// `linerate_receive_to_ack_latency_seconds`: a histogram per shard, bounds in
/// [`BUCKET_BOUNDS_MICROS`].
fn latency(out: &mut String, state: &State) {
    const NAME: &str = "linerate_receive_to_ack_latency_seconds";
    family(
        out,
        NAME,
        "histogram",
        "Time from an event's receipt by a shard to Kafka's acknowledgement of all its topics (replayed events: from their first receipt).",
    );
    for (shard, b) in state.latency.iter().enumerate() {
        for (bound, count) in BUCKET_BOUNDS_MICROS.iter().zip(b.counts) {
            let _ = writeln!(
                out,
                "{NAME}_bucket{{shard=\"{shard}\",le=\"{}\"}} {count}",
                le_label(*bound)
            );
        }
        let _ = writeln!(
            out,
            "{NAME}_bucket{{shard=\"{shard}\",le=\"+Inf\"}} {}",
            b.count
        );
        let _ = writeln!(
            out,
            "{NAME}_sum{{shard=\"{shard}\"}} {}",
            b.sum_micros as f64 / 1e6
        );
        let _ = writeln!(out, "{NAME}_count{{shard=\"{shard}\"}} {}", b.count);
    }
}

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Transport;
    use std::time::Duration;

    #[test]
    fn renders_labels_and_values() {
        let mut st = State::new(
            2,
            ["logs.raw".into(), "logs.normalized".into(), String::new()],
            Duration::from_secs(1),
        );
        let mut snap = ShardSnapshot {
            shard: 1,
            ..Default::default()
        };
        snap.received[1] = 42;
        snap.received[Transport::Evtx as usize] = 17;
        snap.received_bytes[Transport::Http as usize] = 900;
        snap.delivered[1] = 40;
        snap.dropped[2] = 3;
        snap.backpressure_micros = 1_500_000;
        st.shards[1] = Some((Instant::now(), snap));
        let inputs = Inputs::from_config(&crate::config::Config::default(), 2);
        inputs.set_paused(crate::control::inputs::SYSLOG_UDP, true);
        let mut h = crate::latency::new_histogram();
        h.saturating_record_n(3_000, 2);
        h.saturating_record(40_000);
        st.latency[1].add(&h, 46_000);
        let text = render(&st, &inputs, &ControlTls::default());
        assert!(text.contains(
            "linerate_receive_to_ack_latency_seconds_bucket{shard=\"1\",le=\"0.0025\"} 0\n"
        ));
        assert!(text.contains(
            "linerate_receive_to_ack_latency_seconds_bucket{shard=\"1\",le=\"0.005\"} 2\n"
        ));
        assert!(text.contains(
            "linerate_receive_to_ack_latency_seconds_bucket{shard=\"1\",le=\"+Inf\"} 3\n"
        ));
        assert!(text.contains("linerate_receive_to_ack_latency_seconds_sum{shard=\"1\"} 0.046\n"));
        assert!(text.contains("linerate_receive_to_ack_latency_seconds_count{shard=\"0\"} 0\n"));
        assert!(
            text.contains("linerate_events_received_total{shard=\"1\",transport=\"tcp\"} 42\n"),
            "{text}"
        );
        assert!(
            text.contains("linerate_events_received_total{shard=\"1\",transport=\"evtx\"} 17\n")
        );
        assert!(
            text.contains("linerate_received_bytes_total{shard=\"1\",transport=\"http\"} 900\n")
        );
        assert!(text.contains(
            "linerate_events_delivered_total{shard=\"1\",topic=\"logs.normalized\"} 40\n"
        ));
        assert!(text.contains(
            "linerate_events_dropped_total{shard=\"1\",reason=\"udp_receive_buffer_full\"} 3\n"
        ));
        assert!(text.contains("linerate_shard_up{shard=\"0\"} 0\n"));
        assert!(text.contains("linerate_shard_up{shard=\"1\"} 1\n"));
        assert!(text.contains("linerate_backpressure_wait_seconds_total{shard=\"1\"} 1.5\n"));
        assert!(text.contains("linerate_input_paused{input=\"syslog_udp\"} 1\n"));
        assert!(text.contains("linerate_input_paused{input=\"syslog_tcp\"} 0\n"));
        assert!(text.contains("linerate_events_dropped_total{shard=\"1\",reason=\"paused\"} 0\n"));
        // Every sample line belongs to a family declared with # TYPE before it.
        let mut declared = std::collections::HashSet::new();
        for line in text.lines() {
            if let Some(rest) = line.strip_prefix("# TYPE ") {
                declared.insert(rest.split(' ').next().unwrap().to_string());
            } else if !line.starts_with('#') {
                let name = line.split(['{', ' ']).next().unwrap();
                let base = ["_bucket", "_sum", "_count"]
                    .iter()
                    .find_map(|s| name.strip_suffix(s))
                    .filter(|b| declared.contains(*b))
                    .unwrap_or(name);
                assert!(declared.contains(base), "undeclared {name}");
            }
        }
    }
}
