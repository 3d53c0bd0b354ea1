//! Which Windows events an input keeps: include and exclude lists of event IDs (single IDs
//! and ranges), levels, providers, channels and audit keywords, checked on the raw record
//! bytes of any Windows form (rendered event XML, NXLog JSON, Winlogbeat JSON) through the
//! Windows normalizer's own field extraction ([`super::windows::windows_fields`]).
//!
//! A record is kept when every field that has an include list matches one of its entries
//! (a record without that field does not match), and no field matches an entry of its
//! exclude list; exclude wins over include. A record that is not a readable Windows event is
//! always kept, so it still becomes a `pipeline_error` event (bad input loses nothing).

use std::cell::RefCell;

use serde::{Deserialize, Serialize};

use super::windows::{windows_fields, WindowsFields};
use crate::normalize::mapping::windows_level_of_name;

/// `[... .filter]` of an input: what to keep and what to drop. Empty: keep everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsFilterConfig {
    /// Keep only events matching every non-empty list here.
    pub include: WindowsMatchConfig,
    /// Drop events matching any entry here (wins over `include`).
    pub exclude: WindowsMatchConfig,
}

/// Lists of values per field; an empty list does not select on that field.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct WindowsMatchConfig {
    /// Event IDs: numbers (`4688`) or strings holding one (`"4688"`) or an inclusive range
    /// (`"4624-4634"`).
    pub event_ids: Vec<NumberOrText>,
    /// Levels: numbers 0-255, or names `critical` (1), `error` (2), `warning` (3),
    /// `information` (4, and 0, which Windows shows as Information too), `verbose` (5).
    pub levels: Vec<NumberOrText>,
    /// Provider names, compared without regard to case.
    pub providers: Vec<String>,
    /// Channel names (`Security`, `Microsoft-Windows-Sysmon/Operational`), without regard
    /// to case.
    pub channels: Vec<String>,
    /// Audit keywords: `audit_success`, `audit_failure`.
    pub keywords: Vec<String>,
}

/// A TOML value that may be a number or a string.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(untagged)]
pub enum NumberOrText {
    Number(i64),
    Text(String),
}

/// A filter setting that cannot be used: the key it is under and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {reason}")]
pub struct FilterError {
    pub key: &'static str,
    pub reason: String,
}

/// One side (include or exclude) of a filter, ready to match.
#[derive(Debug, Default)]
struct Matcher {
    /// Inclusive event ID ranges.
    ids: Vec<(u32, u32)>,
    levels: Vec<u8>,
    /// Lower-cased.
    providers: Vec<String>,
    /// Lower-cased.
    channels: Vec<String>,
    /// Audit keywords listed: `true` success, `false` failure.
    audits: Vec<bool>,
}

/// How one field of a record compares with one side's list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum FieldMatch {
    /// The list is empty: this field does not select.
    Unlisted,
    Match,
    NoMatch,
}

fn field<T>(list: &[T], value: Option<impl Fn(&T) -> bool>) -> FieldMatch {
    match value {
        _ if list.is_empty() => FieldMatch::Unlisted,
        Some(is) if list.iter().any(&is) => FieldMatch::Match,
        _ => FieldMatch::NoMatch,
    }
}

fn eq_lower(value: &Option<String>) -> Option<impl Fn(&String) -> bool + '_> {
    value
        .as_ref()
        .map(|v| move |l: &String| v.eq_ignore_ascii_case(l))
}

impl Matcher {
    fn new(cfg: &WindowsMatchConfig) -> Result<Self, FilterError> {
        let ids = cfg
            .event_ids
            .iter()
            .map(id_range)
            .collect::<Result<_, _>>()?;
        let mut levels = Vec::new();
        for l in &cfg.levels {
            levels.extend_from_slice(&level(l)?);
        }
        let mut audits = Vec::new();
        for k in &cfg.keywords {
            audits.push(match k.trim().to_ascii_lowercase().as_str() {
                "audit_success" => true,
                "audit_failure" => false,
                other => {
                    return Err(FilterError {
                        key: "keywords",
                        reason: format!("`{other}`: use audit_success or audit_failure"),
                    })
                }
            });
        }
        let lower = |names: &[String], key: &'static str| {
            names
                .iter()
                .map(|n| {
                    let n = n.trim();
                    if n.is_empty() {
                        Err(FilterError {
                            key,
                            reason: "names must not be empty".into(),
                        })
                    } else {
                        Ok(n.to_ascii_lowercase())
                    }
                })
                .collect::<Result<Vec<_>, _>>()
        };
        Ok(Self {
            ids,
            levels,
            providers: lower(&cfg.providers, "providers")?,
            channels: lower(&cfg.channels, "channels")?,
            audits,
        })
    }

    fn is_empty(&self) -> bool {
        self.ids.is_empty()
            && self.levels.is_empty()
            && self.providers.is_empty()
            && self.channels.is_empty()
            && self.audits.is_empty()
    }

    /// Each field's comparison with this side's lists.
    fn fields(&self, f: &WindowsFields) -> [FieldMatch; 5] {
        [
            field(
                &self.ids,
                f.event_id
                    .map(|id| move |&(lo, hi): &(u32, u32)| (lo..=hi).contains(&id)),
            ),
            field(&self.levels, f.level.map(|l| move |&x: &u8| x == l)),
            field(&self.providers, eq_lower(&f.provider)),
            field(&self.channels, eq_lower(&f.channel)),
            field(
                &self.audits,
                f.audit_success.map(|a| move |&x: &bool| x == a),
            ),
        ]
    }
}

fn id_range(spec: &NumberOrText) -> Result<(u32, u32), FilterError> {
    let err = |reason: String| FilterError {
        key: "event_ids",
        reason,
    };
    let num = |s: &str| {
        s.trim()
            .parse::<u32>()
            .map_err(|_| err(format!("`{s}` is not an event ID (0-4294967295)")))
    };
    match spec {
        NumberOrText::Number(n) => {
            let id = u32::try_from(*n).map_err(|_| err(format!("{n} is not an event ID")))?;
            Ok((id, id))
        }
        NumberOrText::Text(s) => match s.split_once('-') {
            None => num(s).map(|id| (id, id)),
            Some((lo, hi)) => {
                let (lo, hi) = (num(lo)?, num(hi)?);
                if lo > hi {
                    return Err(err(format!("`{s}`: the range ends before it starts")));
                }
                Ok((lo, hi))
            }
        },
    }
}

fn level(spec: &NumberOrText) -> Result<Vec<u8>, FilterError> {
    let err = |reason: String| FilterError {
        key: "levels",
        reason,
    };
    match spec {
        NumberOrText::Number(n) => u8::try_from(*n)
            .map(|l| vec![l])
            .map_err(|_| err(format!("{n} is not a level (0-255)"))),
        NumberOrText::Text(s) => match windows_level_of_name(s) {
            // Windows shows LogAlways (0) as Information too (audit events have level 0).
            Some(4) => Ok(vec![0, 4]),
            Some(l) => Ok(vec![l]),
            None => s.trim().parse::<u8>().map(|l| vec![l]).map_err(|_| {
                err(format!(
                    "`{s}`: use critical, error, warning, information, verbose or 0-255"
                ))
            }),
        },
    }
}

/// A compiled [`WindowsFilterConfig`]. Holds a scratch buffer for JSON records, so it
/// belongs to one thread (one shard, one import).
#[derive(Debug)]
pub struct WindowsFilter {
    include: Matcher,
    exclude: Matcher,
    scratch: RefCell<Vec<u8>>,
}

impl WindowsFilter {
    /// Check and compile `cfg`: a bad ID or range (`"40-3"`), level or keyword is an error
    /// naming its key.
    pub fn new(cfg: &WindowsFilterConfig) -> Result<Self, FilterError> {
        Ok(Self {
            include: Matcher::new(&cfg.include)?,
            exclude: Matcher::new(&cfg.exclude)?,
            scratch: RefCell::new(Vec::new()),
        })
    }

    /// Whether the filter selects anything (an empty one keeps every record unread).
    pub fn is_active(&self) -> bool {
        !(self.include.is_empty() && self.exclude.is_empty())
    }

    /// Whether to keep the Windows record `raw` (event XML, NXLog or Winlogbeat JSON); see
    /// the module docs. Never panics.
    pub fn keep(&self, raw: &[u8]) -> bool {
        if !self.is_active() {
            return true;
        }
        // Too deep to parse safely: kept, and its normalizer's caller turns it into a
        // pipeline_error event (see crate::nesting).
        if crate::nesting::depth_within(raw, crate::nesting::DEPTH_MAX).is_err() {
            return true;
        }
        let Ok(mut scratch) = self.scratch.try_borrow_mut() else {
            return true;
        };
        match windows_fields(raw, &mut scratch) {
            Some(f) => self.keep_fields(&f),
            None => true,
        }
    }

    /// Whether to keep an event with these fields.
    pub fn keep_fields(&self, f: &WindowsFields) -> bool {
        let included = !self.include.fields(f).contains(&FieldMatch::NoMatch);
        let excluded = self.exclude.fields(f).contains(&FieldMatch::Match);
        included && !excluded
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(toml_text: &str) -> Result<WindowsFilter, FilterError> {
        let cfg: WindowsFilterConfig = toml::from_str(toml_text).expect("filter TOML");
        WindowsFilter::new(&cfg)
    }

    fn xml(id: u32, level: u8, provider: &str, channel: &str, keywords: &str) -> String {
        format!(
            "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System>\
             <Provider Name=\"{provider}\"/><EventID>{id}</EventID><Level>{level}</Level>\
             <Keywords>{keywords}</Keywords><Channel>{channel}</Channel></System></Event>"
        )
    }

    fn logon(id: u32) -> String {
        xml(
            id,
            0,
            "Microsoft-Windows-Security-Auditing",
            "Security",
            "0x8020000000000000",
        )
    }

    #[test]
    fn empty_filter_keeps_everything_unread() {
        let f = filter("").unwrap();
        assert!(!f.is_active());
        assert!(f.keep(b"not even xml"));
        assert!(f.keep(logon(4624).as_bytes()));
    }

    #[test]
    fn event_ids_single_and_ranges() {
        let f = filter("[include]\nevent_ids = [\"4624-4634\", 4688, \"1102\"]\n").unwrap();
        for id in [4624, 4630, 4634, 4688, 1102] {
            assert!(f.keep(logon(id).as_bytes()), "{id}");
        }
        for id in [4623, 4635, 4687, 4689, 0] {
            assert!(!f.keep(logon(id).as_bytes()), "{id}");
        }
        let f = filter("[exclude]\nevent_ids = [\"4624-4634\"]\n").unwrap();
        assert!(!f.keep(logon(4625).as_bytes()));
        assert!(f.keep(logon(4688).as_bytes()));
    }

    #[test]
    fn bad_ids_levels_and_keywords_are_errors() {
        let e = filter("[include]\nevent_ids = [\"40-3\"]\n").unwrap_err();
        assert_eq!(e.key, "event_ids");
        assert!(e.reason.contains("40-3"), "{e}");
        assert_eq!(
            filter("[exclude]\nevent_ids = [-1]\n").unwrap_err().key,
            "event_ids"
        );
        assert!(filter("[include]\nevent_ids = [\"46x\"]\n").is_err());
        assert!(filter("[include]\nevent_ids = [\"1-\"]\n").is_err());
        assert_eq!(
            filter("[include]\nlevels = [\"loud\"]\n").unwrap_err().key,
            "levels"
        );
        assert_eq!(
            filter("[include]\nlevels = [256]\n").unwrap_err().key,
            "levels"
        );
        assert_eq!(
            filter("[include]\nkeywords = [\"audit\"]\n")
                .unwrap_err()
                .key,
            "keywords"
        );
        assert_eq!(
            filter("[include]\nproviders = [\" \"]\n").unwrap_err().key,
            "providers"
        );
        let cfg: Result<WindowsFilterConfig, _> = toml::from_str("[include]\nevent_id = [1]\n");
        assert!(cfg.is_err(), "unknown keys are rejected");
    }

    #[test]
    fn levels_by_number_and_name() {
        let rec = |level| {
            xml(
                7036,
                level,
                "Service Control Manager",
                "System",
                "0x8080000000000000",
            )
        };
        let f = filter("[include]\nlevels = [\"error\", 1]\n").unwrap();
        assert!(f.keep(rec(2).as_bytes()));
        assert!(f.keep(rec(1).as_bytes()));
        assert!(!f.keep(rec(3).as_bytes()));
        assert!(!f.keep(rec(4).as_bytes()));
        // `information` is 4 and 0 (audit events have level 0).
        let f = filter("[include]\nlevels = [\"Information\"]\n").unwrap();
        assert!(f.keep(rec(4).as_bytes()));
        assert!(f.keep(rec(0).as_bytes()));
        assert!(!f.keep(rec(5).as_bytes()));
        let f = filter("[exclude]\nlevels = [\"verbose\", \"4\"]\n").unwrap();
        assert!(!f.keep(rec(5).as_bytes()));
        assert!(!f.keep(rec(4).as_bytes()));
        assert!(f.keep(rec(0).as_bytes()));
    }

    #[test]
    fn providers_and_channels_ignore_case() {
        let f = filter(
            "[include]\nproviders = [\"microsoft-windows-security-auditing\"]\n\
             channels = [\"SECURITY\"]\n",
        )
        .unwrap();
        assert!(f.keep(logon(4624).as_bytes()));
        let other = xml(1, 4, "Microsoft-Windows-Sysmon", "Security", "0x0");
        assert!(!f.keep(other.as_bytes()));
        let other = xml(
            4624,
            0,
            "Microsoft-Windows-Security-Auditing",
            "System",
            "0x0",
        );
        assert!(!f.keep(other.as_bytes()));
        let f =
            filter("[exclude]\nchannels = [\"Microsoft-Windows-Sysmon/Operational\"]\n").unwrap();
        let sysmon = xml(1, 4, "x", "Microsoft-Windows-Sysmon/Operational", "0x0");
        assert!(!f.keep(sysmon.as_bytes()));
        assert!(f.keep(logon(4624).as_bytes()));
    }

    #[test]
    fn audit_keywords() {
        let success = logon(4624);
        let failure = xml(
            4625,
            0,
            "Microsoft-Windows-Security-Auditing",
            "Security",
            "0x8010000000000000",
        );
        let neither = xml(
            7036,
            4,
            "Service Control Manager",
            "System",
            "0x8080000000000000",
        );
        let f = filter("[include]\nkeywords = [\"audit_failure\"]\n").unwrap();
        assert!(!f.keep(success.as_bytes()));
        assert!(f.keep(failure.as_bytes()));
        assert!(!f.keep(neither.as_bytes()), "no audit keyword: no match");
        let f = filter("[exclude]\nkeywords = [\"AUDIT_SUCCESS\"]\n").unwrap();
        assert!(!f.keep(success.as_bytes()));
        assert!(f.keep(failure.as_bytes()));
        assert!(f.keep(neither.as_bytes()));
    }

    #[test]
    fn exclude_wins_and_include_fields_all_apply() {
        let f = filter(
            "[include]\nevent_ids = [\"4600-4700\"]\nchannels = [\"Security\"]\n\
             [exclude]\nevent_ids = [4634]\n",
        )
        .unwrap();
        assert!(f.keep(logon(4624).as_bytes()));
        assert!(!f.keep(logon(4634).as_bytes()), "exclude wins");
        let wrong_channel = xml(4624, 0, "p", "System", "0x0");
        assert!(
            !f.keep(wrong_channel.as_bytes()),
            "every include field applies"
        );
        // A record without the selecting field does not match an include list...
        let no_id = "<Event><System><Channel>Security</Channel></System></Event>";
        assert!(!f.keep(no_id.as_bytes()));
        // ...and is not excluded by a list on that field.
        let f = filter("[exclude]\nevent_ids = [4634]\n").unwrap();
        assert!(f.keep(no_id.as_bytes()));
    }

    #[test]
    fn unreadable_records_are_kept() {
        let f = filter("[include]\nevent_ids = [4624]\n").unwrap();
        assert!(f.keep(b"<Event><System><EventID>46"));
        assert!(f.keep(b"{\"neither\": 1}"));
        assert!(f.keep(b"garbage"));
    }

    #[test]
    fn json_forms_use_the_normalizers_fields() {
        let f = filter(
            "[include]\nevent_ids = [4625]\nlevels = [\"information\"]\n\
             keywords = [\"audit_failure\"]\nchannels = [\"security\"]\n\
             providers = [\"Microsoft-Windows-Security-Auditing\"]\n",
        )
        .unwrap();
        let nxlog = br#"{"EventID":4625,"SourceName":"Microsoft-Windows-Security-Auditing","Channel":"Security","EventType":"AUDIT_FAILURE","Keywords":-9218868437227405312,"SeverityValue":4}"#;
        assert!(
            !f.keep(nxlog),
            "NXLog's EventType AUDIT_FAILURE is no level"
        );
        let f = filter(
            "[include]\nevent_ids = [4625]\nkeywords = [\"audit_failure\"]\n\
             channels = [\"security\"]\nproviders = [\"Microsoft-Windows-Security-Auditing\"]\n",
        )
        .unwrap();
        assert!(f.keep(nxlog));
        let beat = br#"{"@timestamp":"2025-01-01T00:00:00Z","log":{"level":"information"},"winlog":{"event_id":"4625","provider_name":"Microsoft-Windows-Security-Auditing","channel":"Security","keywords":["Audit Failure"]}}"#;
        assert!(f.keep(beat));
        let beat_success = br#"{"winlog":{"event_id":"4625","provider_name":"Microsoft-Windows-Security-Auditing","channel":"Security","keywords":["Audit Success"]}}"#;
        assert!(!f.keep(beat_success));
        let fields = windows_fields(beat, &mut Vec::new()).unwrap();
        assert_eq!(fields.level, Some(4));
        assert_eq!(fields.event_id, Some(4625));
    }
}
