//! Delivery state of the events a shard has handed to its producer, by sequence number.
//!
//! The producer's delivery callback (run by `poll` on the shard's own thread) marks a
//! topic of an event delivered, failed (to resend) or rejected for good (to dead-letter); the
//! shard's sender reads the marks to move the ring's acknowledged position, to resend
//! failures and to dead-letter rejections. A fixed table of `in_flight_events_max` (rounded
//! up to a power of two) slots, indexed by `seq % size`: no allocation after creation. The
//! slots are atomics only because librdkafka's context must be `Sync`; one thread uses them,
//! with plain loads and stores.
//!
//! A slot's bits, per topic `t` (0 raw, 1 normalized, 2 enriched; [`TOPICS_MAX`]):
//! ```text
//! bit t      sent, delivery report pending
//! bit 3+t    failed, to be resent
//! bit 6+t    rejected for good, to be dead-lettered
//! bit 9+t    dead-letter record sent, its report pending
//! bit 12+t   dead-letter topic failed, to be written to the dead-letter file
//! ```
//! An event is done (its ring space may be freed) when its slot is 0: only a topic it was
//! sent to sets bits, so it waits for exactly the reports of every topic it went to.
//!
//! The slot also keeps when it became done (the time of the poll that brought its last
//! report, set by [`AckSlots::set_poll_time`]): the receive→ack latency of an event is its
//! own, even when the ring's acknowledged position, which moves in sequence order, waits
//! for an older event behind a slower partition.

use std::sync::atomic::{AtomicI32, AtomicI64, AtomicU16, AtomicU64, Ordering::Relaxed};

/// Topics an event can go to (the slot has a group of bits per topic for each state).
pub const TOPICS_MAX: usize = 3;
/// Bits of one state, every topic.
const GROUP: u16 = (1 << TOPICS_MAX) - 1;
/// Bits the opaque's low end keeps for the topic (and, above them, the dead-letter flag).
const OPAQUE_TOPIC_BITS: u32 = 2;
const OPAQUE_DEAD_LETTER: usize = 1 << OPAQUE_TOPIC_BITS;
const OPAQUE_SHIFT: u32 = OPAQUE_TOPIC_BITS + 1;

fn pending_bit(topic: usize) -> u16 {
    1 << topic
}
fn failed_bit(topic: usize) -> u16 {
    1 << (TOPICS_MAX + topic)
}
fn dead_bit(topic: usize) -> u16 {
    1 << (2 * TOPICS_MAX + topic)
}
fn dl_pending_bit(topic: usize) -> u16 {
    1 << (3 * TOPICS_MAX + topic)
}
fn dl_failed_bit(topic: usize) -> u16 {
    1 << (4 * TOPICS_MAX + topic)
}

/// What a delivery report said about a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Delivered,
    /// Failed for now (broker down, timeout...): send it again.
    Retry,
    /// Rejected for good (too large, invalid topic...), with librdkafka's error code.
    Rejected(i32),
}

/// The delivery state of one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlotState(u16);

impl SlotState {
    /// Some topic's delivery failed and must be sent again (and nothing is pending).
    pub fn failed(self) -> bool {
        self.0 & GROUP == 0 && self.0 & (GROUP << TOPICS_MAX) != 0
    }
    /// Whether `topic` failed (to resend).
    pub fn topic_failed(self, topic: usize) -> bool {
        self.0 & failed_bit(topic) != 0
    }
    /// Whether `topic` was rejected for good and waits to be dead-lettered.
    pub fn topic_dead(self, topic: usize) -> bool {
        self.0 & dead_bit(topic) != 0
    }
    /// Whether `topic`'s dead-letter record failed and waits for the dead-letter file.
    pub fn topic_dl_failed(self, topic: usize) -> bool {
        self.0 & dl_failed_bit(topic) != 0
    }
    /// Some topic waits for a dead-letter action (send or file).
    pub fn needs_dead_letter(self) -> bool {
        self.0 & ((GROUP << (2 * TOPICS_MAX)) | (GROUP << (4 * TOPICS_MAX))) != 0
    }
    /// Free: everything delivered or dead-lettered (or nothing sent).
    pub fn free(self) -> bool {
        self.0 == 0
    }
}

/// The slot table (see the module docs).
#[derive(Debug)]
pub struct AckSlots {
    slots: Box<[AtomicU16]>,
    /// librdkafka's error code of the last rejection, per slot.
    reasons: Box<[AtomicI32]>,
    /// When each slot became done (unix µs), see [`AckSlots::done_unix_micros`].
    done_at: Box<[AtomicI64]>,
    /// The time of the current poll (unix µs), see [`AckSlots::set_poll_time`].
    poll_unix_micros: AtomicI64,
    mask: u64,
    /// Failure reports received since start (the sender rescans for resends when it moves).
    failures: AtomicU64,
    /// Rejections and dead-letter failures since start (the sender rescans when it moves).
    dead: AtomicU64,
}

impl AckSlots {
    /// A table for at least `events_max` events in flight.
    pub fn new(events_max: usize) -> Self {
        let size = events_max.max(2).next_power_of_two();
        Self {
            slots: (0..size).map(|_| AtomicU16::new(0)).collect(),
            reasons: (0..size).map(|_| AtomicI32::new(0)).collect(),
            done_at: (0..size).map(|_| AtomicI64::new(0)).collect(),
            poll_unix_micros: AtomicI64::new(0),
            mask: size as u64 - 1,
            failures: AtomicU64::new(0),
            dead: AtomicU64::new(0),
        }
    }

    /// Events that can be in flight at once.
    pub fn capacity(&self) -> usize {
        self.slots.len()
    }

    /// The producer opaque of `topic` (< [`TOPICS_MAX`]) of `seq`.
    pub fn opaque(seq: u64, topic: usize) -> usize {
        ((seq << OPAQUE_SHIFT) | topic as u64) as usize
    }

    /// The producer opaque of the dead-letter record of `topic` of `seq`.
    pub fn dead_letter_opaque(seq: u64, topic: usize) -> usize {
        Self::opaque(seq, topic) | OPAQUE_DEAD_LETTER
    }

    /// Whether an opaque is a dead-letter record's; and its topic.
    pub fn opaque_kind(opaque: usize) -> (bool, usize) {
        (
            opaque & OPAQUE_DEAD_LETTER != 0,
            opaque & (OPAQUE_DEAD_LETTER - 1),
        )
    }

    /// The sequence number an opaque carries.
    pub fn opaque_seq(opaque: usize) -> u64 {
        (opaque >> OPAQUE_SHIFT) as u64
    }

    fn slot(&self, seq: u64) -> &AtomicU16 {
        &self.slots[(seq & self.mask) as usize]
    }

    fn update(&self, seq: u64, clear: u16, set: u16) {
        let s = self.slot(seq);
        let (was, now) = {
            let was = s.load(Relaxed);
            (was, (was & !clear) | set)
        };
        s.store(now, Relaxed);
        if now == 0 && was != 0 {
            self.done_at[(seq & self.mask) as usize]
                .store(self.poll_unix_micros.load(Relaxed), Relaxed);
        }
    }

    /// The time (unix µs) of the poll about to run: a slot that becomes done in it is
    /// stamped with it (one clock read per poll, not per report).
    pub fn set_poll_time(&self, unix_micros: i64) {
        self.poll_unix_micros.store(unix_micros, Relaxed);
    }

    /// When `seq`'s slot became done (its last report's poll), unix µs; `None` if it never
    /// held a pending record or no poll time was set.
    pub fn done_unix_micros(&self, seq: u64) -> Option<i64> {
        let t = self.done_at[(seq & self.mask) as usize].load(Relaxed);
        (t != 0).then_some(t)
    }

    /// The state of `seq`'s slot.
    pub fn state(&self, seq: u64) -> SlotState {
        SlotState(self.slot(seq).load(Relaxed))
    }

    /// librdkafka's error code of `seq`'s last rejection.
    pub fn reason(&self, seq: u64) -> i32 {
        self.reasons[(seq & self.mask) as usize].load(Relaxed)
    }

    /// `topic` of `seq` was handed to the producer (clears an earlier failure of it).
    pub fn sent(&self, seq: u64, topic: usize) {
        self.update(seq, failed_bit(topic), pending_bit(topic));
    }

    /// `topic` of `seq` could not be handed over or was reported failed: resend it.
    pub fn fail(&self, seq: u64, topic: usize) {
        self.update(seq, pending_bit(topic), failed_bit(topic));
        self.failures
            .store(self.failures.load(Relaxed) + 1, Relaxed);
    }

    /// `topic` of `seq` was rejected for good (`code`): dead-letter it.
    pub fn reject(&self, seq: u64, topic: usize, code: i32) {
        self.update(seq, pending_bit(topic) | failed_bit(topic), dead_bit(topic));
        self.reasons[(seq & self.mask) as usize].store(code, Relaxed);
        self.dead.store(self.dead.load(Relaxed) + 1, Relaxed);
    }

    /// The dead-letter record of `topic` of `seq` was handed to the producer.
    pub fn dead_letter_sent(&self, seq: u64, topic: usize) {
        self.update(seq, dead_bit(topic), dl_pending_bit(topic));
    }

    /// `topic` of `seq` is in the dead-letter file (or given up on): done.
    pub fn dead_letter_done(&self, seq: u64, topic: usize) {
        self.update(seq, dead_bit(topic) | dl_failed_bit(topic), 0);
    }

    /// A delivery report for the producer opaque `opaque`.
    pub fn report(&self, opaque: usize, outcome: Outcome) {
        let seq = Self::opaque_seq(opaque);
        let (dead_letter, topic) = Self::opaque_kind(opaque);
        match (dead_letter, outcome) {
            (false, Outcome::Delivered) => self.update(seq, pending_bit(topic), 0),
            (false, Outcome::Retry) => self.fail(seq, topic),
            (false, Outcome::Rejected(code)) => self.reject(seq, topic, code),
            (true, Outcome::Delivered) => self.update(seq, dl_pending_bit(topic), 0),
            (true, _) => {
                self.update(seq, dl_pending_bit(topic), dl_failed_bit(topic));
                self.dead.store(self.dead.load(Relaxed) + 1, Relaxed);
            }
        }
    }

    /// Free `seq`'s slot once the event is acknowledged (also forgets when it was done).
    pub fn clear(&self, seq: u64) {
        self.slot(seq).store(0, Relaxed);
        self.done_at[(seq & self.mask) as usize].store(0, Relaxed);
    }

    /// Failure reports since start.
    pub fn failures(&self) -> u64 {
        self.failures.load(Relaxed)
    }

    /// Rejections and dead-letter failures since start.
    pub fn dead(&self) -> u64 {
        self.dead.load(Relaxed)
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
        assert!(!a.state(5).free() && !a.state(5).failed());
        a.report(AckSlots::opaque(5, 0), Outcome::Delivered);
        assert!(!a.state(5).free());
        a.report(AckSlots::opaque(5, 1), Outcome::Retry);
        let s = a.state(5);
        assert!(s.failed() && s.topic_failed(1) && !s.topic_failed(0));
        assert_eq!(a.failures(), 1);
        a.sent(5, 1);
        assert!(!a.state(5).failed());
        a.report(AckSlots::opaque(5, 1), Outcome::Delivered);
        assert!(a.state(5).free());
        // Large sequence numbers survive the opaque round trip.
        let seq = (1u64 << 40) + 3;
        a.sent(seq, 1);
        a.report(AckSlots::opaque(seq, 1), Outcome::Delivered);
        assert!(a.state(seq).free());
    }

    #[test]
    fn an_event_waits_for_every_topic_it_was_sent_to() {
        let a = AckSlots::new(8);
        for t in 0..TOPICS_MAX {
            a.sent(7, t);
        }
        for t in 0..TOPICS_MAX {
            assert!(!a.state(7).free(), "topic {t} and later still pending");
            let (dl, topic) = AckSlots::opaque_kind(AckSlots::opaque(7, t));
            assert!(!dl && topic == t);
            a.report(AckSlots::opaque(7, t), Outcome::Delivered);
        }
        assert!(a.state(7).free());
        // The enriched topic failing alone is resent alone, and dead-lettered alone.
        a.sent(9, 1);
        a.sent(9, 2);
        a.report(AckSlots::opaque(9, 1), Outcome::Delivered);
        a.report(AckSlots::opaque(9, 2), Outcome::Retry);
        let s = a.state(9);
        assert!(s.failed() && s.topic_failed(2) && !s.topic_failed(1) && !s.topic_failed(0));
        a.sent(9, 2);
        a.report(AckSlots::opaque(9, 2), Outcome::Rejected(10));
        assert!(a.state(9).topic_dead(2) && a.state(9).needs_dead_letter());
        a.dead_letter_sent(9, 2);
        assert_eq!(
            AckSlots::opaque_kind(AckSlots::dead_letter_opaque(9, 2)),
            (true, 2)
        );
        a.report(AckSlots::dead_letter_opaque(9, 2), Outcome::Delivered);
        assert!(a.state(9).free());
    }

    #[test]
    fn a_failure_is_not_resent_while_another_topic_is_pending() {
        let a = AckSlots::new(8);
        a.sent(1, 0);
        a.sent(1, 1);
        a.report(AckSlots::opaque(1, 1), Outcome::Retry);
        assert!(!a.state(1).failed(), "topic 0 still pending");
        a.report(AckSlots::opaque(1, 0), Outcome::Delivered);
        assert!(a.state(1).failed());
    }

    #[test]
    fn rejections_go_through_the_dead_letter_topic_or_the_file() {
        let a = AckSlots::new(8);
        a.sent(3, 0);
        a.sent(3, 1);
        a.report(AckSlots::opaque(3, 1), Outcome::Rejected(10));
        a.report(AckSlots::opaque(3, 0), Outcome::Delivered);
        let s = a.state(3);
        assert!(s.topic_dead(1) && s.needs_dead_letter() && !s.free() && !s.failed());
        assert_eq!((a.dead(), a.reason(3)), (1, 10));
        a.dead_letter_sent(3, 1);
        assert!(!a.state(3).needs_dead_letter() && !a.state(3).free());
        let (dl, topic) = AckSlots::opaque_kind(AckSlots::dead_letter_opaque(3, 1));
        assert!(dl && topic == 1);
        // The dead-letter topic fails too: the file takes it.
        a.report(AckSlots::dead_letter_opaque(3, 1), Outcome::Retry);
        assert!(a.state(3).topic_dl_failed(1) && a.state(3).needs_dead_letter());
        assert_eq!(a.dead(), 2);
        a.dead_letter_done(3, 1);
        assert!(a.state(3).free());
        // Or it is delivered there.
        a.sent(4, 0);
        a.report(AckSlots::opaque(4, 0), Outcome::Rejected(17));
        a.dead_letter_sent(4, 0);
        a.report(AckSlots::dead_letter_opaque(4, 0), Outcome::Delivered);
        assert!(a.state(4).free());
    }
}
