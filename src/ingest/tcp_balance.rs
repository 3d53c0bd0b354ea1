//! Spreading TCP connections evenly over the shards.
//!
//! SO_REUSEPORT hands each shard the connections whose 4-tuple hashes to it. With the few,
//! long-lived connections syslog relays keep, that is often lopsided (10 of 16 on one of two
//! shards in a run here), and a shard's connections are all its load: the busy shard's
//! latency climbs while the other idles. So at accept, a shard that serves more connections
//! than the least-loaded shard hands the new connection over to it, as Seastar's
//! `load_balancing_algorithm::connection_distribution` does.
//!
//! Control path only: a shard touches this once when it accepts a connection and once when
//! the connection closes, never per event; a connection handed over is read, framed and
//! buffered wholly by its new shard, so the per-event path still shares nothing. A hand-off
//! goes through the new shard's inbox, bounded by [`HANDOFF_CONNECTIONS_MAX`]; when that is
//! full the accepting shard serves the connection itself.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{sync_channel, Receiver, SyncSender, TrySendError};
use std::sync::Arc;

/// Connections waiting in one shard's inbox at most.
pub const HANDOFF_CONNECTIONS_MAX: usize = 256;

/// Every shard's count of the TCP connections it serves, and their inboxes; `C` is an
/// accepted connection that may cross threads (glommio's `AcceptedTcpStream`).
pub struct TcpBalance<C> {
    enabled: bool,
    counts: Arc<Counts>,
    inboxes: Box<[SyncSender<(C, ConnectionSlot)>]>,
}

/// Per shard: connections served now.
struct Counts {
    serving: Box<[AtomicUsize]>,
}

/// One shard's side of [`TcpBalance`]: connections other shards handed to it.
pub struct Inbox<C>(Receiver<(C, ConnectionSlot)>);

/// A connection counted against the shard that serves it; dropping it (when the connection
/// ends) uncounts it.
pub struct ConnectionSlot {
    counts: Arc<Counts>,
    shard: usize,
}

impl Drop for ConnectionSlot {
    fn drop(&mut self) {
        self.counts.serving[self.shard].fetch_sub(1, Ordering::Relaxed);
    }
}

/// Where [`TcpBalance::place`] put a connection.
pub enum Placed<C> {
    /// Serve it here.
    Here(C, ConnectionSlot),
    /// Handed to this shard.
    Moved(usize),
}

impl<C> TcpBalance<C> {
    /// The balance of `shards` shards, with an inbox for each (in shard order). When not
    /// `enabled` every connection stays on the shard the kernel gave it to.
    pub fn new(shards: usize, enabled: bool) -> (Arc<Self>, Vec<Inbox<C>>) {
        let (senders, inboxes): (Vec<_>, Vec<_>) = (0..shards)
            .map(|_| {
                let (tx, rx) = sync_channel(HANDOFF_CONNECTIONS_MAX);
                (tx, Inbox(rx))
            })
            .unzip();
        let counts = Arc::new(Counts {
            serving: (0..shards).map(|_| AtomicUsize::new(0)).collect(),
        });
        let balance = Arc::new(Self {
            enabled: enabled && shards > 1,
            counts,
            inboxes: senders.into_boxed_slice(),
        });
        (balance, inboxes)
    }

    /// Place a connection `shard` accepted: here, or, when another shard serves fewer
    /// connections than this one, in the inbox of the one serving fewest (ties keep it
    /// here). Counted against the shard that will serve it before this returns, so shards
    /// accepting at the same moment see each other's choices.
    pub fn place(&self, shard: usize, conn: C) -> Placed<C> {
        let serving = &self.counts.serving;
        let mine = serving[shard].load(Ordering::Relaxed);
        let least = (0..serving.len())
            .min_by_key(|&s| (serving[s].load(Ordering::Relaxed), s != shard))
            .unwrap_or(shard);
        if !self.enabled || least == shard || serving[least].load(Ordering::Relaxed) >= mine {
            return Placed::Here(conn, self.slot(shard));
        }
        match self.inboxes[least].try_send((conn, self.slot(least))) {
            Ok(()) => Placed::Moved(least),
            // Full (or that shard has stopped): serve it here; the slot it was given drops.
            Err(TrySendError::Full((conn, _)) | TrySendError::Disconnected((conn, _))) => {
                Placed::Here(conn, self.slot(shard))
            }
        }
    }

    fn slot(&self, shard: usize) -> ConnectionSlot {
        self.counts.serving[shard].fetch_add(1, Ordering::Relaxed);
        ConnectionSlot {
            counts: self.counts.clone(),
            shard,
        }
    }

    /// Connections `shard` serves now (its own and those handed to it).
    pub fn serving(&self, shard: usize) -> usize {
        self.counts.serving[shard].load(Ordering::Relaxed)
    }
}

impl<C> Inbox<C> {
    /// The next connection handed to this shard, if any (never waits).
    pub fn try_take(&self) -> Option<(C, ConnectionSlot)> {
        self.0.try_recv().ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Accept `conns` connections in the kernel's order `order` (the shard each lands on),
    /// keeping every slot; returns each shard's count.
    fn run(shards: usize, enabled: bool, order: &[usize]) -> (Vec<usize>, Vec<ConnectionSlot>) {
        let (b, inboxes) = TcpBalance::<u32>::new(shards, enabled);
        let mut slots = Vec::new();
        for (i, &s) in order.iter().enumerate() {
            match b.place(s, i as u32) {
                Placed::Here(_, slot) => slots.push(slot),
                Placed::Moved(to) => {
                    let (conn, slot) = inboxes[to].try_take().expect("in its inbox");
                    assert_eq!(conn, i as u32);
                    assert_eq!(slot.shard, to);
                    slots.push(slot);
                }
            }
        }
        ((0..shards).map(|s| b.serving(s)).collect(), slots)
    }

    #[test]
    fn lopsided_arrivals_end_even() {
        // 10 of 16 on shard 0, as SO_REUSEPORT did in a run here.
        let order: Vec<usize> = (0..16).map(|i| usize::from(i % 8 >= 5)).collect();
        assert_eq!(order.iter().filter(|&&s| s == 0).count(), 10);
        assert_eq!(run(2, true, &order).0, vec![8, 8]);
        assert_eq!(run(2, false, &order).0, vec![10, 6]);
        // All on one of four shards.
        assert_eq!(run(4, true, &[2; 9]).0, vec![2, 2, 3, 2]);
    }

    #[test]
    fn a_closed_connection_frees_its_shard() {
        let (b, _inboxes) = TcpBalance::<u32>::new(2, true);
        let Placed::Here(_, first) = b.place(0, 1) else {
            panic!("an empty shard keeps its connection")
        };
        assert!(matches!(b.place(0, 2), Placed::Moved(1)));
        assert_eq!((b.serving(0), b.serving(1)), (1, 1));
        drop(first);
        assert_eq!(b.serving(0), 0);
        // Shard 0 now serves fewer: it keeps the next one.
        assert!(matches!(b.place(0, 3), Placed::Here(..)));
    }

    #[test]
    fn a_full_inbox_keeps_the_connection_here() {
        let (b, _inboxes) = TcpBalance::<u32>::new(2, true);
        let (mut slots, mut moved) = (Vec::new(), 0);
        // Shard 1 never takes its hand-offs: once its inbox is full, shard 0 serves them.
        for i in 0..(2 * HANDOFF_CONNECTIONS_MAX + 10) as u32 {
            match b.place(0, i) {
                Placed::Here(_, slot) => slots.push(slot),
                Placed::Moved(_) => moved += 1,
            }
        }
        assert_eq!(moved, HANDOFF_CONNECTIONS_MAX);
        assert_eq!(b.serving(1), HANDOFF_CONNECTIONS_MAX);
        assert_eq!(b.serving(0), slots.len());
    }
}
