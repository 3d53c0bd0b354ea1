//! Batched datagram reads with `recvmmsg(2)`: one syscall drains up to `udp_batch_max`
//! datagrams. Written by hand (no crate wraps recvmmsg with per-message control data) because
//! it is the UDP hot path.
//!
//! Memory is allocated once per socket: `batch × slot` bytes of payload plus headers.

use std::io;
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::os::fd::RawFd;

/// Control-message space per datagram: enough for one SO_RXQ_OVFL `u32`.
const CMSG_BYTES: usize = 64;

/// One datagram of a batch, borrowed from the batch's buffers.
#[derive(Debug)]
pub struct Datagram<'a> {
    pub payload: &'a [u8],
    /// The datagram was longer than the slot and was cut (`MSG_TRUNC`).
    pub truncated: bool,
    pub peer: Option<SocketAddr>,
}

/// Reusable `recvmmsg` state for one socket.
pub struct UdpBatch {
    slot_bytes: usize,
    payload: Vec<u8>,
    iovs: Vec<libc::iovec>,
    addrs: Vec<libc::sockaddr_storage>,
    cmsgs: Vec<[u8; CMSG_BYTES]>,
    hdrs: Vec<libc::mmsghdr>,
    received: usize,
}

impl UdpBatch {
    /// Room for `batch` datagrams of at most `slot_bytes` each.
    pub fn new(batch: usize, slot_bytes: usize) -> Self {
        let batch = batch.max(1);
        let mut b = Self {
            slot_bytes,
            payload: vec![0u8; batch * slot_bytes],
            iovs: Vec::with_capacity(batch),
            // SAFETY: all-zero is a valid value of these plain C structs.
            addrs: vec![unsafe { std::mem::zeroed() }; batch],
            cmsgs: vec![[0u8; CMSG_BYTES]; batch],
            hdrs: Vec::with_capacity(batch),
            received: 0,
        };
        for i in 0..batch {
            b.iovs.push(libc::iovec {
                iov_base: b.payload[i * slot_bytes..].as_mut_ptr().cast(),
                iov_len: slot_bytes,
            });
        }
        for i in 0..batch {
            // SAFETY: zeroed mmsghdr is valid; pointers below target vectors that are never
            // resized after this point, so they stay valid for the batch's life.
            let mut h: libc::mmsghdr = unsafe { std::mem::zeroed() };
            h.msg_hdr.msg_iov = &mut b.iovs[i];
            h.msg_hdr.msg_iovlen = 1;
            h.msg_hdr.msg_name = (&mut b.addrs[i] as *mut libc::sockaddr_storage).cast();
            h.msg_hdr.msg_control = b.cmsgs[i].as_mut_ptr().cast();
            b.hdrs.push(h);
        }
        b
    }

    /// Read up to a batch without blocking. `Ok(0)` means nothing was waiting.
    pub fn recv(&mut self, fd: RawFd) -> io::Result<usize> {
        for h in &mut self.hdrs {
            h.msg_hdr.msg_namelen = std::mem::size_of::<libc::sockaddr_storage>() as u32;
            h.msg_hdr.msg_controllen = CMSG_BYTES;
            h.msg_hdr.msg_flags = 0;
            h.msg_len = 0;
        }
        // SAFETY: every header points at live buffers of the lengths it states.
        let n = unsafe {
            libc::recvmmsg(
                fd,
                self.hdrs.as_mut_ptr(),
                self.hdrs.len() as u32,
                libc::MSG_DONTWAIT,
                std::ptr::null_mut(),
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            self.received = 0;
            return if e.kind() == io::ErrorKind::WouldBlock {
                Ok(0)
            } else {
                Err(e)
            };
        }
        self.received = n as usize;
        Ok(self.received)
    }

    /// Datagram `i` of the last [`recv`](Self::recv).
    pub fn get(&self, i: usize) -> Option<Datagram<'_>> {
        if i >= self.received {
            return None;
        }
        let h = &self.hdrs[i];
        let len = (h.msg_len as usize).min(self.slot_bytes);
        let start = i * self.slot_bytes;
        Some(Datagram {
            payload: &self.payload[start..start + len],
            truncated: h.msg_hdr.msg_flags & libc::MSG_TRUNC != 0,
            peer: sockaddr_to_std(&self.addrs[i], h.msg_hdr.msg_namelen),
        })
    }

    /// The kernel's cumulative drop count for this socket (SO_RXQ_OVFL), as of the last
    /// datagram of the last batch that carried it. `None` when no datagram carried one: the
    /// kernel attaches the counter only once it is non-zero.
    pub fn kernel_drops(&self) -> Option<u32> {
        (0..self.received)
            .rev()
            .find_map(|i| rxq_ovfl(&self.hdrs[i].msg_hdr))
    }
}

fn rxq_ovfl(msg: &libc::msghdr) -> Option<u32> {
    // SAFETY: the control buffer was filled by the kernel; CMSG_* walk it within msg_controllen.
    unsafe {
        let mut c = libc::CMSG_FIRSTHDR(msg);
        while !c.is_null() {
            if (*c).cmsg_level == libc::SOL_SOCKET && (*c).cmsg_type == libc::SO_RXQ_OVFL {
                return Some(std::ptr::read_unaligned(libc::CMSG_DATA(c).cast::<u32>()));
            }
            c = libc::CMSG_NXTHDR(msg, c);
        }
    }
    None
}

fn sockaddr_to_std(ss: &libc::sockaddr_storage, len: u32) -> Option<SocketAddr> {
    match i32::from(ss.ss_family) {
        libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
            // SAFETY: family and length say this storage holds a sockaddr_in.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in>() };
            Some(SocketAddr::V4(SocketAddrV4::new(
                Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr)),
                u16::from_be(a.sin_port),
            )))
        }
        libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
            // SAFETY: family and length say this storage holds a sockaddr_in6.
            let a = unsafe { &*(ss as *const libc::sockaddr_storage).cast::<libc::sockaddr_in6>() };
            Some(SocketAddr::V6(SocketAddrV6::new(
                Ipv6Addr::from(a.sin6_addr.s6_addr),
                u16::from_be(a.sin6_port),
                a.sin6_flowinfo,
                a.sin6_scope_id,
            )))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn drains_a_batch_with_peers_and_truncation() {
        let sock =
            crate::ingest::sockets::bind_udp("127.0.0.1:0".parse().unwrap(), 1 << 20).unwrap();
        let local = sock.local_addr().unwrap().as_socket().unwrap();
        let tx = std::net::UdpSocket::bind("127.0.0.1:0").unwrap();
        for i in 0..5 {
            tx.send_to(format!("<13>msg {i}").as_bytes(), local)
                .unwrap();
        }
        tx.send_to(&[b'x'; 100], local).unwrap();
        let mut batch = UdpBatch::new(4, 32);
        let mut got = Vec::new();
        for _ in 0..100 {
            let n = batch.recv(sock.as_raw_fd()).unwrap();
            for i in 0..n {
                let d = batch.get(i).unwrap();
                assert_eq!(d.peer, Some(tx.local_addr().unwrap()));
                got.push((d.payload.to_vec(), d.truncated));
            }
            // The kernel attaches SO_RXQ_OVFL only once the socket has dropped something.
            assert_eq!(batch.kernel_drops(), None);
            if got.len() == 6 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        assert_eq!(got.len(), 6);
        assert_eq!(got[0], (b"<13>msg 0".to_vec(), false));
        assert_eq!(got[5], (vec![b'x'; 32], true));
        assert_eq!(batch.recv(sock.as_raw_fd()).unwrap(), 0);
    }
}
