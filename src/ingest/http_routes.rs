//! The HTTP input's endpoints as pure functions: a request body in, every record to buffer
//! out, or why the whole body is refused (status and reason). Nothing here touches a
//! socket or the ring, so a body is validated whole before any of it is appended.
//!
//! What a record is: one Firehose `records[].data` (base64, gunzipped when it is gzip: a
//! CloudTrail record), the one `message.data` of a Pub/Sub push body (base64: a GCP
//! `LogEntry`), one element of a `{"Records":[...]}` / `{"records":[...]}` body. Envelope
//! errors (the body is not JSON, a `data` is not base64, no records array) refuse the body;
//! a record whose own content is not what its normalizer expects is still accepted and
//! becomes a `pipeline_error` event carrying it, so nothing accepted is silently lost.
//!
//! `POST /windows` takes forwarded Windows events: NDJSON (NXLog `to_json()`, Winlogbeat),
//! one record per non-blank line, or rendered event XML, one record per `<Event>` element
//! (one per line, one document spanning lines, or inside an `<Events>` wrapper); a body that
//! is itself gzip (by its magic bytes) is decompressed too. XML that is not well-formed, or
//! holds something other than `<Event>` elements, refuses the body.

use std::io::Read;

use base64::Engine as _;
use simd_json::prelude::*;

use crate::buffer::frame::RecordKind;
use crate::import::envelope;
use crate::import::input::is_gzip;
use crate::import::json_split::{split_records, Piece};

/// An endpoint of the HTTP input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// `POST /firehose`: Amazon Data Firehose HTTP endpoint delivery requests (CloudTrail).
    Firehose,
    /// `POST /pubsub`: Pub/Sub push bodies (GCP LogEntries).
    Pubsub,
    /// `POST /cloudtrail`: `{"Records":[...]}` bodies.
    Cloudtrail,
    /// `POST /azure`: `{"records":[...]}` bodies (Activity Log via Event Hubs, diagnostics).
    Azure,
    /// `POST /windows`: forwarded Windows events, NDJSON or event XML.
    Windows,
}

impl Route {
    /// The route of a request target (any query string ignored); `None` for other paths.
    pub fn from_target(target: &str) -> Option<Self> {
        let path = target.split(['?', '#']).next().unwrap_or(target);
        match path.trim_end_matches('/') {
            "/firehose" => Some(Self::Firehose),
            "/pubsub" => Some(Self::Pubsub),
            "/cloudtrail" => Some(Self::Cloudtrail),
            "/azure" => Some(Self::Azure),
            "/windows" => Some(Self::Windows),
            _ => None,
        }
    }
}

/// Why a request is refused: its HTTP status and a reason for the sender.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {reason}")]
pub struct Rejection {
    pub status: u16,
    pub reason: String,
}

impl Rejection {
    /// A rejection with `status` and `reason`.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Self {
            status,
            reason: reason.into(),
        }
    }
}

fn bad(reason: impl Into<String>) -> Rejection {
    Rejection::new(400, reason)
}

/// The records of one request, each with its kind, in body order.
pub type Records = Vec<(RecordKind, Vec<u8>)>;

/// Limits a body is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body, bytes (also after any gzip decompression).
    pub body_bytes_max: usize,
    /// Largest single record, bytes (the shard's `message_bytes_max`): a longer one would
    /// have to be truncated, which would break its JSON, so the body is refused instead.
    pub record_bytes_max: usize,
}

/// Decompress a gzip `data` (members concatenated) to at most `bytes_max` bytes: 413 past
/// that, 400 when it is not gzip.
pub fn gunzip_bounded(data: &[u8], bytes_max: usize, what: &str) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(bytes_max as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("{what} is not valid gzip: {e}")))?;
    if out.len() > bytes_max {
        return Err(Rejection::new(
            413,
            format!("{what} decompresses to more than {bytes_max} bytes"),
        ));
    }
    Ok(out)
}

/// Every record of a `route` body (already decompressed), or the reason the whole body is
/// refused. Also returns the Firehose `requestId` the body names, if any.
pub fn records(
    route: Route,
    body: &[u8],
    limits: Limits,
) -> Result<(Records, Option<String>), Rejection> {
    let (records, request_id) = match route {
        Route::Firehose => firehose(body, limits)?,
        Route::Pubsub => {
            let mut scratch = Vec::new();
            let data = envelope::pubsub_message(body, &mut scratch)
                .map_err(|e| bad(format!("{}: {}", e.code, e.message)))?;
            (vec![(RecordKind::Gcp, data)], None)
        }
        Route::Cloudtrail => (enveloped(body, RecordKind::Cloudtrail)?, None),
        Route::Azure => (enveloped(body, RecordKind::Azure)?, None),
        Route::Windows if is_gzip(body) => {
            let body = gunzip_bounded(body, limits.body_bytes_max, "the body")?;
            (windows(&body)?, None)
        }
        Route::Windows => (windows(body)?, None),
    };
    if let Some((i, (_, r))) = records
        .iter()
        .enumerate()
        .find(|(_, (_, r))| r.len() > limits.record_bytes_max)
    {
        return Err(Rejection::new(
            413,
            format!(
                "record {i} is {} bytes, over the record limit of {} bytes (message_bytes_max)",
                r.len(),
                limits.record_bytes_max
            ),
        ));
    }
    Ok((records, request_id))
}

/// A Firehose delivery request: `{"requestId", "timestamp", "records": [{"data": base64}]}`.
fn firehose(body: &[u8], limits: Limits) -> Result<(Records, Option<String>), Rejection> {
    let mut copy = body.to_vec();
    let v = simd_json::to_borrowed_value(&mut copy)
        .map_err(|e| bad(format!("the body is not JSON: {e}")))?;
    let request_id = v.get_str("requestId").map(str::to_string);
    let list = v
        .get("records")
        .and_then(|r| r.as_array())
        .ok_or_else(|| bad("no `records` array"))?;
    let mut out = Vec::with_capacity(list.len());
    for (i, rec) in list.iter().enumerate() {
        let data = rec
            .get_str("data")
            .ok_or_else(|| bad(format!("records[{i}] has no `data` string")))?;
        let bytes = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(data.trim_end_matches('='))
            .map_err(|e| bad(format!("records[{i}].data is not base64: {e}")))?;
        // CloudWatch Logs subscriptions deliver gzip inside `data`.
        let bytes = if is_gzip(&bytes) {
            gunzip_bounded(&bytes, limits.body_bytes_max, &format!("records[{i}].data"))?
        } else {
            bytes
        };
        out.push((RecordKind::Cloudtrail, bytes));
    }
    Ok((out, request_id))
}

/// A `{"Records":[...]}` or `{"records":[...]}` body: the exact bytes of each element.
fn enveloped(body: &[u8], kind: RecordKind) -> Result<Records, Rejection> {
    let mut copy = body.to_vec();
    let key = {
        let tape =
            simd_json::to_tape(&mut copy).map_err(|e| bad(format!("the body is not JSON: {e}")))?;
        let v = tape.as_value();
        ["Records", "records"]
            .into_iter()
            .find(|k| v.get(*k).is_some_and(|a| a.as_array().is_some()))
            .ok_or_else(|| bad("no `Records` or `records` array"))?
    };
    let mut out = Vec::new();
    for piece in split_records(body, Some(key)) {
        match piece {
            Piece::Record(r) => out.push((kind, body[r].to_vec())),
            // The body parsed as JSON, so the splitter cannot break off; refuse if it does.
            Piece::Broken(r) => {
                return Err(bad(format!(
                    "the records array cannot be split at byte {}",
                    r.start
                )))
            }
        }
    }
    Ok(out)
}

/// A `/windows` body: event XML when its first non-whitespace byte is `<`, else NDJSON.
fn windows(body: &[u8]) -> Result<Records, Rejection> {
    let first = body.iter().find(|b| !b.is_ascii_whitespace());
    if first == Some(&b'<') {
        return event_elements(body);
    }
    Ok(body
        .split(|b| *b == b'\n')
        .map(|line| line.trim_ascii())
        .filter(|line| !line.is_empty())
        .map(|line| (RecordKind::Windows, line.to_vec()))
        .collect())
}

/// The exact bytes of every `<Event>` element of an XML body, at the top level or inside
/// `<Events>` wrappers (declarations, comments and whitespace between them are skipped).
fn event_elements(body: &[u8]) -> Result<Records, Rejection> {
    use quick_xml::events::Event as Xml;
    let mut reader = quick_xml::Reader::from_reader(body);
    let mut out = Vec::new();
    // Open `<Events>` wrappers, and where the `<Event>` being read started and its depth.
    let mut wrappers = 0usize;
    let mut open: Option<(usize, usize)> = None;
    let mut depth = 0usize;
    loop {
        let start = reader.buffer_position() as usize;
        let ev = reader.read_event().map_err(|e| {
            bad(format!(
                "the body is not well-formed XML at byte {}: {e}",
                reader.error_position()
            ))
        })?;
        let inside_event = open.is_some();
        match ev {
            Xml::Eof if inside_event || wrappers > 0 => {
                return Err(bad("the body ends inside an element"))
            }
            Xml::Eof => return Ok(out),
            Xml::Start(_) | Xml::End(_) | Xml::Empty(_) | Xml::Text(_) | Xml::CData(_)
                if inside_event =>
            {
                match ev {
                    Xml::Start(_) => depth += 1,
                    Xml::End(_) if depth == 0 => {
                        let (from, _) = open.take().expect("inside an event");
                        let end = reader.buffer_position() as usize;
                        out.push((RecordKind::Windows, body[from..end].to_vec()));
                    }
                    Xml::End(_) => depth -= 1,
                    _ => {}
                }
            }
            Xml::Start(e) if e.local_name().as_ref() == b"Event" => {
                open = Some((start, 0));
                depth = 0;
            }
            Xml::Empty(e) if e.local_name().as_ref() == b"Event" => {
                let end = reader.buffer_position() as usize;
                out.push((RecordKind::Windows, body[start..end].to_vec()));
            }
            Xml::Start(e) if e.local_name().as_ref() == b"Events" => wrappers += 1,
            Xml::End(_) if wrappers > 0 => wrappers -= 1,
            Xml::Start(e) | Xml::Empty(e) => {
                return Err(bad(format!(
                    "<{}> at byte {start}: only <Event> elements (optionally inside <Events>) are taken",
                    String::from_utf8_lossy(e.local_name().as_ref())
                )))
            }
            Xml::Text(t) if !t.iter().all(u8::is_ascii_whitespace) => {
                return Err(bad(format!("text outside an <Event> at byte {start}")))
            }
            _ => {}
        }
    }
}

/// The response body Firehose expects: `{"requestId", "timestamp"}` (ms since the epoch),
/// plus `errorMessage` on a failure.
pub fn firehose_response(request_id: &str, timestamp_ms: u64, error: Option<&str>) -> String {
    let mut v = serde_json::json!({ "requestId": request_id, "timestamp": timestamp_ms });
    if let Some(e) = error {
        v["errorMessage"] = e.into();
    }
    v.to_string()
}

/// The response body of the other endpoints: `{"accepted": n}`, or `{"error": reason}`.
pub fn plain_response(accepted: usize, error: Option<&str>) -> String {
    match error {
        Some(e) => serde_json::json!({ "error": e }).to_string(),
        None => serde_json::json!({ "accepted": accepted }).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    const LIMITS: Limits = Limits {
        body_bytes_max: 1 << 20,
        record_bytes_max: 64 << 10,
    };

    fn b64(s: &[u8]) -> String {
        base64::engine::general_purpose::STANDARD.encode(s)
    }

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn routes_by_path() {
        assert_eq!(Route::from_target("/firehose"), Some(Route::Firehose));
        assert_eq!(Route::from_target("/pubsub?token=x"), Some(Route::Pubsub));
        assert_eq!(Route::from_target("/azure/"), Some(Route::Azure));
        assert_eq!(Route::from_target("/cloudtrail"), Some(Route::Cloudtrail));
        assert_eq!(Route::from_target("/windows"), Some(Route::Windows));
        assert_eq!(Route::from_target("/other"), None);
    }

    #[test]
    fn firehose_records_are_decoded_and_gunzipped() {
        let body = format!(
            r#"{{"requestId":"r-1","timestamp":1,"records":[{{"data":"{}"}},{{"data":"{}"}}]}}"#,
            b64(br#"{"eventName":"A"}"#),
            b64(&gzip(br#"{"eventName":"B"}"#)),
        );
        let (recs, id) = records(Route::Firehose, body.as_bytes(), LIMITS).unwrap();
        assert_eq!(id.as_deref(), Some("r-1"));
        assert_eq!(
            recs,
            vec![
                (RecordKind::Cloudtrail, br#"{"eventName":"A"}"#.to_vec()),
                (RecordKind::Cloudtrail, br#"{"eventName":"B"}"#.to_vec()),
            ]
        );
    }

    #[test]
    fn a_bad_record_refuses_the_whole_body() {
        let body = format!(
            r#"{{"requestId":"r","records":[{{"data":"{}"}},{{"data":"!!not base64"}}]}}"#,
            b64(b"{}")
        );
        let e = records(Route::Firehose, body.as_bytes(), LIMITS).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.reason.contains("records[1].data is not base64"), "{e}");
        let e = records(Route::Firehose, br#"{"records":[{"x":1}]}"#, LIMITS).unwrap_err();
        assert!(e.reason.contains("records[0] has no `data`"), "{e}");
        assert_eq!(
            records(Route::Firehose, b"{", LIMITS).unwrap_err().status,
            400
        );
        let e = records(Route::Cloudtrail, br#"{"Records":[{"a":1},]}"#, LIMITS).unwrap_err();
        assert!(e.reason.contains("not JSON"), "{e}");
        let e = records(Route::Azure, br#"{"value":[]}"#, LIMITS).unwrap_err();
        assert!(e.reason.contains("no `Records` or `records`"), "{e}");
        let e = records(Route::Pubsub, br#"{"message":{"data":"%%"}}"#, LIMITS).unwrap_err();
        assert!(e.reason.starts_with("pubsub.bad_base64"), "{e}");
    }

    #[test]
    fn enveloped_bodies_keep_each_record_exactly() {
        let body = br#"{ "records" : [ {"a": 1}, {"b": [2, "x"]} ] }"#;
        let (recs, _) = records(Route::Azure, body, LIMITS).unwrap();
        assert_eq!(
            recs,
            vec![
                (RecordKind::Azure, br#"{"a": 1}"#.to_vec()),
                (RecordKind::Azure, br#"{"b": [2, "x"]}"#.to_vec()),
            ]
        );
        let (recs, _) = records(Route::Cloudtrail, br#"{"Records":[]}"#, LIMITS).unwrap();
        assert!(recs.is_empty());
    }

    #[test]
    fn pubsub_gives_one_gcp_record() {
        let body = format!(
            r#"{{"message":{{"data":"{}","messageId":"1"}},"subscription":"s"}}"#,
            b64(br#"{"logName":"x"}"#)
        );
        let (recs, _) = records(Route::Pubsub, body.as_bytes(), LIMITS).unwrap();
        assert_eq!(
            recs,
            vec![(RecordKind::Gcp, br#"{"logName":"x"}"#.to_vec())]
        );
    }

    #[test]
    fn limits_give_413() {
        let big = vec![b'a'; 5000];
        let limits = Limits {
            body_bytes_max: 4096,
            record_bytes_max: 100,
        };
        let e = gunzip_bounded(&gzip(&big), limits.body_bytes_max, "the body").unwrap_err();
        assert_eq!(e.status, 413);
        assert_eq!(
            gunzip_bounded(b"plain", 10, "the body").unwrap_err().status,
            400
        );
        let body = format!(r#"{{"Records":[{{"k":"{}"}}]}}"#, "v".repeat(200));
        let e = records(Route::Cloudtrail, body.as_bytes(), limits).unwrap_err();
        assert_eq!(e.status, 413, "{e}");
    }

    fn windows_records(body: &[u8]) -> Vec<String> {
        let (recs, _) = records(Route::Windows, body, LIMITS).unwrap();
        recs.into_iter()
            .map(|(kind, r)| {
                assert_eq!(kind, RecordKind::Windows);
                String::from_utf8(r).unwrap()
            })
            .collect()
    }

    #[test]
    fn windows_ndjson_is_one_record_per_line() {
        let body = b"{\"EventID\":4624}\r\n\n  {\"winlog\":{}}\nnot json\n";
        assert_eq!(
            windows_records(body),
            [r#"{"EventID":4624}"#, r#"{"winlog":{}}"#, "not json"]
        );
        assert_eq!(
            windows_records(&gzip(b"{\"EventID\":1}\n")),
            [r#"{"EventID":1}"#]
        );
        assert!(windows_records(b"\n \n").is_empty());
    }

    #[test]
    fn windows_xml_is_one_record_per_event_element() {
        let a = "<Event xmlns='x'><System><EventID>1</EventID></System></Event>";
        let b = "<Event xmlns='x'>\n  <System>\n    <EventID>2</EventID>\n  </System>\n</Event>";
        // One per line, one spanning lines, and inside an <Events> wrapper.
        assert_eq!(windows_records(format!("{a}\n{a}\n").as_bytes()), [a, a]);
        assert_eq!(windows_records(format!("\n{b}\n").as_bytes()), [b]);
        let wrapped = format!("<?xml version=\"1.0\"?>\n<Events>\n{a}\n<!-- c -->{b}</Events>");
        assert_eq!(windows_records(wrapped.as_bytes()), [a, b]);
        assert_eq!(windows_records(b"<Event/>"), ["<Event/>"]);
    }

    #[test]
    fn windows_xml_that_is_not_events_refuses_the_body() {
        for body in [
            "<Event><System></Event>",
            "<Event><System>",
            "<Other/>",
            "<Events><Other></Other></Events>",
            "<Event></Event> trailing",
        ] {
            let e = records(Route::Windows, body.as_bytes(), LIMITS).unwrap_err();
            assert_eq!(e.status, 400, "{body}: {e}");
        }
    }

    #[test]
    fn responses_are_what_senders_expect() {
        let ok: serde_json::Value =
            serde_json::from_str(&firehose_response("id-1", 1700, None)).unwrap();
        assert_eq!(
            ok,
            serde_json::json!({"requestId": "id-1", "timestamp": 1700})
        );
        let err: serde_json::Value =
            serde_json::from_str(&firehose_response("id-1", 1700, Some("bad key"))).unwrap();
        assert_eq!(err["errorMessage"], "bad key");
        assert_eq!(plain_response(3, None), r#"{"accepted":3}"#);
    }
}
