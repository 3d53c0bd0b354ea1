//! Reading fields of one JSON record parsed by simd-json into a tape (document order kept,
//! strings borrowed from the unescaped copy of the record).

use std::borrow::Cow;
use std::cell::RefCell;

use simd_json::prelude::*;
use simd_json::tape::{Tape, Value};
use simd_json::Buffers;

use super::ecs_record::present;
use crate::parse::timestamp::parse_iso;
use crate::parse::{TimeZone, Timestamp};

/// A value inside a parsed record.
pub(crate) type Json<'t, 'i> = Value<'t, 'i>;

/// A source whose records are JSON objects: how its `pipeline_error`s are named.
pub(crate) struct ObjectSource {
    /// Prefix of the error codes (`<prefix>.bad_json`, `<prefix>.not_an_object`).
    pub prefix: &'static str,
    /// The message of `not_an_object`, e.g. "a CloudTrail record is a JSON object".
    pub expected: &'static str,
    /// `event.dataset` of the errors.
    pub dataset: &'static str,
}

/// Parse `record` as one JSON object and append exactly one ECS object to `out`: what
/// `to_record` makes of it, or a `pipeline_error` (`<prefix>.bad_json`,
/// `<prefix>.not_an_object`). Never panics.
pub(crate) fn object_to_ecs<'i>(
    src: &ObjectSource,
    record: &'i [u8],
    opts: &super::RecordOptions,
    meta: &crate::event::ReceiveMeta,
    scratch: &'i mut Vec<u8>,
    out: &mut Vec<u8>,
    to_record: fn(Json<'_, 'i>, Option<&'i [u8]>) -> super::ecs_record::EcsRecord<'i>,
) -> super::RecordOutcome {
    let err = |out: &mut Vec<u8>, kind: &str, msg: &dyn std::fmt::Display| {
        let code = format!("{}.{kind}", src.prefix);
        super::pipeline_error(out, record, &code, msg, src.dataset, meta)
    };
    let tape = match parse(record, scratch) {
        Ok(t) => t,
        Err(e) => return err(out, "bad_json", &e),
    };
    let v = tape.as_value();
    if v.as_object().is_none() {
        return err(out, "not_an_object", &src.expected);
    }
    let rec = to_record(v, opts.keep_original.then_some(record));
    super::ecs_record::write_ecs_record(out, &rec, meta);
    super::RecordOutcome::Event
}

thread_local! {
    /// Per-thread (per-shard) working buffers of simd-json, kept between records so parsing
    /// allocates only the tape once they have grown.
    static PARSE_BUFFERS: RefCell<Buffers> = RefCell::new(Buffers::default());
}

/// Parse `record` (copied into `scratch`, which simd-json unescapes in place).
pub(crate) fn parse<'s>(
    record: &[u8],
    scratch: &'s mut Vec<u8>,
) -> Result<Tape<'s>, simd_json::Error> {
    scratch.clear();
    scratch.extend_from_slice(record);
    PARSE_BUFFERS.with(|buffers| match buffers.try_borrow_mut() {
        Ok(mut buffers) => simd_json::to_tape_with_buffers(scratch.as_mut_slice(), &mut buffers),
        Err(_) => simd_json::to_tape(scratch.as_mut_slice()),
    })
}

/// The value at `path` (object keys), if every step is an object holding the key.
pub(crate) fn at<'t, 'i>(v: Json<'t, 'i>, path: &[&str]) -> Option<Json<'t, 'i>> {
    path.iter().try_fold(v, |v, k| v.get(*k))
}

/// The string at `path`, unless absent, empty or `-`.
pub(crate) fn str_at<'i>(v: Json<'_, 'i>, path: &[&str]) -> Option<&'i str> {
    at(v, path)?.into_string().filter(|s| present(s))
}

/// The value at `path` as text: a string (unless absent, empty or `-`), or a number or
/// boolean as JSON writes it.
pub(crate) fn text_at<'i>(v: Json<'_, 'i>, path: &[&str]) -> Option<Cow<'i, str>> {
    text(at(v, path)?)
}

/// `v` as text (see [`text_at`]).
pub(crate) fn text<'i>(v: Json<'_, 'i>) -> Option<Cow<'i, str>> {
    if let Some(s) = v.into_string() {
        return present(s).then_some(Cow::Borrowed(s));
    }
    if let Some(n) = v.as_u64() {
        return Some(Cow::Owned(n.to_string()));
    }
    if let Some(n) = v.as_i64() {
        return Some(Cow::Owned(n.to_string()));
    }
    if let Some(n) = v.as_f64() {
        return Some(Cow::Owned(n.to_string()));
    }
    v.as_bool()
        .map(|b| Cow::Borrowed(if b { "true" } else { "false" }))
}

/// The unsigned number at `path`, given as a number or as a decimal string.
pub(crate) fn u64_at(v: Json<'_, '_>, path: &[&str]) -> Option<u64> {
    let v = at(v, path)?;
    v.as_u64().or_else(|| v.into_string()?.trim().parse().ok())
}

/// An ISO 8601 / RFC 3339 timestamp; one without an offset is in `zone`. Fractions beyond
/// microseconds are truncated.
pub(crate) fn timestamp(s: Option<&str>, zone: &TimeZone) -> Option<Timestamp> {
    let (iso, _) = parse_iso(s?.trim().as_bytes())?;
    Some(match iso.offset {
        Some(off) => iso.to_utc(i64::from(off)),
        None => Timestamp {
            unix_micros: zone.local_to_utc(iso.local_secs) * 1_000_000 + iso.micros,
            frac_digits: iso.frac_digits,
        },
    })
}
