//! RFC 3164 and what devices really send, parsed leniently but deterministically:
//!
//! ```text
//! [<PRI>] [SEQ": " | ": "] [ORIGIN": "] [*|.] TIMESTAMP [" "ZONE] [":"] " "
//!         [HOSTNAME [" :"] " "] [TAG["["PID"]"][":"] " "] MSG
//! ```
//!
//! TIMESTAMP is BSD (`Mmm dd hh:mm:ss[.frac]`, day space-padded or not, with a year after
//! the day as Cisco ASA sends or before the month as Cisco NX-OS sends) or RFC 3339 (rsyslog
//! forwarding; without an offset it is read in the configured zone). A Cisco IOS uptime
//! (`00:01:23:`, `1w2d:`) stands in for a missing timestamp. When no header is recognised
//! the whole text is MSG.
//!
//! Rules that decide the ambiguous cases:
//! - `SEQ: ` (Cisco IOS sequence number), `ORIGIN: ` (IOS `logging origin-id`, taken as the
//!   hostname) and the `*`/`.` time-sync markers are only taken when a timestamp follows;
//! - a timestamp followed directly by `:` (Cisco IOS, ASA without device-id, NX-OS) has no
//!   hostname after it;
//! - a word right after the timestamp is the HOSTNAME unless it looks like a TAG (ends with
//!   `:`, holds `[`), starts with `%` (a Cisco mnemonic starts the message) or holds bytes no
//!   hostname has (`=`, `"`, `,`, controls …);
//! - a lone `:` after the hostname (Cisco ASA `logging device-id`) is a separator;
//! - a word is a TAG only when it is `name[pid]` or `name:` with `name` made of printable
//!   ASCII holding a letter and none of `:[]=",{}` (so a FortiGate `date=… time=…` body, a
//!   Palo Alto CSV record and a Snare tab-separated record stay whole in MSG); a TAG is only
//!   looked for when the message had a PRI or a timestamp;
//! - after a whole header (a timestamp and a hostname) a lone `name` followed by a space (or
//!   the end) is the TAG too, as rsyslog and syslog-ng read it: rsyslog forwards every
//!   message without a process id so (`vm my-app.v2_x Grüße aus Köln: …`, `vm CRON (root)
//!   CMD`). Without a hostname the first word stays in MSG.

use super::timestamp::{civil_from_secs, civil_secs, parse_bsd, parse_iso, BsdTime, Timestamp};
use super::{ascii_str, strip_msg, ParseOptions, SyslogEvent};

/// Longest TAG name accepted (RFC 3164 says 32; real daemons go further).
const TAG_BYTES_MAX: usize = 64;
/// Longest HOSTNAME accepted (as RFC 5424).
const HOSTNAME_BYTES_MAX: usize = 255;
/// Longest Cisco sequence number accepted.
const SEQ_DIGITS_MAX: usize = 10;

/// Parse what follows the PRI (`start` is its length, 0 when there was none). Never fails:
/// unrecognised text becomes the MSG.
pub(super) fn parse<'a>(
    b: &'a [u8],
    priority: u8,
    start: usize,
    opts: &ParseOptions,
    now_micros: i64,
) -> SyslogEvent<'a> {
    let mut ev = SyslogEvent {
        priority,
        version: None,
        timestamp: None,
        hostname: None,
        appname: None,
        procid: None,
        msgid: None,
        structured_data: None,
        message: None,
    };
    let r = b.get(start..).unwrap_or_default();
    let has_pri = start > 0;
    let mut i = 0;
    let mut look_for_tag = has_pri;
    if let Some(h) = header(r, has_pri, opts, now_micros) {
        ev.timestamp = h.timestamp;
        ev.hostname = h.hostname;
        i = h.end;
        look_for_tag = true;
    }
    if look_for_tag {
        // After a whole header (timestamp and hostname) the next word is the TAG even
        // without its colon, as rsyslog and syslog-ng take it.
        let whole_header = ev.timestamp.is_some() && ev.hostname.is_some();
        if let Some((appname, procid, end)) = tag(r, i, whole_header) {
            ev.appname = Some(appname);
            ev.procid = procid;
            i = end;
            if r.get(i) == Some(&b' ') {
                i += 1;
            }
        }
    }
    ev.message = r.get(i..).and_then(strip_msg);
    ev
}

/// What the header before the TAG gave.
struct Header<'a> {
    timestamp: Option<Timestamp>,
    hostname: Option<&'a str>,
    /// Index just past the header (and the space after it).
    end: usize,
}

/// The header at the start of `r`, or `None` when there is none to recognise.
fn header<'a>(
    r: &'a [u8],
    has_pri: bool,
    opts: &ParseOptions,
    now_micros: i64,
) -> Option<Header<'a>> {
    // The Cisco sequence number is tried first, then the text as it stands.
    let bases = [seq_prefix(r), Some(0)];
    for base in bases.into_iter().flatten() {
        let found = time_at(r, base, opts, now_micros)
            .map(|t| (None, t))
            .or_else(|| {
                let (origin, after) = origin_prefix(r, base)?;
                Some((Some(origin), time_at(r, after, opts, now_micros)?))
            });
        if let Some((origin, t)) = found {
            let mut h = Header {
                timestamp: Some(t.timestamp),
                hostname: origin,
                end: t.end,
            };
            if origin.is_none() && !t.colon {
                hostname_at(r, &mut h);
            }
            return Some(h);
        }
        if has_pri {
            if let Some(end) = uptime_at(r, base) {
                return Some(Header {
                    timestamp: None,
                    hostname: None,
                    end,
                });
            }
        }
    }
    None
}

/// `DIGITS: ` (Cisco IOS `service sequence-numbers`) or a bare `: ` (NX-OS): the index
/// after it.
fn seq_prefix(r: &[u8]) -> Option<usize> {
    let digits = r
        .iter()
        .take(SEQ_DIGITS_MAX + 1)
        .take_while(|c| c.is_ascii_digit())
        .count();
    (digits <= SEQ_DIGITS_MAX && r.get(digits..digits + 2) == Some(b": ")).then_some(digits + 2)
}

/// `HOST: ` at `i` (Cisco IOS `logging origin-id`): the host and the index after it.
fn origin_prefix(r: &[u8], i: usize) -> Option<(&str, usize)> {
    let rest = r.get(i..)?;
    // `:` is a hostname byte (IPv6), so the run ends at the space, the colon inside it.
    let n = host_word_len(rest);
    if rest.get(n) != Some(&b' ') {
        return None;
    }
    let word = rest.get(..n)?.strip_suffix(b":")?;
    host_word_ok(word).then(|| (ascii_str(word), i + n + 1))
}

/// A recognised timestamp and where the header goes on after it.
struct Time {
    timestamp: Timestamp,
    /// A `:` followed the timestamp (Cisco): no hostname comes next.
    colon: bool,
    /// Index after the timestamp, its colon and one space.
    end: usize,
}

/// `[*|.]TIMESTAMP[:]` at `i`, followed by a space or the end of the message.
fn time_at(r: &[u8], mut i: usize, opts: &ParseOptions, now_micros: i64) -> Option<Time> {
    if matches!(r.get(i), Some(b'*' | b'.')) && r.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
        i += 1;
    }
    let rest = r.get(i..)?;
    let (timestamp, n) = match parse_iso(rest) {
        Some((iso, n)) => {
            let ts = match iso.offset {
                Some(off) => iso.to_utc(i64::from(off)),
                None => iso.to_utc(iso.local_secs - opts.timezone.local_to_utc(iso.local_secs)),
            };
            (ts, n)
        }
        None => {
            let (bsd, n) = parse_bsd(rest)?;
            (bsd_timestamp(&bsd, opts, now_micros)?, n)
        }
    };
    i += n;
    let colon = r.get(i) == Some(&b':');
    if colon {
        i += 1;
    }
    match r.get(i) {
        Some(b' ') => i += 1,
        None => {}
        Some(_) => return None,
    }
    Some(Time {
        timestamp,
        colon,
        end: i,
    })
}

/// A Cisco IOS uptime in place of a timestamp (`service timestamps log uptime`):
/// `hh:mm:ss[.mmm]: ` or `1w2d: ` / `3d04h: ` at `i`; the index after it.
fn uptime_at(r: &[u8], i: usize) -> Option<usize> {
    let end = word_end(r, i);
    let word = r.get(i..end)?.strip_suffix(b":")?;
    if r.get(end) != Some(&b' ') {
        return None;
    }
    let clock = |w: &[u8]| {
        let (hms, frac) = match w.iter().position(|c| *c == b'.') {
            Some(dot) => (w.get(..dot)?, w.get(dot + 1..)?),
            None => (w, &b""[..]),
        };
        let ok = matches!(hms, [h1, h2, b':', m1, m2, b':', s1, s2]
            if [h1, h2, m1, m2, s1, s2].iter().all(|c| c.is_ascii_digit()))
            && frac.iter().all(u8::is_ascii_digit);
        ok.then_some(())
    };
    // `NuNu` with units from years down to minutes: `1w2d`, `3d04h`, `2y10w`.
    let units = |w: &[u8]| {
        let d1 = w.iter().take_while(|c| c.is_ascii_digit()).count();
        let u1 = *w.get(d1)?;
        let w2 = w.get(d1 + 1..)?;
        let d2 = w2.iter().take_while(|c| c.is_ascii_digit()).count();
        let u2 = *w2.get(d2)?;
        let ok = d1 > 0
            && d2 > 0
            && d2 + 1 == w2.len()
            && matches!(u1, b'y' | b'w' | b'd' | b'h')
            && matches!(u2, b'w' | b'd' | b'h' | b'm');
        ok.then_some(())
    };
    clock(word).or_else(|| units(word))?;
    Some(end + 1)
}

/// Take the word at `h.end` as the HOSTNAME when it looks like one and more follows.
fn hostname_at<'a>(r: &'a [u8], h: &mut Header<'a>) {
    let i = h.end;
    let Some(rest) = r.get(i..) else { return };
    let n = host_word_len(rest);
    let Some(word) = rest.get(..n) else { return };
    if rest.get(n) != Some(&b' ') || !host_word_ok(word) {
        return;
    }
    h.hostname = Some(ascii_str(word));
    h.end = i + n + 1;
    // Cisco ASA with `logging device-id`: `asa01 : %ASA-…`.
    if r.get(h.end..h.end + 2) == Some(b": ") {
        h.end += 2;
    }
}

/// Bytes a hostname (or IPv6 address) may hold: printable ASCII except `[]="',{}()<>;\`.
/// A table, because this test runs on every byte of every hostname and TAG.
const HOST_CHAR: [bool; 256] = byte_class(b"[]=\"',{}()<>;\\");
/// Bytes a TAG name may hold: printable ASCII except `:[]=",{}`.
const TAG_CHAR: [bool; 256] = byte_class(b":[]=\",{}");

/// Printable ASCII (33..=126) minus `except`.
const fn byte_class(except: &[u8]) -> [bool; 256] {
    let mut t = [false; 256];
    let mut c = 33;
    while c <= 126 {
        t[c] = true;
        c += 1;
    }
    let mut i = 0;
    while i < except.len() {
        t[except[i] as usize] = false;
        i += 1;
    }
    t
}

/// Length of the run of hostname bytes at the start of `b`.
fn host_word_len(b: &[u8]) -> usize {
    b.iter()
        .position(|c| !HOST_CHAR[usize::from(*c)])
        .unwrap_or(b.len())
}

/// A run of hostname bytes that is a hostname: not empty, at most 255 bytes, holding a
/// letter or digit, not starting with `%` (a Cisco mnemonic) nor ending with `:`.
fn host_word_ok(w: &[u8]) -> bool {
    !w.is_empty()
        && w.len() <= HOSTNAME_BYTES_MAX
        && w.first() != Some(&b'%')
        && w.last() != Some(&b':')
        && w.iter().any(u8::is_ascii_alphanumeric)
}

/// `name[pid][:]` or `name:` at `i` (or, when `bare` is allowed, a lone `name`), followed by
/// a space or the end: (appname, procid, index after the TAG). The name is TAG bytes holding
/// a letter, not starting with `%`; the pid is printable ASCII up to the first `]`.
fn tag(r: &[u8], i: usize, bare: bool) -> Option<(&str, Option<&str>, usize)> {
    let rest = r.get(i..)?;
    // A Cisco mnemonic (`%ASA-6-302013:`) is no TAG: known before scanning it.
    if rest.first() == Some(&b'%') {
        return None;
    }
    let n = rest
        .iter()
        .position(|c| !TAG_CHAR[usize::from(*c)])
        .unwrap_or(rest.len());
    let name = rest.get(..n)?;
    if name.is_empty() || name.len() > TAG_BYTES_MAX || !name.iter().any(u8::is_ascii_alphabetic) {
        return None;
    }
    let ends_word = |j: usize| matches!(rest.get(j), None | Some(b' '));
    match rest.get(n) {
        Some(b'[') => {
            let after_open = rest.get(n + 1..)?;
            let close = after_open
                .iter()
                .position(|c| *c == b']' || !(33..=126).contains(c))?;
            if after_open.get(close) != Some(&b']') {
                return None;
            }
            let pid = after_open.get(..close)?;
            let mut j = n + 2 + close;
            if rest.get(j) == Some(&b':') {
                j += 1;
            }
            ends_word(j).then(|| {
                let procid = (!pid.is_empty()).then(|| ascii_str(pid));
                (ascii_str(name), procid, i + j)
            })
        }
        Some(b':') if ends_word(n + 1) => Some((ascii_str(name), None, i + n + 1)),
        // rsyslog forwards a TAG without a pid as `name` (no colon): `vm CRON (root) CMD`.
        None | Some(b' ') if bare => Some((ascii_str(name), None, i + n)),
        _ => None,
    }
}

/// Index of the next space at or after `i`, or the end.
fn word_end(b: &[u8], i: usize) -> usize {
    match b.get(i..) {
        Some(rest) => memchr::memchr(b' ', rest).map_or(b.len(), |n| i + n),
        None => b.len(),
    }
}

/// The instant of a BSD timestamp: its own year, else `opts.year`, else the year that puts
/// it at most one day after `now` (the latest such, trying next year down to four years
/// back so that a Feb 29 finds its leap year); its zone is UTC when it says so, else
/// `opts.timezone`. `None` for an impossible date or time.
fn bsd_timestamp(t: &BsdTime, opts: &ParseOptions, now_micros: i64) -> Option<Timestamp> {
    let (h, mi, s) = t.hms;
    let utc = |local: i64| match t.zone_utc {
        Some(true) => local,
        _ => opts.timezone.local_to_utc(local),
    };
    let secs = match t.year.or(opts.year.map(i64::from)) {
        Some(y) => utc(civil_secs(y, t.month, t.day, h, mi, s)?),
        None => {
            let now_secs = now_micros.div_euclid(1_000_000);
            let (cy, ..) = civil_from_secs(now_secs);
            (cy - 4..=cy + 1)
                .rev()
                .filter_map(|y| civil_secs(y, t.month, t.day, h, mi, s).map(utc))
                .find(|secs| *secs <= now_secs + 86_400)?
        }
    };
    Some(Timestamp {
        unix_micros: secs * 1_000_000 + t.micros,
        frac_digits: t.frac_digits,
    })
}

#[cfg(test)]
mod tests {
    use super::super::{parse as parse_any, Format, ParseOptions, SyslogEvent, TimeZone};

    /// 2025-01-08T11:00:00Z.
    const NOW: i64 = 1_736_334_000_000_000;

    fn p(s: &str) -> SyslogEvent<'_> {
        let opts = ParseOptions {
            format: Format::Rfc3164,
            year: Some(2025),
            ..Default::default()
        };
        parse_any(s.as_bytes(), &opts, NOW).unwrap()
    }

    fn rfc3339(ev: &SyslogEvent<'_>) -> String {
        let mut out = Vec::new();
        if let Some(ts) = ev.timestamp {
            crate::normalize::ecs_writer::write_rfc3339(&mut out, ts);
        }
        String::from_utf8(out).unwrap()
    }

    fn fields<'a>(ev: &SyslogEvent<'a>) -> (Option<&'a str>, Option<&'a str>, Option<&'a str>) {
        (ev.hostname, ev.appname, ev.procid)
    }

    fn msg<'a>(ev: &SyslogEvent<'a>) -> &'a str {
        std::str::from_utf8(ev.message.unwrap_or_default()).unwrap()
    }

    #[test]
    fn classic_bsd_header() {
        let e = p("<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8");
        assert_eq!(e.priority, 34);
        assert_eq!(e.version, None);
        assert_eq!(rfc3339(&e), "2025-10-11T22:14:15Z");
        assert_eq!(fields(&e), (Some("mymachine"), Some("su"), None));
        assert_eq!(msg(&e), "'su root' failed for lonvick on /dev/pts/8");
    }

    #[test]
    fn space_padded_and_unpadded_days() {
        assert_eq!(
            rfc3339(&p("<13>Oct  1 12:00:00 h a: m")),
            "2025-10-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339(&p("<13>Oct 1 12:00:00 h a: m")),
            "2025-10-01T12:00:00Z"
        );
        assert_eq!(
            rfc3339(&p("<13>Oct 01 12:00:00 h a: m")),
            "2025-10-01T12:00:00Z"
        );
    }

    #[test]
    fn missing_pri_gets_13() {
        let e = p("Jan  8 12:00:00 web1 sshd[42]: x");
        assert_eq!(e.priority, 13);
        assert_eq!(fields(&e), (Some("web1"), Some("sshd"), Some("42")));
    }

    #[test]
    fn rfc3339_in_bsd_header() {
        let e = p("<30>2025-01-08T12:00:00.123456+01:00 web1 systemd[1]: Started x.");
        assert_eq!(rfc3339(&e), "2025-01-08T11:00:00.123456Z");
        assert_eq!(fields(&e), (Some("web1"), Some("systemd"), Some("1")));
        // Without an offset it is local time in the configured zone.
        let opts = ParseOptions {
            timezone: TimeZone::parse("+02:00").unwrap(),
            ..Default::default()
        };
        let e = parse_any(b"<13>2025-01-08T12:00:00 h a: m", &opts, NOW).unwrap();
        assert_eq!(rfc3339(&e), "2025-01-08T10:00:00Z");
    }

    #[test]
    fn cisco_asa_year_and_device_id() {
        let e = p("<166>Jan 08 2025 12:00:00 asa01 : %ASA-6-302013: Built inbound");
        assert_eq!(rfc3339(&e), "2025-01-08T12:00:00Z");
        assert_eq!(fields(&e), (Some("asa01"), None, None));
        assert_eq!(msg(&e), "%ASA-6-302013: Built inbound");
        let e = p("<166>Jan 08 2024 12:00:00: %ASA-6-302013: Built inbound");
        assert_eq!(rfc3339(&e), "2024-01-08T12:00:00Z");
        assert_eq!(fields(&e), (None, None, None));
        let e = p("<166>%ASA-6-302013: Built inbound");
        assert_eq!((e.timestamp, fields(&e)), (None, (None, None, None)));
        assert_eq!(msg(&e), "%ASA-6-302013: Built inbound");
    }

    #[test]
    fn cisco_ios_sequence_marker_origin_and_zone() {
        let e = p("<189>123: *Mar  1 18:46:11.123: %SYS-5-CONFIG_I: Configured from console");
        assert_eq!(rfc3339(&e), "2025-03-01T18:46:11.123Z");
        assert_eq!(fields(&e), (None, None, None));
        assert_eq!(msg(&e), "%SYS-5-CONFIG_I: Configured from console");
        let e = p("<187>000456: .Jan  8 12:00:00.001: %LINK-3-UPDOWN: down");
        assert_eq!(rfc3339(&e), "2025-01-08T12:00:00.001Z");
        let e = p("<189>45: router1: *Mar  1 00:10:12.345 UTC: %SYS-5-CONFIG_I: x");
        assert_eq!(fields(&e), (Some("router1"), None, None));
        assert_eq!(rfc3339(&e), "2025-03-01T00:10:12.345Z");
        assert_eq!(msg(&e), "%SYS-5-CONFIG_I: x");
        // A zone other than UTC is read as the configured zone.
        let opts = ParseOptions {
            year: Some(2025),
            timezone: TimeZone::parse("+01:00").unwrap(),
            ..Default::default()
        };
        let e = parse_any(b"<189>46: Jan  8 12:00:00 CET: %SYS-5-X: y", &opts, NOW).unwrap();
        assert_eq!(rfc3339(&e), "2025-01-08T11:00:00Z");
        let e = parse_any(b"<189>46: Jan  8 12:00:00 UTC: %SYS-5-X: y", &opts, NOW).unwrap();
        assert_eq!(rfc3339(&e), "2025-01-08T12:00:00Z");
    }

    #[test]
    fn cisco_ios_uptime_stands_for_the_timestamp() {
        for line in [
            "<189>12: 00:01:23: %SYS-5-CONFIG_I: x",
            "<189>12: 1w2d: %SYS-5-CONFIG_I: x",
            "<189>3d04h: %SYS-5-CONFIG_I: x",
        ] {
            let e = p(line);
            assert_eq!(
                (e.timestamp, fields(&e)),
                (None, (None, None, None)),
                "{line}"
            );
            assert_eq!(msg(&e), "%SYS-5-CONFIG_I: x", "{line}");
        }
        // A sequence number with nothing recognisable after it stays in the message.
        assert_eq!(msg(&p("<13>123: hello")), "123: hello");
    }

    #[test]
    fn cisco_nxos_year_first() {
        let e = p("<189>: 2024 Dec 31 23:59:59 UTC: %ETHPORT-5-IF_UP: Interface up");
        assert_eq!(rfc3339(&e), "2024-12-31T23:59:59Z");
        assert_eq!(fields(&e), (None, None, None));
        assert_eq!(msg(&e), "%ETHPORT-5-IF_UP: Interface up");
        let e = p("<189>2025 Jan  8 12:00:02 nexus1 %ETHPORT-5-IF_UP: up");
        assert_eq!(fields(&e), (Some("nexus1"), None, None));
    }

    #[test]
    fn missing_hostname_is_not_the_tag() {
        let e = p("<13>Jan  2 03:04:05 sshd[99]: no host");
        assert_eq!(fields(&e), (None, Some("sshd"), Some("99")));
        let e = p("<13>Jan  2 03:04:05 cron: no host");
        assert_eq!(fields(&e), (None, Some("cron"), None));
        let e = p("<166>Jan  2 03:04:05 %ASA-6-1: Built");
        assert_eq!(fields(&e), (None, None, None));
        assert_eq!(msg(&e), "%ASA-6-1: Built");
        let e = p("<189>Jan  2 03:04:05 date=2025-01-02 time=03:04:05 devname=\"FG\"");
        assert_eq!(fields(&e), (None, None, None));
        assert_eq!(msg(&e), "date=2025-01-02 time=03:04:05 devname=\"FG\"");
    }

    #[test]
    fn tags_with_and_without_pid_and_colon() {
        let e = p("<22>Jan  8 12:00:00 mail1 postfix/smtpd[2345]: connect from x");
        assert_eq!(
            fields(&e),
            (Some("mail1"), Some("postfix/smtpd"), Some("2345"))
        );
        let e = p("<13>Jan  8 12:00:00 h app[12] no colon");
        assert_eq!(fields(&e), (Some("h"), Some("app"), Some("12")));
        assert_eq!(msg(&e), "no colon");
        let e = p("<13>Jan  8 12:00:00 h app[]: empty pid");
        assert_eq!(fields(&e), (Some("h"), Some("app"), None));
        // After a whole header the first word is the TAG, colon or not, as rsyslog and
        // syslog-ng take it.
        let e = p("<13>Jan  8 12:00:00 h no tag here");
        assert_eq!(fields(&e), (Some("h"), Some("no"), None));
        assert_eq!(msg(&e), "tag here");
        let e = p("<13>Jan  8 12:00:00 h 123: digits are no tag");
        assert_eq!(e.appname, None);
        assert_eq!(msg(&e), "123: digits are no tag");
        let e = p("<13>Jan  8 12:00:00 h app[1]x: not a tag");
        assert_eq!(e.appname, None);
    }

    #[test]
    fn kernel_messages() {
        let e = p("<6>Jan  2 03:04:05 host kernel: [ 1.0] usb");
        assert_eq!(fields(&e), (Some("host"), Some("kernel"), None));
        assert_eq!(msg(&e), "[ 1.0] usb");
        let e = p("<0>kernel: Kernel panic");
        assert_eq!(
            (e.priority, e.timestamp, e.appname),
            (0, None, Some("kernel"))
        );
    }

    #[test]
    fn bodies_kept_whole() {
        let fg = r#"<189>date=2025-01-08 time=12:00:00 devname="FG" type="traffic""#;
        assert_eq!(msg(&p(fg)), &fg[5..]);
        let e = p("<14>Jan  8 12:00:00 PA-VM 1,2025/01/08 12:00:00,0123,TRAFFIC");
        assert_eq!(fields(&e), (Some("PA-VM"), None, None));
        assert_eq!(msg(&e), "1,2025/01/08 12:00:00,0123,TRAFFIC");
        let e = p("<14>Jan  8 12:00:00 WIN-DC01 MSWinEventLog\t1\tSecurity\t1");
        assert_eq!(fields(&e), (Some("WIN-DC01"), None, None));
        assert_eq!(msg(&e), "MSWinEventLog\t1\tSecurity\t1");
        // No PRI and no timestamp: plain text, no TAG taken from it.
        let e = p("Note: plain text");
        assert_eq!((e.priority, e.appname), (13, None));
        assert_eq!(msg(&e), "Note: plain text");
    }

    #[test]
    fn unrecognised_headers_leave_the_whole_message() {
        for line in [
            "<13>Jan  8 12:00:00x rest",
            "<13>Feb 30 12:00:00 h a: impossible date",
            "<13>Jan  8 25:00:00 h a: impossible hour",
            "<13>2025-13-01T00:00:00Z h a: impossible month",
        ] {
            let e = p(line);
            assert_eq!((e.timestamp, e.hostname), (None, None), "{line}");
            assert_eq!(msg(&e), &line[4..], "{line}");
        }
        let e = p("<13>Jan  8 12:00:00");
        assert_eq!(
            (rfc3339(&e).as_str(), e.message),
            ("2025-01-08T12:00:00Z", None)
        );
        let e = p("<13>Jan  8 12:00:00 lonely");
        assert_eq!((e.hostname, msg(&e)), (None, "lonely"));
    }

    #[test]
    fn year_inference_and_zone() {
        let opts = ParseOptions::default();
        // 2025-01-01T00:30:00Z: Dec 31 is last year's, Jan 1 this year's, Jan 2 (more than
        // a day ahead) last year's.
        let now = 1_735_691_400_000_000;
        let year = |line: &str| rfc3339(&parse_any(line.as_bytes(), &opts, now).unwrap());
        assert_eq!(year("<13>Dec 31 23:00:00 h a: m"), "2024-12-31T23:00:00Z");
        assert_eq!(year("<13>Jan  1 12:00:00 h a: m"), "2025-01-01T12:00:00Z");
        assert_eq!(year("<13>Jan  3 00:30:01 h a: m"), "2024-01-03T00:30:01Z");
        assert_eq!(year("<13>Jan  2 00:30:00 h a: m"), "2025-01-02T00:30:00Z");
        // Feb 29 finds the latest leap year not in the future.
        assert_eq!(year("<13>Feb 29 12:00:00 h a: m"), "2024-02-29T12:00:00Z");
        // A local time a few hours into next year (zone east of UTC) is this instant.
        let east = ParseOptions {
            timezone: TimeZone::parse("+14:00").unwrap(),
            ..Default::default()
        };
        let dec31 = 1_735_639_200_000_000; // 2024-12-31T10:00:00Z = Jan 1 00:00 at +14
        let e = parse_any(b"<13>Jan  1 00:00:00 h a: m", &east, dec31).unwrap();
        assert_eq!(rfc3339(&e), "2024-12-31T10:00:00Z");
        // A pinned year wins; a year in the timestamp wins over it.
        let pinned = ParseOptions {
            year: Some(2019),
            ..Default::default()
        };
        let e = parse_any(b"<13>Dec 31 23:00:00 h a: m", &pinned, now).unwrap();
        assert_eq!(rfc3339(&e), "2019-12-31T23:00:00Z");
        let e = parse_any(b"<13>Dec 31 2020 23:00:00 h a: m", &pinned, now).unwrap();
        assert_eq!(rfc3339(&e), "2020-12-31T23:00:00Z");
        // A named zone applies its DST offset.
        let berlin = ParseOptions {
            year: Some(2025),
            timezone: TimeZone::parse("Europe/Berlin").unwrap(),
            ..Default::default()
        };
        let e = parse_any(b"<13>Jul  1 12:00:00 h a: m", &berlin, now).unwrap();
        assert_eq!(rfc3339(&e), "2025-07-01T10:00:00Z");
        let e = parse_any(b"<13>Jan  1 12:00:00 h a: m", &berlin, now).unwrap();
        assert_eq!(rfc3339(&e), "2025-01-01T11:00:00Z");
    }

    #[test]
    fn never_panics_on_prefixes_of_real_lines() {
        let opts = ParseOptions::default();
        for line in [
            "<189>45: router1: *Mar  1 00:10:12.345 UTC: %SYS-5-CONFIG_I: x",
            "<166>Jan 08 2025 12:00:00 asa01 : %ASA-6-302013: Built inbound",
            "<189>: 2024 Dec 31 23:59:59 UTC: %ETHPORT-5-IF_UP: Interface up",
            "<22>Jan  8 12:00:00 mail1 postfix/smtpd[2345]: connect from x",
            "<30>2025-01-08T12:00:00.123456+01:00 web1 systemd[1]: Started x.",
            "<189>12: 1w2d: %SYS-5-CONFIG_I: x",
        ] {
            for end in 0..=line.len() {
                let _ = parse_any(&line.as_bytes()[..end], &opts, NOW);
            }
        }
    }

    #[test]
    fn a_tag_without_its_colon_after_a_whole_header() {
        // As rsyslog forwards a message without a process id, and rsyslog and syslog-ng
        // parse it (tests/data/syslog_corpus/relays.*).
        let e = p("<22>2026-12-05T02:16:17+00:00 vm my-app.v2_x Grüße aus Köln: …");
        assert_eq!(fields(&e), (Some("vm"), Some("my-app.v2_x"), None));
        assert_eq!(msg(&e), "Grüße aus Köln: …");
        let e = p("<78>Dec  5 02:17:01 vm CRON (root) CMD (run-parts /etc/cron.daily)");
        assert_eq!(fields(&e), (Some("vm"), Some("CRON"), None));
        assert_eq!(msg(&e), "(root) CMD (run-parts /etc/cron.daily)");
        let e = p("<13>Dec  5 02:17:01 vm lonely");
        assert_eq!(fields(&e), (Some("vm"), Some("lonely"), None));
        assert_eq!(e.message, None);
        // Not after a partial header: no hostname (a colon after the time), or no timestamp.
        let e = p("<13>Dec  5 02:17:01: vm hello world");
        assert_eq!((e.hostname, e.appname), (None, None));
        let e = p("<13>just some text");
        assert_eq!((e.hostname, e.appname), (None, None));
        assert_eq!(msg(&e), "just some text");
        // Words that are no TAG stay in MSG: digits only, a Cisco mnemonic, key=value.
        for body in [
            "1 2026-12-05 x",
            "%ASA-6-302013: Built",
            "date=2025-01-02 time=03",
        ] {
            let line = format!("<13>Dec  5 02:17:01 vm {body}");
            let e = p(&line);
            assert_eq!((e.hostname, e.appname), (Some("vm"), None), "{line}");
            assert_eq!(msg(&e), body);
        }
    }
}
