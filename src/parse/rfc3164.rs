//! RFC 3164 and what devices really send, parsed leniently but deterministically:
//! `[<PRI>][SEQ: ][*|.]TIMESTAMP[:] [HOSTNAME] [TAG[[PID]]:] MSG`, where TIMESTAMP is BSD
//! (`Mmm dd hh:mm:ss[.frac]`, optionally with a year, Cisco ASA) or RFC 3339 (rsyslog
//! forwarding), and may be missing.
//!
//! Rules that decide the ambiguous cases:
//! - a word right after the timestamp is the HOSTNAME unless it ends with `:`, holds `[`, or
//!   starts with `%` (Cisco mnemonics start the message);
//! - a word is a TAG only when it ends with `:` or is followed by `[pid]`; otherwise the text is
//!   all MSG (so a FortiGate `date=… time=… devname=…` body is kept whole);
//! - a timestamp followed directly by `:` (Cisco IOS) has no hostname;
//! - a lone `:` after the hostname (Cisco ASA `device-id`) is a separator, not a TAG;
//! - a 4-digit year before a BSD timestamp (Cisco NX-OS) is that timestamp's year.

use super::timestamp::{civil_from_secs, civil_secs, parse_bsd, parse_rfc3339, Timestamp};
use super::{strip_msg, ParseOptions, SyslogEvent};

/// Longest TAG accepted (RFC 3164 says 32; real daemons go further).
const TAG_BYTES_MAX: usize = 64;

/// Parse what follows the PRI. Never fails: unrecognised text becomes the MSG.
pub(super) fn parse<'a>(
    b: &'a [u8],
    priority: u8,
    start: usize,
    opts: &ParseOptions,
    now_micros: i64,
) -> SyslogEvent<'a> {
    let mut i = start;
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
    // Cisco IOS sequence number: `123: `.
    let digits = b[i..].iter().take_while(|c| c.is_ascii_digit()).count();
    if digits > 0 && b.get(i + digits) == Some(&b':') && b.get(i + digits + 1) == Some(&b' ') {
        i += digits + 2;
    }
    // Cisco time-sync markers.
    if matches!(b.get(i), Some(b'*' | b'.')) && b.get(i + 1).is_some_and(u8::is_ascii_alphabetic) {
        i += 1;
    }
    let mut have_ts = false;
    let mut ts_colon = false;
    if let Some((ts, n)) = parse_rfc3339(&b[i..]) {
        ev.timestamp = Some(ts);
        i += n;
        have_ts = true;
    } else {
        // Cisco NX-OS puts the year first: `2025 Jan  8 12:00:02`.
        let year_first = b
            .get(i..i + 5)
            .filter(|y| y[..4].iter().all(u8::is_ascii_digit) && y[4] == b' ');
        let (skip, year_prefix) = match year_first {
            Some(y) => (
                5,
                y[..4]
                    .iter()
                    .try_fold(0i64, |n, c| Some(n * 10 + i64::from(c - b'0'))),
            ),
            None => (0, None),
        };
        if let Some((mo, d, year, h, mi, s, micros, digits, n)) = parse_bsd(&b[i + skip..]) {
            let year = year.or(year_prefix);
            if let Some(ts) = bsd_timestamp(mo, d, year, h, mi, s, micros, digits, opts, now_micros)
            {
                ev.timestamp = Some(ts);
                i += skip + n;
                have_ts = true;
            }
        }
    }
    if have_ts && b.get(i) == Some(&b':') {
        ts_colon = true;
        i += 1;
    }
    if have_ts {
        if b.get(i) == Some(&b' ') {
            i += 1;
        } else if i < b.len() {
            // Timestamp glued to text: not a header after all.
            ev.timestamp = None;
            return finish(ev, b, start);
        }
    }
    if have_ts && !ts_colon {
        let end = word_end(b, i);
        let word = &b[i..end];
        let is_host = !word.is_empty()
            && !word.ends_with(b":")
            && !word.contains(&b'[')
            && !word.starts_with(b"%")
            && end < b.len();
        if is_host {
            ev.hostname = std::str::from_utf8(word).ok();
            if ev.hostname.is_some() {
                i = end + 1;
                // Cisco ASA with `logging device-id`: `asa01 : %ASA-…`.
                if b.get(i..i + 2) == Some(b": ") {
                    i += 2;
                }
            }
        }
    }
    // TAG[PID]:
    let end = word_end(b, i);
    let word = &b[i..end];
    if !word.is_empty() && word.len() <= TAG_BYTES_MAX + 16 && !word.starts_with(b"%") {
        if let Some(open) = word.iter().position(|c| *c == b'[') {
            let rest = &word[open..];
            if let Some(close) = rest.iter().position(|c| *c == b']') {
                let after = &rest[close + 1..];
                if (after.is_empty() || after == b":") && open > 0 && open <= TAG_BYTES_MAX {
                    ev.appname = std::str::from_utf8(&word[..open]).ok();
                    ev.procid = std::str::from_utf8(&rest[1..close])
                        .ok()
                        .filter(|p| !p.is_empty());
                    i = end;
                }
            }
        } else if word.len() > 1 && word.ends_with(b":") && word.len() - 1 <= TAG_BYTES_MAX {
            ev.appname = std::str::from_utf8(&word[..word.len() - 1]).ok();
            if ev.appname.is_some() {
                i = end;
            }
        }
    }
    if ev.appname.is_some() && b.get(i) == Some(&b' ') {
        i += 1;
    }
    finish(ev, b, i)
}

fn finish<'a>(mut ev: SyslogEvent<'a>, b: &'a [u8], i: usize) -> SyslogEvent<'a> {
    ev.message = b.get(i..).and_then(strip_msg);
    ev
}

fn word_end(b: &[u8], i: usize) -> usize {
    memchr::memchr(b' ', b.get(i..).unwrap_or_default()).map_or(b.len(), |n| i + n)
}

#[allow(clippy::too_many_arguments)]
fn bsd_timestamp(
    mo: i64,
    d: i64,
    year: Option<i64>,
    h: i64,
    mi: i64,
    s: i64,
    micros: i64,
    digits: u8,
    opts: &ParseOptions,
    now_micros: i64,
) -> Option<Timestamp> {
    let now_secs = now_micros.div_euclid(1_000_000);
    let year = match (year, opts.year) {
        (Some(y), _) => y,
        (None, Some(y)) => i64::from(y),
        (None, None) => {
            // The current year, unless that puts the date more than a day in the future.
            let (cy, ..) = civil_from_secs(now_secs);
            match civil_secs(cy, mo, d, h, mi, s) {
                Some(t) if opts.timezone.local_to_utc(t) > now_secs + 86_400 => cy - 1,
                _ => cy,
            }
        }
    };
    let local = civil_secs(year, mo, d, h, mi, s)?;
    let utc = opts.timezone.local_to_utc(local);
    Some(Timestamp {
        unix_micros: utc * 1_000_000 + micros,
        frac_digits: digits,
    })
}
