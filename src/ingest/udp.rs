//! A shard's UDP input: io_uring waits for readability (a 1-byte MSG_PEEK recvmsg through glommio),
//! then `recvmmsg` drains whole batches without blocking, until the socket is empty, before
//! anything else of the shard runs. The shard runs it in a task queue of its own with
//! priority (see `crate::shard`), and it only appends to the ring, so the socket's buffer
//! does not fill while the shard is busy producing.
//!
//! Kernel drops (a full receive buffer) are counted from two readings of the socket's one
//! drop counter: the SO_RXQ_OVFL value datagrams carry, and SO_MEMINFO read every
//! [`KERNEL_DROPS_CHECK`], so drops show even when no datagram follows them.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use futures_lite::future;
use glommio::net::UdpSocket;

use crate::event::Transport;
use crate::event::{unix_micros_now, ReceiveMeta};
use crate::ingest::intake::Intake;
use crate::ingest::pause::PauseFlag;
use crate::ingest::sockets;
use crate::ingest::udp_batch::UdpBatch;
use crate::stats::{add, sub, DropReason};

/// How often an idle input checks for shutdown.
const IDLE_CHECK: Duration = Duration::from_millis(100);
/// Datagrams read without yielding: the reader drains the socket until it would block
/// (reading and appending to the ring only; the shard's sender sends them later) unless
/// more than this keeps arriving, more than the kernel's buffer holds (8 MiB is about 6,500
/// small datagrams), so a flood cannot starve the sender that frees the ring.
const DRAIN_DATAGRAMS_MAX: usize = 16_384;
/// How often the socket's kernel drop counter is read (besides with each datagram).
pub const KERNEL_DROPS_CHECK: Duration = Duration::from_millis(250);

/// The part of a socket's cumulative kernel drop counter already counted. Readings may come
/// out of order (a datagram's SO_RXQ_OVFL value was stamped when it was queued, so it can
/// be older than an SO_MEMINFO reading): only a reading ahead of the last one counts.
#[derive(Debug, Default)]
pub struct KernelDrops {
    seen: u32,
}

impl KernelDrops {
    /// Take a reading of the cumulative counter; returns the drops not counted before.
    pub fn observe(&mut self, total: u32) -> u64 {
        // The counter is a wrapping u32: "ahead" is a forward distance below 2^31.
        let ahead = total.wrapping_sub(self.seen);
        if ahead == 0 || ahead > u32::MAX / 2 {
            return 0;
        }
        self.seen = total;
        u64::from(ahead)
    }
}

/// Serve `socket` until shutdown. Every datagram is one message (a trailing NUL removed);
/// longer ones than the slot are truncated and counted. Kernel drops (SO_RXQ_OVFL, and
/// SO_MEMINFO every [`KERNEL_DROPS_CHECK`]) are counted as `udp_receive_buffer_full`. While
/// `paused` (read once per batch) the socket is still drained, and its datagrams are dropped
/// and counted as `paused` (not as received).
pub async fn serve<P: Intake + 'static>(
    p: Rc<P>,
    socket: UdpSocket,
    batch_max: usize,
    paused: PauseFlag,
) {
    add(&p.stats().inputs_active, 1);
    let slot = p.message_bytes_max().min(65_536);
    let mut batch = UdpBatch::new(batch_max, slot);
    let mut kernel_drops = KernelDrops::default();
    let mut drops_checked = Instant::now();
    let fd = socket.as_raw_fd();
    let mut drained = 0;
    let count_drops = |drops: &mut KernelDrops, total: u32| {
        add(
            &p.stats().dropped[DropReason::UdpReceiveBufferFull as usize],
            drops.observe(total),
        );
    };
    while !p.stopping() {
        if drops_checked.elapsed() >= KERNEL_DROPS_CHECK {
            drops_checked = Instant::now();
            match sockets::kernel_drops(fd) {
                Ok(total) => count_drops(&mut kernel_drops, total),
                Err(e) => tracing::debug!(shard = p.shard(), error = %e, "SO_MEMINFO failed"),
            }
        }
        let n = match batch.recv(fd) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(shard = p.shard(), error = %e, "udp recvmmsg failed");
                glommio::timer::sleep(IDLE_CHECK).await;
                continue;
            }
        };
        if n == 0 {
            drained = 0;
            let mut probe = [0u8; 1];
            let waited = future::or(
                async { socket.peek_from(&mut probe).await.map(|_| ()) },
                async {
                    glommio::timer::sleep(IDLE_CHECK).await;
                    Ok(())
                },
            )
            .await;
            if let Err(e) = waited {
                // Never spin: a failing wait would starve every other task of the shard.
                tracing::warn!(shard = p.shard(), error = %e, "udp wait failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            continue;
        }
        if paused.is_paused() {
            add(&p.stats().dropped[DropReason::Paused as usize], n as u64);
        } else {
            ingest_batch(&*p, &batch, n).await;
        }
        if let Some(total) = batch.kernel_drops() {
            // The first report covers drops before we looked; the counter is per socket.
            count_drops(&mut kernel_drops, total);
        }
        drained += n;
        if drained >= DRAIN_DATAGRAMS_MAX {
            drained = 0;
            glommio::yield_if_needed().await;
        }
    }
    sub(&p.stats().inputs_active, 1);
}

/// Take the first `n` datagrams of `batch` into the pipeline.
async fn ingest_batch<P: Intake + 'static>(p: &P, batch: &UdpBatch, n: usize) {
    let meta_time = unix_micros_now();
    for i in 0..n {
        let Some(d) = batch.get(i) else { break };
        let meta = ReceiveMeta {
            received_unix_micros: meta_time,
            peer: d.peer,
        };
        // Python's SysLogHandler ends each datagram with a NUL, as it does over TCP (where
        // NUL is a frame end): not part of the message.
        let payload = d.payload.strip_suffix(b"\0").unwrap_or(d.payload);
        if let Some(kind) = p.socket_kind(payload) {
            p.ingest(payload, d.truncated, &meta, Transport::Udp, kind)
                .await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_drops_count_each_drop_once_whatever_the_order_of_readings() {
        let mut d = KernelDrops::default();
        assert_eq!(d.observe(0), 0);
        assert_eq!(d.observe(5), 5); // SO_MEMINFO: 5 dropped
        assert_eq!(d.observe(3), 0); // an older datagram's SO_RXQ_OVFL stamp
        assert_eq!(d.observe(5), 0);
        assert_eq!(d.observe(9), 4);
        let mut w = KernelDrops { seen: u32::MAX - 1 };
        assert_eq!(w.observe(2), 4); // the counter wrapped
    }

    #[test]
    fn so_meminfo_sees_drops_no_datagram_reported() {
        use std::os::fd::AsRawFd;
        // The smallest receive buffer the kernel grants holds a few datagrams; send many.
        let sock = crate::ingest::sockets::bind_udp("127.0.0.1:0".parse().unwrap(), 1).unwrap();
        let local = sock.local_addr().unwrap().as_socket().unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        const SENT: u32 = 200;
        for i in 0..SENT {
            tx.send_to(format!("<13>drop {i}").as_bytes(), local)
                .unwrap();
        }
        let total = sockets::kernel_drops(sock.as_raw_fd()).unwrap();
        assert!(total > 0, "nothing dropped");
        // Drain: received + dropped accounts for every datagram sent.
        let mut batch = UdpBatch::new(64, 64);
        let mut received = 0;
        loop {
            let n = batch.recv(sock.as_raw_fd()).unwrap();
            if n == 0 {
                break;
            }
            received += n as u32;
        }
        assert_eq!(received + total, SENT);
        assert_eq!(sockets::kernel_drops(sock.as_raw_fd()).unwrap(), total);
    }
}
