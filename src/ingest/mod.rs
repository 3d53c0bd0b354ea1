//! Inputs: sockets and framing. Each shard binds its own SO_REUSEPORT sockets, so the kernel
//! spreads datagrams and connections over the shards and no input queue is shared. Each
//! EVTX directory input is polled by one shard (`evtx_poll`). Syslog over TLS (`tls`; its
//! certificates and handshake in [`crate::tls`]) is a listener of its own beside plain TCP. Inputs hand their
//! records to the shard through [`intake::Intake`] and know nothing else of it.

pub mod accept;
pub mod detect;
pub mod evtx_file;
pub mod evtx_poll;
pub mod evtx_state;
pub mod framed_reader;
pub mod framing;
pub mod http;
pub mod http_routes;
pub mod intake;
pub mod pause;
pub mod read_buffer;
pub mod sockets;
pub mod tcp;
pub mod tcp_balance;
pub mod tls;
pub mod udp;
pub mod udp_batch;
