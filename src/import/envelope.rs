//! Unwrapping HTTP push bodies captured to files: an Amazon Data Firehose delivery request's
//! records (`{"data": base64}`) and a Pub/Sub push body's message (`message.data`, base64).

use base64::Engine as _;
use simd_json::prelude::*;

/// Why a wrapped record could not be unwrapped: a stable code and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct UnwrapError {
    /// `error.type`, e.g. `firehose.bad_base64`.
    pub code: &'static str,
    /// `error.message`.
    pub message: String,
}

fn err(code: &'static str, message: impl Into<String>) -> UnwrapError {
    UnwrapError {
        code,
        message: message.into(),
    }
}

/// The string at `path` of the JSON object `record`, base64-decoded (standard alphabet,
/// padding optional, whitespace not allowed).
fn decode_field(
    record: &[u8],
    path: &[&str],
    scratch: &mut Vec<u8>,
    codes: [&'static str; 3],
) -> Result<Vec<u8>, UnwrapError> {
    let [bad_json, no_data, bad_base64] = codes;
    scratch.clear();
    scratch.extend_from_slice(record);
    let tape =
        simd_json::to_tape(scratch.as_mut_slice()).map_err(|e| err(bad_json, e.to_string()))?;
    let mut v = tape.as_value();
    for k in path {
        v = v
            .get(*k)
            .ok_or_else(|| err(no_data, format!("no `{}` string", path.join("."))))?;
    }
    let data = v
        .into_string()
        .ok_or_else(|| err(no_data, format!("`{}` is not a string", path.join("."))))?;
    base64::engine::general_purpose::STANDARD_NO_PAD
        .decode(data.trim_end_matches('='))
        .map_err(|e| {
            err(
                bad_base64,
                format!("`{}` is not base64: {e}", path.join(".")),
            )
        })
}

/// The payload of one Firehose record (`{"data": "<base64>"}`). Codes:
/// `firehose.bad_json`, `firehose.no_data`, `firehose.bad_base64`.
pub fn firehose_record(record: &[u8], scratch: &mut Vec<u8>) -> Result<Vec<u8>, UnwrapError> {
    decode_field(
        record,
        &["data"],
        scratch,
        [
            "firehose.bad_json",
            "firehose.no_data",
            "firehose.bad_base64",
        ],
    )
}

/// The payload of a Pub/Sub push body (`{"message": {"data": "<base64>", ...}, ...}`). Codes:
/// `pubsub.bad_json`, `pubsub.no_data`, `pubsub.bad_base64`.
pub fn pubsub_message(body: &[u8], scratch: &mut Vec<u8>) -> Result<Vec<u8>, UnwrapError> {
    decode_field(
        body,
        &["message", "data"],
        scratch,
        ["pubsub.bad_json", "pubsub.no_data", "pubsub.bad_base64"],
    )
}

/// Whether `record` looks like a Pub/Sub push body (an object whose `message` is an object
/// with `data`), rather than a bare LogEntry.
pub fn is_pubsub_push(record: &[u8], scratch: &mut Vec<u8>) -> bool {
    scratch.clear();
    scratch.extend_from_slice(record);
    simd_json::to_tape(scratch.as_mut_slice()).is_ok_and(|t| {
        t.as_value()
            .get("message")
            .is_some_and(|m| m.get("data").is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unwraps() {
        let mut s = Vec::new();
        assert_eq!(
            firehose_record(br#"{"data":"eyJhIjoxfQ=="}"#, &mut s).unwrap(),
            br#"{"a":1}"#
        );
        assert_eq!(
            firehose_record(br#"{"data":"!!notbase64"}"#, &mut s)
                .unwrap_err()
                .code,
            "firehose.bad_base64"
        );
        assert_eq!(
            firehose_record(br#"{"x":1}"#, &mut s).unwrap_err().code,
            "firehose.no_data"
        );
        assert_eq!(
            firehose_record(b"{", &mut s).unwrap_err().code,
            "firehose.bad_json"
        );
        assert_eq!(
            pubsub_message(br#"{"message":{"data":"eyJhIjoxfQ"}}"#, &mut s).unwrap(),
            br#"{"a":1}"#
        );
        assert!(is_pubsub_push(br#"{"message":{"data":""}}"#, &mut s));
        assert!(!is_pubsub_push(br#"{"logName":"x"}"#, &mut s));
    }
}
