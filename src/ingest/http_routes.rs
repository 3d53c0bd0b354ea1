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
//!
//! Every body is checked for nesting ([`crate::nesting`]) before a parser sees it (400,
//! reason `nesting_too_deep`), and all the gzip of one request (the body, each Firehose
//! record) shares one decompressed budget, `body_bytes_max`, enforced while decoding (413).

use std::io::Read;

use base64::Engine as _;
use simd_json::prelude::*;

use crate::event::RecordKind;
use crate::http_server::Reject;
use crate::import::envelope;
use crate::import::input::is_gzip;
use crate::import::json_split::{split_records, Piece};
use crate::nesting;

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
    /// The route of a request path (exactly, without the query string); `None` for other
    /// paths (`/firehose/` included).
    pub fn from_path(path: &str) -> Option<Self> {
        match path {
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
    /// The HTTP status.
    pub status: u16,
    /// Why, for the sender.
    pub reason: String,
    /// The counter it goes to.
    pub counted_as: Reject,
}

impl Rejection {
    /// A rejection with `status` and `reason`, counted by its status.
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        let counted_as = match status {
            401 => Reject::Unauthorized,
            404 => Reject::NotFound,
            405 => Reject::MethodNotAllowed,
            413 => Reject::BodyTooLarge,
            415 => Reject::UnsupportedMediaType,
            _ => Reject::BadRequest,
        };
        Self {
            status,
            reason: reason.into(),
            counted_as,
        }
    }

    /// Count it as `reason` instead.
    pub fn counted_as(mut self, reason: Reject) -> Self {
        self.counted_as = reason;
        self
    }
}

/// A 400 for `what` nested too deep.
fn too_deep(what: &str, e: nesting::TooDeep) -> Rejection {
    bad(format!("{what} is {e}")).counted_as(Reject::NestingTooDeep)
}

fn bad(reason: impl Into<String>) -> Rejection {
    Rejection::new(400, reason)
}

/// The records of one request, each with its kind, in body order.
pub type Records = Vec<(RecordKind, Vec<u8>)>;

/// Limits a body is checked against.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest body, bytes; also the bytes all gzip decompression of one request may
    /// produce together.
    pub body_bytes_max: usize,
    /// Largest single record, bytes (the shard's `message_bytes_max`): a longer one would
    /// have to be truncated, which would break its JSON, so the body is refused instead.
    pub record_bytes_max: usize,
}

/// Decompress a gzip `data` (members concatenated), taking what it produces from `budget`
/// (bytes left to the request): decoding stops one byte past the budget (413), so a bomb
/// costs at most the budget; 400 when it is not gzip.
pub fn gunzip_bounded(data: &[u8], budget: &mut usize, what: &str) -> Result<Vec<u8>, Rejection> {
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(data)
        .take(*budget as u64 + 1)
        .read_to_end(&mut out)
        .map_err(|e| bad(format!("{what} is not valid gzip: {e}")))?;
    if out.len() > *budget {
        return Err(Rejection::new(
            413,
            format!("{what} decompresses past what is left of the request's budget ({} bytes of body_bytes_max)", *budget),
        ));
    }
    *budget -= out.len();
    Ok(out)
}

/// Every record of a `route` body (already decompressed), or the reason the whole body is
/// refused. Also returns the Firehose `requestId` the body names, if any. Gzip inside the
/// body takes from `budget` (decompressed bytes left to the request).
pub fn records(
    route: Route,
    body: &[u8],
    limits: Limits,
    budget: &mut usize,
) -> Result<(Records, Option<String>), Rejection> {
    // (A gzip `/windows` body is checked once decompressed.)
    if !(route == Route::Windows && is_gzip(body)) {
        nesting::depth_within(body, nesting::DEPTH_MAX).map_err(|e| too_deep("the body", e))?;
    }
    let (records, request_id) = match route {
        Route::Firehose => firehose(body, budget)?,
        Route::Pubsub => {
            let mut scratch = Vec::new();
            let data = envelope::pubsub_message(body, &mut scratch)
                .map_err(|e| bad(format!("{}: {}", e.code, e.message)))?;
            (vec![(RecordKind::Gcp, data)], None)
        }
        Route::Cloudtrail => (enveloped(body, RecordKind::Cloudtrail)?, None),
        Route::Azure => (enveloped(body, RecordKind::Azure)?, None),
        Route::Windows if is_gzip(body) => {
            let body = gunzip_bounded(body, budget, "the body")?;
            nesting::depth_within(&body, nesting::DEPTH_MAX)
                .map_err(|e| too_deep("the body", e))?;
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
fn firehose(body: &[u8], budget: &mut usize) -> Result<(Records, Option<String>), Rejection> {
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
            gunzip_bounded(&bytes, budget, &format!("records[{i}].data"))?
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
        assert_eq!(Route::from_path("/firehose"), Some(Route::Firehose));
        assert_eq!(Route::from_path("/pubsub"), Some(Route::Pubsub));
        assert_eq!(Route::from_path("/cloudtrail"), Some(Route::Cloudtrail));
        assert_eq!(Route::from_path("/windows"), Some(Route::Windows));
        assert_eq!(Route::from_path("/azure"), Some(Route::Azure));
        for other in ["/azure/", "//azure", "/Azure", "/other", "/"] {
            assert_eq!(Route::from_path(other), None, "{other}");
        }
    }

    #[test]
    fn firehose_records_are_decoded_and_gunzipped() {
        let body = format!(
            r#"{{"requestId":"r-1","timestamp":1,"records":[{{"data":"{}"}},{{"data":"{}"}}]}}"#,
            b64(br#"{"eventName":"A"}"#),
            b64(&gzip(br#"{"eventName":"B"}"#)),
        );
        let (recs, id) = records(
            Route::Firehose,
            body.as_bytes(),
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap();
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
        let e = records(
            Route::Firehose,
            body.as_bytes(),
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.reason.contains("records[1].data is not base64"), "{e}");
        let e = records(
            Route::Firehose,
            br#"{"records":[{"x":1}]}"#,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert!(e.reason.contains("records[0] has no `data`"), "{e}");
        assert_eq!(
            records(
                Route::Firehose,
                b"{",
                LIMITS,
                &mut LIMITS.body_bytes_max.clone()
            )
            .unwrap_err()
            .status,
            400
        );
        let e = records(
            Route::Cloudtrail,
            br#"{"Records":[{"a":1},]}"#,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert!(e.reason.contains("not JSON"), "{e}");
        let e = records(
            Route::Azure,
            br#"{"value":[]}"#,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert!(e.reason.contains("no `Records` or `records`"), "{e}");
        let e = records(
            Route::Pubsub,
            br#"{"message":{"data":"%%"}}"#,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert!(e.reason.starts_with("pubsub.bad_base64"), "{e}");
    }

    #[test]
    fn enveloped_bodies_keep_each_record_exactly() {
        let body = br#"{ "records" : [ {"a": 1}, {"b": [2, "x"]} ] }"#;
        let (recs, _) = records(
            Route::Azure,
            body,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap();
        assert_eq!(
            recs,
            vec![
                (RecordKind::Azure, br#"{"a": 1}"#.to_vec()),
                (RecordKind::Azure, br#"{"b": [2, "x"]}"#.to_vec()),
            ]
        );
        let (recs, _) = records(
            Route::Cloudtrail,
            br#"{"Records":[]}"#,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap();
        assert!(recs.is_empty());
    }

    #[test]
    fn pubsub_gives_one_gcp_record() {
        let body = format!(
            r#"{{"message":{{"data":"{}","messageId":"1"}},"subscription":"s"}}"#,
            b64(br#"{"logName":"x"}"#)
        );
        let (recs, _) = records(
            Route::Pubsub,
            body.as_bytes(),
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap();
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
        let e = gunzip_bounded(&gzip(&big), &mut limits.body_bytes_max.clone(), "the body")
            .unwrap_err();
        assert_eq!(e.status, 413);
        assert_eq!(
            gunzip_bounded(b"plain", &mut 10, "the body")
                .unwrap_err()
                .status,
            400
        );
        let body = format!(r#"{{"Records":[{{"k":"{}"}}]}}"#, "v".repeat(200));
        let e = records(
            Route::Cloudtrail,
            body.as_bytes(),
            limits,
            &mut limits.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert_eq!(e.status, 413, "{e}");
    }

    #[test]
    fn deep_bodies_are_refused_as_nesting_too_deep() {
        let deep = format!("{}{}", "[".repeat(5000), "]".repeat(5000));
        let firehose = format!(r#"{{"requestId":"r","records":{deep}}}"#);
        let azure = format!(r#"{{"records":[{deep}]}}"#);
        let xml = format!("{}{}", "<Event>".repeat(500), "</Event>".repeat(500));
        for (route, body) in [
            (Route::Firehose, firehose.as_bytes()),
            (Route::Azure, azure.as_bytes()),
            (Route::Windows, xml.as_bytes()),
        ] {
            let e = records(route, body, LIMITS, &mut LIMITS.body_bytes_max.clone()).unwrap_err();
            assert_eq!(
                (e.status, e.counted_as),
                (400, Reject::NestingTooDeep),
                "{route:?}: {e}"
            );
        }
        let gz = gzip(xml.as_bytes());
        let e = records(
            Route::Windows,
            &gz,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap_err();
        assert_eq!(e.counted_as, Reject::NestingTooDeep);
    }

    #[test]
    fn gzip_records_share_one_budget_per_request() {
        // Each record alone fits the budget; together they do not.
        let one = vec![b'a'; 3000];
        let rec = b64(&gzip(&one));
        let body = format!(r#"{{"records":[{{"data":"{rec}"}},{{"data":"{rec}"}}]}}"#);
        let limits = Limits {
            body_bytes_max: 5000,
            record_bytes_max: 1 << 20,
        };
        let mut budget = limits.body_bytes_max;
        let e = records(Route::Firehose, body.as_bytes(), limits, &mut budget).unwrap_err();
        assert_eq!(e.status, 413, "{e}");
        let mut budget = 6000;
        let (recs, _) = records(Route::Firehose, body.as_bytes(), limits, &mut budget).unwrap();
        assert_eq!((recs.len(), budget), (2, 0));
    }

    fn windows_records(body: &[u8]) -> Vec<String> {
        let (recs, _) = records(
            Route::Windows,
            body,
            LIMITS,
            &mut LIMITS.body_bytes_max.clone(),
        )
        .unwrap();
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
            let e = records(
                Route::Windows,
                body.as_bytes(),
                LIMITS,
                &mut LIMITS.body_bytes_max.clone(),
            )
            .unwrap_err();
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
