//! Splitting a JSON input into records without parsing them: the elements of an envelope's
//! array (`{"Records":[...]}`, `{"records":[...]}`), the elements of a top-level array, one
//! whole document, or one record per line (NDJSON / JSON Lines). Each record is then parsed
//! on its own, so one bad record costs only itself, and its exact bytes are kept for
//! `event.original`.

use std::ops::Range;

/// One piece of an input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Piece {
    /// A record's bytes.
    Record(Range<usize>),
    /// Bytes that cannot be split into records (a broken envelope from here on): one
    /// `pipeline_error` carries them.
    Broken(Range<usize>),
}

fn skip_ws(b: &[u8], mut i: usize) -> usize {
    while b.get(i).is_some_and(|c| c.is_ascii_whitespace()) {
        i += 1;
    }
    i
}

/// The end of the string starting at `b[i] == '"'`.
fn skip_string(b: &[u8], i: usize) -> Option<usize> {
    let mut j = i + 1;
    loop {
        match b.get(j)? {
            b'"' => return Some(j + 1),
            b'\\' => j += 2,
            _ => j += 1,
        }
    }
}

/// The end of the value starting at `b[i]` (strings and nesting are followed; what lies in
/// between is not validated: the record's own parse does that).
fn skip_value(b: &[u8], i: usize) -> Option<usize> {
    match b.get(i)? {
        b'"' => skip_string(b, i),
        b'{' | b'[' => {
            let mut depth = 0usize;
            let mut j = i;
            loop {
                match b.get(j)? {
                    b'"' => {
                        j = skip_string(b, j)?;
                        continue;
                    }
                    b'{' | b'[' => depth += 1,
                    b'}' | b']' => {
                        depth -= 1;
                        if depth == 0 {
                            return Some(j + 1);
                        }
                    }
                    _ => {}
                }
                j += 1;
            }
        }
        _ => {
            let mut j = i;
            while b
                .get(j)
                .is_some_and(|c| !matches!(c, b',' | b']' | b'}') && !c.is_ascii_whitespace())
            {
                j += 1;
            }
            (j > i).then_some(j)
        }
    }
}

/// The elements of the array starting at `b[i] == '['`, pushed to `out`; on a broken
/// element, the rest (from that element) as one `Broken` piece.
fn split_array(b: &[u8], i: usize, out: &mut Vec<Piece>) -> Option<usize> {
    let mut j = skip_ws(b, i + 1);
    if b.get(j) == Some(&b']') {
        return Some(j + 1);
    }
    loop {
        let Some(end) = skip_value(b, j) else {
            out.push(Piece::Broken(j..b.len()));
            return None;
        };
        out.push(Piece::Record(j..end));
        j = skip_ws(b, end);
        match b.get(j) {
            Some(b',') => j = skip_ws(b, j + 1),
            Some(b']') => return Some(j + 1),
            _ => {
                out.push(Piece::Broken(j.min(b.len())..b.len()));
                return None;
            }
        }
    }
}

/// If `b[range]` is an object with the key `key` whose value is an array, the pieces of that
/// array; `None` when it is not such an envelope.
fn split_envelope(b: &[u8], range: Range<usize>, key: &str) -> Option<Vec<Piece>> {
    let b = &b[..range.end];
    let mut i = skip_ws(b, range.start);
    if b.get(i) != Some(&b'{') {
        return None;
    }
    i = skip_ws(b, i + 1);
    while b.get(i) == Some(&b'"') {
        let key_end = skip_string(b, i)?;
        let name = &b[i + 1..key_end - 1];
        i = skip_ws(b, key_end);
        if b.get(i) != Some(&b':') {
            return None;
        }
        i = skip_ws(b, i + 1);
        if name == key.as_bytes() && b.get(i) == Some(&b'[') {
            let mut pieces = Vec::new();
            split_array(b, i, &mut pieces);
            return Some(pieces);
        }
        i = skip_ws(b, skip_value(b, i)?);
        if b.get(i) == Some(&b',') {
            i = skip_ws(b, i + 1);
        }
    }
    None
}

/// Split `data` into records. `envelope_key`, when given, names the array of records inside
/// an envelope object (`Records` for CloudTrail, `records` for Azure and Firehose).
///
/// - One JSON document (an object, possibly pretty-printed): the elements of its
///   `envelope_key` array, or else the document itself as one record.
/// - A top-level array: its elements.
/// - Anything else (NDJSON, JSON Lines, or a broken document): one record per non-blank
///   line, each line itself expanded when it is an envelope.
pub fn split_records(data: &[u8], envelope_key: Option<&str>) -> Vec<Piece> {
    let start = skip_ws(data, 0);
    if start == data.len() {
        return Vec::new();
    }
    let whole = skip_value(data, start);
    let single = whole.is_some_and(|end| skip_ws(data, end) == data.len());
    if single {
        let end = whole.unwrap_or(data.len());
        if data[start] == b'[' {
            let mut pieces = Vec::new();
            split_array(data, start, &mut pieces);
            return pieces;
        }
        if let Some(pieces) = envelope_key.and_then(|k| split_envelope(data, start..end, k)) {
            return pieces;
        }
        return vec![Piece::Record(start..end)];
    }
    let mut pieces = Vec::new();
    let mut pos = 0;
    for line in data.split_inclusive(|&c| c == b'\n') {
        let range = pos..pos + line.len();
        pos += line.len();
        let s = skip_ws(data, range.start);
        let mut e = range.end;
        while e > s && data[e - 1].is_ascii_whitespace() {
            e -= 1;
        }
        if s >= e {
            continue;
        }
        match envelope_key.and_then(|k| split_envelope(data, s..e, k)) {
            Some(expanded) => pieces.extend(expanded),
            None => pieces.push(Piece::Record(s..e)),
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(data: &'a str, key: Option<&str>) -> Vec<Result<&'a str, &'a str>> {
        split_records(data.as_bytes(), key)
            .into_iter()
            .map(|p| match p {
                Piece::Record(r) => Ok(&data[r]),
                Piece::Broken(r) => Err(&data[r]),
            })
            .collect()
    }

    #[test]
    fn envelopes_arrays_lines() {
        assert_eq!(
            texts(
                r#"{"x":{"Records":1},"Records":[{"a":"]}"} , {"b":[1]}]}"#,
                Some("Records")
            ),
            [Ok(r#"{"a":"]}"}"#), Ok(r#"{"b":[1]}"#)]
        );
        assert_eq!(texts("[1, {\"a\":2}]", None), [Ok("1"), Ok("{\"a\":2}")]);
        assert_eq!(
            texts("{\"a\":1}\n\n {\"b\":2} \r\n{bad\n", Some("records")),
            [Ok("{\"a\":1}"), Ok("{\"b\":2}"), Ok("{bad")]
        );
        assert_eq!(
            texts("{\n \"a\": 1\n}\n", Some("records")),
            [Ok("{\n \"a\": 1\n}")]
        );
        assert_eq!(
            texts(r#"{"records":[{"a":1},{"b":"#, Some("records")),
            [Ok(r#"{"a":1}"#), Err(r#"{"b":"#)]
        );
        assert_eq!(texts("  \n", None), []);
        assert_eq!(texts(r#"{"records":[]}"#, Some("records")), []);
    }
}
