//! The ECS fields of a Windows or cloud record (SCHEMA.md's "Windows and cloud records"),
//! filled by the per-source normalizers and written by one writer, in a fixed key order, with
//! the syslog writer's escaping and timestamp helpers. Absent fields are left out.

use std::borrow::Cow;
use std::hash::BuildHasher;
use std::net::IpAddr;

use super::ecs_writer::{
    escape_into, write_ingested, write_rfc3339, write_str, write_u64, SEVERITY_NAMES,
};
use super::mapping::Categorization;
use crate::event::ReceiveMeta;
use crate::parse::Timestamp;

/// `cloud.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cloud<'a> {
    /// `cloud.provider`: `aws`, `azure` or `gcp`.
    pub provider: &'static str,
    /// `cloud.region`.
    pub region: Option<Cow<'a, str>>,
    /// `cloud.account.id`.
    pub account_id: Option<Cow<'a, str>>,
}

/// `winlog.*`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Winlog<'a> {
    /// `winlog.channel`.
    pub channel: Option<Cow<'a, str>>,
    /// `winlog.record_id` (a number).
    pub record_id: Option<u64>,
    /// `winlog.event_id` (a string, as Winlogbeat 8 writes it).
    pub event_id: Option<Cow<'a, str>>,
    /// `winlog.provider_name`.
    pub provider_name: Option<Cow<'a, str>>,
    /// `winlog.event_data`: name/value pairs in source order; a repeated name keeps the last
    /// value; `-` values are left out.
    pub event_data: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

/// One normalized Windows or cloud event, borrowing from the parsed record.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EcsRecord<'a> {
    /// `@timestamp`; the receive time when `None`.
    pub timestamp: Option<Timestamp>,
    /// `event.dataset`.
    pub dataset: &'static str,
    /// `event.severity` (0-7) and, by name, `log.level`.
    pub severity: u8,
    /// `event.code`.
    pub code: Option<Cow<'a, str>>,
    /// `event.action`.
    pub action: Option<Cow<'a, str>>,
    /// `event.outcome`: `success` or `failure`.
    pub outcome: Option<&'static str>,
    /// `event.provider`.
    pub provider: Option<Cow<'a, str>>,
    /// `event.category` / `event.type`.
    pub categorization: Option<Categorization>,
    /// `event.original`, when the input keeps it.
    pub original: Option<&'a [u8]>,
    /// `host.hostname`.
    pub hostname: Option<Cow<'a, str>>,
    /// `user.name`.
    pub user_name: Option<Cow<'a, str>>,
    /// `user.full_name`.
    pub user_full_name: Option<Cow<'a, str>>,
    /// `source.ip`.
    pub source_ip: Option<IpAddr>,
    /// `cloud.*`.
    pub cloud: Option<Cloud<'a>>,
    /// `error.code` and `error.message` of an event that reports a failed operation.
    pub error_code: Option<Cow<'a, str>>,
    pub error_message: Option<Cow<'a, str>>,
    /// `winlog.*`.
    pub winlog: Option<Winlog<'a>>,
    /// `message`.
    pub message: Option<Cow<'a, str>>,
}

/// A source value that counts as absent: missing, empty after trimming, or Windows' `-`.
pub fn present(v: &str) -> bool {
    let t = v.trim();
    !t.is_empty() && t != "-"
}

/// `Some(v)` when [`present`].
pub fn present_opt<'a>(v: Option<Cow<'a, str>>) -> Option<Cow<'a, str>> {
    v.filter(|v| present(v))
}

/// An IP address, when `v` is one (`source.ip` is left out for service names and the like).
pub fn ip(v: Option<&str>) -> Option<IpAddr> {
    v.and_then(|v| v.trim().parse().ok())
}

fn key(out: &mut Vec<u8>, first: &mut bool, name: &str) {
    if !*first {
        out.push(b',');
    }
    *first = false;
    out.push(b'"');
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"\":");
}

fn field(out: &mut Vec<u8>, first: &mut bool, name: &str, v: &Option<Cow<'_, str>>) {
    if let Some(v) = v {
        key(out, first, name);
        write_str(out, v.as_bytes());
    }
}

fn str_array(out: &mut Vec<u8>, values: &[&str]) {
    out.push(b'[');
    for (i, v) in values.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, v.as_bytes());
    }
    out.push(b']');
}

/// Append `rec` as one ECS JSON object (no newline). `meta` gives `event.ingested` (and
/// `@timestamp` when the record has none).
pub fn write_ecs_record(out: &mut Vec<u8>, rec: &EcsRecord<'_>, meta: &ReceiveMeta) {
    let severity = usize::from(rec.severity.min(7));
    out.extend_from_slice(b"{\"@timestamp\":\"");
    write_rfc3339(
        out,
        rec.timestamp.unwrap_or(Timestamp {
            unix_micros: meta.received_unix_micros,
            frac_digits: 6,
        }),
    );
    out.extend_from_slice(b"\",\"event\":{\"ingested\":\"");
    write_ingested(out, meta.received_unix_micros);
    out.extend_from_slice(b"\",\"kind\":\"event\",\"dataset\":");
    write_str(out, rec.dataset.as_bytes());
    out.extend_from_slice(b",\"severity\":");
    write_u64(out, severity as u64);
    let mut first = false;
    field(out, &mut first, "code", &rec.code);
    field(out, &mut first, "action", &rec.action);
    if let Some(o) = rec.outcome {
        key(out, &mut first, "outcome");
        write_str(out, o.as_bytes());
    }
    field(out, &mut first, "provider", &rec.provider);
    if let Some(c) = rec.categorization {
        key(out, &mut first, "category");
        str_array(out, c.category);
        key(out, &mut first, "type");
        str_array(out, c.kind);
    }
    if let Some(raw) = rec.original {
        key(out, &mut first, "original");
        write_str(out, raw);
    }
    out.extend_from_slice(b"},\"log\":{\"level\":\"");
    out.extend_from_slice(SEVERITY_NAMES[severity].as_bytes());
    out.extend_from_slice(b"\"}");
    if rec.hostname.is_some() {
        out.extend_from_slice(b",\"host\":{");
        let mut first = true;
        field(out, &mut first, "hostname", &rec.hostname);
        out.push(b'}');
    }
    if rec.user_name.is_some() || rec.user_full_name.is_some() {
        out.extend_from_slice(b",\"user\":{");
        let mut first = true;
        field(out, &mut first, "name", &rec.user_name);
        field(out, &mut first, "full_name", &rec.user_full_name);
        out.push(b'}');
    }
    if let Some(addr) = rec.source_ip {
        out.extend_from_slice(b",\"source\":{\"ip\":\"");
        let _ = std::io::Write::write_fmt(out, format_args!("{addr}"));
        out.extend_from_slice(b"\"}");
    }
    if let Some(c) = &rec.cloud {
        out.extend_from_slice(b",\"cloud\":{\"provider\":");
        write_str(out, c.provider.as_bytes());
        let mut first = false;
        field(out, &mut first, "region", &c.region);
        if let Some(id) = &c.account_id {
            key(out, &mut first, "account");
            out.extend_from_slice(b"{\"id\":");
            write_str(out, id.as_bytes());
            out.push(b'}');
        }
        out.push(b'}');
    }
    if rec.error_code.is_some() || rec.error_message.is_some() {
        out.extend_from_slice(b",\"error\":{");
        let mut first = true;
        field(out, &mut first, "code", &rec.error_code);
        field(out, &mut first, "message", &rec.error_message);
        out.push(b'}');
    }
    if let Some(w) = &rec.winlog {
        write_winlog(out, w);
    }
    if let Some(m) = &rec.message {
        out.extend_from_slice(b",\"message\":");
        write_str(out, m.as_bytes());
    }
    out.push(b'}');
}

/// Names up to which [`LastNames::mark`] compares every pair with every later one: cheaper
/// than hashing for the ten or twenty names of a typical event.
const LAST_NAMES_SCAN_MAX: usize = 16;

/// Names whose table [`LastNames`] keeps between records (a 64 KiB NXLog event has about
/// 5,500); a larger one is let go at the next record.
const LAST_NAMES_KEPT_MAX: usize = 16 << 10;

thread_local! {
    /// The shard's (thread's) [`LastNames`], reused by every record it writes.
    static LAST_NAMES: std::cell::RefCell<LastNames> = std::cell::RefCell::new(LastNames::default());
}

/// Which `winlog.event_data` pairs are written: the last pair of each name, when its value
/// is [`present`] (an earlier value of the same name never stands in for a later `-`).
///
/// Linear in the number of pairs: above [`LAST_NAMES_SCAN_MAX`] names are looked up in an
/// open-addressed table of pair indices (hashbrown's `HashTable`, so the keys stay borrowed
/// from the record), kept with its capacity between records. The hasher is foldhash with a
/// per-thread random seed: the names come from the network, so a fixed seed would let a
/// sender choose colliding names and make this quadratic again.
#[derive(Default)]
pub struct LastNames {
    table: hashbrown::HashTable<usize>,
    hasher: foldhash::fast::RandomState,
    kept: Vec<bool>,
}

impl LastNames {
    /// One flag per pair of `data`, in order: whether it is written.
    pub fn mark(&mut self, data: &[(Cow<'_, str>, Cow<'_, str>)]) -> &[bool] {
        if self.table.capacity() > LAST_NAMES_KEPT_MAX {
            // A huge record's table is not kept for the records after it.
            self.table = hashbrown::HashTable::new();
            self.kept = Vec::new();
        }
        if data.len() <= LAST_NAMES_SCAN_MAX {
            self.mark_by_scan(data)
        } else {
            self.mark_by_table(data)
        }
    }

    /// [`LastNames::mark`] by comparing each pair's name with every later one (quadratic).
    pub fn mark_by_scan(&mut self, data: &[(Cow<'_, str>, Cow<'_, str>)]) -> &[bool] {
        self.kept.clear();
        self.kept
            .extend(data.iter().enumerate().map(|(i, (name, value))| {
                present(value) && !data[i + 1..].iter().any(|(later, _)| later == name)
            }));
        &self.kept
    }

    /// [`LastNames::mark`] through the table (linear): from the end, a pair is the last of
    /// its name when no later pair put the name in the table.
    pub fn mark_by_table(&mut self, data: &[(Cow<'_, str>, Cow<'_, str>)]) -> &[bool] {
        self.kept.clear();
        self.kept.resize(data.len(), false);
        self.table.clear();
        for (i, (name, value)) in data.iter().enumerate().rev() {
            let hash = self.hasher.hash_one(name.as_ref());
            if self.table.find(hash, |&j| data[j].0 == *name).is_none() {
                let hasher = &self.hasher;
                self.table
                    .insert_unique(hash, i, |&j| hasher.hash_one(data[j].0.as_ref()));
                self.kept[i] = present(value);
            }
        }
        &self.kept
    }
}

fn write_winlog(out: &mut Vec<u8>, w: &Winlog<'_>) {
    out.extend_from_slice(b",\"winlog\":{");
    let mut first = true;
    field(out, &mut first, "channel", &w.channel);
    if let Some(id) = w.record_id {
        key(out, &mut first, "record_id");
        write_u64(out, id);
    }
    field(out, &mut first, "event_id", &w.event_id);
    field(out, &mut first, "provider_name", &w.provider_name);
    let data = &w.event_data;
    LAST_NAMES.with_borrow_mut(|last| {
        let kept = last.mark(data);
        if !kept.contains(&true) {
            return;
        }
        key(out, &mut first, "event_data");
        out.push(b'{');
        let mut first_pair = true;
        for ((name, value), _) in data.iter().zip(kept).filter(|(_, k)| **k) {
            if !first_pair {
                out.push(b',');
            }
            first_pair = false;
            out.push(b'"');
            escape_into(out, name.as_bytes());
            out.extend_from_slice(b"\":");
            write_str(out, value.as_bytes());
        }
        out.push(b'}');
    });
    out.push(b'}');
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absent_fields_are_left_out() {
        let meta = ReceiveMeta {
            received_unix_micros: 1_715_680_000_000_000,
            peer: None,
        };
        let rec = EcsRecord {
            dataset: "aws.cloudtrail",
            severity: 6,
            code: Some("ConsoleLogin".into()),
            cloud: Some(Cloud {
                provider: "aws",
                region: None,
                account_id: Some("123".into()),
            }),
            winlog: Some(Winlog {
                event_data: vec![
                    ("A".into(), "-".into()),
                    ("B".into(), "1".into()),
                    ("B".into(), "2".into()),
                    ("C".into(), "".into()),
                ],
                ..Default::default()
            }),
            ..Default::default()
        };
        let mut out = Vec::new();
        write_ecs_record(&mut out, &rec, &meta);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["@timestamp"], "2024-05-14T09:46:40.000000Z");
        assert_eq!(
            v["event"],
            serde_json::json!({"ingested": "2024-05-14T09:46:40.000000Z", "kind": "event",
                "dataset": "aws.cloudtrail", "severity": 6, "code": "ConsoleLogin"})
        );
        assert_eq!(v["log"]["level"], "informational");
        assert_eq!(
            v["cloud"],
            serde_json::json!({"provider": "aws", "account": {"id": "123"}})
        );
        assert_eq!(v["winlog"], serde_json::json!({"event_data": {"B": "2"}}));
        assert!(v.get("host").is_none() && v.get("user").is_none());
    }

    /// `data`'s `event_data` as written: the last pair of each name, in source order,
    /// computed the plain way (a map from name to its last position).
    fn expected_event_data(data: &[(Cow<'_, str>, Cow<'_, str>)]) -> String {
        let mut last = std::collections::HashMap::new();
        for (i, (name, _)) in data.iter().enumerate() {
            last.insert(name.as_ref(), i);
        }
        let pairs: Vec<String> = data
            .iter()
            .enumerate()
            .filter(|(i, (name, value))| last[name.as_ref()] == *i && present(value))
            .map(|(_, (name, value))| format!("\"{name}\":\"{value}\""))
            .collect();
        format!("\"event_data\":{{{}}}", pairs.join(","))
    }

    #[test]
    fn thousands_of_names_keep_the_last_of_each_in_source_order() {
        // 3000 distinct names, and 1000 names given three times each, between them;
        // every tenth repeated name ends with `-` (left out, not replaced by an earlier value).
        let mut data: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::new();
        for i in 0..3000 {
            data.push((format!("Name{i}").into(), format!("v{i}").into()));
            // 7 is prime to 1000: each round of 1000 names every Dup once, in a new order.
            let d = i * 7 % 1000;
            let round = i / 1000;
            let value = if round == 2 && d % 10 == 0 {
                "-".to_string()
            } else {
                format!("r{round}")
            };
            data.push((format!("Dup{d}").into(), value.into()));
        }
        assert_eq!(data.len(), 6000);
        let mut last = LastNames::default();
        let by_table = last.mark_by_table(&data).to_vec();
        let by_scan = last.mark_by_scan(&data).to_vec();
        assert_eq!(by_table, by_scan);
        assert_eq!(last.mark(&data), &by_table[..]);
        // 3000 distinct + 1000 repeated - 100 whose last value is `-`.
        assert_eq!(by_table.iter().filter(|k| **k).count(), 3900);

        let rec = EcsRecord {
            winlog: Some(Winlog {
                event_data: data.clone(),
                ..Default::default()
            }),
            ..Default::default()
        };
        let meta = ReceiveMeta {
            received_unix_micros: 0,
            peer: None,
        };
        let mut out = Vec::new();
        write_ecs_record(&mut out, &rec, &meta);
        let out = String::from_utf8(out).unwrap();
        let expected = expected_event_data(&data);
        assert!(
            out.contains(&format!("{{{expected}}}")),
            "event_data differs from the last-of-each-name pairs"
        );
        // Written again by the same (reused) table: the same bytes.
        let mut again = Vec::new();
        write_ecs_record(&mut again, &rec, &meta);
        assert_eq!(again, out.as_bytes());
    }

    proptest::proptest! {
        #[test]
        fn table_and_scan_mark_the_same_pairs(
            pairs in proptest::collection::vec((0u8..24, 0u8..4), 0..80)
        ) {
            let values = ["-", "", "x", " y "];
            let data: Vec<(Cow<'_, str>, Cow<'_, str>)> = pairs
                .iter()
                .map(|(n, v)| (format!("N{n}").into(), values[*v as usize].into()))
                .collect();
            let mut last = LastNames::default();
            let by_table = last.mark_by_table(&data).to_vec();
            proptest::prop_assert_eq!(&by_table, &last.mark_by_scan(&data).to_vec());
            let rec = EcsRecord {
                winlog: Some(Winlog { event_data: data.clone(), ..Default::default() }),
                ..Default::default()
            };
            let mut out = Vec::new();
            write_ecs_record(&mut out, &rec, &ReceiveMeta { received_unix_micros: 0, peer: None });
            let out = String::from_utf8(out).unwrap();
            let expected = expected_event_data(&data);
            if expected == "\"event_data\":{}" {
                proptest::prop_assert!(!out.contains("event_data"));
            } else {
                proptest::prop_assert!(out.contains(&expected), "{} lacks {}", out, expected);
            }
        }
    }
}
