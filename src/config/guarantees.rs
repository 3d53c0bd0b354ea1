//! The `[kafka.properties]` that linerate's delivery guarantee rests on, and which values of
//! them weaken it: start-up refuses those unless `[kafka] unsafe_delivery = true`.

/// A `[kafka.properties]` entry that weakens a setting linerate's delivery guarantee rests
/// on (Kafka has every event on all in-sync replicas, once and in order, before its ring
/// space is freed); refused at start-up unless `[kafka] unsafe_delivery = true`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WeakenedGuarantee {
    /// The property as written.
    pub key: String,
    /// Its value.
    pub value: String,
    /// What it breaks.
    pub reason: &'static str,
}

/// A librdkafka boolean that reads as true (`true`, `t`, `1`, as librdkafka parses them).
fn is_true(v: &str) -> bool {
    let v = v.trim();
    v.eq_ignore_ascii_case("true") || v.eq_ignore_ascii_case("t") || v == "1"
}

/// The settings the guarantee rests on: librdkafka's names (aliases included), whether a
/// value keeps the guarantee, and what another value breaks. `enable.idempotence` needs
/// acks=all, at most 5 requests in flight per connection, retries and FIFO queuing (as
/// librdkafka documents it); linerate frees ring space on success reports.
#[allow(clippy::type_complexity)]
const GUARANTEE_SETTINGS: [(&[&str], fn(&str) -> bool, &str); 6] = [
    (
        &["acks", "request.required.acks"],
        |v| v.trim().eq_ignore_ascii_case("all") || v.trim() == "-1",
        "linerate frees an event's ring space once Kafka acknowledged it; with fewer acks \
         than `all` a leader failure loses acknowledged events",
    ),
    (
        &["enable.idempotence"],
        is_true,
        "the idempotent producer keeps resent batches from being duplicated or reordered",
    ),
    (
        &["max.in.flight.requests.per.connection", "max.in.flight"],
        |v| v.trim().parse::<u32>().is_ok_and(|n| (1..=5).contains(&n)),
        "the idempotent producer keeps order only with at most 5 requests in flight per \
         connection",
    ),
    (
        &["retries", "message.send.max.retries"],
        |v| v.trim().parse::<u64>().is_ok_and(|n| n > 0),
        "the idempotent producer needs librdkafka's retries to keep a partition in order",
    ),
    (
        &["queuing.strategy"],
        |v| v.trim().eq_ignore_ascii_case("fifo"),
        "only fifo queuing sends events in the order they were produced",
    ),
    (
        &["delivery.report.only.error"],
        |v| !is_true(v),
        "linerate frees ring space on the delivery reports of successes; without them the \
         ring never drains",
    ),
];

/// The entries of `properties` that weaken the delivery guarantee (see
/// [`WeakenedGuarantee`]), in key order. Values that keep it (`acks = "all"`) are not listed.
pub fn weakened_guarantees(
    properties: &std::collections::BTreeMap<String, String>,
) -> Vec<WeakenedGuarantee> {
    properties
        .iter()
        .filter_map(|(key, value)| {
            let (_, keeps, reason) = GUARANTEE_SETTINGS
                .iter()
                .find(|(names, _, _)| names.contains(&key.as_str()))?;
            (!keeps(value)).then(|| WeakenedGuarantee {
                key: key.clone(),
                value: value.clone(),
                reason,
            })
        })
        .collect()
}
