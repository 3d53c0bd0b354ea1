//! Property tests of every JSON / XML entry point of the Windows and cloud imports: any bytes
//! give exactly one ECS object (an event or a `pipeline_error`) per record, never a panic.

use linerate::event::ReceiveMeta;
use linerate::import::{ImportError, ImportOptions, Importer, Kind, Sink};
use linerate::normalize::{
    azure_to_ecs, cloudtrail_to_ecs, gcp_to_ecs, windows_to_ecs, windows_xml_to_ecs, RecordOptions,
    RecordOutcome,
};
use proptest::prelude::*;

const META: ReceiveMeta = ReceiveMeta {
    received_unix_micros: 1_715_680_000_000_000,
    peer: None,
};

/// `out` is exactly one JSON object whose kind matches `outcome`.
fn one_object(out: &[u8], outcome: RecordOutcome) -> Result<(), TestCaseError> {
    let v: serde_json::Value = serde_json::from_slice(out)
        .map_err(|e| TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(out))))?;
    let kind = v["event"]["kind"].as_str().unwrap_or_default();
    let want = match outcome {
        RecordOutcome::Event => "event",
        RecordOutcome::PipelineError => "pipeline_error",
    };
    prop_assert_eq!(kind, want);
    if outcome == RecordOutcome::PipelineError {
        prop_assert!(v["event"]["original"].is_string() && v["error"]["type"].is_string());
    }
    Ok(())
}

/// Inputs near the real formats, so the properties reach past the first byte.
fn near_json() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        ",",
        ":",
        "\"",
        "\"eventName\"",
        "\"errorCode\"",
        "\"winlog\"",
        "\"EventID\"",
        "\"protoPayload\"",
        "\"status\"",
        "\"code\"",
        "\"operationName\"",
        "\"MICROSOFT.X/Y\"",
        "\"-\"",
        "7",
        "-1",
        "1e400",
        "null",
        "true",
        "\"\\u0000\"",
        "\"2024-05-14T09:12:07.123456789Z\"",
        "\"2024-99-14 09:12:07\"",
        "\"%2F\"",
        " ",
        "\n",
        "\"userIdentity\"",
        "\"arn\"",
        "\"a/\"",
        "\"records\"",
        "\"message\"",
        "\"data\"",
        "\"=\"",
        "\"\u{e9}\"",
    ]);
    prop::collection::vec(fragments, 0..40).prop_map(|v| v.concat().into_bytes())
}

fn near_xml() -> impl Strategy<Value = Vec<u8>> {
    let fragments = prop::sample::select(vec![
        "<Event xmlns='x'>",
        "</Event>",
        "<System>",
        "</System>",
        "<EventID>",
        "</EventID>",
        "4624",
        "<Level>",
        "</Level>",
        "<Keywords>0x8010000000000000</Keywords>",
        "<TimeCreated SystemTime='2024-05-14T10:11:04.2218410Z'/>",
        "<EventData>",
        "</EventData>",
        "<Data Name='IpAddress'>",
        "<Data>",
        "</Data>",
        "&#13;",
        "&bad;",
        "-",
        "<![CDATA[x]]>",
        "<UserData>",
        "</UserData>",
        "<?xml version='1.0'?>",
        "<",
        ">",
        "'",
        "\"",
        " ",
        "\u{e9}",
        "<RenderingInfo><Keywords><Keyword>Audit Failure</Keyword></Keywords></RenderingInfo>",
    ]);
    prop::collection::vec(fragments, 0..30).prop_map(|v| v.concat().into_bytes())
}

fn any_input() -> impl Strategy<Value = Vec<u8>> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        near_json(),
        near_xml(),
    ]
}

struct Collect(Vec<Vec<u8>>);

impl Sink for Collect {
    fn write(&mut self, json: &[u8]) -> Result<(), ImportError> {
        self.0.push(json.to_vec());
        Ok(())
    }
}

type JsonEntry =
    fn(&[u8], &RecordOptions, &ReceiveMeta, &mut Vec<u8>, &mut Vec<u8>) -> RecordOutcome;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn json_record_entry_points(input in any_input()) {
        let opts = RecordOptions::default();
        let entries: [JsonEntry; 4] = [cloudtrail_to_ecs, azure_to_ecs, gcp_to_ecs, windows_to_ecs];
        for entry in entries {
            let (mut scratch, mut out) = (Vec::new(), Vec::new());
            let outcome = entry(&input, &opts, &META, &mut scratch, &mut out);
            one_object(&out, outcome)?;
        }
    }

    #[test]
    fn event_xml_entry_point(input in any_input()) {
        let mut out = Vec::new();
        let outcome = windows_xml_to_ecs(&input, &RecordOptions::default(), &META, &mut out);
        one_object(&out, outcome)?;
    }

    /// Whole files or bodies of each kind: one object per record (the importer's count),
    /// every one valid, whatever the bytes.
    #[test]
    fn importer_any_file(input in any_input()) {
        for kind in [Kind::Windows, Kind::Cloudtrail, Kind::Azure, Kind::Gcp, Kind::Firehose, Kind::Pubsub] {
            let mut importer = Importer::new(ImportOptions::default());
            let mut sink = Collect(Vec::new());
            importer.import_bytes(kind, &input, &mut sink).map_err(|e| TestCaseError::fail(e.to_string()))?;
            let counts = importer.counts();
            prop_assert_eq!(sink.0.len() as u64, counts.records);
            prop_assert_eq!(counts.records, counts.events + counts.pipeline_errors);
            for obj in &sink.0 {
                let v: serde_json::Value = serde_json::from_slice(obj)
                    .map_err(|e| TestCaseError::fail(format!("{kind:?}: {e}")))?;
                prop_assert!(v["event"]["kind"] == "event" || v["event"]["kind"] == "pipeline_error");
            }
        }
    }
}
