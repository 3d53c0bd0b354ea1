//! Timestamps without a date library on the hot path: RFC 3339 and BSD (RFC 3164) forms,
//! converted to UTC microseconds by days-from-civil arithmetic.

/// An instant in UTC with the number of fractional digits the source gave (0..=6), so that
/// `@timestamp` keeps the source's precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp {
    /// Microseconds since the Unix epoch, UTC.
    pub unix_micros: i64,
    /// Fractional-second digits to print (0..=6).
    pub frac_digits: u8,
}

/// The zone of timestamps that carry none (RFC 3164).
#[derive(Debug, Clone, PartialEq)]
pub enum TimeZone {
    /// UTC.
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
    /// An IANA zone (offsets looked up per event, DST-aware).
    Named(jiff::tz::TimeZone),
}

impl Eq for TimeZone {}

impl TimeZone {
    /// UTC.
    pub fn utc() -> Self {
        TimeZone::Utc
    }

    /// `UTC`/`Z`, `+02:00`/`-0530`, or an IANA name such as `Europe/Berlin`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s == "Z" || s.eq_ignore_ascii_case("gmt") {
            return Some(TimeZone::Utc);
        }
        let b = s.as_bytes();
        if matches!(b.first(), Some(b'+' | b'-')) {
            let digits: Vec<u8> = b[1..].iter().copied().filter(|c| *c != b':').collect();
            if digits.len() != 4 || !digits.iter().all(u8::is_ascii_digit) {
                return None;
            }
            let h = i32::from(digits[0] - b'0') * 10 + i32::from(digits[1] - b'0');
            let m = i32::from(digits[2] - b'0') * 10 + i32::from(digits[3] - b'0');
            if h > 23 || m > 59 {
                return None;
            }
            let secs = h * 3600 + m * 60;
            return Some(TimeZone::Fixed(if b[0] == b'-' { -secs } else { secs }));
        }
        jiff::tz::TimeZone::get(s).ok().map(TimeZone::Named)
    }

    /// Convert a local civil time in this zone to UTC seconds.
    pub fn local_to_utc(&self, local_secs: i64) -> i64 {
        match self {
            TimeZone::Utc => local_secs,
            TimeZone::Fixed(off) => local_secs - i64::from(*off),
            TimeZone::Named(tz) => {
                let (y, mo, d, h, mi, s) = civil_from_secs(local_secs);
                let dt = jiff::civil::DateTime::new(
                    y as i16, mo as i8, d as i8, h as i8, mi as i8, s as i8, 0,
                );
                match dt
                    .ok()
                    .and_then(|dt| tz.to_ambiguous_zoned(dt).compatible().ok())
                {
                    Some(z) => z.timestamp().as_second(),
                    None => local_secs,
                }
            }
        }
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Unix seconds → (year, month, day, hour, minute, second), UTC.
pub fn civil_from_secs(t: i64) -> (i64, i64, i64, i64, i64, i64) {
    let days = t.div_euclid(86_400);
    let sod = t.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d, sod / 3600, sod % 3600 / 60, sod % 60)
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        _ => 28,
    }
}

fn num(b: &[u8], at: usize, n: usize) -> Option<i64> {
    let s = b.get(at..at + n)?;
    s.iter().try_fold(0i64, |acc, c| {
        c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
    })
}

/// Seconds of a valid civil date-time, or None.
pub fn civil_secs(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || d > days_in_month(y, mo) || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    Some(days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s.min(59))
}

/// Fractional seconds starting at `i` (after the `.`): (microseconds, digits kept (at most
/// 6; more are read and dropped), index after the last digit). `None` without a digit.
fn fraction(b: &[u8], mut i: usize) -> Option<(i64, u8, usize)> {
    let start = i;
    let (mut micros, mut digits) = (0i64, 0u8);
    while let Some(c) = b.get(i).filter(|c| c.is_ascii_digit()) {
        if digits < 6 {
            micros = micros * 10 + i64::from(c - b'0');
            digits += 1;
        }
        i += 1;
    }
    if i == start {
        return None;
    }
    for _ in digits..6 {
        micros *= 10;
    }
    Some((micros, digits, i))
}

/// Parse an RFC 3339 timestamp at the start of `b` (`2003-10-11T22:14:15.003Z`, any offset,
/// 0-9 fractional digits, of which up to 6 are kept). Returns it and the bytes used.
pub fn parse_rfc3339(b: &[u8]) -> Option<(Timestamp, usize)> {
    let y = num(b, 0, 4)?;
    if b.get(4) != Some(&b'-')
        || b.get(7) != Some(&b'-')
        || !matches!(b.get(10), Some(b'T' | b't' | b' '))
    {
        return None;
    }
    let (mo, d) = (num(b, 5, 2)?, num(b, 8, 2)?);
    if b.get(13) != Some(&b':') || b.get(16) != Some(&b':') {
        return None;
    }
    let (h, mi, s) = (num(b, 11, 2)?, num(b, 14, 2)?, num(b, 17, 2)?);
    let mut i = 19;
    let (mut micros, mut digits) = (0i64, 0u8);
    if b.get(i) == Some(&b'.') {
        (micros, digits, i) = fraction(b, i + 1)?;
    }
    let offset = match b.get(i)? {
        b'Z' | b'z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let oh = num(b, i + 1, 2)?;
            if b.get(i + 3) != Some(&b':') {
                return None;
            }
            let om = num(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = oh * 3600 + om * 60;
            let off = if *sign == b'-' { -off } else { off };
            i += 6;
            off
        }
        _ => return None,
    };
    let secs = civil_secs(y, mo, d, h, mi, s)? - offset;
    Some((
        Timestamp {
            unix_micros: secs * 1_000_000 + micros,
            frac_digits: digits,
        },
        i,
    ))
}

/// Month number of a three-letter English abbreviation.
pub fn month(b: &[u8]) -> Option<i64> {
    const M: [&[u8; 3]; 12] = [
        b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov",
        b"Dec",
    ];
    let b = b.get(..3)?;
    M.iter()
        .position(|m| m.eq_ignore_ascii_case(b))
        .map(|i| i as i64 + 1)
}

/// A BSD timestamp at the start of `b`: `Mmm dd hh:mm:ss[.frac]`, `Mmm  d …`, or with a
/// year `Mmm dd yyyy hh:mm:ss` (Cisco ASA). Returns (month, day, year?, h, m, s, micros,
/// frac digits, bytes used).
#[allow(clippy::type_complexity)]
pub fn parse_bsd(b: &[u8]) -> Option<(i64, i64, Option<i64>, i64, i64, i64, i64, u8, usize)> {
    let mo = month(b)?;
    if b.get(3) != Some(&b' ') {
        return None;
    }
    let mut i = 4;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let dstart = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) && i - dstart < 2 {
        i += 1;
    }
    let d = num(b, dstart, i - dstart)?;
    if i == dstart || b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    let mut year = None;
    if num(b, i, 4).is_some() && b.get(i + 4) == Some(&b' ') {
        year = num(b, i, 4);
        i += 5;
    }
    let (h, mi, s) = (num(b, i, 2)?, num(b, i + 3, 2)?, num(b, i + 6, 2)?);
    if b.get(i + 2) != Some(&b':') || b.get(i + 5) != Some(&b':') {
        return None;
    }
    i += 8;
    let (mut micros, mut digits) = (0i64, 0u8);
    if b.get(i) == Some(&b'.') {
        if let Some(f) = fraction(b, i + 1) {
            (micros, digits, i) = f;
        }
    }
    Some((mo, d, year, h, mi, s, micros, digits, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_forms() {
        let (t, n) = parse_rfc3339(b"2003-10-11T22:14:15.003Z rest").unwrap();
        assert_eq!(n, 24);
        assert_eq!(
            t,
            Timestamp {
                unix_micros: 1_065_910_455_003_000,
                frac_digits: 3
            }
        );
        let (t, _) = parse_rfc3339(b"2003-08-24T05:14:15.000003-07:00").unwrap();
        assert_eq!(t.unix_micros, 1_061_727_255_000_003);
        assert_eq!(t.frac_digits, 6);
        let (t, _) = parse_rfc3339(b"1985-04-12T23:20:50.52Z").unwrap();
        assert_eq!(t.unix_micros, 482_196_050_520_000);
        assert!(parse_rfc3339(b"2003-13-11T22:14:15Z").is_none());
        assert!(parse_rfc3339(b"2003-02-29T22:14:15Z").is_none());
        assert!(parse_rfc3339(b"2003-10-11T22:14:15").is_none());
    }

    #[test]
    fn bsd_forms() {
        let r = parse_bsd(b"Oct  1 12:00:00 host").unwrap();
        assert_eq!((r.0, r.1, r.2, r.3, r.8), (10, 1, None, 12, 15));
        let r = parse_bsd(b"Jan 08 2025 12:00:00 host").unwrap();
        assert_eq!((r.0, r.1, r.2), (1, 8, Some(2025)));
        let r = parse_bsd(b"Mar  1 18:46:11.123: %SYS").unwrap();
        assert_eq!((r.6, r.7, r.8), (123_000, 3, 19));
    }

    #[test]
    fn civil_round_trips() {
        assert_eq!(civil_from_secs(0), (1970, 1, 1, 0, 0, 0));
        assert_eq!(civil_from_secs(1_700_000_000), (2023, 11, 14, 22, 13, 20));
        assert_eq!(civil_from_secs(951_782_400), (2000, 2, 29, 0, 0, 0));
        for t in (-5_000_000_000i64..5_000_000_000).step_by(86_399_937) {
            let (y, mo, d, h, mi, s) = civil_from_secs(t);
            assert_eq!(civil_secs(y, mo, d, h, mi, s), Some(t), "{t}");
        }
    }

    #[test]
    fn zones() {
        assert_eq!(TimeZone::parse("+02:00"), Some(TimeZone::Fixed(7200)));
        assert_eq!(TimeZone::parse("-0530"), Some(TimeZone::Fixed(-19800)));
        assert_eq!(TimeZone::parse("UTC"), Some(TimeZone::Utc));
        assert!(TimeZone::parse("Not/AZone").is_none());
        let tz = TimeZone::parse("Europe/Berlin").expect("tzdata present");
        let local = civil_secs(2025, 7, 1, 12, 0, 0).unwrap();
        assert_eq!(tz.local_to_utc(local), local - 7200);
    }
}
