//! Property tests of the parser + ECS writer: any byte string yields exactly one JSON object
//! (an event or a pipeline_error), never a panic.

use linerate::normalize::{syslog_to_ecs, Normalized, ReceiveMeta};
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
}
