//! Loadgen's TCP connection, plain or TLS (`--tls-ca`): a rustls client over a blocking
//! `TcpStream`, with an optional client certificate for mutual TLS.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::sync::Arc;

use anyhow::{Context, Result};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, ClientConnection, RootCertStore, StreamOwned};

/// The client configuration of `--tls-ca` (trusted CAs) and, for mutual TLS, `--tls-cert` and
/// `--tls-key`.
pub fn client_config(ca: &Path, cert_and_key: Option<(&Path, &Path)>) -> Result<Arc<ClientConfig>> {
    let mut roots = RootCertStore::empty();
    for c in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots
            .add(c.with_context(|| format!("{}: not PEM certificates", ca.display()))?)
            .with_context(|| format!("{}: not a usable CA certificate", ca.display()))?;
    }
    // The same provider as the server side (see `tls::config`).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots);
    let config = match cert_and_key {
        None => builder.with_no_client_auth(),
        Some((cert, key)) => {
            let chain = CertificateDer::pem_file_iter(cert)
                .with_context(|| format!("reading {}", cert.display()))?
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("{}: not PEM certificates", cert.display()))?;
            let key = PrivateKeyDer::from_pem_file(key)
                .with_context(|| format!("{}: no private key", key.display()))?;
            builder.with_client_auth_cert(chain, key)?
        }
    };
    Ok(Arc::new(config))
}

/// A sending connection.
pub enum Conn {
    Plain(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Conn {
    /// `tcp`, wrapped in TLS when `tls` is given (the handshake runs on the first write).
    pub fn new(tcp: TcpStream, tls: Option<(&Arc<ClientConfig>, &str)>) -> Result<Self> {
        Ok(match tls {
            None => Self::Plain(tcp),
            Some((config, name)) => {
                let name = ServerName::try_from(name.to_string())
                    .with_context(|| format!("`{name}` is not a server name"))?;
                let conn = ClientConnection::new(config.clone(), name)?;
                Self::Tls(Box::new(StreamOwned::new(conn, tcp)))
            }
        })
    }

    /// Write all of `buf`.
    pub fn write_all(&mut self, buf: &[u8]) -> std::io::Result<()> {
        match self {
            Self::Plain(s) => s.write_all(buf),
            Self::Tls(s) => s.write_all(buf),
        }
    }

    /// End the session (TLS: close_notify) and half-close; returns the socket, to wait for
    /// the peer to finish reading.
    pub fn finish(self) -> TcpStream {
        match self {
            Self::Plain(s) => s,
            Self::Tls(mut s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
                s.sock
            }
        }
    }
}
