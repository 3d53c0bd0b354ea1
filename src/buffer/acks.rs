//! Delivery state of the events a shard has handed to its producer, by sequence number.
//!
//! The producer's delivery callback (run by `poll` on the shard's own thread) marks a
//! topic of an event delivered or failed; the shard's sender reads the marks to move the
//! ring's acknowledged position and to resend failures. A fixed table of
//! `in_flight_events_max` (rounded up to a power of two) slots, indexed by `seq % size`:
//! no allocation after creation. The slots are atomics only because librdkafka's context
//! must be `Sync`; one thread uses them, with plain loads and stores.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::Relaxed};

/// Bit of a topic's "sent, not yet reported" state in a slot.
fn pending_bit(topic: usize) -> u8 {
    1 << topic
}

/// Bit of a topic's "reported failed, to resend" state in a slot.
fn failed_bit(topic: usize) -> u8 {
    1 << (4 + topic)
}

/// The delivery state of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState(u8);

impl SlotState {
    /// No topic of the event is waiting for a report.
    pub fn settled(self) -> bool {
        self.0 & 0x0f == 0
    }
    /// Some topic's delivery failed and must be sent again.
    pub fn failed(self) -> bool {
        self.0 & 0xf0 != 0
    }
    /// Whether `topic` failed.
    pub fn topic_failed(self, topic: usize) -> bool {
        self.0 & failed_bit(topic) != 0
    }
    /// Free: nothing sent, nothing failed.
    pub fn free(self) -> bool {
        self.0 == 0
    }
}

/// The slot table (see the module docs).
#[derive(Debug)]
pub struct AckSlots {
    slots: Box<[AtomicU8]>,
    mask: u64,
    /// Failure reports received since start (the sender rescans for resends when it moves).
    failures: AtomicU64,
}

impl AckSlots {
    /// A table for at least `events_max` events in flight.
    pub fn new(events_max: usize) -> Self {
        let size = events_max.max(2).next_power_of_two();
        Self {
            slots: (0..size).map(|_| AtomicU8::new(0)).collect(),
            mask: size as u64 - 1,
            failures: AtomicU64::new(0),
        }
    }

    /// Events that can be in flight at once.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The producer opaque of (seq, topic); topic < 2.
    pub fn opaque(seq: u64, topic: usize) -> usize {
        ((seq << 1) | topic as u64) as usize
    }

    fn slot(&self, seq: u64) -> &AtomicU8 {
        &self.slots[(seq & self.mask) as usize]
    }

    /// The state of `seq`'s slot.
    pub fn state(&self, seq: u64) -> SlotState {
        SlotState(self.slot(seq).load(Relaxed))
    }

    /// `topic` of `seq` was handed to the producer (clears an earlier failure of it).
    pub fn sent(&self, seq: u64, topic: usize) {
        let s = self.slot(seq);
        s.store(
            (s.load(Relaxed) & !failed_bit(topic)) | pending_bit(topic),
            Relaxed,
        );
    }

    /// `topic` of `seq` could not be handed over or was reported failed: resend it.
    pub fn fail(&self, seq: u64, topic: usize) {
        let s = self.slot(seq);
        s.store(
            (s.load(Relaxed) & !pending_bit(topic)) | failed_bit(topic),
            Relaxed,
        );
        self.failures
            .store(self.failures.load(Relaxed) + 1, Relaxed);
    }

    /// A delivery report for the producer opaque `opaque`.
    pub fn report(&self, opaque: usize, ok: bool) {
        let (seq, topic) = ((opaque >> 1) as u64, opaque & 1);
        if ok {
            let s = self.slot(seq);
            s.store(s.load(Relaxed) & !pending_bit(topic), Relaxed);
        } else {
            self.fail(seq, topic);
        }
    }

    /// Free `seq`'s slot once the event is acknowledged.
    pub fn clear(&self, seq: u64) {
        self.slot(seq).store(0, Relaxed);
    }

    /// Failure reports since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pending_failed_and_settled() {
        let a = AckSlots::new(1000);
        assert_eq!(a.capacity(), 1024);
        a.sent(5, 0);
        a.sent(5, 1);
        assert!(!a.state(5).settled());
        a.report(AckSlots::opaque(5, 0), true);
        assert!(!a.state(5).settled());
        a.report(AckSlots::opaque(5, 1), false);
        let s = a.state(5);
        assert!(s.settled() && s.failed() && s.topic_failed(1) && !s.topic_failed(0));
        assert_eq!(a.failures(), 1);
        a.sent(5, 1);
        assert!(!a.state(5).failed());
        a.report(AckSlots::opaque(5, 1), true);
        assert!(a.state(5).settled() && !a.state(5).failed());
        a.clear(5);
        assert!(a.state(5).free());
        // Large sequence numbers survive the opaque round trip.
        let seq = (1u64 << 40) + 3;
        a.sent(seq, 1);
        a.report(AckSlots::opaque(seq, 1), true);
        assert!(a.state(seq).settled());
    }
}
