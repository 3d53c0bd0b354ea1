//! AWS CloudTrail records (one element of a log file's `Records`) to ECS, per SCHEMA.md.

use std::borrow::Cow;

use super::ecs_record::{ip, Cloud, EcsRecord};
use super::json_record::{self, str_at, text_at, Json};
use super::{mapping, RecordOptions, RecordOutcome};
use crate::event::ReceiveMeta;
use crate::parse::TimeZone;

/// `event.dataset` of CloudTrail events.
pub const DATASET: &str = "aws.cloudtrail";

/// Normalize one CloudTrail record (JSON bytes) and append exactly one ECS object to `out`:
/// the event, or a `pipeline_error` (`cloudtrail.bad_json`, `cloudtrail.not_an_object`).
/// `scratch` is reused for parsing. Never panics.
pub fn cloudtrail_to_ecs(
    record: &[u8],
    opts: &RecordOptions,
    meta: &ReceiveMeta,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    json_record::object_to_ecs(
        &json_record::ObjectSource {
            prefix: "cloudtrail",
            expected: "a CloudTrail record is a JSON object",
            dataset: DATASET,
        },
        record,
        opts,
        meta,
        scratch,
        out,
        to_record,
    )
}

fn to_record<'i>(v: Json<'_, 'i>, original: Option<&'i [u8]>) -> EcsRecord<'i> {
    let name = str_at(v, &["eventName"]);
    let source = str_at(v, &["eventSource"]);
    let error_code = text_at(v, &["errorCode"]);
    let login_failed = str_at(v, &["responseElements", "ConsoleLogin"]) == Some("Failure");
    let failed = error_code.is_some() || login_failed;
    let user_name = str_at(v, &["userIdentity", "userName"]).or_else(|| {
        let arn = str_at(v, &["userIdentity", "arn"])?;
        arn.rsplit('/').next().filter(|s| !s.is_empty())
    });
    EcsRecord {
        timestamp: json_record::timestamp(str_at(v, &["eventTime"]), &TimeZone::utc()),
        dataset: DATASET,
        severity: mapping::cloudtrail_severity(failed),
        code: name.map(Cow::Borrowed),
        action: name.map(Cow::Borrowed),
        outcome: Some(if failed { "failure" } else { "success" }),
        provider: source.map(Cow::Borrowed),
        categorization: name.map(|n| mapping::cloudtrail_categorization(source.unwrap_or(""), n)),
        original,
        user_name: user_name.map(Cow::Borrowed),
        source_ip: ip(str_at(v, &["sourceIPAddress"])),
        cloud: Some(Cloud {
            provider: "aws",
            region: str_at(v, &["awsRegion"]).map(Cow::Borrowed),
            account_id: text_at(v, &["recipientAccountId"]),
        }),
        error_code,
        error_message: text_at(v, &["errorMessage"]),
        ..Default::default()
    }
}
