//! The buffers of produced batches whose payloads librdkafka references instead of copying.
//!
//! A batch's records are rendered into one buffer ([`crate::sink::kafka::ProduceBatch`]);
//! handing them to librdkafka with `RD_KAFKA_MSG_F_COPY` would copy every payload once more
//! into a fresh allocation of its own. Instead the whole buffer is held here, with the count
//! of its records librdkafka accepted, until each of them has had its delivery report (which
//! finds the buffer by the payload's address): then the buffer is reused for a later batch.
//! Measured on the 2-core VM with `bench/tls.sh`'s load (1 M 256-byte messages, the shard's
//! CPU per event from `perf stat`, medians of paired runs): copying, 0.79 µs plain TCP and
//! 0.99 µs TLS; referenced, 0.735 and 0.873 (8 pairs); with emptied buffers reused at their
//! batch's size (no growing reallocations), 0.728 and 0.839 (6 pairs). The copy was also
//! where the bigger TLS record (its `tls` object) cost the shard most.
//!
//! Bounds: at most [`ARENAS_MAX`] buffers held (when all are, a batch is copied by
//! librdkafka as before: slower, never wrong); at most [`SPARE_MAX`] emptied buffers kept for
//! reuse, none larger than [`SPARE_CAPACITY_BYTES_MAX`]. The payload bytes held are those of
//! the records in flight, which `in_flight_events_max` and librdkafka's queue bound, plus
//! each held buffer's unused capacity (at most what its own batch needed, or twice what the
//! batch before it used, between [`BUFFER_BYTES_START`] and [`SPARE_CAPACITY_BYTES_MAX`]).
//!
//! Threads: only the shard's thread calls in (its produce calls and its `poll`, which runs
//! the delivery callbacks); the counters are atomics, and the owned buffers sit behind an
//! uncontended mutex, because librdkafka's context must be `Sync`.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::sync::Mutex;

/// Batch buffers held at most at once.
pub const ARENAS_MAX: usize = 256;
/// Emptied buffers kept for the next batches (reports come back a produce request, some
/// thousands of records, at a time: several buffers empty at once).
pub const SPARE_MAX: usize = 16;
/// A buffer larger than this is freed once empty rather than kept, and a new buffer starts
/// at most this large (a shard's batch of 256 records of about 1 KiB is a quarter of it).
pub const SPARE_CAPACITY_BYTES_MAX: usize = 1 << 20;
/// A new buffer starts at least this large.
pub const BUFFER_BYTES_START: usize = 64 << 10;

/// One held buffer's address range and its records not yet reported.
#[derive(Debug, Default)]
struct Range {
    start: AtomicUsize,
    end: AtomicUsize,
    outstanding: AtomicUsize,
}

#[derive(Debug, Default)]
struct Owned {
    /// The held buffer of each range, by index.
    buffers: Vec<Option<Vec<u8>>>,
    /// Range indexes holding nothing.
    free: Vec<usize>,
    /// Emptied buffers for the next batches.
    spare: Vec<Vec<u8>>,
}

/// See the module docs.
#[derive(Debug)]
pub struct PayloadArenas {
    ranges: Box<[Range]>,
    /// The range the last report was found in (reports come in batch order).
    hint: AtomicUsize,
    owned: Mutex<Owned>,
}

/// A range reserved for the batch about to be produced ([`PayloadArenas::reserve`]).
#[derive(Debug)]
#[must_use = "give it back with hold or unreserve"]
pub struct Reserved(usize);

impl Default for PayloadArenas {
    fn default() -> Self {
        Self {
            ranges: (0..ARENAS_MAX).map(|_| Range::default()).collect(),
            hint: AtomicUsize::new(0),
            owned: Mutex::new(Owned {
                buffers: (0..ARENAS_MAX).map(|_| None).collect(),
                free: (0..ARENAS_MAX).rev().collect(),
                spare: Vec::new(),
            }),
        }
    }
}

impl PayloadArenas {
    fn owned(&self) -> std::sync::MutexGuard<'_, Owned> {
        self.owned.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A range for the next batch, after taking back the buffers whose records were all
    /// reported; `None` when [`ARENAS_MAX`] are held (that batch must be copied).
    pub fn reserve(&self) -> Option<Reserved> {
        let mut owned = self.owned();
        self.collect(&mut owned);
        owned.free.pop().map(Reserved)
    }

    /// Nothing of the batch was accepted: the range is free again.
    pub fn unreserve(&self, r: Reserved) {
        self.owned().free.push(r.0);
    }

    /// Hold `buffer`, of which librdkafka accepted `records` (> 0) payloads without copying
    /// them, until their reports arrive; returns an empty buffer for the next batch. The
    /// buffer must not move or change until then (it is not touched here).
    pub fn hold(&self, r: Reserved, buffer: Vec<u8>, records: usize) -> Vec<u8> {
        let range = &self.ranges[r.0];
        let start = buffer.as_ptr() as usize;
        range.start.store(start, Relaxed);
        range.end.store(start + buffer.len(), Relaxed);
        range.outstanding.store(records, Relaxed);
        // Without a spare, the next batch starts with room for twice what this one used (not
        // grown from empty by copying reallocations), within bounds: one large batch does not
        // make every later buffer large, nor a small one the next too small.
        let capacity = (2 * buffer.len()).clamp(BUFFER_BYTES_START, SPARE_CAPACITY_BYTES_MAX);
        let mut owned = self.owned();
        owned.buffers[r.0] = Some(buffer);
        owned
            .spare
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(capacity))
    }

    /// A record whose payload starts at `payload` was reported: count it off its buffer.
    /// False when no held buffer has it (a record librdkafka copied).
    pub fn release(&self, payload: *const u8) -> bool {
        let at = payload as usize;
        let found = |i: usize| {
            let r = &self.ranges[i];
            r.outstanding.load(Relaxed) > 0
                && r.start.load(Relaxed) <= at
                && at < r.end.load(Relaxed)
        };
        let hint = self.hint.load(Relaxed);
        let Some(i) = (if found(hint) {
            Some(hint)
        } else {
            (0..self.ranges.len()).find(|&i| found(i))
        }) else {
            return false;
        };
        self.hint.store(i, Relaxed);
        let r = &self.ranges[i];
        r.outstanding
            .store(r.outstanding.load(Relaxed) - 1, Relaxed);
        true
    }

    /// Buffers held now (some records not reported yet, or not taken back yet).
    pub fn held(&self) -> usize {
        self.owned().buffers.iter().filter(|b| b.is_some()).count()
    }

    /// Take back every held buffer whose records were all reported.
    fn collect(&self, owned: &mut Owned) {
        for i in 0..self.ranges.len() {
            let r = &self.ranges[i];
            if r.outstanding.load(Relaxed) != 0 {
                continue;
            }
            let Some(mut buffer) = owned.buffers[i].take() else {
                continue;
            };
            r.start.store(0, Relaxed);
            r.end.store(0, Relaxed);
            owned.free.push(i);
            if owned.spare.len() < SPARE_MAX && buffer.capacity() <= SPARE_CAPACITY_BYTES_MAX {
                buffer.clear();
                owned.spare.push(buffer);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_buffer_is_held_until_each_of_its_records_is_reported() {
        let a = PayloadArenas::default();
        let r = a.reserve().unwrap();
        let buf = b"one two three".to_vec();
        let base = buf.as_ptr();
        let next = a.hold(r, buf, 3);
        assert!(
            next.is_empty() && next.capacity() >= 13,
            "as large as the last batch"
        );
        // SAFETY (of the pointer arithmetic): offsets inside the 13-byte buffer.
        let (one, two, three) = unsafe { (base, base.add(4), base.add(8)) };
        assert!(a.release(one));
        assert!(a.release(three));
        let _ = a.reserve().map(|r| a.unreserve(r));
        assert_eq!(a.held(), 1, "one record still out");
        assert!(a.release(two));
        let r = a.reserve().unwrap();
        assert_eq!(a.held(), 0, "taken back once all were reported");
        a.unreserve(r);
        // Its bytes are no one's now: a stray report finds nothing.
        assert!(!a.release(one));
    }

    #[test]
    fn reports_find_their_own_buffer_among_many_and_foreign_payloads_none() {
        let a = PayloadArenas::default();
        let bufs: Vec<Vec<u8>> = (0..10).map(|i| vec![i as u8; 100]).collect();
        let bases: Vec<*const u8> = bufs.iter().map(|b| b.as_ptr()).collect();
        for b in bufs {
            let r = a.reserve().unwrap();
            let _ = a.hold(r, b, 2);
        }
        let foreign = [0u8; 16];
        assert!(!a.release(foreign.as_ptr()));
        for &b in bases.iter().rev() {
            // SAFETY: offsets inside each 100-byte buffer.
            assert!(a.release(unsafe { b.add(99) }));
            assert!(a.release(b));
        }
        let r = a.reserve().unwrap();
        assert_eq!(a.held(), 0);
        a.unreserve(r);
    }

    #[test]
    fn when_every_range_is_held_the_next_batch_gets_none_until_one_is_reported() {
        let a = PayloadArenas::default();
        let mut first = None;
        for _ in 0..ARENAS_MAX {
            let r = a.reserve().unwrap();
            let buf = vec![7u8; 8];
            first.get_or_insert(buf.as_ptr() as usize);
            let _ = a.hold(r, buf, 1);
        }
        assert!(a.reserve().is_none());
        assert!(a.release(first.unwrap() as *const u8));
        let r = a.reserve().expect("the reported one is free again");
        a.unreserve(r);
    }

    /// One large batch does not make the buffers after it large, nor stay as a spare.
    #[test]
    fn a_large_batch_leaves_no_large_buffers_behind() {
        let a = PayloadArenas::default();
        let r = a.reserve().unwrap();
        let big = vec![1u8; 3 * SPARE_CAPACITY_BYTES_MAX];
        let big_at = big.as_ptr();
        let next = a.hold(r, big, 1);
        assert!(next.capacity() <= SPARE_CAPACITY_BYTES_MAX);
        let r = a.reserve().unwrap();
        let small = {
            let mut b = next;
            b.extend_from_slice(b"small");
            b
        };
        let small_at = small.as_ptr();
        let after_small = a.hold(r, small, 1);
        assert!(
            after_small.capacity() <= BUFFER_BYTES_START,
            "sized by the small batch"
        );
        assert!(a.release(big_at) && a.release(small_at));
        let r = a.reserve().unwrap();
        assert!(a
            .owned()
            .spare
            .iter()
            .all(|b| b.capacity() <= SPARE_CAPACITY_BYTES_MAX));
        a.unreserve(r);
    }

    #[test]
    fn emptied_buffers_are_reused_and_the_spares_are_bounded() {
        let a = PayloadArenas::default();
        let mut bases = Vec::new();
        for _ in 0..(SPARE_MAX + 3) {
            let r = a.reserve().unwrap();
            let buf = Vec::with_capacity(64);
            bases.push(buf.as_ptr());
            let _ = a.hold(
                r,
                {
                    let mut b = buf;
                    b.push(1);
                    b
                },
                1,
            );
        }
        for b in &bases {
            assert!(a.release(*b));
        }
        let r = a.reserve().unwrap();
        let reused = a.hold(r, vec![1], 1);
        assert!(reused.capacity() >= 64, "a spare buffer, not a fresh one");
        assert!(a.owned().spare.len() < SPARE_MAX);
    }
}
