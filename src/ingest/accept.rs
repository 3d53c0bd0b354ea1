//! The accept loop a shard's plain TCP and TLS syslog listeners share: accept, place the
//! connection on the shard serving fewest of that listener's connections
//! ([`crate::ingest::tcp_balance`]), take the connections other shards handed to this one,
//! refuse those over the shard's cap, and honour pause and shutdown.
//!
//! One accept stays in flight across iterations: when a timer check wins the race, the
//! accept is kept, not dropped. Dropping a submitted io_uring accept (glommio 0.9: the
//! `Source`'s drop queues an async cancel) loses any connection the kernel had already
//! accepted: the completion's fd lands in the dropped source and nobody reads or closes it,
//! so the sender's bytes sit unread and the socket stays in CLOSE_WAIT (the test in
//! [`crate::ingest::tcp`] shows it). The accept is wrapped in [`PollOnWake`]: glommio keeps a
//! waker clone per poll of a pending accept, and the loop polls it at every timer tick.

use std::sync::Arc;
use std::time::Duration;

use futures_lite::future;
use glommio::net::{AcceptedTcpStream, TcpListener};

use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::ingest::tcp_balance::{ConnectionSlot, Inbox, Placed, TcpBalance};
use crate::poll_on_wake::PollOnWake;
use crate::stats::add;

/// How often an idle listener checks for shutdown and for connections other shards handed
/// to this one (a handed-over connection waits at most this long before it is served).
const INBOX_CHECK: Duration = Duration::from_millis(5);
/// How often a paused listener checks whether it was resumed.
const PAUSE_CHECK: Duration = Duration::from_millis(20);
/// Wait after a failed accept (out of descriptors...), so a persistent failure is no spin.
const ACCEPT_RETRY: Duration = Duration::from_millis(10);

/// One shard's balanced listener.
pub struct BalancedListener {
    pub listener: TcpListener,
    /// The balance of this listener's connections over every shard's.
    pub balance: Arc<TcpBalance<AcceptedTcpStream>>,
    /// Connections other shards handed to this one.
    pub inbox: Inbox<AcceptedTcpStream>,
    /// Connections this shard serves at most, plain TCP's and TLS's together
    /// (`tcp_connections_max`); one over it is closed at once and counted.
    pub connections_max: usize,
}

/// Accept until shutdown, calling `serve` (which spawns the connection's task) for every
/// connection this shard is to serve, its own or handed over. While `paused`, does not
/// accept (new connections wait in the listen backlog; one the accept in flight took waits
/// in it until resumed); connections handed over are still taken and served, their tasks
/// honour the pause themselves.
pub async fn accept_balanced<P: Intake>(
    p: &P,
    l: &BalancedListener,
    label: &'static str,
    paused: &PauseFlag,
    mut serve: impl FnMut(AcceptedTcpStream, ConnectionSlot),
) {
    let mut serve_here = |stream, slot| {
        if p.stats().tcp_connections_open.get() >= l.connections_max as u64 {
            add(&p.stats().tcp_connections_rejected, 1);
            return; // dropping the stream closes it
        }
        serve(stream, slot);
    };
    let accept = PollOnWake::new(l.listener.shared_accept());
    futures_lite::pin!(accept);
    while !p.stopping() {
        while let Some((stream, slot)) = l.inbox.try_take() {
            serve_here(stream, slot);
        }
        if paused.is_paused() {
            glommio::timer::sleep(PAUSE_CHECK).await;
            continue;
        }
        let accepted = future::or(async { Some(accept.as_mut().await) }, async {
            glommio::timer::sleep(INBOX_CHECK).await;
            None
        })
        .await;
        let Some(accepted) = accepted else { continue };
        // The accept completed: the next one goes in flight at once.
        accept.set(PollOnWake::new(l.listener.shared_accept()));
        match accepted {
            Ok(_) if p.stopping() => break,
            Ok(stream) => {
                add(&p.stats().tcp_connections_accepted, 1);
                match l.balance.place(p.shard(), stream) {
                    Placed::Here(stream, slot) => serve_here(stream, slot),
                    Placed::Moved(_) => add(&p.stats().tcp_connections_moved, 1),
                }
            }
            Err(e) => {
                tracing::warn!(shard = p.shard(), listener = label, error = %e, "accept failed");
                glommio::timer::sleep(ACCEPT_RETRY).await;
            }
        }
    }
}
