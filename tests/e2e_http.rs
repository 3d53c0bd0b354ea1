//! End to end against the real binary: the shards' HTTP input (Firehose, Pub/Sub push,
//! CloudTrail and Azure bodies) over loopback → linerate's ring → a real Kafka-protocol
//! broker (librdkafka's mock cluster, owned by the test) → a real consumer. The HTTP client
//! is a plain `TcpStream`, so what goes over the wire is exactly what is written here.

mod common;

use std::io::Write;
use std::time::Duration;

use common::http_client::*;
use common::*;
use serde_json::Value;

const KEY: &str = "test-firehose-key-EXAMPLE";
const REQUEST_ID: &str = "4a7c2e91-5d3b-4f68-a0e2-9c1b7d5f3e86";
const BODY_BYTES_MAX: usize = 256 << 10;

fn firehose_headers(key: &str) -> Vec<(&str, &str)> {
    vec![
        ("X-Amz-Firehose-Protocol-Version", "1.0"),
        ("X-Amz-Firehose-Request-Id", REQUEST_ID),
        (
            "X-Amz-Firehose-Source-Arn",
            "arn:aws:firehose:us-east-1:123456789012:deliverystream/cloudtrail-to-linerate",
        ),
        ("X-Amz-Firehose-Access-Key", key),
    ]
}

fn start(kafka: &Kafka) -> (Appliance, u16) {
    let port = free_port();
    let extra = format!(
        "[http_input]\nlisten = \"127.0.0.1:{port}\"\nfirehose_access_key = \"{KEY}\"\n\
         body_bytes_max = {BODY_BYTES_MAX}\n"
    );
    (Appliance::start(&kafka.bootstrap(), &extra), port)
}

fn count_dataset(events: &[Value], dataset: &str) -> usize {
    events
        .iter()
        .filter(|e| e["event"]["dataset"] == dataset)
        .count()
}

#[test]
fn firehose_pubsub_and_record_bodies_reach_kafka_and_refusals_produce_nothing() {
    let kafka = Kafka::start();
    let (app, port) = start(&kafka);
    let firehose = sample("cloud/firehose/request-cloudtrail.json");

    // Wrong key: 401 with Firehose's error body, nothing buffered.
    let r = post(port, "/firehose", &firehose_headers("wrong"), &firehose);
    assert_eq!(r.status, 401, "{r:?}");
    let j = r.json();
    assert_eq!(j["requestId"], REQUEST_ID);
    assert!(
        j["errorMessage"].as_str().unwrap().contains("Access-Key"),
        "{j}"
    );
    assert!(j["timestamp"].as_u64().unwrap() > 1_700_000_000_000);

    // Right key: 200 with the same requestId and a timestamp.
    let r = post(port, "/firehose", &firehose_headers(KEY), &firehose);
    assert_eq!(r.status, 200, "{r:?}");
    let j = r.json();
    assert_eq!(j["requestId"], REQUEST_ID, "{j}");
    assert!(j["timestamp"].as_u64().unwrap() > 1_700_000_000_000, "{j}");
    assert!(j.get("errorMessage").is_none(), "{j}");

    // Bad base64 in the last record: 400 with the reason, none of the records buffered.
    let text = String::from_utf8(firehose.clone()).unwrap();
    let cut = text.rfind(r#""data":""#).unwrap() + r#""data":""#.len();
    let bad = format!("{}!!{}", &text[..cut], &text[cut..]);
    let r = post(port, "/firehose", &firehose_headers(KEY), bad.as_bytes());
    assert_eq!(r.status, 400, "{r:?}");
    let j = r.json();
    assert!(
        j["errorMessage"]
            .as_str()
            .unwrap()
            .contains("records[3].data is not base64"),
        "{j}"
    );

    // A gzip body (Content-Encoding) works like the plain one.
    let mut headers = firehose_headers(KEY);
    headers.push(("Content-Encoding", "gzip"));
    let r = post(port, "/firehose", &headers, &gzip(&firehose));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["requestId"], REQUEST_ID);

    // Over the body limit, as sent (refused from the head, body unread) and after gzip.
    let mut s = connect(port);
    let head = format!(
        "POST /cloudtrail HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        BODY_BYTES_MAX + 1
    );
    s.write_all(head.as_bytes()).unwrap();
    let r = read_response(&mut s);
    assert_eq!(r.status, 413, "{r:?}");
    assert!(r.json()["error"]
        .as_str()
        .unwrap()
        .contains("body_bytes_max"));
    assert!(r.head.to_ascii_lowercase().contains("connection: close"));
    let mut bomb = br#"{"Records":[{"pad":""#.to_vec();
    bomb.extend(std::iter::repeat_n(b'a', BODY_BYTES_MAX));
    bomb.extend_from_slice(br#""}]}"#);
    let r = post(
        port,
        "/cloudtrail",
        &[("Content-Encoding", "gzip")],
        &gzip(&bomb),
    );
    assert_eq!(r.status, 413, "{r:?}");

    // A Pub/Sub push body: one GCP event.
    let r = post(port, "/pubsub", &[], &sample("cloud/gcp/pubsub-push.json"));
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["accepted"], 1);

    // Two requests on one keep-alive connection: an Azure body and a CloudTrail file.
    let mut s = connect(port);
    write_request(
        &mut s,
        "/azure",
        &[],
        &sample("cloud/azure/activitylog-eventhub-records.json"),
    );
    let r1 = read_response(&mut s);
    write_request(
        &mut s,
        "/cloudtrail",
        &[],
        &sample("cloud/cloudtrail/123456789012_CloudTrail_eu-west-1_20240514T0930Z_9hGf3sD2aQ1wE5rT.json"),
    );
    let r2 = read_response(&mut s);
    assert_eq!(
        (r1.status, r1.json()["accepted"].clone()),
        (200, 5.into()),
        "{r1:?}"
    );
    assert_eq!(
        (r2.status, r2.json()["accepted"].clone()),
        (200, 4.into()),
        "{r2:?}"
    );
    assert!(!r1.head.to_ascii_lowercase().contains("connection: close"));

    // What arrived: 4 + 4 Firehose records + 4 CloudTrail, 1 GCP, 5 Azure; nothing of the
    // refused requests (waiting past the expected count for strays).
    let want = 4 + 4 + 4 + 1 + 5;
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        want + 1,
        Duration::from_secs(8),
    );
    assert_eq!(events.len(), want, "normalized events: {events:#?}");
    assert_eq!(count_dataset(&events, "aws.cloudtrail"), 12);
    assert_eq!(count_dataset(&events, "azure.activitylogs"), 5);
    assert_eq!(
        events
            .iter()
            .filter(|e| e["event"]["dataset"]
                .as_str()
                .is_some_and(|d| d.starts_with("gcp.")))
            .count(),
        1
    );
    for ev in &events {
        assert_eq!(ev["event"]["kind"], "event", "{ev}");
    }
    let console_logins = events
        .iter()
        .filter(|e| {
            e["event"]["original"]
                .as_str()
                .is_some_and(|o| o.contains("\"ConsoleLogin\""))
        })
        .count();
    assert_eq!(
        console_logins, 2,
        "the Firehose sample's ConsoleLogin, twice"
    );
    let raw = consume(
        &kafka.bootstrap(),
        "logs.raw",
        want + 1,
        Duration::from_secs(3),
    );
    assert_eq!(raw.len(), want, "raw records");
    // Counted as received under their own transport, not TCP's.
    let m = app.wait_metrics(Duration::from_secs(5), |m| {
        m.sum("linerate_events_received_total", &["transport=\"http\""]) == want as u64
    });
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"http\""]),
        want as u64
    );
    assert_eq!(
        m.sum("linerate_events_received_total", &["transport=\"tcp\""]),
        0
    );
    let (code, _) = app.terminate();
    assert_eq!(code, 0);
}

#[test]
fn a_full_ring_refuses_whole_bodies_with_503_and_delivers_exactly_the_accepted_ones() {
    let kafka = Kafka::start();
    let data = tempfile::tempdir().unwrap();
    let port = free_port();
    // 128 KiB rings and no spill: with Kafka down they fill after a few bodies.
    let keys = Keys {
        buffer: "ring_bytes_max = 131072\nspill_enabled = false",
        syslog: "message_bytes_max = 16384",
        ..Keys::default()
    };
    let extra = format!("[http_input]\nlisten = \"127.0.0.1:{port}\"\n");
    let app = Appliance::start_in(data.path(), &kafka.bootstrap(), &extra, keys);
    kafka.cluster.broker_down(1).unwrap();
    let body = sample("cloud/azure/activitylog-eventhub-records.json");
    let (mut accepted, mut refused) = (0usize, 0usize);
    for _ in 0..200 {
        let r = post(port, "/azure", &[], &body);
        match r.status {
            200 => accepted += r.json()["accepted"].as_u64().unwrap() as usize,
            503 => {
                refused += 1;
                assert!(r.head.contains("Retry-After: 1"), "{r:?}");
                assert!(r.json()["error"]
                    .as_str()
                    .unwrap()
                    .contains("buffer is full"));
                if refused >= 6 {
                    break;
                }
            }
            other => panic!("unexpected status {other}: {r:?}"),
        }
    }
    assert!(
        refused > 0,
        "the rings never filled ({accepted} records accepted)"
    );
    assert!(
        accepted > 0 && accepted % 5 == 0,
        "{accepted} records accepted"
    );

    // Kafka back: exactly the records of the accepted bodies arrive, none of the refused.
    kafka.cluster.broker_up(1).unwrap();
    let events = consume(
        &kafka.bootstrap(),
        "logs.normalized",
        accepted + 1,
        Duration::from_secs(15),
    );
    assert_eq!(events.len(), accepted);
    assert_eq!(count_dataset(&events, "azure.activitylogs"), accepted);
    // Space is back: a body is accepted again.
    let r = post(port, "/azure", &[], &body);
    assert_eq!(r.status, 200, "{r:?}");
    let (code, _) = app.terminate();
    assert_eq!(code, 0);
}
