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
///
/// Converting a local time never calls a date library: a named zone's UTC offsets are read
/// once, when it is parsed, into a table of transitions (years 1900 to 2200) searched by
/// binary search; outside that range the nearest known offset applies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TimeZone {
    /// UTC.
    Utc,
    /// A fixed offset east of UTC, in seconds.
    Fixed(i32),
    /// An IANA zone, DST-aware through its cached transitions.
    Named(NamedZone),
}

/// An IANA zone's offsets, cached as a transition table (cheap to clone: shared).
#[derive(Clone)]
pub struct NamedZone {
    name: std::sync::Arc<str>,
    /// Offset (seconds east of UTC) before the first transition.
    initial: i32,
    /// `(local boundary, offset from there on)`, sorted by boundary. The boundary is the
    /// transition's UTC instant plus the larger of the offsets before and after it, so that
    /// a local time in a gap or a fold resolves like jiff's `compatible` (the offset before
    /// the transition).
    periods: std::sync::Arc<[(i64, i32)]>,
}

impl NamedZone {
    /// The IANA name, e.g. `Europe/Berlin`.
    pub fn name(&self) -> &str {
        &self.name
    }

    fn load(name: &str) -> Option<Self> {
        /// 1900-01-01T00:00:00Z and 2200-01-01T00:00:00Z.
        const FROM: i64 = -2_208_988_800;
        const UNTIL: i64 = 7_258_118_400;
        let tz = jiff::tz::TimeZone::get(name).ok()?;
        let from = jiff::Timestamp::from_second(FROM).ok()?;
        let initial = tz.to_offset(from).seconds();
        let mut prev = initial;
        let mut periods: Vec<(i64, i32)> = Vec::new();
        for t in tz.following(from) {
            let at = t.timestamp().as_second();
            if at >= UNTIL {
                break;
            }
            let off = t.offset().seconds();
            if off == prev {
                continue;
            }
            let mut boundary = at + i64::from(prev.max(off));
            if let Some(&(last, _)) = periods.last() {
                boundary = boundary.max(last);
            }
            periods.push((boundary, off));
            prev = off;
        }
        Some(NamedZone {
            name: name.into(),
            initial,
            periods: periods.into(),
        })
    }

    /// Offset in seconds that applies to a local civil time (in seconds).
    fn offset_at_local(&self, local_secs: i64) -> i32 {
        let n = self.periods.partition_point(|(b, _)| *b <= local_secs);
        match n.checked_sub(1).and_then(|k| self.periods.get(k)) {
            Some(&(_, off)) => off,
            None => self.initial,
        }
    }
}

impl std::fmt::Debug for NamedZone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NamedZone({})", self.name)
    }
}

impl PartialEq for NamedZone {
    fn eq(&self, other: &Self) -> bool {
        self.name == other.name
    }
}

impl Eq for NamedZone {}

impl TimeZone {
    /// UTC.
    pub fn utc() -> Self {
        TimeZone::Utc
    }

    /// `UTC`/`Z`/`GMT`, `+02:00`/`-0530`, or an IANA name such as `Europe/Berlin`
    /// (looked up once here, in the system's or jiff's time zone database). `None` when
    /// unknown.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("utc") || s == "Z" || s.eq_ignore_ascii_case("gmt") {
            return Some(TimeZone::Utc);
        }
        let b = s.as_bytes();
        if let Some(sign @ (b'+' | b'-')) = b.first() {
            let rest = b.get(1..).unwrap_or_default();
            let (h, m) = match rest {
                [h1, h2, b':', m1, m2] | [h1, h2, m1, m2] => {
                    (two_digits(*h1, *h2)?, two_digits(*m1, *m2)?)
                }
                [h1, h2] => (two_digits(*h1, *h2)?, 0),
                _ => return None,
            };
            if h > 23 || m > 59 {
                return None;
            }
            let secs = (h * 3600 + m * 60) as i32;
            return Some(TimeZone::Fixed(if *sign == b'-' { -secs } else { secs }));
        }
        NamedZone::load(s).map(TimeZone::Named)
    }

    /// Convert a local civil time in this zone (seconds as if it were UTC) to UTC seconds.
    /// In a DST gap or fold the offset before the transition applies. Pure arithmetic
    /// and a binary search: no date library call.
    pub fn local_to_utc(&self, local_secs: i64) -> i64 {
        match self {
            TimeZone::Utc => local_secs,
            TimeZone::Fixed(off) => local_secs - i64::from(*off),
            TimeZone::Named(z) => local_secs - i64::from(z.offset_at_local(local_secs)),
        }
    }
}

fn two_digits(a: u8, b: u8) -> Option<i64> {
    (a.is_ascii_digit() && b.is_ascii_digit())
        .then(|| i64::from(a - b'0') * 10 + i64::from(b - b'0'))
}

/// Days since 1970-01-01 of a proleptic Gregorian date. Years 1..=9999 (every year a
/// timestamp can spell) take a table and unsigned divisions by constants, which cost a
/// third of `time_at` as Hinnant's signed era arithmetic; others take that arithmetic.
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    /// Days before the first of each month in a common year.
    const BEFORE_MONTH: [u16; 12] = [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334];
    match (u32::try_from(y), usize::try_from(m - 1)) {
        (Ok(yu @ 1..=9999), Ok(mi @ 0..=11)) => {
            // Leap days in the years before `y`, less the 477 before 1970.
            let p = yu - 1;
            let leaps_before = i64::from(p / 4 - p / 100 + p / 400) - 477;
            let leap = (yu % 4 == 0 && yu % 100 != 0) || yu % 400 == 0;
            let before = i64::from(BEFORE_MONTH[mi]) + i64::from(leap && mi >= 2);
            (y - 1970) * 365 + leaps_before + before + d - 1
        }
        _ => days_from_civil_any(y, m, d),
    }
}

/// [`days_from_civil`] for any year (Howard Hinnant's algorithm).
fn days_from_civil_any(y: i64, m: i64, d: i64) -> i64 {
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
#[inline]
pub fn civil_secs(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64) -> Option<i64> {
    if !(1..=12).contains(&mo) || d < 1 || h > 23 || mi > 59 || s > 60 {
        return None;
    }
    let tod = h * 3600 + mi * 60 + s.min(59);
    match usize::try_from(y - TABLE_YEAR_FIRST) {
        Ok(k) if k < TABLE_YEARS => Some(table_days(k, mo, d)? * 86_400 + tod),
        _ => Some(general_days(y, mo, d)? * 86_400 + tod),
    }
}

/// First year of [`DAYS_BEFORE_YEAR`].
const TABLE_YEAR_FIRST: i64 = 1900;
/// Years in [`DAYS_BEFORE_YEAR`] (1900 to 2155).
const TABLE_YEARS: usize = 256;
/// Days from 1970-01-01 to January 1st of each year from [`TABLE_YEAR_FIRST`], one more
/// year at the end so that a year's length (its leap) is the difference of two entries.
///
/// Why: the leap-year test and the leap days before the year (divisions by 4, 100 and 400)
/// made `civil_secs` 65 instructions a call under callgrind (`bench/parse_instructions.sh`),
/// a twelfth of RFC 3164 parsing; two loads replace them for the years senders write.
static DAYS_BEFORE_YEAR: [i32; TABLE_YEARS + 1] = days_before_years();

const fn days_before_years() -> [i32; TABLE_YEARS + 1] {
    let mut t = [0i32; TABLE_YEARS + 1];
    // 1900-01-01 is 25,567 days before 1970-01-01.
    let mut days = -25_567;
    let mut k = 0;
    while k <= TABLE_YEARS {
        t[k] = days;
        let y = TABLE_YEAR_FIRST + k as i64;
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
        days += if leap { 366 } else { 365 };
        k += 1;
    }
    t
}

/// Days before the first of each month, in a common and in a leap year.
const BEFORE_MONTH: [[u16; 12]; 2] = [
    [0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334],
    [0, 31, 60, 91, 121, 152, 182, 213, 244, 274, 305, 335],
];
/// Days of each month, in a common and in a leap year.
const MONTH_DAYS: [[u8; 12]; 2] = [
    [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
    [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31],
];

/// Days since 1970-01-01 of day `d` (>= 1) of month `mo` (1..=12) of the year
/// `TABLE_YEAR_FIRST + k` (`k < TABLE_YEARS`), or None past the month's end.
fn table_days(k: usize, mo: i64, d: i64) -> Option<i64> {
    let first = *DAYS_BEFORE_YEAR.get(k)?;
    let next = *DAYS_BEFORE_YEAR.get(k + 1)?;
    let leap = usize::from(next - first == 366);
    let mi0 = usize::try_from(mo - 1).ok()?;
    if d > i64::from(*MONTH_DAYS.get(leap)?.get(mi0)?) {
        return None;
    }
    Some(i64::from(first) + i64::from(*BEFORE_MONTH.get(leap)?.get(mi0)?) + d - 1)
}

/// Days since 1970-01-01 of day `d` (>= 1) of month `mo` (1..=12) of any year, or None
/// past the month's end: the arithmetic [`table_days`] stands in for.
fn general_days(y: i64, mo: i64, d: i64) -> Option<i64> {
    if let Ok(yu @ 1..=9999) = u32::try_from(y) {
        // Years 1-9999 (every timestamp a sender writes): the leap test once, unsigned
        // arithmetic.
        let mi0 = (mo - 1) as usize;
        let leap = (yu % 4 == 0 && yu % 100 != 0) || yu % 400 == 0;
        if d > i64::from(MONTH_DAYS[0][mi0]) + i64::from(leap && mi0 == 1) {
            return None;
        }
        let p = yu - 1;
        let leaps_before = i64::from(p / 4 - p / 100 + p / 400) - 477;
        let before = i64::from(BEFORE_MONTH[0][mi0]) + i64::from(leap && mi0 >= 2);
        return Some((y - 1970) * 365 + leaps_before + before + d - 1);
    }
    if d > days_in_month(y, mo) {
        return None;
    }
    Some(days_from_civil(y, mo, d))
}

/// Fractional seconds starting at `i` (after the `.`): (microseconds, digits kept (at most
/// 6; more are read and dropped), index after the last digit). `None` without a digit.
#[inline]
fn fraction(b: &[u8], i: usize) -> Option<(i64, u8, usize)> {
    match b.get(i..i + 8) {
        Some(w) => fraction_word(w, i).or_else(|| fraction_bytes(b, i)),
        None => fraction_bytes(b, i),
    }
}

/// [`fraction`] when 1 to 7 digits start the 8 bytes `w` (taken at `i`): the digits are
/// found and converted in one 64-bit word (SWAR) instead of two byte loops, which cost
/// 70 instructions per RFC 5424 line under callgrind (`bench/parse_instructions.sh`).
/// `None` for 0 or 8 digits, which [`fraction_bytes`] then reads.
///
/// `x ^ 0x30..` maps digits to 0..=9; `((t + 0x76..) | t) & 0x80..` flags the bytes above 9
/// (a carry leaves only a flagged byte, so the lowest flag is exact). The kept digits are
/// shifted to the top of the word (the low bytes become leading zeros) and summed
/// pairwise: 10 × the lower byte of each pair plus the upper, then 100 ×, then 10,000 ×.
#[inline]
fn fraction_word(w: &[u8], i: usize) -> Option<(i64, u8, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const SCALE: [i64; 7] = [1, 100_000, 10_000, 1_000, 100, 10, 1];
    let mut a = [0u8; 8];
    a.copy_from_slice(w.get(..8)?);
    let t = u64::from_le_bytes(a) ^ (ONES * 0x30);
    let flags = ((t.wrapping_add(ONES * 0x76)) | t) & (ONES * 0x80);
    let n = (flags.trailing_zeros() / 8) as usize;
    if n == 0 || n == 8 {
        return None;
    }
    let kept = n.min(6);
    let mut d = t << (8 * (8 - kept));
    d = (d.wrapping_mul(10) + (d >> 8)) & 0x00ff_00ff_00ff_00ff;
    d = (d.wrapping_mul(100) + (d >> 16)) & 0x0000_ffff_0000_ffff;
    d = (d.wrapping_mul(10_000) + (d >> 32)) & 0xffff_ffff;
    let micros = i64::try_from(d).ok()? * *SCALE.get(kept)?;
    Some((micros, kept as u8, i + n))
}

/// [`fraction`] byte by byte, for any number of digits.
#[cold]
fn fraction_bytes(b: &[u8], i: usize) -> Option<(i64, u8, usize)> {
    let rest = b.get(i..)?;
    let n = rest
        .iter()
        .position(|c| !c.is_ascii_digit())
        .unwrap_or(rest.len());
    if n == 0 {
        return None;
    }
    const SCALE: [i64; 7] = [1, 100_000, 10_000, 1_000, 100, 10, 1];
    let kept = n.min(6);
    let micros = rest[..kept]
        .iter()
        .fold(0i64, |acc, c| acc * 10 + i64::from(c - b'0'));
    Some((micros * SCALE[kept], kept as u8, i + n))
}

/// Parse an RFC 3339 timestamp at the start of `b` (`2003-10-11T22:14:15.003Z`, any offset,
/// 0-9 fractional digits, of which up to 6 are kept). Returns it in UTC and the bytes used;
/// `None` unless the date and time are valid and an offset (`Z` or `±hh:mm`) is given.
pub fn parse_rfc3339(b: &[u8]) -> Option<(Timestamp, usize)> {
    rfc3339_fixed(b).or_else(|| rfc3339_general(b))
}

/// [`parse_rfc3339`] by way of [`parse_iso`]: every shape it accepts.
fn rfc3339_general(b: &[u8]) -> Option<(Timestamp, usize)> {
    let (iso, n) = parse_iso(b)?;
    let offset = iso.offset?;
    Some((iso.to_utc(i64::from(offset)), n))
}

/// [`parse_rfc3339`] for the shape senders write, `YYYY-MM-DDTHH:MM:SS[.frac](Z|±HH:MM)`
/// with an upper-case `T`, in one pass: the 19 fixed bytes validated as three 64-bit words
/// (SWAR), the date counted by [`days_from_march`] (no table, no division but by
/// constants), the offset read at its fixed place. `None` for any other input, valid or
/// not, which [`rfc3339_general`] then decides; for the input it accepts it gives the same
/// answer (a unit test compares them).
///
/// Why: [`parse_iso`] and its [`civil_secs`] were 278 of the 874 instructions per RFC 5424
/// line under callgrind (`bench/parse_instructions.sh`).
fn rfc3339_fixed(b: &[u8]) -> Option<(Timestamp, usize)> {
    const ONES: u64 = 0x0101_0101_0101_0101;
    let p: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    let word = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&p[at..at + 8]);
        u64::from_le_bytes(a)
    };
    // Per word (little-endian), `t = x ^ pattern` maps each digit to 0..=9 and each
    // expected separator to 0; then `(t | t + add) & 0xf0..` is 0 exactly when they did
    // (`add` is 6 on a digit, 15 on a separator). A carry out of a byte only comes from a
    // byte that is flagged itself, so it can flag more bytes but never hide one.
    //  bytes 0..8 "YYYY-MM-", 8..16 "DDTHH:MM", 11..19 "HH:MM:SS".
    const PATTERN_ADD: [(u64, u64); 3] = [
        (0x2d30_302d_3030_3030, 0x0f06_060f_0606_0606),
        (0x3030_3a30_3054_3030, 0x0606_0f06_060f_0606),
        (0x3030_3a30_303a_3030, 0x0606_0f06_060f_0606),
    ];
    let mut bad = 0;
    // Each word's digits as pairs: byte k becomes 10 × digit k + digit k + 1 (separators
    // are 0 by then; at most 99 a byte, so nothing carries; the wrapping only matters for
    // words already found bad).
    let mut pairs = [0u64; 3];
    for (k, (pattern, add)) in PATTERN_ADD.iter().enumerate() {
        let t = word([0, 8, 11][k]) ^ pattern;
        bad |= (t | t.wrapping_add(*add)) & (ONES * 0xf0);
        pairs[k] = t.wrapping_mul(10).wrapping_add(t >> 8);
    }
    // Hour, minute and second above 23, 59 and 60 in one add: each pair byte (at most 99)
    // plus 104, 68 or 67 reaches 128 exactly past its limit.
    bad |= pairs[2].wrapping_add(0x0043_0000_4400_0068) & 0x0080_0000_8000_0080;
    if bad != 0 {
        return None;
    }
    let pair = |k: usize, at: u32| (pairs[k] >> (8 * at)) as u32 & 0xff;
    let y = pair(0, 0) * 100 + pair(0, 2);
    let (mo, d, h, mi, s) = (pair(0, 5), pair(1, 0), pair(2, 0), pair(2, 3), pair(2, 6));
    if mo.wrapping_sub(1) > 11 || d == 0 {
        return None;
    }
    if d > 28 && i64::from(d) > days_in_month(i64::from(y), i64::from(mo)) {
        return None;
    }
    let tod = h * 3600 + mi * 60 + s.min(59);
    let mut i = 19;
    let (mut micros, mut frac_digits) = (0i64, 0u8);
    if b.get(i) == Some(&b'.') {
        // `fraction`, its word read here: the call and its result through memory cost 10
        // instructions per RFC 5424 line under callgrind (`bench/parse_instructions.sh`).
        let word = b.get(20..28).and_then(|w| fraction_word(w, 20));
        (micros, frac_digits, i) = match word {
            Some(f) => f,
            None => fraction_bytes(b, 20)?,
        };
    }
    let offset = match b.get(i)? {
        b'Z' => {
            i += 1;
            0
        }
        sign @ (b'+' | b'-') => {
            let &[h1, h2, b':', m1, m2] = b.get(i + 1..i + 6)? else {
                return None;
            };
            let (oh, om) = (two_digits(h1, h2)?, two_digits(m1, m2)?);
            if oh > 23 || om > 59 {
                return None;
            }
            i += 6;
            let off = oh * 3600 + om * 60;
            if *sign == b'-' {
                -off
            } else {
                off
            }
        }
        _ => return None,
    };
    let secs = days_from_march(y, mo, d) * 86_400 + i64::from(tod) - offset;
    Some((
        Timestamp {
            unix_micros: secs * 1_000_000 + micros,
            frac_digits,
        },
        i,
    ))
}

/// Days since 1970-01-01 of a valid date of years 0..=9999, counted from a year 400 years
/// earlier than `y` that starts in March (so that the leap day ends it): `1461 × years / 4`
/// less the century days (`/ 100`: a multiplication and shifts) plus their `/ 400`, plus
/// the days of the months since March (`(979 × m - 2919) / 32`, Neri and Schneider's
/// form). Unsigned, no table, no branch.
const fn days_from_march(y: u32, mo: u32, d: u32) -> i64 {
    /// The count of 1970-01-01.
    const EPOCH: u32 = march_count(1970, 1, 1);
    march_count(y, mo, d) as i64 - EPOCH as i64
}

/// Days from the 1st of March of year -401 to `y`-`mo`-`d` (see [`days_from_march`]).
const fn march_count(y: u32, mo: u32, d: u32) -> u32 {
    let jan_feb = (mo <= 2) as u32;
    let yy = y + 400 - jan_feb;
    let m = mo + 12 * jan_feb;
    let c = yy / 100;
    1461 * yy / 4 - c + c / 4 + (979 * m - 2919) / 32 + d - 1
}

/// An ISO 8601 / RFC 3339 date-time as written: local civil seconds, fraction, and the
/// offset when one was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IsoTime {
    /// The civil date-time as if it were UTC (seconds since the epoch).
    pub local_secs: i64,
    /// Fraction of the second, in microseconds.
    pub micros: i64,
    /// Fractional digits given (0..=6).
    pub frac_digits: u8,
    /// Seconds east of UTC, `None` when the text had no `Z` / `±hh:mm`.
    pub offset: Option<i32>,
}

impl IsoTime {
    /// The instant, taking `offset` seconds east of UTC.
    pub fn to_utc(self, offset: i64) -> Timestamp {
        Timestamp {
            unix_micros: (self.local_secs - offset) * 1_000_000 + self.micros,
            frac_digits: self.frac_digits,
        }
    }
}

/// `YYYY-MM-DD(T|t| )hh:mm:ss[.frac][Z|±hh:mm]` at the start of `b`, the offset optional.
/// Returns it and the bytes used; `None` unless the date and time are valid.
pub fn parse_iso(b: &[u8]) -> Option<(IsoTime, usize)> {
    // The fixed 19 bytes as one array: constant indexes, no bounds check per digit (this
    // prefix was a third of RFC 5424 parsing under callgrind when read digit by digit).
    let p: &[u8; 19] = b.get(..19)?.try_into().ok()?;
    if p[4] != b'-'
        || p[7] != b'-'
        || !matches!(p[10], b'T' | b't' | b' ')
        || p[13] != b':'
        || p[16] != b':'
    {
        return None;
    }
    // All 14 digit positions at once (SWAR over three overlapping words; the separators
    // between them were checked above, so no byte can carry into a digit's neighbour).
    let word = |at: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&p[at..at + 8]);
        u64::from_le_bytes(a)
    };
    let is_digits = |x: u64, mask: u64| {
        let tens = 0x3030_3030_3030_3030 & mask;
        (x & 0xf0f0_f0f0_f0f0_f0f0 & mask) == tens
            && (x.wrapping_add(0x0606_0606_0606_0606) & 0xf0f0_f0f0_f0f0_f0f0 & mask) == tens
    };
    //  bytes 0..8 "YYYY-MM-", 8..16 "DDThh:mm", 11..19 "hh:mm:ss" (little-endian masks)
    if !is_digits(word(0), 0x00ff_ff00_ffff_ffff)
        || !is_digits(word(8), 0xffff_00ff_ff00_ffff)
        || !is_digits(word(11), 0xffff_00ff_ff00_ffff)
    {
        return None;
    }
    let two = |i: usize| i64::from((p[i] - b'0') * 10 + (p[i + 1] - b'0'));
    let y = two(0) * 100 + two(2);
    let (mo, d, h, mi, s) = (two(5), two(8), two(11), two(14), two(17));
    let local_secs = civil_secs(y, mo, d, h, mi, s)?;
    let mut i = 19;
    let (mut micros, mut frac_digits) = (0i64, 0u8);
    if b.get(i) == Some(&b'.') {
        (micros, frac_digits, i) = fraction(b, i + 1)?;
    }
    let offset = match b.get(i) {
        Some(b'Z' | b'z') => {
            i += 1;
            Some(0)
        }
        Some(sign @ (b'+' | b'-')) => {
            let oh = num(b, i + 1, 2)?;
            if b.get(i + 3) != Some(&b':') {
                return None;
            }
            let om = num(b, i + 4, 2)?;
            if oh > 23 || om > 59 {
                return None;
            }
            let off = (oh * 3600 + om * 60) as i32;
            i += 6;
            Some(if *sign == b'-' { -off } else { off })
        }
        _ => None,
    };
    Some((
        IsoTime {
            local_secs,
            micros,
            frac_digits,
            offset,
        },
        i,
    ))
}

/// Month number of a three-letter English abbreviation, in any case.
///
/// The three bytes are matched as one `u32` (a match on the byte array compared them one
/// by one: 38 instructions per RFC 3164 line under callgrind, `bench/parse_instructions.sh`).
#[inline]
pub fn month(b: &[u8]) -> Option<i64> {
    let &[x, y, z] = b.get(..3)? else {
        return None;
    };
    let word = |m: &[u8; 3]| u32::from_le_bytes([m[0], m[1], m[2], 0]);
    // `| 0x20` lower-cases letters and maps no other byte onto a lower-case letter.
    let w = word(&[x, y, z]) | 0x0020_2020;
    const NAMES: [[u8; 3]; 12] = [
        *b"jan", *b"feb", *b"mar", *b"apr", *b"may", *b"jun", *b"jul", *b"aug", *b"sep", *b"oct",
        *b"nov", *b"dec",
    ];
    NAMES
        .iter()
        .position(|m| word(m) == w)
        .map(|k| k as i64 + 1)
}

/// A BSD (RFC 3164) timestamp as written: no year unless the device added one, and no zone
/// unless it named one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BsdTime {
    /// Month 1..=12.
    pub month: i64,
    /// Day of month as written (1..=31; checked against the month once the year is known).
    pub day: i64,
    /// The year, when the timestamp carried one (Cisco ASA, NX-OS).
    pub year: Option<i64>,
    /// Hour, minute, second (not yet range-checked).
    pub hms: (i64, i64, i64),
    /// Fraction of the second, in microseconds.
    pub micros: i64,
    /// Fractional digits given (0..=6).
    pub frac_digits: u8,
    /// A zone abbreviation followed the time (`… 12:00:00.123 UTC:`, Cisco
    /// `show-timezone`): `Some(true)` for UTC/GMT, `Some(false)` for any other name.
    pub zone_utc: Option<bool>,
}

/// A BSD timestamp at the start of `b`: `Mmm dd hh:mm:ss[.frac]`, `Mmm  d …` (space-padded
/// day), with a year `Mmm dd yyyy hh:mm:ss` (Cisco ASA) or `yyyy Mmm dd hh:mm:ss` (Cisco
/// NX-OS), optionally followed by a zone abbreviation and a colon (` UTC:`; the colon is not
/// consumed). Returns it and the bytes used.
pub fn parse_bsd(b: &[u8]) -> Option<(BsdTime, usize)> {
    let (month, day, year, hms, i) = match bsd_fixed(b) {
        Some(t) => t,
        None => bsd_general(b)?,
    };
    bsd_tail(b, month, day, year, hms, i)
}

/// Month, day, year, (h, m, s), index after the seconds.
type BsdParts = (i64, i64, Option<i64>, (i64, i64, i64), usize);

/// The common shape `Mmm dd hh:mm:ss` / `Mmm  d hh:mm:ss` at fixed offsets, read as one
/// 15-byte array (no bounds check per byte); `None` for every other shape, which
/// [`bsd_general`] then reads. This header was the largest single cost of RFC 3164 parsing
/// under callgrind (`bench/parse_instructions.sh`).
fn bsd_fixed(b: &[u8]) -> Option<BsdParts> {
    let p: &[u8; 15] = b.get(..15)?.try_into().ok()?;
    if p[3] != b' ' || p[6] != b' ' || p[9] != b':' || p[12] != b':' {
        return None;
    }
    let digit = |c: u8| {
        let d = c.wrapping_sub(b'0');
        (d < 10).then_some(i64::from(d))
    };
    let two = |i: usize| Some(digit(p[i])? * 10 + digit(p[i + 1])?);
    let day = match p[4] {
        b' ' => digit(p[5])?,
        _ => two(4)?,
    };
    let month = month(&p[..3])?;
    Some((month, day, None, (two(7)?, two(10)?, two(13)?), 15))
}

/// Every BSD shape [`parse_bsd`] accepts (years, unpadded days), byte by byte.
fn bsd_general(b: &[u8]) -> Option<BsdParts> {
    let mut i = 0;
    let mut year = None;
    if b.get(4) == Some(&b' ') {
        if let Some(y) = num(b, 0, 4) {
            year = Some(y);
            i = 5;
        }
    }
    let month = month(b.get(i..)?)?;
    i += 3;
    if b.get(i) != Some(&b' ') {
        return None;
    }
    i += 1;
    if b.get(i) == Some(&b' ') {
        i += 1;
    }
    let dstart = i;
    while b.get(i).is_some_and(u8::is_ascii_digit) && i - dstart < 2 {
        i += 1;
    }
    if i == dstart || b.get(i) != Some(&b' ') {
        return None;
    }
    let day = num(b, dstart, i - dstart)?;
    i += 1;
    if year.is_none() && b.get(i + 4) == Some(&b' ') {
        if let Some(y) = num(b, i, 4) {
            year = Some(y);
            i += 5;
        }
    }
    if b.get(i + 2) != Some(&b':') || b.get(i + 5) != Some(&b':') {
        return None;
    }
    let hms = (num(b, i, 2)?, num(b, i + 3, 2)?, num(b, i + 6, 2)?);
    Some((month, day, year, hms, i + 8))
}

/// The optional fraction and zone name after the seconds at `i`.
fn bsd_tail(
    b: &[u8],
    month: i64,
    day: i64,
    year: Option<i64>,
    hms: (i64, i64, i64),
    mut i: usize,
) -> Option<(BsdTime, usize)> {
    let (mut micros, mut frac_digits) = (0i64, 0u8);
    if b.get(i) == Some(&b'.') {
        if let Some(f) = fraction(b, i + 1) {
            (micros, frac_digits, i) = f;
        }
    }
    let mut zone_utc = None;
    if b.get(i) == Some(&b' ') {
        let name = b.get(i + 1..).unwrap_or_default();
        let len = name.iter().take_while(|c| c.is_ascii_uppercase()).count();
        if (3..=4).contains(&len) && name.get(len) == Some(&b':') {
            let name = name.get(..len).unwrap_or_default();
            zone_utc = Some(matches!(name, b"UTC" | b"GMT" | b"UCT"));
            i += 1 + len;
        }
    }
    Some((
        BsdTime {
            month,
            day,
            year,
            hms,
            micros,
            frac_digits,
            zone_utc,
        },
        i,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_from_civil_table_agrees_with_era_arithmetic() {
        for y in [
            1, 4, 100, 399, 400, 1600, 1900, 1969, 1970, 1972, 2000, 2024, 2025, 2100, 9999,
        ] {
            for m in 1..=12 {
                for d in [1, 28, 29, 31] {
                    assert_eq!(
                        days_from_civil(y, m, d),
                        days_from_civil_any(y, m, d),
                        "{y}-{m}-{d}"
                    );
                }
            }
        }
        assert_eq!(days_from_civil(1970, 1, 1), 0);
        assert_eq!(days_from_civil(2000, 3, 1), 11_017);
    }

    #[test]
    fn civil_secs_table_agrees_with_arithmetic() {
        for k in 0..TABLE_YEARS {
            let y = TABLE_YEAR_FIRST + k as i64;
            for mo in 1..=12 {
                for d in 1..=32 {
                    assert_eq!(table_days(k, mo, d), general_days(y, mo, d), "{y}-{mo}-{d}");
                }
            }
        }
        // Both sides of the table's edges, and years only the arithmetic reaches.
        for y in [-1, 1, 1899, 1900, 2155, 2156, 9999, 10_000] {
            assert_eq!(
                civil_secs(y, 3, 1, 1, 2, 3),
                Some(days_from_civil(y, 3, 1) * 86_400 + 3723),
                "{y}"
            );
        }
    }

    #[test]
    fn fraction_word_agrees_with_bytes() {
        let mut cases: Vec<Vec<u8>> = Vec::new();
        for digits in 0..=9 {
            for stop in [b'Z', b'+', b'-', b' ', b'/', b':', 0, 0xff, 0x80, 0x8a] {
                for seed in 0..30u64 {
                    let mut v: Vec<u8> = (0..digits)
                        .map(|k| b'0' + ((seed * 7 + k * 3 + seed * k) % 10) as u8)
                        .collect();
                    v.push(stop);
                    // Bytes after the stop that could borrow or carry into it.
                    v.extend_from_slice(&[0xff, b'9', 0x00, b'0', 0x8f, b'5', b'5', b'5']);
                    cases.push(v);
                }
            }
        }
        for c in &cases {
            let fast = fraction_word(&c[..8], 0);
            let slow = fraction_bytes(c, 0);
            if fast.is_some() {
                assert_eq!(fast, slow, "{c:?}");
            }
            assert_eq!(fraction(c, 0), slow, "{c:?}");
            assert_eq!(
                fast.is_some(),
                (1..8).contains(&fraction_bytes(c, 0).map_or(0, |f| f.2)),
                "{c:?}"
            );
        }
    }

    /// Every case [`rfc3339_fixed`] accepts gets [`rfc3339_general`]'s answer; returns
    /// whether it accepted.
    fn fixed_agrees(s: &[u8]) -> bool {
        let fast = rfc3339_fixed(s);
        if fast.is_some() {
            assert_eq!(fast, rfc3339_general(s), "{:?}", String::from_utf8_lossy(s));
        }
        assert_eq!(parse_rfc3339(s), rfc3339_general(s));
        fast.is_some()
    }

    #[test]
    fn rfc3339_fixed_agrees_with_general_on_edges() {
        let years = [
            "0000", "0001", "0004", "0100", "0400", "1600", "1899", "1900", "1969", "1970", "1972",
            "2000", "2024", "2025", "2100", "2155", "2156", "2400", "9999",
        ];
        let months = ["00", "01", "02", "03", "04", "09", "11", "12", "13", "99"];
        let days = ["00", "01", "15", "28", "29", "30", "31", "32", "99"];
        let times = [
            "00:00:00", "23:59:59", "23:59:60", "24:00:00", "12:60:00", "12:00:61",
        ];
        let fracs = [
            "",
            ".",
            ".0",
            ".1",
            ".12",
            ".123",
            ".1234",
            ".12345",
            ".123456",
            ".1234567",
            ".12345678",
            ".123456789",
            ".9999999999",
        ];
        let zones = [
            "Z", "z", "+00:00", "-00:00", "+23:59", "-23:59", "+24:00", "-12:60", "+0530", "+05:3",
            "+", "", " ", "+05:30x",
        ];
        let mut accepted = 0;
        for y in years {
            for mo in months {
                for d in days {
                    for t in times {
                        let s = format!("{y}-{mo}-{d}T{t}.5Z host");
                        accepted += usize::from(fixed_agrees(s.as_bytes()));
                    }
                }
            }
        }
        for f in fracs {
            for z in zones {
                for t in ["T", "t", " "] {
                    let s = format!("2024-02-29{t}23:59:60{f}{z} host");
                    accepted += usize::from(fixed_agrees(s.as_bytes()));
                    // Cut short at every length.
                    for n in 0..s.len() {
                        fixed_agrees(&s.as_bytes()[..n]);
                    }
                }
            }
        }
        // Feb 29 only in leap years; the fixed path reached all of them.
        assert!(fixed_agrees(b"2000-02-29T00:00:00Z"));
        assert!(fixed_agrees(b"0000-02-29T00:00:00Z"));
        assert!(rfc3339_fixed(b"1900-02-29T00:00:00Z").is_none());
        assert!(rfc3339_fixed(b"2100-02-29T00:00:00Z").is_none());
        assert!(fixed_agrees(b"9999-12-31T23:59:59.999999-23:59"));
        assert!(fixed_agrees(b"0000-01-01T00:00:00+23:59"));
        assert!(accepted > 2000, "{accepted}");
    }

    #[test]
    fn rfc3339_fixed_agrees_with_general_on_bad_bytes_everywhere() {
        let base = b"2003-08-24T05:14:15.000003-07:00 host";
        for at in 0..base.len() {
            for c in [
                b'0',
                b'9',
                b'/',
                b':',
                b'-',
                b'+',
                b'.',
                b'T',
                b'Z',
                b' ',
                0x00,
                0x7f,
                0x80,
                0xfa,
                0xff,
                b'0' + 10,
                b'0' - 1,
            ] {
                let mut v = base.to_vec();
                v[at] = c;
                fixed_agrees(&v);
            }
        }
    }

    #[test]
    fn rfc3339_fixed_agrees_with_general_on_random_dates() {
        // A fixed xorshift: every run checks the same 200,000 date-times.
        let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = |n: u64| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x % n
        };
        let mut accepted = 0;
        for _ in 0..200_000 {
            let frac = match next(8) {
                0 => String::new(),
                n => format!(".{:0w$}", next(10u64.pow(n as u32)), w = n as usize),
            };
            let zone = match next(3) {
                0 => "Z".to_string(),
                _ => format!(
                    "{}{:02}:{:02}",
                    if next(2) == 0 { '+' } else { '-' },
                    next(25),
                    next(61)
                ),
            };
            let s = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}{frac}{zone}",
                next(10_000),
                next(14),
                next(33),
                next(25),
                next(61),
                next(62)
            );
            accepted += usize::from(fixed_agrees(s.as_bytes()));
        }
        assert!(accepted > 50_000, "{accepted}");
    }

    #[test]
    fn days_from_march_agrees_with_days_from_civil() {
        for y in 0..=9999u32 {
            for mo in 1..=12u32 {
                for d in [1, 28] {
                    assert_eq!(
                        days_from_march(y, mo, d),
                        days_from_civil(i64::from(y), i64::from(mo), i64::from(d)),
                        "{y}-{mo}-{d}"
                    );
                }
            }
        }
    }

    #[test]
    fn month_agrees_with_the_names() {
        let names = [
            "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
        ];
        for x in 0..=255u8 {
            for (k, name) in names.iter().enumerate() {
                let n = name.as_bytes();
                for at in 0..3 {
                    let mut v = n.to_vec();
                    v[at] = x;
                    let slow = names
                        .iter()
                        .position(|m| m.as_bytes().eq_ignore_ascii_case(&v))
                        .map(|k| k as i64 + 1);
                    assert_eq!(month(&v), slow, "{v:?}");
                }
                assert_eq!(month(name.to_uppercase().as_bytes()), Some(k as i64 + 1));
            }
        }
        assert_eq!(month(b"ja"), None);
    }

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
        let (t, n) = parse_bsd(b"Oct  1 12:00:00 host").unwrap();
        assert_eq!(
            (t.month, t.day, t.year, t.hms, n),
            (10, 1, None, (12, 0, 0), 15)
        );
        let (t, n) = parse_bsd(b"Oct 1 12:00:00 host").unwrap();
        assert_eq!((t.day, n), (1, 14));
        let (t, _) = parse_bsd(b"Jan 08 2025 12:00:00 host").unwrap();
        assert_eq!((t.month, t.day, t.year), (1, 8, Some(2025)));
        let (t, n) = parse_bsd(b"2025 Jan  8 12:00:02 UTC: %ETH").unwrap();
        assert_eq!((t.year, t.zone_utc, n), (Some(2025), Some(true), 24));
        let (t, n) = parse_bsd(b"Mar  1 18:46:11.123: %SYS").unwrap();
        assert_eq!((t.micros, t.frac_digits, n), (123_000, 3, 19));
        let (t, n) = parse_bsd(b"Mar  1 18:46:11.123 CEST: %SYS").unwrap();
        assert_eq!((t.zone_utc, n), (Some(false), 24));
        let (t, n) = parse_bsd(b"Mar  1 18:46:11.1234567 x").unwrap();
        assert_eq!((t.micros, t.frac_digits, n), (123_456, 6, 23));
        // A word after the time is a hostname, not a zone, unless a colon follows it.
        assert_eq!(
            parse_bsd(b"Mar  1 18:46:11 HOST app: x")
                .unwrap()
                .0
                .zone_utc,
            None
        );
        assert!(parse_bsd(b"Mar 123 18:46:11 x").is_none());
        assert!(parse_bsd(b"Foo  1 18:46:11 x").is_none());
        assert!(parse_bsd(b"Mar  1 18:46").is_none());
        assert!(parse_bsd(b"Mar  1 18-46-11 x").is_none());
        assert!(parse_bsd(b"").is_none());
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
