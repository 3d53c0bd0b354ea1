//! Fuzz the rfc5424 grammar: any bytes give exactly one event or pipeline_error, and the
//! writer always produces one valid JSON object. Run: see README "Fuzzing".
#![no_main]

use libfuzzer_sys::fuzz_target;
use linerate::normalize::syslog_to_ecs;
use linerate::event::ReceiveMeta;
use linerate::parse::{Format, ParseOptions};

fuzz_target!(|data: &[u8]| {
    let opts = ParseOptions {
        format: Format::Rfc5424,
        ..Default::default()
    };
    let meta = ReceiveMeta {
        received_unix_micros: 1_736_334_000_000_000,
        peer: None,
    };
    let mut out = Vec::new();
    syslog_to_ecs(data, &opts, &meta, &mut out);
    let v: serde_json::Value = serde_json::from_slice(&out).expect("valid JSON");
    assert!(v.is_object());
});
