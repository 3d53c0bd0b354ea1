//! The TLS session a message came over, as kept beside it in the ring and as the ECS `tls.*`
//! fields of its normalized event.
//!
//! The TLS input encodes a connection's session once, after its handshake
//! ([`TlsSession::encode`]); every message of the connection carries that block in its frame
//! (`crate::buffer::frame::write_event_tls`). At send time the normalizer decodes it
//! ([`decode`]) and adds the ECS `tls.*` fields to the event, so a replay after a restart
//! carries them too.
//!
//! ```text
//! block (little-endian):
//!   0  format   u8    1
//!   1  version  u16   TLS protocol version code (0x0303 = TLS 1.2, 0x0304 = TLS 1.3)
//!   3  cipher   u16   IANA cipher suite code
//!   5  client   u8    0: no client certificate; 1: sha256 and subject follow
//!   6  sha256   [u8; 32]  SHA-256 of the client's end-entity certificate (DER)
//!   38 subject  UTF-8, to the end (RFC 4514 distinguished name)
//! ```

/// The block format this version writes.
const FORMAT: u8 = 1;
/// Longest subject kept, bytes (a longer one is cut at a character boundary).
pub const SUBJECT_BYTES_MAX: usize = 1024;
const FIXED_BYTES: usize = 6;
const SHA256_BYTES: usize = 32;

/// What a TLS connection's handshake settled, and who the client proved to be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSession {
    /// Protocol version code (0x0303 TLS 1.2, 0x0304 TLS 1.3).
    pub version: u16,
    /// IANA cipher suite code.
    pub cipher: u16,
    /// The client's certificate, under mutual TLS.
    pub client: Option<ClientIdentity>,
}

/// A client certificate as the event reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientIdentity {
    /// The subject's distinguished name (RFC 4514 form, e.g. `CN=host1, O=Example`).
    pub subject: String,
    /// SHA-256 of the end-entity certificate's DER bytes.
    pub sha256: [u8; SHA256_BYTES],
}

/// A TLS session block borrowed from a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsSessionRef<'a> {
    pub version: u16,
    pub cipher: u16,
    /// Subject and certificate hash, when the client presented a certificate.
    pub client: Option<(&'a str, &'a [u8; SHA256_BYTES])>,
}

impl TlsSession {
    /// The block stored with each message of the connection (at most
    /// `38 + SUBJECT_BYTES_MAX` bytes).
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(FIXED_BYTES + SHA256_BYTES + 64);
        out.push(FORMAT);
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.cipher.to_le_bytes());
        match &self.client {
            None => out.push(0),
            Some(c) => {
                out.push(1);
                out.extend_from_slice(&c.sha256);
                let mut end = c.subject.len().min(SUBJECT_BYTES_MAX);
                while !c.subject.is_char_boundary(end) {
                    end -= 1;
                }
                out.extend_from_slice(&c.subject.as_bytes()[..end]);
            }
        }
        out
    }
}

/// Read a block written by [`TlsSession::encode`]; `None` for an empty, damaged or unknown
/// one.
pub fn decode(block: &[u8]) -> Option<TlsSessionRef<'_>> {
    let fixed = block.get(..FIXED_BYTES)?;
    if fixed[0] != FORMAT {
        return None;
    }
    let version = u16::from_le_bytes([fixed[1], fixed[2]]);
    let cipher = u16::from_le_bytes([fixed[3], fixed[4]]);
    let client = match fixed[5] {
        0 => None,
        1 => {
            let sha256: &[u8; SHA256_BYTES] = block
                .get(FIXED_BYTES..FIXED_BYTES + SHA256_BYTES)?
                .try_into()
                .ok()?;
            let subject = std::str::from_utf8(&block[FIXED_BYTES + SHA256_BYTES..]).ok()?;
            Some((subject, sha256))
        }
        _ => return None,
    };
    Some(TlsSessionRef {
        version,
        cipher,
        client,
    })
}

/// ECS `tls.version` of a protocol version code (`1.2`, `1.3`); `None` for others.
pub fn version_name(code: u16) -> Option<&'static str> {
    match code {
        0x0303 => Some("1.2"),
        0x0304 => Some("1.3"),
        _ => None,
    }
}

/// ECS `tls.cipher` of a cipher suite code, as the IANA registry names it
/// (`TLS_AES_128_GCM_SHA256`, `TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384`): a prefix and the rest
/// (rustls names the TLS 1.3 suites `TLS13_…`).
pub fn cipher_name(code: u16) -> Option<(&'static str, &'static str)> {
    let name = rustls::CipherSuite::from(code).as_str()?;
    Some(match name.strip_prefix("TLS13_") {
        Some(rest) => ("TLS_", rest),
        None => ("", name),
    })
}
