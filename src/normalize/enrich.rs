//! The enriched copy of a normalized event: the ECS JSON the writers produced, with the
//! matching [`EnrichTable`] row's `labels` added, for the enriched topic.
//!
//! Guarantees:
//! - No re-parse: the lookup keys (`host.hostname`, `source.ip`) are found by a byte search
//!   for the writers' own top-level keys. It cannot be fooled by string content: inside a
//!   JSON string every `"` is escaped, so `,"host":{"hostname":"` only occurs as structure
//!   (and no writer puts an object under a key named `host` or `source` deeper down).
//! - No allocation: the copy goes into the caller's reused buffer, the `labels` fragment is
//!   inserted before the event's closing brace, and an event no row matches is copied
//!   unchanged.

use std::net::IpAddr;

use memchr::memmem;

pub use super::enrich_table::{EnrichError, EnrichTable};

const HOSTNAME_KEY: &[u8] = b",\"host\":{\"hostname\":\"";
const SOURCE_IP_KEY: &[u8] = b",\"source\":{\"ip\":\"";

/// The string value that follows `key` in `json`, as written (still escaped).
fn value_after<'j>(json: &'j [u8], key: &[u8]) -> Option<&'j [u8]> {
    let start = memmem::find(json, key)? + key.len();
    let len = memchr::memchr(b'"', &json[start..])?;
    Some(&json[start..start + len])
}

/// `host.hostname` of a normalized event (as written; a hostname needing escapes matches no
/// row, since rows hold plain hostnames only).
pub fn event_hostname(json: &[u8]) -> Option<&[u8]> {
    value_after(json, HOSTNAME_KEY)
}

/// `source.ip` of a normalized event.
pub fn event_source_ip(json: &[u8]) -> Option<IpAddr> {
    let v = value_after(json, SOURCE_IP_KEY)?;
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Write the enriched copy of `normalized` (one ECS JSON object) into `out` (cleared first):
/// with the row matching its `host.hostname`, else its `source.ip`, else the `peer` it came
/// from (a Windows event's `source.ip` is the logon's client, its forwarder the peer), as
/// `labels`. Returns whether a row matched.
pub fn write_enriched(
    table: &EnrichTable,
    normalized: &[u8],
    peer: Option<IpAddr>,
    out: &mut Vec<u8>,
) -> bool {
    out.clear();
    let source_ip = event_source_ip(normalized);
    let labels = table
        .lookup(event_hostname(normalized), source_ip.or(peer))
        .or_else(|| match (source_ip, peer) {
            (Some(s), Some(p)) if s != p => table.lookup(None, Some(p)),
            _ => None,
        });
    match (labels, normalized.split_last()) {
        (Some(labels), Some((b'}', body))) => {
            out.extend_from_slice(body);
            out.extend_from_slice(labels);
            out.push(b'}');
            true
        }
        _ => {
            out.extend_from_slice(normalized);
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::ReceiveMeta;
    use crate::normalize::syslog_to_ecs;

    fn table() -> EnrichTable {
        crate::normalize::enrich_table::tests::table(
            "t.csv",
            "match,owner,site,criticality\nweb-01,web,fra1,high\n10.9.0.0/16,net,ams,low\n",
        )
        .unwrap()
    }

    fn normalized(line: &str, peer: &str) -> Vec<u8> {
        let meta = ReceiveMeta {
            received_unix_micros: 1_700_000_000_000_000,
            peer: Some(peer.parse().unwrap()),
        };
        let mut out = Vec::new();
        syslog_to_ecs(line.as_bytes(), &Default::default(), &meta, &mut out);
        out
    }

    fn enriched(json: &[u8]) -> (bool, serde_json::Value) {
        let mut out = Vec::new();
        let matched = write_enriched(&table(), json, None, &mut out);
        (matched, serde_json::from_slice(&out).unwrap())
    }

    #[test]
    fn a_matching_hostname_adds_labels() {
        let json = normalized(
            "<13>1 2024-01-01T00:00:00Z WEB-01 app - - - {\"host\":{\"hostname\":\"x\"}}",
            "192.0.2.1:514",
        );
        assert_eq!(event_hostname(&json), Some(&b"WEB-01"[..]));
        let (matched, v) = enriched(&json);
        assert!(matched);
        assert_eq!(
            v["labels"],
            serde_json::json!({"owner": "web", "site": "fra1", "criticality": "high"})
        );
        // Everything else is the normalized event as it was.
        let mut v = v;
        v.as_object_mut().unwrap().remove("labels");
        assert_eq!(
            v,
            serde_json::from_slice::<serde_json::Value>(&json).unwrap()
        );
    }

    #[test]
    fn the_source_ip_matches_by_network() {
        let json = normalized(
            "<13>1 2024-01-01T00:00:00Z other app - - - hi",
            "10.9.3.4:514",
        );
        assert_eq!(event_source_ip(&json), Some("10.9.3.4".parse().unwrap()));
        let (matched, v) = enriched(&json);
        assert!(matched);
        assert_eq!(v["labels"]["owner"], "net");
    }

    #[test]
    fn an_event_no_row_matches_is_copied_unchanged() {
        let json = normalized(
            "<13>1 2024-01-01T00:00:00Z other app - - - hi",
            "192.0.2.1:514",
        );
        let mut out = Vec::new();
        assert!(!write_enriched(&table(), &json, None, &mut out));
        assert_eq!(out, json);
        // The peer stands in for a missing or unmatched source.ip.
        let client = br#"{"source":{"ip":"192.0.2.7"},"message":"x"}"#;
        let peer = Some("10.9.0.1".parse().unwrap());
        assert!(write_enriched(&table(), client, peer, &mut out));
        let no_source = br#"{"message":"x"}"#;
        assert!(write_enriched(
            &table(),
            no_source,
            Some("10.9.0.1".parse().unwrap()),
            &mut out
        ));
        assert_eq!(
            out,
            br#"{"message":"x","labels":{"owner":"net","site":"ams","criticality":"low"}}"#
        );
    }
}
