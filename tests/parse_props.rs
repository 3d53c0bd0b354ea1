//! Property tests of the parser + ECS writer: any byte string yields exactly one JSON object
//! (an event or a pipeline_error), never a panic.

use linerate::event::ReceiveMeta;
use linerate::normalize::{syslog_to_ecs, Normalized};
use linerate::parse::{Format, ParseOptions};
use proptest::prelude::*;

fn check(bytes: &[u8], format: Format) {
    let opts = ParseOptions {
        format,
        year: None,
        ..Default::default()
    };
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: Some("127.0.0.1:9".parse().unwrap()),
    };
    let mut out = Vec::new();
    let kind = syslog_to_ecs(bytes, &opts, &meta, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).unwrap_or_else(|e| {
        panic!(
            "invalid JSON ({e}) for {bytes:?}: {}",
            String::from_utf8_lossy(&out)
        )
    });
    assert!(v.is_object());
    match kind {
        Normalized::Event { .. } => assert_eq!(v["event"]["kind"], "event"),
        Normalized::PipelineError => {
            assert_eq!(v["event"]["kind"], "pipeline_error");
            assert_eq!(
                v["event"]["original"],
                String::from_utf8_lossy(bytes).as_ref()
            );
            assert!(v["error"]["type"].as_str().unwrap().starts_with("syslog."));
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(4000))]

    #[test]
    fn any_bytes_give_one_object(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
        for f in [Format::Auto, Format::Rfc5424, Format::Rfc3164] {
            check(&bytes, f);
        }
    }

    #[test]
    fn syslog_shaped_input_gives_one_object(
        pri in 0u16..300,
        ver in prop_oneof![Just("1 ".to_string()), Just(String::new())],
        ts in prop_oneof![
            Just("2003-10-11T22:14:15.003Z ".to_string()),
            Just("- ".to_string()),
            Just("Oct  1 12:00:00 ".to_string()),
            Just("Jan 08 2025 12:00:00 ".to_string()),
            "[0-9TZ:.+-]{0,30} ",
        ],
        rest in "[ -~\\[\\]\"\\\\=]{0,80}",
    ) {
        let line = format!("<{pri}>{ver}{ts}{rest}");
        check(line.as_bytes(), Format::Auto);
    }

    /// After a whole header a TAG gives the same appname and message with its colon or
    /// without it (as rsyslog forwards a TAG without a process id).
    #[test]
    fn a_tag_with_or_without_its_colon_parses_alike(
        ts in prop_oneof![
            Just("2026-12-05T02:16:17+00:00"),
            Just("2026-12-05T02:16:17.123456Z"),
            Just("Dec  5 02:16:17"),
        ],
        host in "[a-z][a-z0-9.-]{0,20}",
        name in "[A-Za-z][A-Za-z0-9._/-]{0,30}",
        msg in "[!-~]([ -~]{0,58}[!-~])?",
    ) {
        let opts = ParseOptions { year: Some(2026), ..Default::default() };
        let bare = format!("<13>{ts} {host} {name} {msg}");
        let colon = format!("<13>{ts} {host} {name}: {msg}");
        let a = linerate::parse::parse(bare.as_bytes(), &opts, 0).unwrap();
        let b = linerate::parse::parse(colon.as_bytes(), &opts, 0).unwrap();
        prop_assert_eq!(a.hostname, Some(host.as_str()));
        prop_assert_eq!(a.appname, Some(name.as_str()), "{}", bare);
        prop_assert_eq!(a.message, Some(msg.as_bytes()), "{}", bare);
        prop_assert_eq!((a.appname, a.message), (b.appname, b.message), "{}", colon);
    }
}
