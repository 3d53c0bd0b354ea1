//! Syslog parsing: RFC 5424, RFC 3164 and real-world variants, zero-copy over `&[u8]`.
//!
//! Guarantees: [`parse`] never panics and never allocates on the heap; every field of a
//! [`SyslogEvent`] borrows from the input. Any byte string yields exactly one event or one
//! [`ParseError`] (which the normalizer turns into a `pipeline_error` event).

mod rfc3164;
mod rfc5424;
pub mod timestamp;

pub use rfc5424::{sd_elements, unescape_sd_value, SdElement};
pub use timestamp::{TimeZone, Timestamp};

/// Which grammar to apply; `Auto` detects per message (`<PRI>1 ` → RFC 5424, else RFC 3164).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Format {
    #[default]
    Auto,
    Rfc5424,
    Rfc3164,
}

/// Parser settings, fixed for a shard's lifetime (cheap to copy).
#[derive(Debug, Clone)]
pub struct ParseOptions {
    /// Grammar selection.
    pub format: Format,
    /// Year for RFC 3164 timestamps; `None` infers it from `now` (see SCHEMA.md).
    pub year: Option<i32>,
    /// Zone of RFC 3164 timestamps that carry none (default UTC).
    pub timezone: TimeZone,
}

impl Default for ParseOptions {
    fn default() -> Self {
        Self {
            format: Format::Auto,
            year: None,
            timezone: TimeZone::utc(),
        }
    }
}

/// One parsed syslog message; every slice borrows from the input buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyslogEvent<'a> {
    /// PRI 0..=191 (13 when the message had none).
    pub priority: u8,
    /// `Some(1)` for RFC 5424, `None` for RFC 3164.
    pub version: Option<u8>,
    /// Event time in UTC, `None` when the source had none (NILVALUE or missing).
    pub timestamp: Option<Timestamp>,
    pub hostname: Option<&'a str>,
    pub appname: Option<&'a str>,
    pub procid: Option<&'a str>,
    pub msgid: Option<&'a str>,
    /// Raw, validated RFC 5424 STRUCTURED-DATA (`[id k="v"]...`), escapes still in place;
    /// iterate it with [`sd_elements`].
    pub structured_data: Option<&'a [u8]>,
    /// MSG with a leading BOM and trailing `\n` / `\r\n` removed; may be invalid UTF-8.
    pub message: Option<&'a [u8]>,
}

/// Why a message could not be parsed: a stable code, the byte offset and what was expected.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("{code}: expected {expected} at byte {at}")]
pub struct ParseError {
    /// Stable short code for `error.type`, e.g. `syslog.bad_pri`.
    pub code: &'static str,
    /// Byte offset into the message where parsing failed.
    pub at: usize,
    /// What the parser expected there.
    pub expected: &'static str,
}

/// Parse one syslog message (without framing). `now_unix_micros` is used only to infer the
/// year of RFC 3164 timestamps. Never panics; borrows every field from `input`.
///
/// Errors (`code`): `syslog.empty` (nothing but whitespace), `syslog.bad_pri` (a `<` that
/// does not open a PRI of 1-3 digits up to 191, or no PRI where RFC 5424 is required),
/// `syslog.bad_version`, `syslog.bad_timestamp`, `syslog.bad_header` and
/// `syslog.bad_structured_data` (RFC 5424 only: RFC 3164 is lenient and turns anything
/// else into an event, the whole text as MSG when no header is recognised).
pub fn parse<'a>(
    input: &'a [u8],
    opts: &ParseOptions,
    now_unix_micros: i64,
) -> Result<SyslogEvent<'a>, ParseError> {
    let b = trim_end(input);
    // A `<` first (every RFC 5424 message) is not all whitespace: no scan for that.
    let (priority, pri_len) = if b.first() == Some(&b'<') {
        parse_pri(b)?
    } else if b.iter().all(|c| c.is_ascii_whitespace()) {
        return Err(err("syslog.empty", 0, "a message"));
    } else {
        (13, 0)
    };
    let is_5424 = pri_len > 0 && b.get(pri_len..pri_len + 2) == Some(b"1 ");
    match opts.format {
        Format::Auto if is_5424 => rfc5424::parse(b, priority, pri_len),
        Format::Rfc5424 if pri_len == 0 => Err(err("syslog.bad_pri", 0, "<PRI>")),
        Format::Rfc5424 => rfc5424::parse(b, priority, pri_len),
        Format::Auto | Format::Rfc3164 => {
            Ok(rfc3164::parse(b, priority, pri_len, opts, now_unix_micros))
        }
    }
}

/// `<PRI>` at the start of `b` (which starts with `<`): 1 to 3 digits, 0..=191. Returns the
/// value and the bytes used.
fn parse_pri(b: &[u8]) -> Result<(u8, usize), ParseError> {
    let body = b.get(1..).unwrap_or_default();
    let digit = |k: usize| {
        body.get(k)
            .map(|c| u32::from(c.wrapping_sub(b'0')))
            .filter(|d| *d < 10)
    };
    // The digits one by one at their fixed places: an iterator count and fold cost a few
    // instructions more per line under callgrind (`bench/parse_instructions.sh`).
    let (v, digits) = match (digit(0), digit(1), digit(2)) {
        (Some(x), Some(y), Some(z)) if digit(3).is_none() => (x * 100 + y * 10 + z, 3),
        (Some(x), Some(y), None) => (x * 10 + y, 2),
        (Some(x), None, _) => (x, 1),
        _ => return Err(err("syslog.bad_pri", 1, "1 to 3 digits of PRI")),
    };
    if body.get(digits) != Some(&b'>') {
        return Err(err("syslog.bad_pri", 1 + digits, "> closing PRI"));
    }
    match u8::try_from(v) {
        Ok(v) if v <= 191 => Ok((v, digits + 2)),
        _ => Err(err("syslog.bad_pri", 1, "PRI between 0 and 191")),
    }
}

/// Drop trailing `\n`, `\r\n` and NULs (framing leftovers).
fn trim_end(b: &[u8]) -> &[u8] {
    let end = b
        .iter()
        .rposition(|c| !matches!(c, b'\n' | b'\r' | 0))
        .map_or(0, |i| i + 1);
    b.get(..end).unwrap_or_default()
}

/// MSG with a leading UTF-8 BOM removed; `None` when empty. `m` is the end of a message
/// [`parse`] already passed through [`trim_end`], so its end needs no trimming (what
/// follows a BOM is still the end of that message).
#[inline]
pub(crate) fn strip_msg(m: &[u8]) -> Option<&[u8]> {
    debug_assert_eq!(trim_end(m), m);
    let m = m.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(m);
    (!m.is_empty()).then_some(m)
}

/// Length of the run of printable ASCII (33..=126) other than the bytes of `except` at the
/// start of `b`, eight bytes per step (SWAR): [`printable_flags`] and, for each excluded
/// byte, [`eq_flags`] (exact for the lowest flagged byte, which is all this needs).
pub(crate) fn printable_len_except<const N: usize>(b: &[u8], except: [u8; N]) -> usize {
    let mut words = b.chunks_exact(8);
    let mut i = 0;
    for w in words.by_ref() {
        let mut a = [0u8; 8];
        a.copy_from_slice(w);
        let x = u64::from_le_bytes(a);
        let mut flags = printable_flags(x);
        for c in except {
            flags |= eq_flags(x, c);
        }
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    let tail = words.remainder();
    i + tail
        .iter()
        .position(|c| !(33..=126).contains(c) || except.contains(c))
        .unwrap_or(tail.len())
}

/// The high bit of each byte of `x` outside printable ASCII (33..=126), exact for every
/// byte (SWAR): with `l = x & 0x7f..`, `l + 0x01..` sets it for 127, `!(l + 0x5f..)` for
/// the bytes below 33, `x` itself for the bytes above 127; no byte carries into the next.
pub(crate) fn printable_flags(x: u64) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let l = x & (ONES * 0x7f);
    (x | l.wrapping_add(ONES) | !l.wrapping_add(ONES * 0x5f)) & (ONES * 0x80)
}

/// The high bit of each byte of `x` equal to `c`, exact for the lowest such byte (SWAR:
/// `(y - 0x01..) & !y & 0x80..` with `y = x ^ c..`; a borrow only leaves a flagged byte).
pub(crate) fn eq_flags(x: u64, c: u8) -> u64 {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let y = x ^ (ONES * u64::from(c));
    y.wrapping_sub(ONES) & !y & (ONES * 0x80)
}

/// View bytes already checked to be printable ASCII (33..=126) as `&str`.
pub(crate) fn ascii_str(b: &[u8]) -> &str {
    debug_assert!(b.iter().all(|c| (33..=126).contains(c)));
    // SAFETY: every caller passes bytes it has checked are printable ASCII, which is UTF-8;
    // `from_utf8` here cost 12% of parse + JSON in `cargo bench --bench parse`.
    unsafe { std::str::from_utf8_unchecked(b) }
}

pub(crate) const fn err(code: &'static str, at: usize, expected: &'static str) -> ParseError {
    ParseError { code, at, expected }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_flags_flag_exactly_the_unprintable_bytes() {
        for c in 0..=255u8 {
            for at in 0..8 {
                for fill in [b'x', b'!', b'~', 0x00, 0x7f, 0xff, b' '] {
                    let mut a = [fill; 8];
                    a[at] = c;
                    let flags = printable_flags(u64::from_le_bytes(a));
                    for (k, byte) in a.iter().enumerate() {
                        let flagged = flags >> (8 * k + 7) & 1 == 1;
                        assert_eq!(flagged, !(33..=126).contains(byte), "{a:?} byte {k}");
                    }
                    assert_eq!(flags & !0x8080_8080_8080_8080, 0);
                }
            }
        }
    }

    #[test]
    fn printable_len_except_agrees_with_a_byte_loop() {
        let except = *b"=]\"";
        let slow = |b: &[u8]| {
            b.iter()
                .position(|c| !(33..=126).contains(c) || except.contains(c))
                .unwrap_or(b.len())
        };
        let mut cases: Vec<Vec<u8>> = vec![vec![], b"exampleSDID@32473 iut".to_vec()];
        for stop in [0u8, 32, b'=', b']', b'"', 127, 200, 255] {
            for at in 0..20 {
                for next in [0xffu8, 0x00, b'=' ^ 0x01, b']' + 1, b'x'] {
                    let mut v = vec![b'x'; 20];
                    v[at] = stop;
                    // A byte that would borrow or carry into its neighbours, after the stop.
                    if at + 1 < 20 {
                        v[at + 1] = next;
                    }
                    cases.push(v);
                }
            }
        }
        for c in &cases {
            assert_eq!(printable_len_except(c, except), slow(c), "{c:?}");
        }
    }

    fn p(s: &str) -> Result<SyslogEvent<'_>, ParseError> {
        let opts = ParseOptions {
            year: Some(2025),
            ..Default::default()
        };
        parse(s.as_bytes(), &opts, 1_750_000_000_000_000)
    }

    #[test]
    fn rfc5424_example_1() {
        let e = p("<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \u{FEFF}'su root' failed for lonvick on /dev/pts/8").unwrap();
        assert_eq!(e.priority, 34);
        assert_eq!(e.version, Some(1));
        assert_eq!(
            e.timestamp,
            Some(Timestamp {
                unix_micros: 1_065_910_455_003_000,
                frac_digits: 3
            })
        );
        assert_eq!(e.hostname, Some("mymachine.example.com"));
        assert_eq!(e.appname, Some("su"));
        assert_eq!(e.procid, None);
        assert_eq!(e.msgid, Some("ID47"));
        assert_eq!(
            e.message,
            Some(&b"'su root' failed for lonvick on /dev/pts/8"[..])
        );
    }

    #[test]
    fn rfc5424_example_2() {
        let e = p("<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - %% It's time to make the do-nuts.").unwrap();
        assert_eq!(e.timestamp.unwrap().unix_micros, 1_061_727_255_000_003);
        assert_eq!(e.hostname, Some("192.0.2.1"));
        assert_eq!(e.procid, Some("8710"));
        assert_eq!(e.msgid, None);
        assert_eq!(e.message, Some(&b"%% It's time to make the do-nuts."[..]));
    }

    #[test]
    fn rfc5424_example_3_and_4_structured_data() {
        let e = p(r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"] An application event log entry..."#).unwrap();
        let sd: Vec<_> = sd_elements(e.structured_data.unwrap()).collect();
        assert_eq!(sd.len(), 1);
        assert_eq!(sd[0].id, "exampleSDID@32473");
        let params: Vec<_> = sd[0].params().collect();
        assert_eq!(
            params,
            vec![
                ("iut", &b"3"[..]),
                ("eventSource", b"Application"),
                ("eventID", b"1011")
            ]
        );
        assert_eq!(e.message, Some(&b"An application event log entry..."[..]));
        let e = p(r#"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 [exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"][examplePriority@32473 class="high"]"#).unwrap();
        let sd: Vec<_> = sd_elements(e.structured_data.unwrap()).collect();
        assert_eq!(sd.len(), 2);
        assert_eq!(
            sd[1].params().collect::<Vec<_>>(),
            vec![("class", &b"high"[..])]
        );
        assert_eq!(e.message, None);
    }

    #[test]
    fn rfc5424_escapes_and_nil() {
        let e = p(r#"<13>1 - - - - - [a k="x\"y\\z\]" e=""] m"#).unwrap();
        assert_eq!(e.timestamp, None);
        assert_eq!(e.hostname, None);
        let sd: Vec<_> = sd_elements(e.structured_data.unwrap()).collect();
        assert_eq!(
            sd[0].params().collect::<Vec<_>>(),
            vec![("k", &br#"x\"y\\z\]"#[..]), ("e", b"")]
        );
        assert_eq!(
            p(r#"<13>1 - - - - - [a k="x] m"#).unwrap_err().code,
            "syslog.bad_structured_data"
        );
    }

    /// [`parse_pri`] as an iterator count and fold: the form it replaces.
    fn parse_pri_by_count(b: &[u8]) -> Result<(u8, usize), ParseError> {
        let body = b.get(1..).unwrap_or_default();
        let digits = body
            .iter()
            .take(4)
            .take_while(|c| c.is_ascii_digit())
            .count();
        if digits == 0 || digits > 3 {
            return Err(err("syslog.bad_pri", 1, "1 to 3 digits of PRI"));
        }
        if body.get(digits) != Some(&b'>') {
            return Err(err("syslog.bad_pri", 1 + digits, "> closing PRI"));
        }
        let v = body
            .iter()
            .take(digits)
            .fold(0u32, |n, c| n * 10 + u32::from(c - b'0'));
        match u8::try_from(v) {
            Ok(v) if v <= 191 => Ok((v, digits + 2)),
            _ => Err(err("syslog.bad_pri", 1, "PRI between 0 and 191")),
        }
    }

    #[test]
    fn parse_pri_agrees_with_a_count() {
        let alphabet = [b'0', b'1', b'9', b'>', b'<', b'a', b' ', b'/', b':', 0xff];
        let mut v = vec![b'<'];
        // Every string of up to 5 bytes from `alphabet` after the `<`.
        fn walk(v: &mut Vec<u8>, alphabet: &[u8], left: usize) {
            assert_eq!(parse_pri(v), parse_pri_by_count(v), "{v:?}");
            if left > 0 {
                for c in alphabet {
                    v.push(*c);
                    walk(v, alphabet, left - 1);
                    v.pop();
                }
            }
        }
        walk(&mut v, &alphabet, 5);
        for n in 0..=999 {
            let s = format!("<{n}>1");
            assert_eq!(
                parse_pri(s.as_bytes()),
                parse_pri_by_count(s.as_bytes()),
                "{s}"
            );
            let s = format!("<{n:03}>");
            assert_eq!(
                parse_pri(s.as_bytes()),
                parse_pri_by_count(s.as_bytes()),
                "{s}"
            );
        }
    }

    #[test]
    fn pri_errors() {
        assert_eq!(p("<999>x").unwrap_err().code, "syslog.bad_pri");
        assert_eq!(
            p("<abc>x").unwrap_err(),
            ParseError {
                code: "syslog.bad_pri",
                at: 1,
                expected: "1 to 3 digits of PRI"
            }
        );
        assert_eq!(p("<13 x").unwrap_err().at, 3);
        assert_eq!(p("").unwrap_err().code, "syslog.empty");
        assert_eq!(p("\n").unwrap_err().code, "syslog.empty");
    }

    #[test]
    fn rfc3164_variants() {
        let e = p("<13>Oct  1 12:00:00 web1 nginx[7]: hello").unwrap();
        assert_eq!(
            (e.hostname, e.appname, e.procid),
            (Some("web1"), Some("nginx"), Some("7"))
        );
        assert_eq!(e.message, Some(&b"hello"[..]));
        assert_eq!(e.timestamp.unwrap().unix_micros / 1_000_000, 1_759_320_000);
        let e = p("Oct 11 22:14:15 mymachine su: 'su root' failed").unwrap();
        assert_eq!(e.priority, 13);
        assert_eq!((e.hostname, e.appname), (Some("mymachine"), Some("su")));
        let e =
            p("<189>123: *Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured from console").unwrap();
        assert_eq!(e.hostname, None);
        assert_eq!(e.appname, None);
        assert_eq!(
            e.message,
            Some(&b"%SYS-5-CONFIG_I: Configured from console"[..])
        );
        assert_eq!(e.timestamp.unwrap().frac_digits, 3);
        let e = p("<166>Jan 08 2025 12:00:00 asa01 : %ASA-6-302013: Built inbound").unwrap();
        assert_eq!(e.hostname, Some("asa01"));
        let e = p("<13>2025-01-08T12:00:00.5+01:00 fwd sshd[1]: x").unwrap();
        assert_eq!(
            e.timestamp,
            Some(Timestamp {
                unix_micros: 1_736_334_000_500_000,
                frac_digits: 1
            })
        );
        assert_eq!(e.hostname, Some("fwd"));
        let e = p(r#"<189>date=2025-01-08 time=12:00:00 devname="FG" type="traffic""#).unwrap();
        assert_eq!((e.hostname, e.appname, e.timestamp), (None, None, None));
        assert_eq!(
            e.message,
            Some(&br#"date=2025-01-08 time=12:00:00 devname="FG" type="traffic""#[..])
        );
        let e = p("<6>Jan  2 03:04:05 host kernel: [ 1.0] usb").unwrap();
        assert_eq!(
            (e.appname, e.message),
            (Some("kernel"), Some(&b"[ 1.0] usb"[..]))
        );
        let e = p("<13>Jan  2 03:04:05 sshd[99]: no host").unwrap();
        assert_eq!(
            (e.hostname, e.appname, e.procid),
            (None, Some("sshd"), Some("99"))
        );
    }

    #[test]
    fn year_inference() {
        let opts = ParseOptions::default();
        // now = 2025-01-01T00:00:00Z; Dec 31 is in the past (this year would be the future).
        let now = 1_735_689_600_000_000;
        let e = parse(b"<13>Dec 31 23:00:00 h a: m", &opts, now).unwrap();
        assert_eq!(
            timestamp::civil_from_secs(e.timestamp.unwrap().unix_micros / 1_000_000).0,
            2024
        );
        let e = parse(b"<13>Jan  1 12:00:00 h a: m", &opts, now).unwrap();
        assert_eq!(
            timestamp::civil_from_secs(e.timestamp.unwrap().unix_micros / 1_000_000).0,
            2025
        );
    }
}
