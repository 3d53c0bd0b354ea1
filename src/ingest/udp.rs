//! A shard's UDP input: io_uring waits for readability (a 1-byte MSG_PEEK recvmsg through glommio),
//! then `recvmmsg` drains whole batches without blocking.

use std::os::fd::AsRawFd;
use std::rc::Rc;
use std::time::Duration;

use futures_lite::future;
use glommio::net::UdpSocket;

use crate::control::inputs::PauseFlag;
use crate::ingest::udp_batch::UdpBatch;
use crate::normalize::{unix_micros_now, ReceiveMeta};
use crate::shard::pipeline::Pipeline;
use crate::shard::stats::{add, sub, DropReason, Transport};

/// How often an idle input checks for shutdown.
const IDLE_CHECK: Duration = Duration::from_millis(100);

/// Serve `socket` until shutdown. Every datagram is one message; longer ones than the slot are
/// truncated and counted. Kernel drops (SO_RXQ_OVFL) are counted as
/// `udp_receive_buffer_full`. While `paused` (read once per batch) the socket is still
/// drained, and its datagrams are dropped and counted as `paused` (not as received).
pub async fn serve(p: Rc<Pipeline>, socket: UdpSocket, batch_max: usize, paused: PauseFlag) {
    add(&p.stats.inputs_active, 1);
    let slot = p.message_bytes_max.min(65_536);
    let mut batch = UdpBatch::new(batch_max, slot);
    let mut kernel_drops_seen: Option<u32> = None;
    let fd = socket.as_raw_fd();
    while !p.stopping() {
        let n = match batch.recv(fd) {
            Ok(n) => n,
            Err(e) => {
                tracing::warn!(shard = p.shard, error = %e, "udp recvmmsg failed");
                glommio::timer::sleep(IDLE_CHECK).await;
                continue;
            }
        };
        if n == 0 {
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
                tracing::warn!(shard = p.shard, error = %e, "udp wait failed");
                glommio::timer::sleep(Duration::from_millis(10)).await;
            }
            continue;
        }
        if paused.is_paused() {
            add(&p.stats.dropped[DropReason::Paused as usize], n as u64);
        } else {
            ingest_batch(&p, &batch, n).await;
        }
        if let Some(total) = batch.kernel_drops() {
            // The first report covers drops before we looked; the counter is per socket.
            let prev = kernel_drops_seen.unwrap_or(0);
            add(
                &p.stats.dropped[DropReason::UdpReceiveBufferFull as usize],
                u64::from(total.wrapping_sub(prev)),
            );
            kernel_drops_seen = Some(total);
        }
        glommio::yield_if_needed().await;
    }
    sub(&p.stats.inputs_active, 1);
}

/// Take the first `n` datagrams of `batch` into the pipeline.
async fn ingest_batch(p: &Pipeline, batch: &UdpBatch, n: usize) {
    let meta_time = unix_micros_now();
    for i in 0..n {
        let Some(d) = batch.get(i) else { break };
        let meta = ReceiveMeta {
            received_unix_micros: meta_time,
            peer: d.peer,
        };
        if let Some(kind) = p.socket_kind(d.payload) {
            p.ingest(d.payload, d.truncated, &meta, Transport::Udp, kind)
                .await;
        }
    }
}
