//! Socket set-up for a shard's listeners: SO_REUSEPORT, receive buffer, drop counters.

use std::io;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;

use socket2::{Domain, Protocol, SockAddr, Socket, Type};

/// A bound UDP socket with SO_REUSEPORT, the requested SO_RCVBUF and
/// SO_RXQ_OVFL on (the kernel then reports its cumulative drop count with each datagram).
pub fn bind_udp(addr: SocketAddr, recv_buffer_bytes: usize) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::DGRAM, Some(Protocol::UDP))?;
    sock.set_reuse_port(true)?;
    set_recv_buffer(&sock, recv_buffer_bytes)?;
    set_int_opt(&sock, libc::SOL_SOCKET, libc::SO_RXQ_OVFL, 1)?;
    // Left blocking on purpose: io_uring answers EAGAIN at once on O_NONBLOCK sockets instead
    // of waiting, and our recvmmsg passes MSG_DONTWAIT per call anyway.
    sock.bind(&SockAddr::from(addr))?;
    Ok(sock)
}

/// A listening TCP socket with SO_REUSEPORT and SO_RCVBUF (inherited by accepted sockets).
pub fn bind_tcp(addr: SocketAddr, recv_buffer_bytes: usize, backlog: u32) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    set_recv_buffer(&sock, recv_buffer_bytes)?;
    sock.bind(&SockAddr::from(addr))?;
    sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(sock)
}

/// A listening TCP socket with SO_REUSEPORT and the kernel's default buffers (the HTTP
/// input's: request bodies are read whole, so no large receive buffer is needed).
pub fn bind_tcp_listener(addr: SocketAddr, backlog: u32) -> io::Result<Socket> {
    let sock = Socket::new(Domain::for_address(addr), Type::STREAM, Some(Protocol::TCP))?;
    sock.set_reuse_address(true)?;
    sock.set_reuse_port(true)?;
    sock.bind(&SockAddr::from(addr))?;
    sock.listen(i32::try_from(backlog).unwrap_or(i32::MAX))?;
    Ok(sock)
}

/// Request `bytes` of receive buffer: SO_RCVBUFFORCE first (it may exceed
/// `net.core.rmem_max`, with CAP_NET_ADMIN), else SO_RCVBUF, which the kernel caps.
/// What was granted is logged when it falls short; `linerate doctor` checks it too.
pub fn set_recv_buffer(sock: &Socket, bytes: usize) -> io::Result<()> {
    let want = i32::try_from(bytes).unwrap_or(i32::MAX);
    if set_int_opt(sock, libc::SOL_SOCKET, libc::SO_RCVBUFFORCE, want).is_err() {
        sock.set_recv_buffer_size(bytes)?;
    }
    // The kernel reports double the requested size (its bookkeeping overhead).
    let granted = sock.recv_buffer_size()? / 2;
    if granted < bytes {
        tracing::warn!(
            requested = bytes,
            granted,
            "receive buffer capped by net.core.rmem_max"
        );
    }
    Ok(())
}

/// The kernel's cumulative count of datagrams `fd`'s socket dropped (its `sk_drops`, read
/// through SO_MEMINFO), whether or not a datagram has arrived since: the same counter
/// SO_RXQ_OVFL attaches to datagrams.
pub fn kernel_drops(fd: std::os::fd::RawFd) -> io::Result<u32> {
    const VARS: usize = libc::SK_MEMINFO_DROPS as usize + 1;
    let mut info = [0u32; VARS];
    let mut len = std::mem::size_of_val(&info) as libc::socklen_t;
    // SAFETY: a pointer to a live array of `len` bytes; the kernel writes at most `len`.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            libc::SOL_SOCKET,
            libc::SO_MEMINFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    if (len as usize) < std::mem::size_of_val(&info) {
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_MEMINFO without SK_MEMINFO_DROPS (kernel older than 4.13)",
        ));
    }
    Ok(info[libc::SK_MEMINFO_DROPS as usize])
}

fn set_int_opt(sock: &Socket, level: i32, name: i32, value: i32) -> io::Result<()> {
    // SAFETY: a valid fd and a pointer to a live c_int of the length we pass.
    let rc = unsafe {
        libc::setsockopt(
            sock.as_raw_fd(),
            level,
            name,
            (&value as *const i32).cast(),
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}
