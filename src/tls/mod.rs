//! The server side of TLS, shared by every TLS listener (syslog over TLS in
//! [`crate::ingest::tls`], HTTPS in [`crate::http_server`]): the reloadable certificate, key
//! and client CA ([`config`]), and one connection's handshake with its refusal reasons and
//! rate-limited refusal log ([`handshake`]), the session reading its socket through an
//! adaptive buffer ([`ciphertext_reader`]); and the client side the appliance's own tools
//! use to reach its control API over HTTPS ([`client`]).

pub mod ciphertext_reader;
pub mod client;
pub mod config;
pub mod failure;
pub mod handshake;
