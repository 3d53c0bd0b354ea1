//! Nesting depth of JSON and XML that comes from outside (HTTP bodies, forwarded Windows
//! events on syslog sockets, `linerate import` inputs), measured before any parser sees it.
//!
//! Guarantee: [`depth_within`] reads the bytes once, left to right, with a counter and no
//! recursion and no allocation, so no input can exhaust a shard's stack through it; bytes it
//! passes are at most [`DEPTH_MAX`] deep, so the recursive parts of simd-json, serde and the
//! normalizers never go deeper than that. Strings (JSON), quoted attribute values, comments,
//! CDATA, processing instructions and declarations (XML) are skipped, so brackets inside
//! them do not count. It is a bound, not a validation: malformed input that passes is
//! refused by the parser as before.

use thiserror::Error;

/// Deepest nesting of arrays/objects (JSON) or elements (XML) accepted from outside. Real
/// records nest a handful of levels (CloudTrail's deepest about 10); serde_json's own
/// recursion limit is 128 too.
pub const DEPTH_MAX: usize = 128;

/// Input nested deeper than allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Error)]
#[error("nested more than {depth_max} levels deep (at byte {offset})")]
pub struct TooDeep {
    /// The limit that was passed.
    pub depth_max: usize,
    /// Where the level past the limit opens.
    pub offset: usize,
}

/// Whether `bytes` (JSON, or XML when the first non-whitespace byte is `<`) nest at most
/// `depth_max` levels.
pub fn depth_within(bytes: &[u8], depth_max: usize) -> Result<(), TooDeep> {
    match bytes.iter().find(|b| !b.is_ascii_whitespace()) {
        Some(b'<') => xml_depth_within(bytes, depth_max),
        _ => json_depth_within(bytes, depth_max),
    }
}

/// Whether the JSON in `bytes` (one value, or several as in NDJSON) nests at most
/// `depth_max` arrays/objects.
pub fn json_depth_within(bytes: &[u8], depth_max: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                // Skip the string (most of a record's bytes): to the next quote not escaped.
                i += 1;
                loop {
                    let Some(k) = bytes.get(i..).and_then(|r| memchr::memchr2(b'"', b'\\', r))
                    else {
                        return Ok(()); // unterminated: nothing more opens
                    };
                    i += k;
                    if bytes[i] == b'"' {
                        break;
                    }
                    i += 2;
                }
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > depth_max {
                    return Err(TooDeep {
                        depth_max,
                        offset: i,
                    });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Whether the XML in `bytes` nests at most `depth_max` elements.
pub fn xml_depth_within(bytes: &[u8], depth_max: usize) -> Result<(), TooDeep> {
    let mut depth = 0usize;
    let mut i = 0;
    while let Some(at) = memchr::memchr(b'<', &bytes[i.min(bytes.len())..]) {
        let start = i + at;
        let rest = &bytes[start..];
        // Constructs whose content is not markup: skip to their terminator.
        let skip_to = |end: &[u8]| {
            memchr::memmem::find(rest, end).map_or(bytes.len(), |e| start + e + end.len())
        };
        if rest.starts_with(b"<!--") {
            i = skip_to(b"-->");
        } else if rest.starts_with(b"<![CDATA[") {
            i = skip_to(b"]]>");
        } else if rest.starts_with(b"<?") {
            i = skip_to(b"?>");
        } else if rest.starts_with(b"<!") {
            i = skip_to(b">");
        } else {
            // A tag: to its `>`, skipping quoted attribute values.
            let mut j = start + 1;
            loop {
                let Some(k) = memchr::memchr3(b'>', b'"', b'\'', &bytes[j.min(bytes.len())..])
                else {
                    j = bytes.len();
                    break;
                };
                j += k;
                let q = bytes[j];
                if q == b'>' {
                    break;
                }
                // A quoted value: to its closing quote.
                match memchr::memchr(q, &bytes[j + 1..]) {
                    Some(e) => j += 1 + e + 1,
                    None => {
                        j = bytes.len();
                        break;
                    }
                }
            }
            let closing = rest.get(1) == Some(&b'/');
            let empty = j > start + 1 && bytes.get(j - 1) == Some(&b'/');
            if closing {
                depth = depth.saturating_sub(1);
            } else if !empty {
                depth += 1;
                if depth > depth_max {
                    return Err(TooDeep {
                        depth_max,
                        offset: start,
                    });
                }
            }
            i = j + 1;
        }
        if i >= bytes.len() {
            break;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nested_json(n: usize) -> String {
        format!("{}1{}", "[".repeat(n), "]".repeat(n))
    }

    fn nested_xml(n: usize) -> String {
        format!("{}x{}", "<a k='>'>".repeat(n), "</a>".repeat(n))
    }

    #[test]
    fn json_depth_counts_arrays_and_objects_not_strings() {
        assert!(json_depth_within(nested_json(4).as_bytes(), 4).is_ok());
        assert_eq!(
            json_depth_within(nested_json(5).as_bytes(), 4),
            Err(TooDeep {
                depth_max: 4,
                offset: 4
            })
        );
        assert!(json_depth_within(br#"{"a":{"b":[1,{"c":2}]}}"#, 4).is_ok());
        assert!(json_depth_within(br#"{"a":{"b":[1,{"c":[2]}]}}"#, 4).is_err());
        // Brackets inside strings, escaped quotes included, do not count.
        assert!(json_depth_within(br#"{"k":"[[[[[[\"[[[[{{{{"}"#, 2).is_ok());
        // NDJSON: each line on its own.
        assert!(json_depth_within(b"[[1]]\n[[2]]\n[[3]]\n", 2).is_ok());
        // Unterminated strings and stray closers neither panic nor underflow.
        assert!(json_depth_within(br#"]]]]"abc\"#, 1).is_ok());
        assert!(json_depth_within(b"", 0).is_ok());
    }

    #[test]
    fn a_firehose_body_nested_5000_deep_is_refused_without_recursion() {
        let body = format!(r#"{{"requestId":"r","records":{}}}"#, nested_json(5000));
        let e = depth_within(body.as_bytes(), DEPTH_MAX).unwrap_err();
        assert_eq!(e.depth_max, DEPTH_MAX);
        // Millions deep: still one pass, no stack.
        let deep = "[".repeat(4 << 20);
        assert!(depth_within(deep.as_bytes(), DEPTH_MAX).is_err());
    }

    #[test]
    fn xml_depth_counts_elements_not_markup_in_quotes_or_comments() {
        assert!(xml_depth_within(nested_xml(3).as_bytes(), 3).is_ok());
        assert!(xml_depth_within(nested_xml(4).as_bytes(), 3).is_err());
        let event = "<?xml version='1.0'?><!DOCTYPE x><Events><Event xmlns='x'><System>\
                     <EventID>1</EventID><Empty/><!-- <a><b><c> --><![CDATA[<a><b><c>]]>\
                     </System></Event></Events>";
        // Events > Event > System > EventID.
        assert!(depth_within(event.as_bytes(), 4).is_ok());
        assert!(depth_within(event.as_bytes(), 3).is_err());
        // Self-closing elements, even with attributes holding `/` and `>`, do not nest.
        assert!(xml_depth_within(b"<a><b x='/>'/><b/><b/></a>", 1).is_ok());
        // Unterminated markup neither panics nor loops.
        for s in ["<", "<a", "<a x='", "<!--", "<![CDATA[", "<?x", "</", "<a/"] {
            assert!(xml_depth_within(s.as_bytes(), 1).is_ok(), "{s}");
        }
        assert!(depth_within(" \n<a><a><a>".as_bytes(), 2).is_err());
    }
}
