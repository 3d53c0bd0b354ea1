//! The appliance can speak TLS with client certificates to a fleet's Kafka (deploy/kubernetes:
//! mutual-TLS listeners): librdkafka is built with OpenSSL (rdkafka feature `ssl`), so the
//! `[kafka.properties]` the README's "Deploy" section sets are accepted, and a missing key file
//! is reported as such rather than as an unsupported protocol.

use rdkafka::config::ClientConfig;
use rdkafka::producer::BaseProducer;

#[test]
fn ssl_is_built_in_and_its_properties_are_checked() {
    let producer: Result<BaseProducer, _> = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .set("security.protocol", "ssl")
        .create();
    assert!(producer.is_ok(), "{:?}", producer.err());

    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("user.key");
    let err = ClientConfig::new()
        .set("bootstrap.servers", "127.0.0.1:9")
        .set("security.protocol", "ssl")
        .set("ssl.key.location", missing.to_str().unwrap())
        .set("ssl.certificate.location", missing.to_str().unwrap())
        .create::<BaseProducer>()
        .err()
        .expect("a missing key file is refused");
    let text = err.to_string();
    assert!(!text.contains("OpenSSL not available"), "{text}");
    assert!(text.contains("ssl"), "{text}");
}
