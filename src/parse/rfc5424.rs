//! RFC 5424: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [MSG]`.

use super::timestamp::parse_rfc3339;
use super::{err, strip_msg, ParseError, SyslogEvent};

/// Parse a whole RFC 5424 message whose `<PRI>` (of `pri_len` bytes) was already read.
pub(super) fn parse(b: &[u8], priority: u8, pri_len: usize) -> Result<SyslogEvent<'_>, ParseError> {
    let mut i = pri_len;
    if b.get(i) != Some(&b'1') || b.get(i + 1) != Some(&b' ') {
        return Err(err("syslog.bad_version", i, "VERSION 1 and a space"));
    }
    i += 2;
    let timestamp = if b.get(i) == Some(&b'-') {
        i += 1;
        None
    } else {
        let (ts, n) = parse_rfc3339(&b[i..]).ok_or(err(
            "syslog.bad_timestamp",
            i,
            "an RFC 3339 TIMESTAMP or -",
        ))?;
        i += n;
        Some(ts)
    };
    let mut fields: [Option<&str>; 4] = [None; 4];
    const MAX: [usize; 4] = [255, 48, 128, 32];
    for (f, max) in MAX.iter().enumerate() {
        if b.get(i) != Some(&b' ') {
            return Err(err("syslog.bad_header", i, "a space between header fields"));
        }
        i += 1;
        let start = i;
        while b.get(i).is_some_and(|c| (33..=126).contains(c)) {
            i += 1;
        }
        if i == start || i - start > *max {
            return Err(err(
                "syslog.bad_header",
                start,
                "a header field of printable ASCII or -",
            ));
        }
        let s = ascii_str(&b[start..i]);
        fields[f] = (s != "-").then_some(s);
    }
    if b.get(i) != Some(&b' ') {
        return Err(err(
            "syslog.bad_header",
            i,
            "a space before STRUCTURED-DATA",
        ));
    }
    i += 1;
    let structured_data = if b.get(i) == Some(&b'-') {
        i += 1;
        None
    } else {
        let end = sd_end(b, i)?;
        let sd = &b[i..end];
        i = end;
        Some(sd)
    };
    let message = match b.get(i) {
        None => None,
        Some(b' ') => strip_msg(&b[i + 1..]),
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

/// Validate SD-ELEMENTs starting at `i`; returns the index just past the last `]`.
fn sd_end(b: &[u8], mut i: usize) -> Result<usize, ParseError> {
    if b.get(i) != Some(&b'[') {
        return Err(err("syslog.bad_structured_data", i, "[ or -"));
    }
    while b.get(i) == Some(&b'[') {
        i += 1;
        let id_start = i;
        while b.get(i).is_some_and(|c| sd_name_char(*c)) {
            i += 1;
        }
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
                    while b.get(i).is_some_and(|c| sd_name_char(*c)) {
                        i += 1;
                    }
                    if i == name_start || b.get(i) != Some(&b'=') || b.get(i + 1) != Some(&b'"') {
                        return Err(err("syslog.bad_structured_data", i, "PARAM-NAME=\"value\""));
                    }
                    i += 2;
                    loop {
                        match b.get(i) {
                            Some(b'\\') => i += 2,
                            Some(b'"') => {
                                i += 1;
                                break;
                            }
                            Some(_) => i += 1,
                            None => {
                                return Err(err(
                                    "syslog.bad_structured_data",
                                    b.len(),
                                    "a closing \" of PARAM-VALUE",
                                ))
                            }
                        }
                    }
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

/// View bytes already checked to be printable ASCII (33..=126) as `&str`.
fn ascii_str(b: &[u8]) -> &str {
    debug_assert!(b.iter().all(|c| (33..=126).contains(c)));
    // SAFETY: every caller passes bytes it has checked are printable ASCII, which is UTF-8;
    // `from_utf8` here cost 12% of parse + JSON in `cargo bench --bench parse`.
    unsafe { std::str::from_utf8_unchecked(b) }
}

/// SD-NAME: printable US-ASCII except `=`, space, `]` and `"`.
fn sd_name_char(c: u8) -> bool {
    (33..=126).contains(&c) && !matches!(c, b'=' | b']' | b'"')
}

/// One SD-ELEMENT: its SD-ID and its raw `PARAM="value"` list (escapes still in place).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SdElement<'a> {
    pub id: &'a str,
    params: &'a [u8],
}

impl<'a> SdElement<'a> {
    /// `(name, raw escaped value)` pairs in order.
    pub fn params(&self) -> impl Iterator<Item = (&'a str, &'a [u8])> + 'a {
        let b = self.params;
        let mut i = 0;
        std::iter::from_fn(move || {
            while b.get(i) == Some(&b' ') {
                i += 1;
            }
            let ns = i;
            while b.get(i).is_some_and(|c| *c != b'=') {
                i += 1;
            }
            let name = std::str::from_utf8(b.get(ns..i)?).ok()?;
            i += 2; // ="
            let vs = i;
            loop {
                match b.get(i)? {
                    b'\\' => i += 2,
                    b'"' => break,
                    _ => i += 1,
                }
            }
            let value = b.get(vs..i)?;
            i += 1;
            Some((name, value))
        })
    }
}

/// Iterate the SD-ELEMENTs of a validated STRUCTURED-DATA slice.
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
                b'"' => {
                    i += 1;
                    loop {
                        match sd.get(i)? {
                            b'\\' => i += 2,
                            b'"' => break,
                            _ => i += 1,
                        }
                    }
                    i += 1;
                }
                b']' => break,
                _ => i += 1,
            }
        }
        let params = sd.get(params_start..i)?;
        i += 1;
        Some(SdElement { id, params })
    })
}
