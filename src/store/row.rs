//! One normalized ECS event (a Kafka message's JSON payload) as a row of `linerate.events`:
//! the filter columns pulled out of the JSON, the JSON itself kept whole for the `event`
//! column. An event that is not JSON, or has no valid `@timestamp`, is an error the loader
//! sends to the dead-letter table.

use std::borrow::Cow;
use std::net::IpAddr;

use serde::Deserialize;

/// The columns of one event; strings borrow from the payload where it has no escapes.
#[derive(Debug, PartialEq)]
pub struct Row<'a> {
    /// `@timestamp`, microseconds since the Unix epoch.
    pub timestamp_us: i64,
    /// `event.ingested`, microseconds since the Unix epoch.
    pub ingested_us: Option<i64>,
    /// `event.dataset`.
    pub dataset: Option<Cow<'a, str>>,
    /// `host.hostname`, else `host.name`.
    pub host: Option<Cow<'a, str>>,
    /// `event.severity`.
    pub severity: Option<i16>,
    /// `event.code` (a string, or a number written as one).
    pub event_code: Option<Cow<'a, str>>,
    /// `user.name`.
    pub user_name: Option<Cow<'a, str>>,
    /// `source.ip` when it parses as an address (else only in the JSON).
    pub source_ip: Option<IpAddr>,
    /// `message`.
    pub message: Option<Cow<'a, str>>,
}

/// Why an event cannot become a row.
#[derive(Debug, thiserror::Error)]
pub enum RowError {
    #[error("not a JSON object: {0}")]
    Json(#[from] serde_json::Error),
    #[error("no @timestamp")]
    NoTimestamp,
    #[error("bad @timestamp `{0}`: {1}")]
    BadTimestamp(String, jiff::Error),
}

#[derive(Deserialize)]
struct Ev<'a> {
    #[serde(rename = "@timestamp", borrow)]
    timestamp: Option<Cow<'a, str>>,
    #[serde(borrow)]
    event: Option<EvEvent<'a>>,
    #[serde(borrow)]
    host: Option<EvHost<'a>>,
    #[serde(borrow)]
    user: Option<EvUser<'a>>,
    #[serde(borrow)]
    source: Option<EvSource<'a>>,
    #[serde(borrow)]
    message: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EvEvent<'a> {
    #[serde(borrow)]
    ingested: Option<Cow<'a, str>>,
    #[serde(borrow)]
    dataset: Option<Cow<'a, str>>,
    severity: Option<i64>,
    #[serde(borrow)]
    code: Option<StrOrNum<'a>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum StrOrNum<'a> {
    Str(#[serde(borrow)] Cow<'a, str>),
    Num(i64),
}

#[derive(Deserialize)]
struct EvHost<'a> {
    #[serde(borrow)]
    hostname: Option<Cow<'a, str>>,
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EvUser<'a> {
    #[serde(borrow)]
    name: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct EvSource<'a> {
    #[serde(borrow)]
    ip: Option<Cow<'a, str>>,
}

/// Parse an RFC 3339 timestamp to microseconds since the Unix epoch.
pub fn micros(text: &str) -> Result<i64, jiff::Error> {
    let ts: jiff::Timestamp = text.parse()?;
    Ok(ts.as_microsecond())
}

impl<'a> Row<'a> {
    /// The row of `payload`, a normalized event's JSON.
    pub fn from_json(payload: &'a [u8]) -> Result<Self, RowError> {
        let ev: Ev<'a> = serde_json::from_slice(payload)?;
        let ts = ev.timestamp.ok_or(RowError::NoTimestamp)?;
        let timestamp_us = micros(&ts).map_err(|e| RowError::BadTimestamp(ts.to_string(), e))?;
        let (ingested, dataset, severity, code) = match ev.event {
            Some(e) => (e.ingested, e.dataset, e.severity, e.code),
            None => (None, None, None, None),
        };
        let host = ev.host.and_then(|h| h.hostname.or(h.name));
        Ok(Row {
            timestamp_us,
            ingested_us: ingested.and_then(|t| micros(&t).ok()),
            dataset,
            host,
            severity: severity.and_then(|s| i16::try_from(s).ok()),
            event_code: code.map(|c| match c {
                StrOrNum::Str(s) => s,
                StrOrNum::Num(n) => Cow::Owned(n.to_string()),
            }),
            user_name: ev.user.and_then(|u| u.name),
            source_ip: ev.source.and_then(|s| s.ip).and_then(|ip| ip.parse().ok()),
            message: ev.message,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn syslog_event_columns() {
        let j = br#"{"@timestamp":"2026-12-05T10:00:00.000003Z","event":{"ingested":"2026-12-05T10:00:01Z","kind":"event","dataset":"syslog","severity":4},"log":{"syslog":{"hostname":"web-1"}},"host":{"hostname":"web-1"},"source":{"ip":"10.1.2.3","port":514},"message":"a \"quoted\" one"}"#;
        let r = Row::from_json(j).unwrap();
        assert_eq!(
            r.timestamp_us,
            micros("2026-12-05T10:00:00.000003Z").unwrap()
        );
        assert_eq!(r.timestamp_us % 1_000_000, 3);
        assert_eq!(r.ingested_us, Some(micros("2026-12-05T10:00:01Z").unwrap()));
        assert_eq!(r.dataset.as_deref(), Some("syslog"));
        assert_eq!(r.host.as_deref(), Some("web-1"));
        assert_eq!(r.severity, Some(4));
        assert_eq!(r.source_ip, Some("10.1.2.3".parse().unwrap()));
        assert_eq!(r.message.as_deref(), Some("a \"quoted\" one"));
        assert_eq!(r.event_code, None);
    }

    #[test]
    fn windows_code_as_number_and_user() {
        let j = br#"{"@timestamp":"2026-12-05T10:00:00Z","event":{"code":4625},"user":{"name":"bob"},"source":{"ip":"-"}}"#;
        let r = Row::from_json(j).unwrap();
        assert_eq!(r.event_code.as_deref(), Some("4625"));
        assert_eq!(r.user_name.as_deref(), Some("bob"));
        assert_eq!(r.source_ip, None);
    }

    #[test]
    fn bad_events_are_errors() {
        assert!(matches!(
            Row::from_json(b"not json"),
            Err(RowError::Json(_))
        ));
        assert!(matches!(Row::from_json(b"{}"), Err(RowError::NoTimestamp)));
        assert!(matches!(
            Row::from_json(br#"{"@timestamp":"yesterday"}"#),
            Err(RowError::BadTimestamp(..))
        ));
    }
}
