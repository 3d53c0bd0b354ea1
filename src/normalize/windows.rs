//! Windows events to ECS, per SCHEMA.md, from each form they arrive in: NXLog `to_json()`
//! (CE and EE dialects), Winlogbeat 8 JSON, and rendered event XML (Windows Event
//! Forwarding's RenderedText, `EvtRender`, and the `evtx` crate's rendering of EVTX records).
//! Each form is read into one [`WinEvent`], which one function maps to ECS.

use std::borrow::Cow;

use quick_xml::escape::unescape;
use quick_xml::events::{BytesStart, Event};
use quick_xml::Reader;
use simd_json::prelude::{ValueAsScalar, ValueIntoString};

use super::byte_mask;
use super::ecs_record::{ip, present, present_opt, write_ecs_record, EcsRecord, Winlog};
use super::json_record::{self, at, str_at, text, text_at, u64_at, Json};
use super::{mapping, pipeline_error, RecordOptions, RecordOutcome};
use crate::event::ReceiveMeta;
use crate::parse::{TimeZone, Timestamp};

/// `event.dataset` of Windows events.
pub const DATASET: &str = "windows.eventlog";

/// The `Keywords` bit of an audit failure.
const KEYWORD_AUDIT_FAILURE: u64 = 1 << 52;
/// The `Keywords` bit of an audit success.
const KEYWORD_AUDIT_SUCCESS: u64 = 1 << 53;

/// An audit keyword, from the `Keywords` mask or by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Audit {
    Success,
    Failure,
}

/// One Windows event, whatever form it came in.
#[derive(Debug, Default, PartialEq)]
struct WinEvent<'a> {
    time: Option<Timestamp>,
    event_id: Option<Cow<'a, str>>,
    provider: Option<Cow<'a, str>>,
    channel: Option<Cow<'a, str>>,
    computer: Option<Cow<'a, str>>,
    record_id: Option<u64>,
    /// Numeric `Level`.
    level: Option<u64>,
    /// A level given only by name.
    level_name: Option<Cow<'a, str>>,
    keywords: Option<u64>,
    audit_by_name: Option<Audit>,
    task: Option<u32>,
    task_name: Option<Cow<'a, str>>,
    message: Option<Cow<'a, str>>,
    event_data: Vec<(Cow<'a, str>, Cow<'a, str>)>,
}

fn audit_of_name(name: &str) -> Option<Audit> {
    let n = name.trim();
    if n.eq_ignore_ascii_case("Audit Failure") || n.eq_ignore_ascii_case("AUDIT_FAILURE") {
        Some(Audit::Failure)
    } else if n.eq_ignore_ascii_case("Audit Success") || n.eq_ignore_ascii_case("AUDIT_SUCCESS") {
        Some(Audit::Success)
    } else {
        None
    }
}

impl<'a> WinEvent<'a> {
    fn audit(&self) -> Option<Audit> {
        match self.keywords {
            Some(k) if k & KEYWORD_AUDIT_FAILURE != 0 => Some(Audit::Failure),
            Some(k) if k & KEYWORD_AUDIT_SUCCESS != 0 => Some(Audit::Success),
            _ => self.audit_by_name,
        }
    }

    fn data(&self, name: &str) -> Option<&str> {
        self.event_data
            .iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_ref())
            .filter(|v| present(v))
    }

    fn fields(&self) -> WindowsFields {
        let owned = |v: &Option<Cow<'a, str>>| {
            v.as_deref()
                .filter(|s| present(s))
                .map(|s| s.trim().to_owned())
        };
        let level = self.level.and_then(|l| u8::try_from(l).ok()).or_else(|| {
            self.level_name
                .as_deref()
                .and_then(mapping::windows_level_of_name)
        });
        WindowsFields {
            event_id: self
                .event_id
                .as_deref()
                .and_then(|id| id.trim().parse().ok()),
            level,
            provider: owned(&self.provider),
            channel: owned(&self.channel),
            audit_success: self.audit().map(|a| a == Audit::Success),
        }
    }

    fn into_ecs(self, original: Option<&'a [u8]>) -> EcsRecord<'a> {
        let audit = self.audit();
        let user_name = self
            .data("TargetUserName")
            .or_else(|| self.data("SubjectUserName"))
            .map(|s| Cow::Owned(s.to_owned()));
        let source_ip = ip(self.data("IpAddress"));
        let level = self
            .level
            .and_then(mapping::windows_level_severity)
            .or_else(|| {
                self.level_name
                    .as_deref()
                    .and_then(mapping::windows_level_name_severity)
            });
        let severity = mapping::windows_severity(level, audit == Some(Audit::Failure));
        let provider = present_opt(self.provider);
        let event_id = present_opt(self.event_id);
        let numeric_id = event_id
            .as_deref()
            .and_then(|id| id.trim().parse::<u32>().ok());
        let action = present_opt(self.task_name)
            .or_else(|| {
                let name = mapping::windows_task_name(provider.as_deref()?, self.task?)?;
                Some(Cow::Borrowed(name))
            })
            .or_else(|| event_id.clone());
        let categorization =
            numeric_id.and_then(|id| mapping::windows_categorization(provider.as_deref()?, id));
        EcsRecord {
            timestamp: self.time,
            dataset: DATASET,
            severity,
            code: event_id.clone(),
            action,
            outcome: audit.map(|a| match a {
                Audit::Success => "success",
                Audit::Failure => "failure",
            }),
            provider: provider.clone(),
            categorization,
            original,
            hostname: present_opt(self.computer),
            user_name,
            source_ip,
            winlog: Some(Winlog {
                channel: present_opt(self.channel),
                record_id: self.record_id,
                event_id,
                provider_name: provider,
                event_data: self.event_data,
            }),
            message: present_opt(self.message),
            ..Default::default()
        }
    }
}

/// Normalize one forwarded Windows event, whichever form it is in (detected per record:
/// `<` starts event XML; a JSON object with `winlog` is Winlogbeat's, one with `EventID` is
/// NXLog's), and append exactly one ECS object to `out`: the event, or a `pipeline_error`
/// (`windows.bad_json`, `windows.bad_xml`, `windows.not_an_event`,
/// `windows.unknown_format`). Never panics.
pub fn windows_to_ecs(
    record: &[u8],
    opts: &RecordOptions,
    meta: &ReceiveMeta,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    let first = record.iter().find(|b| !b.is_ascii_whitespace()).copied();
    match first {
        Some(b'<') => windows_xml_to_ecs(record, opts, meta, out),
        Some(b'{') => json_to_ecs(record, opts, meta, scratch, out),
        _ => pipeline_error(
            out,
            record,
            "windows.unknown_format",
            &"a Windows event as event XML, NXLog JSON or Winlogbeat JSON",
            DATASET,
            meta,
        ),
    }
}

fn json_to_ecs(
    record: &[u8],
    opts: &RecordOptions,
    meta: &ReceiveMeta,
    scratch: &mut Vec<u8>,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    let tape = match json_record::parse(record, scratch) {
        Ok(t) => t,
        Err(e) => return pipeline_error(out, record, "windows.bad_json", &e, DATASET, meta),
    };
    let v = tape.as_value();
    let ev = if at(v, &["winlog"]).is_some_and(|w| w.as_object().is_some()) {
        from_winlogbeat(v)
    } else if v.as_object().is_some() && v.get("EventID").is_some() {
        from_nxlog(v, &opts.nxlog_timezone)
    } else {
        return pipeline_error(
            out,
            record,
            "windows.unknown_format",
            &"a JSON object from NXLog (EventID) or Winlogbeat (winlog)",
            DATASET,
            meta,
        );
    };
    write_ecs_record(
        out,
        &ev.into_ecs(opts.keep_original.then_some(record)),
        meta,
    );
    RecordOutcome::Event
}

/// The fields of a Windows event that select it (see `crate::normalize::windows_filter`),
/// read by the same code that normalizes it. Absent fields are `None`; `-` and empty values
/// count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowsFields {
    /// `EventID` (NXLog `EventID`, Winlogbeat `winlog.event_id`), when numeric.
    pub event_id: Option<u32>,
    /// Numeric `Level` (0 LogAlways … 5 Verbose), or the level its name stands for (a
    /// rendered `Level`, NXLog `EventType`, Winlogbeat `log.level`; information as 4).
    pub level: Option<u8>,
    /// `Provider/@Name` (NXLog `SourceName`, Winlogbeat `winlog.provider_name`).
    pub provider: Option<String>,
    /// `Channel`.
    pub channel: Option<String>,
    /// The audit keyword: `Some(true)` audit success, `Some(false)` audit failure.
    pub audit_success: Option<bool>,
}

/// Read the selecting fields of one Windows record in any form [`windows_to_ecs`] takes
/// (`scratch` is simd-json's working copy). `None` when the record is not a readable Windows
/// event (it would be a `pipeline_error`). Never panics.
pub fn windows_fields(record: &[u8], scratch: &mut Vec<u8>) -> Option<WindowsFields> {
    let first = record.iter().find(|b| !b.is_ascii_whitespace()).copied()?;
    match first {
        b'<' => read_event_xml(&utf8_lossy(record))
            .ok()
            .map(|ev| ev.fields()),
        b'{' => {
            let tape = json_record::parse(record, scratch).ok()?;
            let v = tape.as_value();
            if at(v, &["winlog"]).is_some_and(|w| w.as_object().is_some()) {
                Some(from_winlogbeat(v).fields())
            } else if v.as_object().is_some() && v.get("EventID").is_some() {
                Some(from_nxlog(v, &TimeZone::utc()).fields())
            } else {
                None
            }
        }
        _ => None,
    }
}

/// NXLog's own fields; every other top-level field of `im_msvistalog`'s record is one of the
/// event's `EventData` (NXLog flattens them into the top level). Sorted.
const NXLOG_FIELDS: [&str; 35] = [
    "AccountName",
    "AccountType",
    "ActivityID",
    "Category",
    "Channel",
    "Domain",
    "ERRORCODE",
    "EventID",
    "EventReceivedTime",
    "EventTime",
    "EventType",
    "ExecutionProcessID",
    "ExecutionThreadID",
    "Hostname",
    "Keywords",
    "Message",
    "MessageSourceAddress",
    "Opcode",
    "OpcodeValue",
    "ProcessID",
    "ProviderGuid",
    "Qualifiers",
    "RecordNumber",
    "RelatedActivityID",
    "Severity",
    "SeverityValue",
    "SourceModuleName",
    "SourceModuleType",
    "SourceName",
    "Task",
    "TaskValue",
    "ThreadID",
    "UserID",
    "Version",
    "raw_event",
];

/// `Keywords` as NXLog writes it: a signed 64-bit number (CE), or an unsigned decimal or
/// `0x` hexadecimal string (EE / Agent).
fn nxlog_keywords(v: Json<'_, '_>) -> Option<u64> {
    let k = at(v, &["Keywords"])?;
    if let Some(n) = k.as_u64() {
        return Some(n);
    }
    if let Some(n) = k.as_i64() {
        return Some(n as u64);
    }
    let s = k.into_string()?.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s
            .parse::<u64>()
            .ok()
            .or_else(|| s.parse::<i64>().ok().map(|n| n as u64)),
    }
}

fn from_nxlog<'i>(v: Json<'_, 'i>, zone: &TimeZone) -> WinEvent<'i> {
    let mut event_data = Vec::new();
    if let Some(obj) = v.as_object() {
        for (k, value) in obj.iter() {
            if NXLOG_FIELDS.binary_search(&k).is_ok() {
                continue;
            }
            if let Some(t) = text(value) {
                event_data.push((Cow::Borrowed(k), t));
            }
        }
    }
    let event_type = str_at(v, &["EventType"]);
    WinEvent {
        time: json_record::timestamp(str_at(v, &["EventTime"]), zone),
        event_id: text_at(v, &["EventID"]),
        provider: text_at(v, &["SourceName"]),
        channel: text_at(v, &["Channel"]),
        computer: text_at(v, &["Hostname"]),
        record_id: u64_at(v, &["RecordNumber"]),
        level: None,
        level_name: event_type.map(Cow::Borrowed),
        keywords: nxlog_keywords(v),
        audit_by_name: event_type.and_then(audit_of_name),
        task: u64_at(v, &["Task"])
            .or_else(|| u64_at(v, &["TaskValue"]))
            .and_then(|t| u32::try_from(t).ok()),
        task_name: text_at(v, &["Category"]),
        message: text_at(v, &["Message"]),
        event_data,
    }
}

fn from_winlogbeat<'i>(v: Json<'_, 'i>) -> WinEvent<'i> {
    let mut event_data = Vec::new();
    for section in ["event_data", "user_data"] {
        if let Some(obj) = at(v, &["winlog", section]).and_then(|d| d.as_object()) {
            for (k, value) in obj.iter() {
                if let Some(t) = text(value) {
                    event_data.push((Cow::Borrowed(k), t));
                }
            }
        }
    }
    let keyword_audit = at(v, &["winlog", "keywords"])
        .and_then(|k| k.as_array())
        .and_then(|a| {
            a.iter()
                .find_map(|k| k.into_string().and_then(audit_of_name))
        });
    WinEvent {
        time: json_record::timestamp(str_at(v, &["@timestamp"]), &TimeZone::utc()),
        event_id: text_at(v, &["winlog", "event_id"]).or_else(|| text_at(v, &["event", "code"])),
        provider: text_at(v, &["winlog", "provider_name"])
            .or_else(|| text_at(v, &["event", "provider"])),
        channel: text_at(v, &["winlog", "channel"]),
        computer: text_at(v, &["winlog", "computer_name"]),
        record_id: u64_at(v, &["winlog", "record_id"]),
        level: None,
        level_name: text_at(v, &["log", "level"]),
        keywords: None,
        audit_by_name: keyword_audit,
        task: None,
        task_name: text_at(v, &["winlog", "task"]),
        message: text_at(v, &["message"]),
        event_data,
    }
}

// ---------------------------------------------------------------------------------------
// Event XML

/// Why an event XML record could not be read.
#[derive(Debug, thiserror::Error)]
enum XmlError {
    #[error("{0} at byte {1}")]
    Syntax(quick_xml::Error, u64),
    #[error("unexpected end of the XML at byte {0} (inside <{1}>)")]
    Truncated(u64, String),
    #[error("the root element is <{0}>, not <Event>")]
    NotEvent(String),
    #[error("no element")]
    Empty,
}

impl XmlError {
    fn code(&self) -> &'static str {
        match self {
            XmlError::NotEvent(_) => "windows.not_an_event",
            _ => "windows.bad_xml",
        }
    }
}

/// Normalize one rendered event XML (`<Event xmlns=...>`, with or without `RenderingInfo`)
/// and append exactly one ECS object to `out`: the event, or a `pipeline_error`
/// (`windows.bad_xml` for input that is not well-formed XML, `windows.not_an_event` for
/// another root element). Never panics.
pub fn windows_xml_to_ecs(
    record: &[u8],
    opts: &RecordOptions,
    meta: &ReceiveMeta,
    out: &mut Vec<u8>,
) -> RecordOutcome {
    match read_event_xml(&utf8_lossy(record)) {
        Ok(ev) => {
            write_ecs_record(
                out,
                &ev.into_ecs(opts.keep_original.then_some(record)),
                meta,
            );
            RecordOutcome::Event
        }
        Err(e) => pipeline_error(out, record, e.code(), &e, DATASET, meta),
    }
}

/// `record` as a `str`, invalid UTF-8 replaced: one check for a whole event XML (its pieces
/// are then borrowed from it unchecked, see [`piece`]), at the standard library's
/// validation speed (`String::from_utf8_lossy` goes through `Utf8Chunks`, several times
/// slower on valid input).
fn utf8_lossy(record: &[u8]) -> Cow<'_, str> {
    match std::str::from_utf8(record) {
        Ok(s) => Cow::Borrowed(s),
        Err(_) => String::from_utf8_lossy(record),
    }
}

/// `raw` as a slice of `xml`, when it is one (quick-xml's slice reader borrows names, text
/// and attributes from its input): no UTF-8 check, `xml` is a `str` already. Otherwise
/// (a piece quick-xml had to copy) a copy of `raw`, invalid UTF-8 replaced.
fn piece<'a>(xml: &'a str, raw: &[u8]) -> Cow<'a, str> {
    let inside = (raw.as_ptr() as usize)
        .checked_sub(xml.as_ptr() as usize)
        .and_then(|start| xml.get(start..start.checked_add(raw.len())?));
    match inside {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(String::from_utf8_lossy(raw).into_owned()),
    }
}

/// One start tag: its local name and attributes, borrowed from the record.
struct Tag<'a> {
    text: Cow<'a, str>,
    name_len: usize,
    /// The first attribute's name, raw value and whether that has a `&`, when the reader
    /// split it off already (the `evtx` crate's reader does, for `Data Name=`,
    /// `TimeCreated SystemTime=` and the like).
    first_attr: Option<(&'a str, &'a str, bool)>,
}

impl<'a> Tag<'a> {
    fn new(xml: &'a str, e: &BytesStart<'_>) -> Self {
        Self {
            text: piece(xml, e),
            name_len: e.name().as_ref().len(),
            first_attr: None,
        }
    }

    /// The local name (without a namespace prefix).
    fn local_name(&self) -> Cow<'a, str> {
        fn local(s: &str, name_len: usize) -> &str {
            let qname = s.get(..name_len).unwrap_or(s);
            // After the first `:`, found byte by byte: names are short, a `memchr` call costs
            // more than the whole scan.
            match qname.bytes().position(|c| c == b':') {
                Some(colon) => qname.get(colon + 1..).unwrap_or(qname),
                None => qname,
            }
        }
        match &self.text {
            Cow::Borrowed(s) => Cow::Borrowed(local(s, self.name_len)),
            Cow::Owned(s) => Cow::Owned(local(s, self.name_len).to_owned()),
        }
    }

    /// The value of attribute `name` (unescaped), if present.
    fn attr(&self, name: &str) -> Option<Cow<'a, str>> {
        if let Some((key, value, amp)) = self.first_attr {
            // What `attr_value` finds first, without reading the tag again.
            if attr_local_name(key.as_bytes()) == name.as_bytes() {
                return if amp {
                    unescape(value).ok()
                } else {
                    Some(Cow::Borrowed(value))
                };
            }
        }
        match &self.text {
            Cow::Borrowed(s) => attr_value(s.get(self.name_len..)?, name),
            Cow::Owned(s) => {
                attr_value(s.get(self.name_len..)?, name).map(|v| Cow::Owned(v.into_owned()))
            }
        }
    }
}

/// The value of the attribute whose local name is `name` in `attrs` (a start tag's text after
/// its name), unescaped; `None` when it is absent or the attributes before it are not
/// `key="value"` or `key='value'`. Read in place, byte by byte (the tags are short):
/// quick-xml's `Attributes` checks UTF-8 again and unescapes every value it passes.
fn attr_value<'s>(attrs: &'s str, name: &str) -> Option<Cow<'s, str>> {
    let b = attrs.as_bytes();
    let space = |c: u8| matches!(c, b' ' | b'\t' | b'\r' | b'\n');
    let skip_space = |mut i: usize| {
        while b.get(i).copied().is_some_and(space) {
            i += 1;
        }
        i
    };
    let mut i = skip_space(0);
    while i < b.len() {
        let eq = i + b[i..].iter().position(|&c| c == b'=')?;
        let key = b[i..eq].trim_ascii_end();
        let open = skip_space(eq + 1);
        let quote = *b.get(open).filter(|&&q| q == b'"' || q == b'\'')?;
        let close = open + 1 + b[open + 1..].iter().position(|&c| c == quote)?;
        if attr_local_name(key) == name.as_bytes() {
            return xml_unescape(attrs.get(open + 1..close)?).ok();
        }
        i = skip_space(close + 1);
    }
    None
}

/// An attribute's name without its namespace prefix (after the last `:`).
fn attr_local_name(key: &[u8]) -> &[u8] {
    key.iter()
        .rposition(|&c| c == b':')
        .map_or(key, |colon| &key[colon + 1..])
}

/// `s` with its entity and character references replaced (quick-xml's `unescape`), without
/// a search set up when there is no `&` (most values).
fn xml_unescape(s: &str) -> Result<Cow<'_, str>, quick_xml::escape::EscapeError> {
    if s.as_bytes().contains(&b'&') {
        unescape(s)
    } else {
        Ok(Cow::Borrowed(s))
    }
}

fn hex_or_decimal(s: &str) -> Option<u64> {
    let s = s.trim();
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Append a piece of an element's text, borrowing while it is the only piece.
fn push_text<'a>(text: &mut Cow<'a, str>, piece: Cow<'a, str>) {
    if text.is_empty() {
        *text = piece;
    } else {
        text.to_mut().push_str(&piece);
    }
}

/// The `EventData` items a list is sized for up front (Security events carry up to ~25).
const EVENT_DATA_TYPICAL: usize = 32;

/// The elements whose names the event reading looks at, by local name (`Other` for the
/// rest): named once per start tag, so that placing an element is a match on two of these.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Elem {
    Event,
    System,
    EventData,
    UserData,
    RenderingInfo,
    Provider,
    TimeCreated,
    Data,
    EventId,
    Level,
    Task,
    Keywords,
    Keyword,
    EventRecordId,
    Channel,
    Computer,
    Binary,
    Message,
    Other,
}

impl Elem {
    fn of(local_name: &str) -> Self {
        match local_name {
            "Event" => Elem::Event,
            "System" => Elem::System,
            "EventData" => Elem::EventData,
            "UserData" => Elem::UserData,
            "RenderingInfo" => Elem::RenderingInfo,
            "Provider" => Elem::Provider,
            "TimeCreated" => Elem::TimeCreated,
            "Data" => Elem::Data,
            "EventID" => Elem::EventId,
            "Level" => Elem::Level,
            "Task" => Elem::Task,
            "Keywords" => Elem::Keywords,
            "Keyword" => Elem::Keyword,
            "EventRecordID" => Elem::EventRecordId,
            "Channel" => Elem::Channel,
            "Computer" => Elem::Computer,
            "Binary" => Elem::Binary,
            "Message" => Elem::Message,
            _ => Elem::Other,
        }
    }
}

/// Builds a [`WinEvent`] from an event XML's start tags, text and end tags, in document
/// order: what both XML readers ([`from_xml`] and [`from_crate_xml`]) feed, so that both give
/// the same event for the same XML.
struct EventBuilder<'a> {
    ev: WinEvent<'a>,
    /// Local names of the open elements, the root first.
    path: Vec<(Cow<'a, str>, Elem)>,
    /// The text of the innermost element since its last child.
    text: Cow<'a, str>,
    data_name: Option<Cow<'a, str>>,
    unnamed: usize,
}

impl<'a> EventBuilder<'a> {
    fn new() -> Self {
        // Room for a typical event's `Data` and nesting, so neither list grows while it is read.
        Self {
            ev: WinEvent {
                event_data: Vec::with_capacity(EVENT_DATA_TYPICAL),
                ..WinEvent::default()
            },
            path: Vec::with_capacity(8),
            text: Cow::Borrowed(""),
            data_name: None,
            unnamed: 0,
        }
    }

    /// A start tag (`is_empty`: `<.../>`). Fails when it is the root and not `<Event>`.
    fn start(&mut self, tag: &Tag<'a>, is_empty: bool) -> Result<(), XmlError> {
        let name = tag.local_name();
        let elem = Elem::of(&name);
        let parent = match self.path.last() {
            Some((_, parent)) => *parent,
            None if elem == Elem::Event => Elem::Other,
            None => return Err(XmlError::NotEvent(name.into_owned())),
        };
        let ev = &mut self.ev;
        match (parent, elem) {
            (Elem::System, Elem::Provider) => {
                ev.provider = tag.attr("Name").or_else(|| tag.attr("EventSourceName"));
            }
            (Elem::System, Elem::TimeCreated) => {
                ev.time =
                    json_record::timestamp(tag.attr("SystemTime").as_deref(), &TimeZone::utc());
            }
            (Elem::EventData, Elem::Data) => {
                self.data_name = tag.attr("Name");
                if self.data_name.is_none() {
                    self.unnamed += 1;
                    self.data_name = Some(Cow::Owned(format!("param{}", self.unnamed)));
                }
            }
            _ => {}
        }
        self.text = Cow::Borrowed("");
        self.path.push((name, elem));
        if is_empty {
            // An empty element is a leaf with no text.
            leaf(ev, &self.path, &mut self.data_name, Cow::Borrowed(""));
            self.path.pop();
        }
        Ok(())
    }

    /// A piece of text (unescaped).
    fn text(&mut self, piece: Cow<'a, str>) {
        push_text(&mut self.text, piece);
    }

    /// An end tag (of the innermost open element); `true` when it closes the root.
    fn end(&mut self) -> bool {
        let text = std::mem::replace(&mut self.text, Cow::Borrowed(""));
        leaf(&mut self.ev, &self.path, &mut self.data_name, text);
        self.path.pop();
        self.path.is_empty()
    }
}

/// Read an event XML into a [`WinEvent`] (see [`EventBuilder`]): the `evtx` crate's form by
/// [`from_crate_xml`], anything else (or anything that reader is unsure of) by [`from_xml`],
/// with the same result as [`from_xml`] alone.
fn read_event_xml(xml: &str) -> Result<WinEvent<'_>, XmlError> {
    match from_crate_xml(xml) {
        Some(ev) => Ok(ev),
        None => from_xml(xml),
    }
}

/// Read an event XML into a [`WinEvent`]: `System`, `EventData` (`Data` by `Name`, unnamed
/// ones as `param1`, `param2`, … as Winlogbeat names them, and `Binary`), the leaves of
/// `UserData`, and `RenderingInfo`'s message, level, task and keywords. Names, attributes
/// and text are borrowed from `xml` (copied only when unescaped or split into pieces).
fn from_xml(xml: &str) -> Result<WinEvent<'_>, XmlError> {
    let mut reader = Reader::from_reader(xml.as_bytes());
    reader.config_mut().check_end_names = true;
    let mut builder = EventBuilder::new();
    let mut saw_root = false;
    loop {
        let pos = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError::Syntax(e, pos))?;
        match event {
            Event::Start(ref e) | Event::Empty(ref e) => {
                builder.start(&Tag::new(xml, e), matches!(event, Event::Empty(_)))?;
                saw_root = true;
            }
            Event::Text(t) => {
                let s = match piece(xml, &t) {
                    Cow::Borrowed(s) => xml_unescape(s),
                    Cow::Owned(s) => xml_unescape(&s).map(|u| Cow::Owned(u.into_owned())),
                }
                .map_err(|e| XmlError::Syntax(e.into(), reader.buffer_position()))?;
                builder.text(s);
            }
            Event::CData(c) => builder.text(piece(xml, &c)),
            Event::End(_) if builder.end() => break,
            Event::Eof => {
                if !saw_root {
                    return Err(XmlError::Empty);
                }
                return Err(XmlError::Truncated(
                    reader.buffer_position(),
                    builder
                        .path
                        .last()
                        .map(|(p, _)| p.to_string())
                        .unwrap_or_default(),
                ));
            }
            _ => {}
        }
    }
    Ok(builder.ev)
}

/// The XML declaration the `evtx` crate starts each record with.
const CRATE_XML_DECL: &[u8] = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>";

/// XML's white space.
fn is_xml_space(c: u8) -> bool {
    matches!(c, b' ' | b'\t' | b'\r' | b'\n')
}

/// The index of the `>` that ends the tag whose content continues at `b[from..]` (outside
/// quotes there), outside quoted attribute values, as quick-xml finds it.
fn tag_close(b: &[u8], mut from: usize) -> Option<usize> {
    loop {
        let at = from + memchr::memchr3(b'>', b'"', b'\'', b.get(from..)?)?;
        let c = b[at];
        if c == b'>' {
            return Some(at);
        }
        from = at + 1 + memchr::memchr(c, b.get(at + 1..)?)? + 1;
    }
}

/// The index of the first `x` in `b[from..]`, and whether a `y` comes before it: 16 bytes a
/// step (the `<` after a value or an indentation is rarely further), then byte by byte.
fn find_before(b: &[u8], from: usize, x: u8, y: u8) -> Option<(usize, bool)> {
    let mut i = from;
    let mut saw_y = false;
    while let Some(chunk) = b.get(i..i + byte_mask::CHUNK_BYTES) {
        let chunk = <&[u8; byte_mask::CHUNK_BYTES]>::try_from(chunk).ok()?;
        let (mx, my) = byte_mask::eq2(chunk, x, y);
        if mx != 0 {
            let j = mx.trailing_zeros();
            return Some((i + j as usize, saw_y || my & ((1 << j) - 1) != 0));
        }
        saw_y |= my != 0;
        i += byte_mask::CHUNK_BYTES;
    }
    for (k, &c) in b.get(i..)?.iter().enumerate() {
        if c == x {
            return Some((i + k, saw_y));
        }
        saw_y |= c == y;
    }
    None
}

/// A name byte the `evtx` crate's reader takes: not white space, not markup, not a quote
/// (a name with quotes would end where quick-xml's does not).
fn is_plain_name_byte(c: u8) -> bool {
    !is_xml_space(c) && !matches!(c, b'"' | b'\'' | b'<' | b'>' | b'=' | b'&' | b'/')
}

/// Read event XML in the form the `evtx` crate renders records in (and Windows writes event
/// XML in): an optional XML declaration, then elements, attributes in quotes, text with
/// entity references, nothing else. Hand-written because it is the hot path of EVTX import
/// (quick-xml's general reader cost more than the `evtx` crate's own rendering), and kept
/// small by reading only the tokens: names, attributes and text go to the same
/// [`EventBuilder`] as quick-xml's. `None` at anything else (comments, CDATA, processing
/// instructions, a BOM, text outside the root, an end tag that is not exactly `</name>` of
/// the open element, an empty root, names with quotes or markup characters, bad entity
/// references, the end of the input): the caller then reads the XML with [`from_xml`], so a
/// result of this reader is always the one [`from_xml`] gives.
fn from_crate_xml(xml: &str) -> Option<WinEvent<'_>> {
    let b = xml.as_bytes();
    let skip_space = |mut i: usize| {
        while b.get(i).copied().is_some_and(is_xml_space) {
            i += 1;
        }
        i
    };
    let mut i = skip_space(0);
    if b.get(i..)?.starts_with(CRATE_XML_DECL) {
        i = skip_space(i + CRATE_XML_DECL.len());
    }
    let mut builder = EventBuilder::new();
    // The qualified names of the open elements, for their end tags.
    let mut open: Vec<&str> = Vec::with_capacity(8);
    loop {
        if b.get(i) != Some(&b'<') {
            return None;
        }
        match *b.get(i + 1)? {
            b'/' => {
                let name = open.pop()?;
                let after = i + 2 + name.len();
                if b.get(i + 2..after)? != name.as_bytes() || b.get(after) != Some(&b'>') {
                    return None;
                }
                if builder.end() {
                    return Some(builder.ev);
                }
                i = after + 1;
            }
            b'!' | b'?' => return None,
            _ => {
                let StartTag {
                    content,
                    name_len,
                    first_attr,
                    is_empty,
                    close,
                } = crate_xml_start_tag(xml, i)?;
                if is_empty && open.is_empty() {
                    return None;
                }
                let tag = Tag {
                    text: Cow::Borrowed(content),
                    name_len,
                    first_attr,
                };
                builder.start(&tag, is_empty).ok()?;
                if !is_empty {
                    open.push(content.get(..name_len)?);
                }
                i = close + 1;
            }
        }
        let (lt, amp) = find_before(b, i, b'<', b'&')?;
        // Text before a start tag is dropped (the builder keeps the text since an element's
        // last child), but checked as quick-xml checks it.
        let closing = b.get(lt + 1) == Some(&b'/');
        if lt > i && (amp || closing) {
            let text = xml.get(i..lt)?;
            let text = if amp {
                unescape(text).ok()?
            } else {
                Cow::Borrowed(text)
            };
            if closing {
                builder.text(text);
            }
        }
        i = lt;
    }
}

/// A start tag as [`from_crate_xml`] reads it.
struct StartTag<'a> {
    /// From the name to the closing `>` (or the `/` of `/>`).
    content: &'a str,
    name_len: usize,
    /// The first attribute when it is the usual ` key="value"` (key, raw value, whether the
    /// value holds an entity reference).
    first_attr: Option<(&'a str, &'a str, bool)>,
    /// `<name .../>`.
    is_empty: bool,
    /// Index of the tag's closing `>`.
    close: usize,
}

/// The start tag whose `<` is at `i`, or `None` where [`from_crate_xml`] gives up (see
/// there). Inlined: it is the inner loop of EVTX import.
#[inline(always)]
fn crate_xml_start_tag(xml: &str, i: usize) -> Option<StartTag<'_>> {
    let b = xml.as_bytes();
    let mut name_end = i + 1;
    while b.get(name_end).copied().is_some_and(is_plain_name_byte) {
        name_end += 1;
    }
    let after_name = *b.get(name_end)?;
    // A `/` ends a name only as `/>` (quick-xml's name runs to white space).
    if after_name == b'/' && b.get(name_end + 1) != Some(&b'>') {
        return None;
    }
    if name_end == i + 1 || !(is_xml_space(after_name) || after_name == b'/' || after_name == b'>')
    {
        return None;
    }
    // The usual first attribute, ` key="value"`, split off on the way.
    let mut first_attr = None;
    let mut rest = name_end;
    if after_name == b' ' {
        let key = name_end + 1;
        let mut eq = key;
        while b.get(eq).copied().is_some_and(is_plain_name_byte) {
            eq += 1;
        }
        if eq > key && b.get(eq) == Some(&b'=') && b.get(eq + 1) == Some(&b'"') {
            let (quote, amp) = find_before(b, eq + 2, b'"', b'&')?;
            first_attr = Some((xml.get(key..eq)?, xml.get(eq + 2..quote)?, amp));
            rest = quote + 1;
        }
    }
    // Most tags end right there.
    let close = match b.get(rest..rest + 2)? {
        [b'>', _] => rest,
        [b'/', b'>'] => rest + 1,
        _ => tag_close(b, rest)?,
    };
    let is_empty = b[close - 1] == b'/';
    let content = xml.get(i + 1..if is_empty { close - 1 } else { close })?;
    Some(StartTag {
        content,
        name_len: name_end - (i + 1),
        first_attr,
        is_empty,
        close,
    })
}

/// Take the text of the element that just ended (the last of `path`).
fn leaf<'a>(
    ev: &mut WinEvent<'a>,
    path: &[(Cow<'a, str>, Elem)],
    data_name: &mut Option<Cow<'a, str>>,
    text: Cow<'a, str>,
) {
    let [.., (_, parent), (name, elem)] = path else {
        return;
    };
    // `Event`'s child the element is in.
    let section = path.get(1).map(|(_, e)| *e);
    match (parent, elem) {
        (Elem::System, Elem::EventId) => ev.event_id = Some(text),
        (Elem::System, Elem::Level) => ev.level = text.trim().parse().ok(),
        (Elem::System, Elem::Task) => ev.task = text.trim().parse().ok(),
        (Elem::System, Elem::Keywords) => ev.keywords = hex_or_decimal(&text),
        (Elem::System, Elem::EventRecordId) => ev.record_id = text.trim().parse().ok(),
        (Elem::System, Elem::Channel) => ev.channel = Some(text),
        (Elem::System, Elem::Computer) => ev.computer = Some(text),
        (Elem::EventData, Elem::Data) => {
            if let Some(n) = data_name.take() {
                ev.event_data.push((n, text));
            }
        }
        (Elem::EventData, Elem::Binary) => ev.event_data.push((Cow::Borrowed("Binary"), text)),
        (Elem::RenderingInfo, Elem::Message) => ev.message = Some(text),
        (Elem::RenderingInfo, Elem::Level) => ev.level_name = Some(text),
        (Elem::RenderingInfo, Elem::Task) => ev.task_name = Some(text),
        (Elem::Keywords, Elem::Keyword) if section == Some(Elem::RenderingInfo) => {
            if let Some(a) = audit_of_name(&text) {
                ev.audit_by_name = Some(a);
            }
        }
        _ if section == Some(Elem::UserData) && path.len() >= 4 => {
            ev.event_data.push((name.clone(), text));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncated_xml_is_an_error() {
        let xml = "<Event xmlns='x'><System><EventID>4624</EventID>";
        assert!(matches!(from_xml(xml), Err(XmlError::Truncated(..))));
        assert!(matches!(
            from_xml("<Foo/>"),
            Err(XmlError::NotEvent(n)) if n == "Foo"
        ));
        assert!(matches!(from_xml("  "), Err(XmlError::Empty)));
        assert!(from_xml("<Event><System></Sys></Event>").is_err());
    }

    #[test]
    fn unnamed_data_and_user_data() {
        let xml = "<?xml version=\"1.0\"?>\n<Event xmlns=\"x\">\n  <System>\n    <EventID Qualifiers=\"0\">1000</EventID>\n  </System>\n  <EventData><Data>a</Data><Data>b &amp; c</Data></EventData>\n  <UserData><LogFileCleared><SubjectUserName>bob</SubjectUserName></LogFileCleared></UserData>\n</Event>";
        let ev = from_xml(xml).unwrap();
        assert_eq!(ev.event_id.as_deref(), Some("1000"));
        let data: Vec<(&str, &str)> = ev
            .event_data
            .iter()
            .map(|(k, v)| (k.as_ref(), v.as_ref()))
            .collect();
        assert_eq!(
            data,
            [
                ("param1", "a"),
                ("param2", "b & c"),
                ("SubjectUserName", "bob")
            ]
        );
    }

    /// Every record of every sample EVTX file (as the `evtx` crate renders it) and every
    /// sample of forwarded event XML.
    fn sample_xml() -> Vec<(String, String)> {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/samples");
        let mut samples = Vec::new();
        for file in crate::import::evtx::evtx_files(&dir.join("evtx")).unwrap() {
            let name = file.display().to_string();
            crate::import::evtx::for_each_item(&file, |item| {
                if let crate::import::evtx::EvtxItem::Record(xml) = item {
                    samples.push((name.clone(), String::from_utf8(xml).unwrap()));
                }
                Ok(())
            })
            .unwrap();
        }
        let forwarded = std::fs::read_to_string(dir.join("windows/events.xml")).unwrap();
        for line in forwarded.lines().filter(|l| !l.trim().is_empty()) {
            samples.push(("events.xml".to_owned(), line.to_owned()));
        }
        samples
    }

    #[test]
    fn crate_xml_reader_gives_quick_xml_s_event_on_every_sample() {
        let samples = sample_xml();
        assert!(samples.len() > 4_000, "{} samples", samples.len());
        for (file, xml) in &samples {
            let fast = from_crate_xml(xml);
            // Every record the crate renders takes the hand-written reader.
            if !file.ends_with("events.xml") {
                assert!(fast.is_some(), "{file}: fell back on\n{xml}");
            }
            if let Some(ev) = fast {
                assert_eq!(
                    Ok(ev),
                    from_xml(xml).map_err(|e| e.to_string()),
                    "{file}:\n{xml}"
                );
            }
        }
    }

    /// Pieces of XML (and of not quite XML) the mutation test puts into sample records.
    const MUTATIONS: [&str; 24] = [
        "<",
        ">",
        "\"",
        "'",
        "&",
        "&amp;",
        "&#x41;",
        "&#65;",
        "&bogus;",
        "/",
        "</",
        "/>",
        "<!-- c -->",
        "<![CDATA[x<y]]>",
        "<?pi x?>",
        " ",
        "=",
        ":",
        "\u{feff}",
        "<a>",
        "</a>",
        "<Data Name=\"X\">",
        "</Data>",
        "\u{e9}",
    ];

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(2000))]
        /// Mutated records: never a panic, and whenever the hand-written reader gives an
        /// event, it is the event quick-xml's reader gives.
        #[test]
        fn mutated_xml_falls_back_to_the_same_result(
            sample in 0usize..64,
            edits in proptest::collection::vec((0usize..4096, 0usize..MUTATIONS.len(), 0usize..3, 0usize..8), 1..4),
        ) {
            thread_local! {
                static SAMPLES: Vec<String> = {
                    let all = sample_xml();
                    let step = (all.len() / 60).max(1);
                    all.into_iter().step_by(step).map(|(_, x)| x).collect()
                };
            }
            let mut xml = SAMPLES.with(|s| s[sample % s.len()].clone()).into_bytes();
            for (at, m, kind, len) in edits {
                let at = at % (xml.len() + 1);
                match kind {
                    0 => { xml.splice(at..at, MUTATIONS[m].bytes()); }
                    1 => { xml.drain(at..(at + len).min(xml.len())); }
                    _ => if let Some(c) = xml.get_mut(at) { *c = MUTATIONS[m].as_bytes()[0]; },
                }
            }
            let xml = utf8_lossy(&xml);
            let slow = from_xml(&xml).map_err(|e| e.to_string());
            if let Some(ev) = from_crate_xml(&xml) {
                proptest::prop_assert_eq!(Ok(ev), slow, "{}", xml);
            }
            let _ = read_event_xml(&xml);
        }
    }

    #[test]
    fn attributes_by_local_name_in_either_quotes() {
        let attrs = " xmlns='x' a:Name = \"A &amp; B\"\n SystemTime='2024-05-14T09:30:00Z'";
        assert_eq!(attr_value(attrs, "Name").as_deref(), Some("A & B"));
        assert_eq!(
            attr_value(attrs, "SystemTime").as_deref(),
            Some("2024-05-14T09:30:00Z")
        );
        assert_eq!(attr_value(attrs, "Guid"), None);
        assert_eq!(attr_value(" Name=unquoted", "Name"), None);
        assert_eq!(attr_value(" Name='open", "Name"), None);
        assert_eq!(attr_value("", "Name"), None);
    }
}
