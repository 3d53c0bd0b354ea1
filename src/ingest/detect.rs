//! What a message framed by a syslog socket input is: syslog, or a Windows event a forwarder
//! (NXLog `to_json()`, Winlogbeat, a WEF collector's rendered XML) sent over the same port.
//!
//! Guarantee: decided from the first non-whitespace bytes only (never a parse), so it costs
//! a few comparisons per message and the same bytes always get the same answer. Syslog starts
//! with `<PRI>` (a `<` and a digit), a timestamp, or text; a Windows event starts with `{`
//! (a JSON object), `<?xml` or `<Event` followed by whitespace, `>` or `/`. A syslog line
//! whose MSG holds JSON (`<13>... {"a":1}`) stays syslog.

use crate::event::RecordKind;

/// The kind of one framed socket message (see the module docs).
pub fn socket_record_kind(msg: &[u8]) -> RecordKind {
    let start = msg
        .iter()
        .position(|b| !b.is_ascii_whitespace())
        .unwrap_or(msg.len());
    let head = &msg[start..];
    if head.first() == Some(&b'{') || head.starts_with(b"<?xml") || is_event_tag(head) {
        RecordKind::Windows
    } else {
        RecordKind::Syslog
    }
}

/// `<Event` as a whole element name (not `<Events`, not `<EventData`).
fn is_event_tag(head: &[u8]) -> bool {
    head.strip_prefix(b"<Event")
        .and_then(|rest| rest.first())
        .is_some_and(|b| b.is_ascii_whitespace() || *b == b'>' || *b == b'/')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(kind: RecordKind, messages: &[&str]) {
        for m in messages {
            assert_eq!(socket_record_kind(m.as_bytes()), kind, "{m:?}");
        }
    }

    #[test]
    fn json_objects_are_windows_events() {
        check(
            RecordKind::Windows,
            &[r#"{"EventID":4624,"Hostname":"h"}"#, r#"  {"winlog":{}}"#],
        );
    }

    #[test]
    fn event_xml_is_a_windows_event() {
        check(
            RecordKind::Windows,
            &[
                "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>",
                "<Event>",
                "\r\n<?xml version=\"1.0\"?><Event>",
            ],
        );
        check(RecordKind::Syslog, &["<EventData>", "<Events>"]);
    }

    #[test]
    fn syslog_stays_syslog() {
        check(
            RecordKind::Syslog,
            &[
                "<34>1 2003-10-11T22:14:15.003Z host su - ID47 - hi",
                "<13>Oct 11 22:14:15 host app: {\"a\":1}",
                "Oct 11 22:14:15 host app: hi",
                "2003-10-11T22:14:15Z host app: hi",
                "plain text",
                "",
                "   ",
            ],
        );
    }
}
