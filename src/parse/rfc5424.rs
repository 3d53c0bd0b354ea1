//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]`.
//!
//! Strict where the RFC is unambiguous (VERSION 1, single spaces, printable-ASCII header
//! fields, RFC 3339 TIMESTAMP with an offset, well-formed STRUCTURED-DATA with its closing
//! quotes and brackets), lenient where real senders stray harmlessly: header fields may be
//! up to 255 bytes (the RFC caps APP-NAME at 48, PROCID at 128 and MSGID at 32; container
//! tooling sends longer app names), TIME-SECFRAC may have more than 6 digits (the rest is
//! dropped), and SD-NAMEs are not length-checked.

use super::timestamp::parse_rfc3339;
use super::{
    ascii_str, eq_flags, err, printable_flags, printable_len_except, strip_msg, ParseError,
    SyslogEvent,
};

/// Longest header field accepted (HOSTNAME's limit in the RFC, applied to all four).
const FIELD_BYTES_MAX: usize = 255;

/// Parse a whole RFC 5424 message whose `<PRI>` (of `pri_len` bytes) was already read.
pub(super) fn parse(b: &[u8], priority: u8, pri_len: usize) -> Result<SyslogEvent<'_>, ParseError> {
    let mut i = pri_len;
    if b.get(i..i + 2) != Some(b"1 ") {
        return Err(err("syslog.bad_version", i, "VERSION 1 and a space"));
    }
    i += 2;
    let timestamp = if b.get(i..i + 2) == Some(b"- ") {
        i += 1;
        None
    } else {
        let (ts, n) = b.get(i..).and_then(parse_rfc3339).ok_or(err(
            "syslog.bad_timestamp",
            i,
            "an RFC 3339 TIMESTAMP with an offset, or -",
        ))?;
        i += n;
        Some(ts)
    };
    let (fields, end) = header_fields(b, i)?;
    i = end + 1;
    let structured_data = if b.get(i) == Some(&b'-') {
        i += 1;
        None
    } else {
        let end = sd_end(b, i)?;
        let sd = b.get(i..end);
        i = end;
        sd
    };
    let message = match b.get(i) {
        None => None,
        Some(b' ') => b.get(i + 1..).and_then(strip_msg),
        Some(_) => {
            return Err(err(
                "syslog.bad_structured_data",
                i,
                "a space or the end after STRUCTURED-DATA",
            ))
        }
    };
    Ok(SyslogEvent {
        priority,
        version: Some(1),
        timestamp,
        hostname: fields[0],
        appname: fields[1],
        procid: fields[2],
        msgid: fields[3],
        structured_data,
        message,
    })
}

/// HOSTNAME, APP-NAME, PROCID and MSGID (`None` for `-`), each after the space at `i` or
/// after the previous field, each 1 to 255 printable ASCII bytes; and the index of the space
/// that must follow the last.
///
/// Every field ends at the next byte outside printable ASCII, so one pass over 8-byte words
/// finds all four ends ([`printable_flags`] flags each such byte exactly; `trailing_zeros`
/// takes them in order): a scan per field, with its set-up and tail, cost more than the
/// search on fields of a few bytes (200 of the 830 instructions per RFC 5424 line of
/// `bench/lines.rs` under callgrind, `bench/parse_instructions.sh`).
fn header_fields(b: &[u8], i: usize) -> Result<([Option<&str>; 4], usize), ParseError> {
    let mut fields = [None; 4];
    // `at`: the space before the next field; `flags`: the stops not yet taken in the word
    // at `base`. Stops are at most `b.len()` (see [`word_flags`]), and the loop ends at the
    // first stop that is not a space, so `base` never passes the end.
    let mut at = i;
    let mut base = i + 1;
    let mut flags = word_flags(b, base);
    for field in fields.iter_mut() {
        if b.get(at) != Some(&b' ') {
            return Err(err(
                "syslog.bad_header",
                at,
                "a space between header fields",
            ));
        }
        while flags == 0 {
            base += 8;
            flags = word_flags(b, base);
        }
        let stop = base + (flags.trailing_zeros() / 8) as usize;
        flags &= flags - 1;
        let value = match b.get(at + 1..stop) {
            Some(v) if (1..=FIELD_BYTES_MAX).contains(&v.len()) => v,
            _ => {
                return Err(err(
                    "syslog.bad_header",
                    at + 1,
                    "a header field of 1 to 255 printable ASCII bytes, or -",
                ))
            }
        };
        *field = (value != b"-").then(|| ascii_str(value));
        at = stop;
    }
    if b.get(at) != Some(&b' ') {
        return Err(err(
            "syslog.bad_header",
            at,
            "a space before STRUCTURED-DATA",
        ));
    }
    Ok((fields, at))
}

/// [`printable_flags`] of the 8 bytes of `b` at `at`; past the end of `b`, only the byte
/// at `b.len()` (when in this word) is flagged, so no stop lies beyond the end.
#[inline]
fn word_flags(b: &[u8], at: usize) -> u64 {
    match b.get(at..).and_then(<[u8]>::first_chunk::<8>) {
        Some(w) => printable_flags(u64::from_le_bytes(*w)),
        None => tail_flags(b, at),
    }
}

/// [`word_flags`] of the last 0 to 7 bytes and the end.
#[cold]
fn tail_flags(b: &[u8], at: usize) -> u64 {
    let mut a = [b'a'; 8];
    let tail = b.get(at..).unwrap_or_default();
    if let Some(head) = a.get_mut(..tail.len()) {
        head.copy_from_slice(tail);
    }
    if let Some(end) = a.get_mut(tail.len()) {
        *end = 0;
    }
    printable_flags(u64::from_le_bytes(a))
}

/// Validate SD-ELEMENTs starting at `i`; returns the index just past the last `]`.
fn sd_end(b: &[u8], mut i: usize) -> Result<usize, ParseError> {
    if b.get(i) != Some(&b'[') {
        return Err(err("syslog.bad_structured_data", i, "[ or -"));
    }
    while b.get(i) == Some(&b'[') {
        i += 1;
        let id_start = i;
        i += sd_name_len(b, i);
        if i == id_start {
            return Err(err("syslog.bad_structured_data", i, "an SD-ID"));
        }
        loop {
            match b.get(i) {
                Some(b']') => {
                    i += 1;
                    break;
                }
                Some(b' ') => {
                    i += 1;
                    let name_start = i;
                    i += sd_name_len(b, i);
                    if i == name_start || b.get(i..i + 2) != Some(b"=\"") {
                        return Err(err(
                            "syslog.bad_structured_data",
                            i,
                            "PARAM-NAME=\"PARAM-VALUE\"",
                        ));
                    }
                    i = value_end(b, i + 2).ok_or(err(
                        "syslog.bad_structured_data",
                        b.len(),
                        "a closing \" of PARAM-VALUE",
                    ))? + 1;
                }
                _ => {
                    return Err(err(
                        "syslog.bad_structured_data",
                        i,
                        "a space or ] in SD-ELEMENT",
                    ))
                }
            }
        }
    }
    Ok(i)
}

/// Index of the closing `"` of a PARAM-VALUE starting at `i`, skipping `\`-escaped bytes.
fn value_end(b: &[u8], mut i: usize) -> Option<usize> {
    loop {
        let n = quote_or_backslash(b.get(i..)?)?;
        i += n;
        if b.get(i) == Some(&b'"') {
            return Some(i);
        }
        i += 2;
    }
}

/// Index of the first `"` or `\\` in `b`: the first 16 bytes eight at a time (SWAR), the rest
/// by `memchr2`. PARAM-VALUEs are mostly short, and `memchr2`'s set-up cost more than the
/// search on them: 58 instructions per RFC 5424 line of `bench/lines.rs` under callgrind
/// (`bench/parse_instructions.sh`). Each word's bytes are flagged by [`eq_flags`].
fn quote_or_backslash(b: &[u8]) -> Option<usize> {
    let mut from = 0;
    while from < 16 {
        let Some(w) = b.get(from..).and_then(<[u8]>::first_chunk::<8>) else {
            break;
        };
        let x = u64::from_le_bytes(*w);
        let flags = eq_flags(x, b'"') | eq_flags(x, b'\\');
        if flags != 0 {
            return Some(from + (flags.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    memchr::memchr2(b'"', b'\\', b.get(from..)?).map(|n| from + n)
}

/// Length of the run of SD-NAME bytes at `i` (SWAR, see [`printable_len_except`]): SD-IDs
/// and PARAM-NAMEs were scanned byte by byte, a sixth of RFC 5424 parsing with structured
/// data under callgrind (`bench/parse_instructions.sh`).
fn sd_name_len(b: &[u8], i: usize) -> usize {
    printable_len_except(b.get(i..).unwrap_or_default(), *b"=]\"")
}

/// SD-NAME: printable US-ASCII except `=`, space, `]` and `"`.
fn sd_name_char(c: u8) -> bool {
    (33..=126).contains(&c) && !matches!(c, b'=' | b']' | b'"')
}

/// One SD-ELEMENT: its SD-ID and its raw `PARAM="value"` list (escapes still in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdElement<'a> {
    /// The SD-ID, e.g. `exampleSDID@32473`.
    pub id: &'a str,
    params: &'a [u8],
}

impl<'a> SdElement<'a> {
    /// `(PARAM-NAME, raw PARAM-VALUE)` pairs in order; the value keeps its `\"`, `\\` and
    /// `\]` escapes (see [`unescape_sd_value`]). Stops early, never panics, on bytes that
    /// did not come from a validated STRUCTURED-DATA.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let b = self.params;
        let mut i = 0;
        std::iter::from_fn(move || {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            let name_start = i;
            i += memchr::memchr(b'=', b.get(i..)?)?;
            let name = std::str::from_utf8(b.get(name_start..i)?).ok()?;
            if b.get(i + 1) != Some(&b'"') {
                return None;
            }
            let value_start = i + 2;
            i = value_end(b, value_start)?;
            let value = b.get(value_start..i)?;
            i += 1;
            Some((name, value))
        })
    }
}

/// Iterate the SD-ELEMENTs of a validated STRUCTURED-DATA slice (as in
/// [`SyslogEvent::structured_data`](super::SyslogEvent)), in order. Stops early, never
/// panics, on bytes that were not validated.
pub fn sd_elements(sd: &[u8]) -> impl Iterator<Item = SdElement<'_>> + '_ {
    let mut i = 0;
    std::iter::from_fn(move || {
        if sd.get(i) != Some(&b'[') {
            return None;
        }
        i += 1;
        let id_start = i;
        while sd.get(i).is_some_and(|c| sd_name_char(*c)) {
            i += 1;
        }
        let id = std::str::from_utf8(sd.get(id_start..i)?).ok()?;
        let params_start = i;
        loop {
            match sd.get(i)? {
                b'"' => i = value_end(sd, i + 1)? + 1,
                b']' => break,
                _ => i += 1,
            }
        }
        let params = sd.get(params_start..i)?;
        i += 1;
        Some(SdElement { id, params })
    })
}

/// The pieces of a raw PARAM-VALUE with its escapes removed: `\"`, `\\` and `\]` lose their
/// backslash; any other backslash stays, as RFC 5424 §6.3.3 says. Concatenated, the pieces
/// are the value.
pub fn unescape_sd_value(v: &[u8]) -> impl Iterator<Item = &[u8]> + '_ {
    // `start`: where the next piece begins (an escaped byte is its first byte, kept);
    // `from`: where to look for the next escape (past that escaped byte).
    let mut start = 0;
    let mut from = 0;
    let mut done = false;
    std::iter::from_fn(move || {
        if done {
            return None;
        }
        let mut i = from;
        while let Some(n) = memchr::memchr(b'\\', v.get(i..).unwrap_or_default()) {
            i += n;
            if matches!(v.get(i + 1), Some(b'"' | b'\\' | b']')) {
                let piece = v.get(start..i);
                start = i + 1;
                from = i + 2;
                return piece;
            }
            i += 1;
        }
        done = true;
        v.get(start..)
    })
}

#[cfg(test)]
mod tests {
    use super::super::{parse, Format, ParseError, ParseOptions};

    #[test]
    fn quote_or_backslash_agrees_with_memchr2() {
        for len in 0..40 {
            for at in 0..=len {
                for c in [b'"', b'\\', b'#', b'[', b'!', 0xff, 0x00] {
                    let mut v = vec![b'a'; len];
                    if at < len {
                        v[at] = c;
                        // Bytes that would borrow into their neighbours, after the hit.
                        if at + 1 < len {
                            v[at + 1] = 0x00;
                        }
                    }
                    assert_eq!(
                        quote_or_backslash(&v),
                        memchr::memchr2(b'"', b'\\', &v),
                        "{v:?}"
                    );
                }
            }
        }
    }

    /// [`header_fields`] as a byte loop: the field scans it replaces.
    fn header_fields_by_bytes(
        b: &[u8],
        mut i: usize,
    ) -> Result<([Option<&str>; 4], usize), ParseError> {
        let mut fields = [None; 4];
        for field in fields.iter_mut() {
            if b.get(i) != Some(&b' ') {
                return Err(err("syslog.bad_header", i, "a space between header fields"));
            }
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(|c| (33..=126).contains(c)) {
                i += 1;
            }
            if i == start || i - start > FIELD_BYTES_MAX {
                return Err(err(
                    "syslog.bad_header",
                    start,
                    "a header field of 1 to 255 printable ASCII bytes, or -",
                ));
            }
            let value = std::str::from_utf8(&b[start..i]).unwrap();
            *field = (value != "-").then_some(value);
        }
        if b.get(i) != Some(&b' ') {
            return Err(err(
                "syslog.bad_header",
                i,
                "a space before STRUCTURED-DATA",
            ));
        }
        Ok((fields, i))
    }

    #[test]
    fn header_fields_agree_with_a_byte_loop() {
        let mut cases: Vec<Vec<u8>> = vec![
            vec![],
            b" mymachine.example.com su - ID47 - m".to_vec(),
            b" - - - - ".to_vec(),
            format!(" {} a b c ", "h".repeat(255)).into_bytes(),
            format!(" {} a b c ", "h".repeat(256)).into_bytes(),
            format!(" a b c {} ", "h".repeat(300)).into_bytes(),
        ];
        for len in 0..30 {
            for at in 0..len {
                for c in [b' ', 0x00, b'\t', 0x7f, 0x80, 0xff, b'!', b'~', b'-'] {
                    for gap in [1, 2, 3, 5, 9] {
                        let mut v = vec![b'h'; len];
                        v[at] = c;
                        // More spaces after it, and bytes that would carry or borrow.
                        for (k, next) in [b' ', 0xff, b' ', b'!', b' ', b' '].iter().enumerate() {
                            if let Some(x) = v.get_mut(at + (k + 1) * gap) {
                                *x = *next;
                            }
                        }
                        cases.push(v);
                    }
                }
            }
        }
        for v in &cases {
            for from in 0..v.len().min(12) {
                assert_eq!(
                    header_fields(v, from),
                    header_fields_by_bytes(v, from),
                    "{v:?} from {from}"
                );
            }
        }
    }

    #[test]
    fn sd_name_len_agrees_with_sd_name_char() {
        for c in 0..=255u8 {
            for at in 0..12 {
                let mut v = b"exampleSDID@".to_vec();
                v[at] = c;
                for from in 0..3 {
                    let rest = &v[from..];
                    let slow = rest
                        .iter()
                        .position(|c| !sd_name_char(*c))
                        .unwrap_or(rest.len());
                    assert_eq!(sd_name_len(&v, from), slow, "{v:?} from {from}");
                }
            }
        }
    }
    use super::*;

    fn p(s: &str) -> Result<crate::parse::SyslogEvent<'_>, ParseError> {
        let opts = ParseOptions {
            format: Format::Rfc5424,
            ..Default::default()
        };
        parse(s.as_bytes(), &opts, 0)
    }

    fn code_at(s: &str) -> (&'static str, usize) {
        let e = p(s).unwrap_err();
        (e.code, e.at)
    }

    fn unescaped(v: &[u8]) -> Vec<u8> {
        unescape_sd_value(v).flatten().copied().collect()
    }

    #[test]
    fn nil_everywhere() {
        let e = p("<0>1 - - - - - -").unwrap();
        assert_eq!((e.priority, e.version, e.timestamp), (0, Some(1), None));
        assert_eq!(
            (e.hostname, e.appname, e.procid, e.msgid),
            (None, None, None, None)
        );
        assert_eq!((e.structured_data, e.message), (None, None));
        let e = p("<191>1 - - - - - - ").unwrap();
        assert_eq!((e.priority, e.message), (191, None));
    }

    #[test]
    fn bom_and_line_endings_are_removed() {
        let e = p("<13>1 - h a p m - \u{FEFF}hello\r\n").unwrap();
        assert_eq!(e.message, Some(&b"hello"[..]));
        let e = p("<13>1 - h a p m - \u{FEFF}").unwrap();
        assert_eq!(e.message, None);
        // Only a leading BOM goes.
        let e = p("<13>1 - h a p m - a\u{FEFF}").unwrap();
        assert_eq!(e.message, Some("a\u{FEFF}".as_bytes()));
    }

    #[test]
    fn header_errors_say_where() {
        assert_eq!(code_at("<13>2 - - - - - -"), ("syslog.bad_version", 4));
        assert_eq!(
            code_at("<13>1 2003-10-11T22:14:15 h a - - -"),
            ("syslog.bad_timestamp", 6)
        );
        assert_eq!(
            code_at("<13>1 2003-10-32T22:14:15Z h a - - -"),
            ("syslog.bad_timestamp", 6)
        );
        assert_eq!(code_at("<13>1 -  h a - - -"), ("syslog.bad_header", 8));
        assert_eq!(code_at("<13>1 - h a - -"), ("syslog.bad_header", 15));
        assert_eq!(
            code_at("<13>1 - h a - - x"),
            ("syslog.bad_structured_data", 16)
        );
        assert_eq!(
            code_at("<13>1 - h a - - [x"),
            ("syslog.bad_structured_data", 18)
        );
        assert_eq!(
            code_at("<13>1 - h a - - [] m"),
            ("syslog.bad_structured_data", 17)
        );
        assert_eq!(
            code_at("<13>1 - h a - - [x a=b] m"),
            ("syslog.bad_structured_data", 20)
        );
        assert_eq!(
            code_at("<13>1 - h a - - [x a=\"b] m"),
            ("syslog.bad_structured_data", 26)
        );
        assert_eq!(
            code_at("<13>1 - h a - - [x a=\"b\"]m"),
            ("syslog.bad_structured_data", 25)
        );
        assert_eq!(
            code_at("<13>1 - h a - - -m"),
            ("syslog.bad_structured_data", 17)
        );
        assert_eq!(code_at("<13>1 - h\u{e9} a - - -"), ("syslog.bad_header", 9));
        let long = format!("<13>1 - {} a - - -", "h".repeat(256));
        assert_eq!(code_at(&long), ("syslog.bad_header", 8));
        // Fields longer than the RFC's per-field caps (but at most 255) are accepted.
        let app = "a".repeat(60);
        let ok = format!("<13>1 - h {app} - - -");
        assert_eq!(p(&ok).unwrap().appname, Some(app.as_str()));
        // Without a PRI, RFC 5424 cannot start.
        assert_eq!(code_at("1 - - - - - -"), ("syslog.bad_pri", 0));
    }

    #[test]
    fn timestamps_keep_precision_and_convert_offsets() {
        let ts = |s: &str| p(s).unwrap().timestamp.unwrap();
        let t = ts("<13>1 2003-10-11T22:14:15Z h a - - -");
        assert_eq!((t.unix_micros, t.frac_digits), (1_065_910_455_000_000, 0));
        let t = ts("<13>1 2003-10-11T22:14:15.1+00:00 h a - - -");
        assert_eq!((t.unix_micros, t.frac_digits), (1_065_910_455_100_000, 1));
        let t = ts("<13>1 2003-10-12T03:44:15.000001+05:30 h a - - -");
        assert_eq!((t.unix_micros, t.frac_digits), (1_065_910_455_000_001, 6));
        let t = ts("<13>1 2003-10-11T22:14:15.1234567Z h a - - -");
        assert_eq!((t.unix_micros, t.frac_digits), (1_065_910_455_123_456, 6));
    }

    #[test]
    fn sd_escapes_validate_and_unescape() {
        let e = p(r#"<13>1 - h a - - [id k="a\"b\\c\]d\xe" e="" r="x]y"] m"#).unwrap();
        let sd = e.structured_data.unwrap();
        let el: Vec<_> = sd_elements(sd).collect();
        assert_eq!(el.len(), 1);
        let params: Vec<_> = el[0].params().collect();
        assert_eq!(params[0], ("k", &br#"a\"b\\c\]d\xe"#[..]));
        assert_eq!(unescaped(params[0].1), br#"a"b\c]d\xe"#);
        assert_eq!(params[1], ("e", &b""[..]));
        // An unescaped `]` inside quotes is part of the value.
        assert_eq!(params[2], ("r", &b"x]y"[..]));
        assert_eq!(e.message, Some(&b"m"[..]));
        // A backslash before the closing quote escapes it: the value never closes.
        assert_eq!(
            code_at(r#"<13>1 - h a - - [id k="a\"] m"#).0,
            "syslog.bad_structured_data"
        );
        assert_eq!(unescaped(br"\\\\"), br"\\");
        assert_eq!(unescaped(br"trailing\"), br"trailing\");
        assert_eq!(unescaped(b""), b"");
    }

    #[test]
    fn several_elements_and_utf8_values() {
        let e = p("<13>1 - h a - - [a x=\"1\"][b@1 y=\"\u{e9}t\u{e9}\" z=\"2\"][c]").unwrap();
        let el: Vec<_> = sd_elements(e.structured_data.unwrap()).collect();
        let ids: Vec<_> = el.iter().map(|e| e.id).collect();
        assert_eq!(ids, ["a", "b@1", "c"]);
        assert_eq!(el[1].params().count(), 2);
        assert_eq!(el[1].params().next().unwrap().1, "\u{e9}t\u{e9}".as_bytes());
        assert_eq!(el[2].params().count(), 0);
        assert_eq!(e.message, None);
    }

    #[test]
    fn iterators_stop_on_unvalidated_bytes() {
        for raw in [
            &b"[a k=\"v"[..],
            b"[a k=v]",
            b"[",
            b"[a k",
            b"x",
            b"[a k=\"\\",
        ] {
            for el in sd_elements(raw) {
                let _ = el.params().count();
            }
        }
    }
}
