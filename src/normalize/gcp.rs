//! GCP Cloud Logging `LogEntry` records (audit entries with an `AuditLog` in `protoPayload`,
//! and any other entry) to ECS, per SCHEMA.md.

use std::borrow::Cow;

use simd_json::prelude::{ValueAsScalar, ValueIntoString};

use super::ecs_record::{ip, Cloud, EcsRecord};
use super::json_record::{self, at, str_at, text_at, Json};
use super::{mapping, RecordOptions, RecordOutcome};
use crate::event::ReceiveMeta;
use crate::parse::TimeZone;

/// `event.dataset` of audit entries (`cloudaudit.googleapis.com` logs).
pub const DATASET_AUDIT: &str = "gcp.audit";
/// `event.dataset` of any other entry.
pub const DATASET_LOGGING: &str = "gcp.logging";

/// Normalize one `LogEntry` (JSON bytes) and append exactly one ECS object to `out`: the
/// event, or a `pipeline_error` (`gcp.bad_json`, `gcp.not_an_object`). Never panics.
pub fn gcp_to_ecs(
    record: &[u8],
    opts: &RecordOptions,
    meta: &ReceiveMeta,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    json_record::object_to_ecs(
        &json_record::ObjectSource {
            prefix: "gcp",
            expected: "a LogEntry is a JSON object",
            dataset: DATASET_LOGGING,
        },
        record,
        opts,
        meta,
        scratch,
        out,
        to_record,
    )
}

/// `%XX` escapes decoded (as logName's log ID is URL-encoded); invalid escapes are kept.
fn url_decode(s: &str) -> Cow<'_, str> {
    if !s.contains('%') {
        return Cow::Borrowed(s);
    }
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        if b[i] == b'%' {
            if let (Some(h), Some(l)) = (
                b.get(i + 1).copied().and_then(hex),
                b.get(i + 2).copied().and_then(hex),
            ) {
                out.push((h * 16 + l) as u8);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Cow::Owned(String::from_utf8_lossy(&out).into_owned())
}

/// `projects/{p}/logs/{log id}`: the project and the decoded log ID.
fn log_name(name: &str) -> (Option<&str>, Option<Cow<'_, str>>) {
    let project = name
        .strip_prefix("projects/")
        .and_then(|r| r.split('/').next())
        .filter(|p| !p.is_empty());
    let log_id = name
        .find("/logs/")
        .map(|i| url_decode(&name[i + "/logs/".len()..]));
    (project, log_id)
}

fn to_record<'i>(v: Json<'_, 'i>, original: Option<&'i [u8]>) -> EcsRecord<'i> {
    let (project, log_id) = match str_at(v, &["logName"]) {
        Some(n) => log_name(n),
        None => (None, None),
    };
    let proto = at(v, &["protoPayload"]).filter(|p| p.as_object().is_some());
    let is_audit = log_id
        .as_deref()
        .is_some_and(|id| id.starts_with("cloudaudit.googleapis.com"))
        || proto.and_then(|p| str_at(p, &["@type"]))
            == Some("type.googleapis.com/google.cloud.audit.AuditLog");
    let method = proto.and_then(|p| str_at(p, &["methodName"]));
    let service = proto.and_then(|p| str_at(p, &["serviceName"]));
    let status_code = proto
        .and_then(|p| at(p, &["status", "code"]))
        .and_then(|c| {
            c.as_i64()
                .or_else(|| c.into_string().and_then(|s| s.parse().ok()))
        });
    let failed = status_code.is_some_and(|c| c != 0);
    let code = method.map(Cow::Borrowed).or_else(|| {
        let id = log_id.as_deref()?;
        let last = id.rsplit('/').next().filter(|s| !s.is_empty())?;
        Some(Cow::Owned(last.to_owned()))
    });
    EcsRecord {
        timestamp: json_record::timestamp(str_at(v, &["timestamp"]), &TimeZone::utc()),
        dataset: if is_audit {
            DATASET_AUDIT
        } else {
            DATASET_LOGGING
        },
        severity: mapping::gcp_severity(str_at(v, &["severity"])),
        code,
        action: method.map(Cow::Borrowed),
        outcome: proto.map(|_| if failed { "failure" } else { "success" }),
        provider: service.map(Cow::Borrowed),
        categorization: method.map(|m| mapping::gcp_categorization(service.unwrap_or(""), m)),
        original,
        user_name: proto
            .and_then(|p| str_at(p, &["authenticationInfo", "principalEmail"]))
            .map(Cow::Borrowed),
        source_ip: ip(proto.and_then(|p| str_at(p, &["requestMetadata", "callerIp"]))),
        cloud: Some(Cloud {
            provider: "gcp",
            region: None,
            account_id: project.map(Cow::Borrowed),
        }),
        error_code: failed
            .then(|| status_code.map(|c| Cow::Owned(c.to_string())))
            .flatten(),
        error_message: if failed {
            proto.and_then(|p| text_at(p, &["status", "message"]))
        } else {
            None
        },
        message: str_at(v, &["jsonPayload", "message"])
            .or_else(|| str_at(v, &["textPayload"]))
            .map(Cow::Borrowed),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_names() {
        let (p, id) = log_name("projects/p-1/logs/cloudaudit.googleapis.com%2Factivity");
        assert_eq!(p, Some("p-1"));
        assert_eq!(id.as_deref(), Some("cloudaudit.googleapis.com/activity"));
        let (p, id) = log_name("organizations/1/logs/stderr");
        assert_eq!((p, id.as_deref()), (None, Some("stderr")));
        assert_eq!(url_decode("a%2"), "a%2");
        assert_eq!(url_decode("%zz%41"), "%zzA");
    }
}
