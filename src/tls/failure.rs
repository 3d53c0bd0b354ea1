//! The labels of the TLS handshake counters: which listener, and why a connection was
//! refused (every refusal is counted under exactly one [`TlsFailure`]).

/// Why a TLS connection was refused before or during its handshake (every refusal is counted
/// under one of these).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsFailure {
    /// The first byte was not a TLS handshake record (a plaintext client).
    NotTls = 0,
    /// The handshake did not complete within `tls_handshake_timeout_ms`.
    Timeout = 1,
    /// The client closed the connection before the handshake completed.
    Closed = 2,
    /// Mutual TLS: the client presented no certificate.
    NoClientCert = 3,
    /// Mutual TLS: the client's certificate did not verify against the CA (unknown issuer,
    /// expired, wrong usage...).
    BadClientCert = 4,
    /// Mutual TLS: a valid certificate that no `tls_permitted_peers` entry matches.
    PeerNotPermitted = 5,
    /// The client aborted the handshake with an alert (e.g. it does not trust our certificate).
    ClientAlert = 6,
    /// No protocol version or cipher suite in common.
    Incompatible = 7,
    /// Any other handshake error (malformed messages, I/O errors).
    Protocol = 8,
}

/// Number of [`TlsFailure`] variants.
pub const TLS_FAILURE_COUNT: usize = 9;
/// Label values of [`TlsFailure`], by index.
pub const TLS_FAILURE_NAMES: [&str; TLS_FAILURE_COUNT] = [
    "not_tls",
    "timeout",
    "closed",
    "no_client_cert",
    "bad_client_cert",
    "peer_not_permitted",
    "client_alert",
    "incompatible",
    "protocol",
];

/// Which TLS listener a handshake counter is of (the `listener` label).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsListener {
    /// Syslog over TLS (`[syslog] tls_listen`).
    Syslog = 0,
    /// The HTTP input over HTTPS (`[http_input] tls_cert_file`).
    HttpInput = 1,
    /// The control API over HTTPS (`[http] tls_cert_file`). Not a shard's: its counters are
    /// the control server's own, never in a shard's stats.
    Control = 2,
}

/// Number of [`TlsListener`] variants.
pub const TLS_LISTENER_COUNT: usize = 3;
/// Label values of [`TlsListener`], by index (the names of the config sections; the control
/// API's `[http]` is `control`, as in `linerate_control_http_requests_rejected_total`).
pub const TLS_LISTENER_NAMES: [&str; TLS_LISTENER_COUNT] = ["syslog", "http_input", "control"];
