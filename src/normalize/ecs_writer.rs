//! Direct ECS JSON writer: appends one object to a reused `Vec<u8>` with a fixed key order,
//! hand-escaped strings (invalid UTF-8 becomes U+FFFD) and hand-formatted timestamps. No
//! intermediate tree, no allocation once the buffer has grown.

use std::io::Write as _;

use super::byte_mask::{self, CHUNK_BYTES};
use crate::event::ReceiveMeta;
use crate::parse::timestamp::civil_from_secs;
use crate::parse::{sd_elements, ParseError, SyslogEvent, Timestamp};

/// Severity names on the syslog scale, by code.
pub const SEVERITY_NAMES: [&str; 8] = [
    "emergency",
    "alert",
    "critical",
    "error",
    "warning",
    "notice",
    "informational",
    "debug",
];

/// Facility names, by code (0..=23).
pub const FACILITY_NAMES: [&str; 24] = [
    "kern",
    "user",
    "mail",
    "daemon",
    "auth",
    "syslog",
    "lpr",
    "news",
    "uucp",
    "cron",
    "authpriv",
    "ftp",
    "ntp",
    "security",
    "console",
    "solaris-cron",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

/// Severity given to `pipeline_error` events (they report a failure of the pipeline).
const PIPELINE_ERROR_SEVERITY: usize = 3;

/// Append the ECS object of a parsed syslog event.
pub fn write_syslog_event(out: &mut Vec<u8>, ev: &SyslogEvent<'_>, meta: &ReceiveMeta) {
    let severity = usize::from(ev.priority % 8);
    let facility = usize::from(ev.priority / 8).min(FACILITY_NAMES.len() - 1);
    out.extend_from_slice(b"{\"@timestamp\":\"");
    match ev.timestamp {
        Some(ts) => write_rfc3339(out, ts),
        None => write_rfc3339(
            out,
            Timestamp {
                unix_micros: meta.received_unix_micros,
                frac_digits: 6,
            },
        ),
    }
    out.extend_from_slice(b"\",\"event\":{\"ingested\":\"");
    write_ingested(out, meta.received_unix_micros);
    out.extend_from_slice(b"\",\"kind\":\"event\",\"dataset\":\"syslog\",\"severity\":");
    write_u64(out, severity as u64);
    out.extend_from_slice(b"},\"log\":{\"level\":\"");
    out.extend_from_slice(SEVERITY_NAMES[severity].as_bytes());
    out.extend_from_slice(b"\",\"syslog\":{\"priority\":");
    write_u64(out, u64::from(ev.priority));
    out.extend_from_slice(b",\"facility\":{\"code\":");
    write_u64(out, facility as u64);
    out.extend_from_slice(b",\"name\":\"");
    out.extend_from_slice(FACILITY_NAMES[facility].as_bytes());
    out.extend_from_slice(b"\"},\"severity\":{\"code\":");
    write_u64(out, severity as u64);
    out.extend_from_slice(b",\"name\":\"");
    out.extend_from_slice(SEVERITY_NAMES[severity].as_bytes());
    out.extend_from_slice(b"\"}");
    if let Some(v) = ev.version {
        out.extend_from_slice(b",\"version\":");
        write_u64(out, u64::from(v));
    }
    for (key, value) in [
        ("hostname", ev.hostname),
        ("appname", ev.appname),
        ("procid", ev.procid),
        ("msgid", ev.msgid),
    ] {
        if let Some(v) = value {
            out.extend_from_slice(b",\"");
            out.extend_from_slice(key.as_bytes());
            out.extend_from_slice(b"\":");
            write_str(out, v.as_bytes());
        }
    }
    if let Some(sd) = ev.structured_data {
        out.extend_from_slice(b",\"structured_data\":");
        write_structured_data(out, sd);
    }
    out.extend_from_slice(b"}}");
    if let Some(h) = ev.hostname {
        out.extend_from_slice(b",\"host\":{\"hostname\":");
        write_str(out, h.as_bytes());
        out.push(b'}');
    }
    write_source(out, meta);
    if let Some(m) = ev.message {
        out.extend_from_slice(b",\"message\":");
        write_str(out, m);
    }
    out.push(b'}');
}

/// Append a `pipeline_error` event for input that could not be parsed: it keeps the bytes
/// in `event.original` and says what was wrong, and where, in `error.*`.
pub fn write_pipeline_error(
    out: &mut Vec<u8>,
    raw: &[u8],
    err: &ParseError,
    dataset: &str,
    meta: &ReceiveMeta,
) {
    write_pipeline_error_with(out, raw, err.code, dataset, meta, |out| {
        out.extend_from_slice(b"expected ");
        escape_into(out, err.expected.as_bytes());
        out.extend_from_slice(b" at byte ");
        write_u64(out, err.at as u64);
    });
}

/// Append a `pipeline_error` event whose `error.message` is `message` (any text; escaped
/// here). `event.original` holds `raw` (invalid UTF-8 replaced), `error.type` holds `code`.
pub fn write_pipeline_error_message(
    out: &mut Vec<u8>,
    raw: &[u8],
    code: &str,
    message: &str,
    dataset: &str,
    meta: &ReceiveMeta,
) {
    write_pipeline_error_with(out, raw, code, dataset, meta, |out| {
        escape_into(out, message.as_bytes())
    });
}

fn write_pipeline_error_with(
    out: &mut Vec<u8>,
    raw: &[u8],
    code: &str,
    dataset: &str,
    meta: &ReceiveMeta,
    message: impl FnOnce(&mut Vec<u8>),
) {
    let now = Timestamp {
        unix_micros: meta.received_unix_micros,
        frac_digits: 6,
    };
    out.extend_from_slice(b"{\"@timestamp\":\"");
    write_rfc3339(out, now);
    out.extend_from_slice(b"\",\"event\":{\"ingested\":\"");
    write_rfc3339(out, now);
    out.extend_from_slice(b"\",\"kind\":\"pipeline_error\",\"dataset\":");
    write_str(out, dataset.as_bytes());
    out.extend_from_slice(b",\"severity\":");
    write_u64(out, PIPELINE_ERROR_SEVERITY as u64);
    out.extend_from_slice(b",\"original\":");
    write_str(out, raw);
    out.extend_from_slice(b"},\"log\":{\"level\":\"");
    out.extend_from_slice(SEVERITY_NAMES[PIPELINE_ERROR_SEVERITY].as_bytes());
    out.extend_from_slice(b"\"},\"error\":{\"type\":");
    write_str(out, code.as_bytes());
    out.extend_from_slice(b",\"message\":\"");
    message(out);
    out.extend_from_slice(b"\"}");
    write_source(out, meta);
    out.push(b'}');
}

fn write_source(out: &mut Vec<u8>, meta: &ReceiveMeta) {
    if let Some(peer) = meta.peer {
        out.extend_from_slice(b",\"source\":{\"ip\":\"");
        match peer.ip() {
            // Four small integers: cheaper than going through `fmt` for every event.
            std::net::IpAddr::V4(v4) => {
                for (i, octet) in v4.octets().iter().enumerate() {
                    if i > 0 {
                        out.push(b'.');
                    }
                    write_u64(out, u64::from(*octet));
                }
            }
            ip => {
                let _ = write!(out, "{ip}");
            }
        }
        out.extend_from_slice(b"\",\"port\":");
        write_u64(out, u64::from(peer.port()));
        out.push(b'}');
    }
}

/// `{"SD-ID":{"PARAM":"value",…},…}`, values unescaped; of a repeated SD-ID or PARAM only the
/// last one is written.
fn write_structured_data(out: &mut Vec<u8>, sd: &[u8]) {
    out.push(b'{');
    let mut first = true;
    for (i, el) in sd_elements(sd).enumerate() {
        if sd_elements(sd).skip(i + 1).any(|later| later.id == el.id) {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(out, el.id.as_bytes());
        out.extend_from_slice(b":{");
        let mut first_param = true;
        for (j, (name, value)) in el.params().enumerate() {
            if el.params().skip(j + 1).any(|(later, _)| later == name) {
                continue;
            }
            if !first_param {
                out.push(b',');
            }
            first_param = false;
            write_str(out, name.as_bytes());
            out.extend_from_slice(b":\"");
            write_sd_value(out, value);
            out.push(b'"');
        }
        out.push(b'}');
    }
    out.push(b'}');
}

/// Unescape an SD PARAM-VALUE (`\"`, `\\`, `\]`; any other backslash stays) into JSON.
fn write_sd_value(out: &mut Vec<u8>, v: &[u8]) {
    let mut start = 0;
    let mut i = 0;
    while i < v.len() {
        if v[i] == b'\\' && matches!(v.get(i + 1), Some(b'"' | b'\\' | b']')) {
            escape_into(out, &v[start..i]);
            start = i + 1;
            i += 2;
        } else {
            i += 1;
        }
    }
    escape_into(out, &v[start..]);
}

/// Write `s` as a quoted JSON string.
pub fn write_str(out: &mut Vec<u8>, s: &[u8]) {
    out.push(b'"');
    escape_into(out, s);
    out.push(b'"');
}

/// JSON-escape `s` (no quotes); invalid UTF-8 sequences become U+FFFD (exactly as
/// `String::from_utf8_lossy` replaces them).
pub fn escape_into(out: &mut Vec<u8>, s: &[u8]) {
    // One pass for ASCII text (the common case): the escape scan also stops at the first
    // byte of a multi-byte sequence, and only the rest is checked as UTF-8.
    let ascii = escape_run::<true>(out, s);
    let Some(rest) = s.get(ascii..).filter(|r| !r.is_empty()) else {
        return;
    };
    for chunk in rest.utf8_chunks() {
        escape_valid(out, chunk.valid().as_bytes());
        if !chunk.invalid().is_empty() {
            out.extend_from_slice("\u{FFFD}".as_bytes());
        }
    }
}

/// Bytes that JSON needs escaped: controls, `"` and `\\` (DEL is escaped too, for logs' sake).
const NEEDS_ESCAPE: [bool; 256] = {
    let mut t = [false; 256];
    let mut i = 0;
    while i < 0x20 {
        t[i] = true;
        i += 1;
    }
    t[b'"' as usize] = true;
    t[b'\\' as usize] = true;
    t[0x7f] = true;
    t
};

/// Append the JSON escape of `c` (a byte [`NEEDS_ESCAPE`] flags): `"`, `\\` and newline
/// (nearly all of them, in event XML) inline, the other controls out of line.
#[inline(always)]
fn push_escape(out: &mut Vec<u8>, c: u8) {
    debug_assert!(NEEDS_ESCAPE[usize::from(c)], "{c:#x} needs no escape");
    let second = match c {
        b'"' => b'"',
        b'\\' => b'\\',
        b'\n' => b'n',
        c => return push_control_escape(out, c),
    };
    out.extend_from_slice(&[b'\\', second]);
}

/// Append the JSON escape of a control byte other than newline (or DEL).
#[inline(never)]
fn push_control_escape(out: &mut Vec<u8>, c: u8) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    match c {
        b'\r' => out.extend_from_slice(b"\\r"),
        b'\t' => out.extend_from_slice(b"\\t"),
        c => out.extend_from_slice(&[
            b'\\',
            b'u',
            b'0',
            b'0',
            HEX[usize::from(c >> 4)],
            HEX[usize::from(c & 0xf)],
        ]),
    }
}

/// JSON-escape `s`, valid UTF-8, into `out`.
fn escape_valid(out: &mut Vec<u8>, s: &[u8]) {
    escape_run::<false>(out, s);
}

/// JSON-escape `s` into `out` up to its end or, when `STOP_NON_ASCII`, its first byte from
/// 0x80; returns the bytes taken. Without `STOP_NON_ASCII`, `s` is valid UTF-8 (its
/// multi-byte sequences are copied as they are).
///
/// 16 bytes a step, by [`byte_mask::json_escape`] (event XML has a `"` or newline every ~14
/// bytes: a byte-at-a-time or 8-byte scan spent most of an EVTX record's normalizing here).
/// Each step copies a whole chunk (a fixed-size copy, no `memcpy` call) and, at a byte to
/// stop at, cuts the copy back to the bytes before it. The last bytes (all of a short value)
/// are copied into a padded chunk first, so that they take one step too.
#[inline]
fn escape_run<const STOP_NON_ASCII: bool>(out: &mut Vec<u8>, s: &[u8]) -> usize {
    out.reserve(s.len() + CHUNK_BYTES);
    let mut i = 0;
    while let Some(chunk) = s.get(i..i + CHUNK_BYTES) {
        let Ok(chunk) = <&[u8; CHUNK_BYTES]>::try_from(chunk) else {
            break;
        };
        let mask = byte_mask::json_escape::<STOP_NON_ASCII>(chunk);
        let start = out.len();
        out.extend_from_slice(chunk);
        if mask == 0 {
            i += CHUNK_BYTES;
            continue;
        }
        let j = mask.trailing_zeros() as usize;
        out.truncate(start + j);
        let c = chunk[j];
        if STOP_NON_ASCII && c >= 0x80 {
            return i + j;
        }
        push_escape(out, c);
        i += j + 1;
    }
    let tail = s.get(i..).unwrap_or_default();
    // Fewer than 16 bytes, padded with bytes that need no escaping; a step reads 16 bytes
    // from `at`, which stays below the tail's length.
    let mut padded = [b' '; 2 * CHUNK_BYTES];
    padded[..tail.len()].copy_from_slice(tail);
    let mut at = 0;
    while at < tail.len() {
        let Ok(chunk) = <&[u8; CHUNK_BYTES]>::try_from(&padded[at..at + CHUNK_BYTES]) else {
            break;
        };
        let left = tail.len() - at;
        let mask = byte_mask::json_escape::<STOP_NON_ASCII>(chunk) & ((1 << left) - 1);
        let start = out.len();
        out.extend_from_slice(chunk);
        if mask == 0 {
            out.truncate(start + left);
            break;
        }
        let j = mask.trailing_zeros() as usize;
        out.truncate(start + j);
        let c = chunk[j];
        if STOP_NON_ASCII && c >= 0x80 {
            return i + at + j;
        }
        push_escape(out, c);
        at += j + 1;
    }
    s.len()
}

pub(crate) fn write_u64(out: &mut Vec<u8>, v: u64) {
    let mut buf = itoa::Buffer::new();
    out.extend_from_slice(buf.format(v).as_bytes());
}

fn push2(out: &mut Vec<u8>, v: i64) {
    out.push(b'0' + (v / 10 % 10) as u8);
    out.push(b'0' + (v % 10) as u8);
}

/// Length of `YYYY-MM-DDTHH:MM:SS.ffffffZ`.
const RFC3339_MICROS_BYTES: usize = 27;

thread_local! {
    /// The last `event.ingested` text: every event of one receive batch shares its time.
    static INGESTED: std::cell::Cell<(i64, [u8; RFC3339_MICROS_BYTES])> =
        const { std::cell::Cell::new((i64::MIN, [0; RFC3339_MICROS_BYTES])) };
}

/// `event.ingested` (microsecond precision), formatted once per distinct receive time.
pub(crate) fn write_ingested(out: &mut Vec<u8>, micros: i64) {
    let (cached_at, text) = INGESTED.get();
    if cached_at == micros {
        out.extend_from_slice(&text);
        return;
    }
    let start = out.len();
    write_rfc3339(
        out,
        Timestamp {
            unix_micros: micros,
            frac_digits: 6,
        },
    );
    if let Ok(text) = <[u8; RFC3339_MICROS_BYTES]>::try_from(&out[start..]) {
        INGESTED.set((micros, text));
    }
}

/// `YYYY-MM-DDTHH:MM:SS[.f…]Z` with the timestamp's own number of fractional digits.
pub fn write_rfc3339(out: &mut Vec<u8>, ts: Timestamp) {
    let secs = ts.unix_micros.div_euclid(1_000_000);
    let micros = ts.unix_micros.rem_euclid(1_000_000);
    let (y, mo, d, h, mi, s) = civil_from_secs(secs);
    let y = y.clamp(0, 9999);
    push2(out, y / 100);
    push2(out, y % 100);
    out.push(b'-');
    push2(out, mo);
    out.push(b'-');
    push2(out, d);
    out.push(b'T');
    push2(out, h);
    out.push(b':');
    push2(out, mi);
    out.push(b':');
    push2(out, s);
    let digits = ts.frac_digits.min(6);
    if digits > 0 {
        out.push(b'.');
        let mut div = 100_000;
        for _ in 0..digits {
            out.push(b'0' + (micros / div % 10) as u8);
            div /= 10;
        }
    }
    out.push(b'Z');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{parse, ParseOptions};

    fn ecs(line: &str) -> serde_json::Value {
        let meta = ReceiveMeta {
            received_unix_micros: 1_736_334_000_000_001,
            peer: Some("10.0.0.9:5140".parse().unwrap()),
        };
        let mut out = Vec::new();
        let opts = ParseOptions {
            year: Some(2025),
            ..Default::default()
        };
        match parse(line.as_bytes(), &opts, meta.received_unix_micros) {
            Ok(ev) => write_syslog_event(&mut out, &ev, &meta),
            Err(e) => write_pipeline_error(&mut out, line.as_bytes(), &e, "syslog", &meta),
        }
        serde_json::from_slice(&out)
            .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out)))
    }

    #[test]
    fn full_rfc5424_event() {
        let v = ecs(
            r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Appl\"ication" iut="4"] An application event"#,
        );
        assert_eq!(v["@timestamp"], "2003-10-11T22:14:15.003Z");
        assert_eq!(v["event"]["ingested"], "2025-01-08T11:00:00.000001Z");
        assert_eq!(v["event"]["kind"], "event");
        assert_eq!(v["event"]["severity"], 5);
        assert_eq!(v["log"]["level"], "notice");
        let s = &v["log"]["syslog"];
        assert_eq!(s["priority"], 165);
        assert_eq!(
            s["facility"],
            serde_json::json!({"code": 20, "name": "local4"})
        );
        assert_eq!(
            s["severity"],
            serde_json::json!({"code": 5, "name": "notice"})
        );
        assert_eq!(s["version"], 1);
        assert!(s.get("procid").is_none());
        assert_eq!(
            s["structured_data"],
            serde_json::json!({"exampleSDID@32473": {"eventSource": "Appl\"ication", "iut": "4"}})
        );
        assert_eq!(v["host"]["hostname"], "mymachine.example.com");
        assert_eq!(
            v["source"],
            serde_json::json!({"ip": "10.0.0.9", "port": 5140})
        );
        assert_eq!(v["message"], "An application event");
    }

    #[test]
    fn pipeline_error_event() {
        let v = ecs("<999>bad \u{1}\"");
        assert_eq!(v["event"]["kind"], "pipeline_error");
        assert_eq!(v["event"]["original"], "<999>bad \u{1}\"");
        assert_eq!(v["error"]["type"], "syslog.bad_pri");
        assert_eq!(
            v["error"]["message"],
            "expected PRI between 0 and 191 at byte 1"
        );
        assert_eq!(v["@timestamp"], "2025-01-08T11:00:00.000001Z");
    }

    #[test]
    fn invalid_utf8_is_replaced() {
        let mut out = Vec::new();
        write_str(&mut out, b"a\xffb\xe2\x82");
        assert_eq!(String::from_utf8(out).unwrap(), "\"a\u{FFFD}b\u{FFFD}\"");
    }

    #[test]
    fn swar_escape_finds_each_escape_at_every_offset() {
        // A byte-at-a-time reference of the same escaping.
        let reference = |s: &[u8]| {
            let mut out = Vec::new();
            for &c in s {
                match c {
                    b'"' => out.extend_from_slice(b"\\\""),
                    b'\\' => out.extend_from_slice(b"\\\\"),
                    b'\n' => out.extend_from_slice(b"\\n"),
                    b'\r' => out.extend_from_slice(b"\\r"),
                    b'\t' => out.extend_from_slice(b"\\t"),
                    c if NEEDS_ESCAPE[usize::from(c)] => {
                        out.extend_from_slice(format!("\\u{:04x}", c).as_bytes())
                    }
                    c => out.push(c),
                }
            }
            out
        };
        for c in 0u8..0x80 {
            for at in 0..20 {
                for second in [None, Some(at + 1), Some(at + 7), Some(19)] {
                    let mut s = vec![b'x'; 20];
                    s[at] = c;
                    if let Some(j) = second.filter(|&j| j < 20) {
                        s[j] = b'"';
                    }
                    let mut out = Vec::new();
                    escape_valid(&mut out, &s);
                    assert_eq!(
                        out,
                        reference(&s),
                        "byte {c:#x} at {at}, quote at {second:?}"
                    );
                }
            }
        }
    }

    #[test]
    fn escape_of_any_bytes_is_escape_of_their_lossy_utf8() {
        // `escape_into` stops its ASCII scan at the first non-ASCII byte wherever it is (in a
        // 16-byte step or in the tail) and replaces invalid UTF-8 as `from_utf8_lossy` does.
        let reference = |s: &[u8]| {
            let mut out = Vec::new();
            for c in String::from_utf8_lossy(s).chars() {
                match c {
                    '"' => out.extend_from_slice(b"\\\""),
                    '\\' => out.extend_from_slice(b"\\\\"),
                    '\n' => out.extend_from_slice(b"\\n"),
                    '\r' => out.extend_from_slice(b"\\r"),
                    '\t' => out.extend_from_slice(b"\\t"),
                    c if (c as u32) < 0x20 || c == '\x7f' => {
                        out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                    }
                    c => out.extend_from_slice(c.to_string().as_bytes()),
                }
            }
            out
        };
        let inserts: [&[u8]; 6] = [
            b"\xc3\xa9",
            b"\xe2\x82\xac",
            b"\xff",
            b"\xe2\x82",
            b"\"\x01",
            b"\xf0\x9f\x98\x80",
        ];
        for len in [0, 5, 16, 17, 40] {
            for at in 0..=len {
                for ins in inserts {
                    let mut s = vec![b'a'; len];
                    s.splice(at..at, ins.iter().copied());
                    s.push(b'"');
                    let mut out = Vec::new();
                    escape_into(&mut out, &s);
                    assert_eq!(out, reference(&s), "{ins:?} at {at} of {len}");
                }
            }
        }
    }

    #[test]
    fn swar_escape_matches_serde_json() {
        let long = "a".repeat(20);
        for s in [
            "plain ascii text long enough",
            "tab\there and more",
            "12345678q\"uote",
            "back\\slash",
            "ünïcödé \u{1} end",
            long.as_str(),
            "",
        ] {
            let mut out = Vec::new();
            write_str(&mut out, s.as_bytes());
            assert_eq!(
                String::from_utf8(out).unwrap(),
                serde_json::to_string(s).unwrap(),
                "{s}"
            );
        }
        let mut out = Vec::new();
        write_str(&mut out, b"0123456789\x7f");
        assert_eq!(out, b"\"0123456789\\u007f\"");
        out.clear();
        write_ingested(&mut out, 1_061_727_255_000_003);
        write_ingested(&mut out, 1_061_727_255_000_003);
        assert_eq!(
            out,
            b"2003-08-24T12:14:15.000003Z2003-08-24T12:14:15.000003Z"
        );
    }

    #[test]
    fn precision_is_kept() {
        let mut out = Vec::new();
        write_rfc3339(
            &mut out,
            Timestamp {
                unix_micros: 1_061_727_255_000_003,
                frac_digits: 6,
            },
        );
        assert_eq!(out, b"2003-08-24T12:14:15.000003Z");
        out.clear();
        write_rfc3339(
            &mut out,
            Timestamp {
                unix_micros: 1_061_727_255_000_000,
                frac_digits: 0,
            },
        );
        assert_eq!(out, b"2003-08-24T12:14:15Z");
    }
}
