//! Azure Activity Log records (one element of a diagnostic `records` body, or one line of a
//! `PT1H.json` blob) to ECS, per SCHEMA.md.

use std::borrow::Cow;

use super::ecs_record::{ip, Cloud, EcsRecord};
use super::json_record::{self, str_at, Json};
use super::{mapping, RecordOptions, RecordOutcome};
use crate::event::ReceiveMeta;
use crate::parse::TimeZone;

/// `event.dataset` of Azure Activity Log events.
pub const DATASET: &str = "azure.activitylogs";

/// The claim that holds the caller's user principal name.
const UPN_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/upn";
/// The claim that holds the caller's name (a UPN for users).
const NAME_CLAIM: &str = "http://schemas.xmlsoap.org/ws/2005/05/identity/claims/name";

/// Normalize one Activity Log record (JSON bytes) and append exactly one ECS object to `out`:
/// the event, or a `pipeline_error` (`azure.bad_json`, `azure.not_an_object`). Never panics.
pub fn azure_to_ecs(
    record: &[u8],
    opts: &RecordOptions,
    meta: &ReceiveMeta,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    json_record::object_to_ecs(
        &json_record::ObjectSource {
            prefix: "azure",
            expected: "an Activity Log record is a JSON object",
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

/// `operationName` in its canonical case. Exports often upper-case it; the same operation is
/// then also named, properly cased, in `identity.authorization.action` or
/// `properties.message`, which is used instead. (The REST API's form,
/// `{"value": ..., "localizedValue": ...}`, is read too.)
fn operation<'i>(v: Json<'_, 'i>) -> Option<&'i str> {
    let op = str_at(v, &["operationName"]).or_else(|| str_at(v, &["operationName", "value"]))?;
    if op.bytes().any(|b| b.is_ascii_lowercase()) {
        return Some(op);
    }
    [
        &["identity", "authorization", "action"][..],
        &["properties", "message"][..],
    ]
    .iter()
    .filter_map(|path| str_at(v, path))
    .find(|alt| alt.eq_ignore_ascii_case(op))
    .or(Some(op))
}

/// The subscription ID of a resource ID (`/subscriptions/{id}/...`, any case).
fn subscription(resource_id: &str) -> Option<&str> {
    let mut parts = resource_id.split('/').filter(|p| !p.is_empty());
    while let Some(p) = parts.next() {
        if p.eq_ignore_ascii_case("subscriptions") {
            return parts.next();
        }
    }
    None
}

fn to_record<'i>(v: Json<'_, 'i>, original: Option<&'i [u8]>) -> EcsRecord<'i> {
    let op = operation(v);
    let outcome = match str_at(v, &["resultType"]) {
        Some(r) if r.eq_ignore_ascii_case("success") || r.eq_ignore_ascii_case("succeeded") => {
            Some("success")
        }
        Some(r) if r.eq_ignore_ascii_case("failure") || r.eq_ignore_ascii_case("failed") => {
            Some("failure")
        }
        _ => None,
    };
    let claims = &["identity", "claims"];
    let claim = |name: &str| str_at(v, &[claims[0], claims[1], name]);
    let user_name = str_at(v, &["caller"])
        .or_else(|| claim(UPN_CLAIM))
        .or_else(|| claim(NAME_CLAIM))
        .or_else(|| claim("name"));
    let full_name = claim("name").filter(|n| Some(*n) != user_name);
    EcsRecord {
        timestamp: json_record::timestamp(str_at(v, &["time"]), &TimeZone::utc()),
        dataset: DATASET,
        severity: mapping::azure_severity(str_at(v, &["level"])),
        code: op.map(Cow::Borrowed),
        action: op.map(Cow::Borrowed),
        outcome,
        provider: op
            .and_then(|o| o.split('/').next())
            .filter(|p| !p.is_empty())
            .map(Cow::Borrowed),
        categorization: op.map(mapping::azure_categorization),
        original,
        user_name: user_name.map(Cow::Borrowed),
        user_full_name: full_name.map(Cow::Borrowed),
        source_ip: ip(str_at(v, &["callerIpAddress"])),
        cloud: Some(Cloud {
            provider: "azure",
            region: str_at(v, &["location"]).map(Cow::Borrowed),
            account_id: str_at(v, &["resourceId"])
                .and_then(subscription)
                .map(Cow::Borrowed),
        }),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_of_resource_ids() {
        assert_eq!(
            subscription("/subscriptions/abc/resourceGroups/x"),
            Some("abc")
        );
        assert_eq!(
            subscription("/SUBSCRIPTIONS/abc/RESOURCEGROUPS/X"),
            Some("abc")
        );
        assert_eq!(subscription("/providers/Microsoft.Management/x"), None);
    }
}
