//! A TLS listener's server configuration (syslog's and HTTPS's alike): certificate and key loading (fail closed:
//! a missing, unreadable or mismatched file is an error naming it), the optional client CA
//! and permitted peers of mutual TLS, and reload without a restart.
//!
//! One [`ReloadableTls`] per listener is shared by every shard; a shard takes [`ReloadableTls::current`]
//! once per accepted connection (never per event), so a reload applies to new connections
//! while open ones keep the session they have. A reload is triggered by SIGHUP or by a change
//! of any file's size, modification time or inode (checked every `tls_reload_check_ms`, which
//! also catches the symlink swaps of Kubernetes secrets and cert-manager; an inotify watch
//! would not, without watching directories). A new set that fails to load is refused with a
//! log line and the old one stays in use.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, SystemTime};

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    CertificateError, DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig,
    SignatureScheme,
};

use crate::config::TlsKeys;

/// Reload attempts since start, process-wide: `[loaded, refused]` (start-up's load not
/// counted). Read by the metrics (`linerate_tls_certificate_reloads_total{result}`).
static RELOADS: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

/// Certificate reloads since start: (loaded, refused).
pub fn reload_counts() -> (u64, u64) {
    (
        RELOADS[0].load(Ordering::Relaxed),
        RELOADS[1].load(Ordering::Relaxed),
    )
}

/// How often the watcher looks for a SIGHUP.
const SIGHUP_CHECK: Duration = Duration::from_millis(100);

/// Why a TLS configuration could not be loaded; each names the file at fault.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("{path}: cannot read: {error}")]
    Read {
        path: PathBuf,
        error: std::io::Error,
    },
    #[error("{path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error("{cert} and {key}: {reason}")]
    Mismatch {
        cert: PathBuf,
        key: PathBuf,
        reason: String,
    },
    #[error("the TLS listener needs tls_cert_file and tls_key_file")]
    Missing,
}

/// One entry of `tls_permitted_peers`: a name pattern or a certificate fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermittedPeer {
    /// A DNS SAN or subject CN pattern, lower-cased; `*` matches any run of characters
    /// within one label.
    Name(String),
    /// SHA-256 of the certificate's DER bytes.
    Sha256([u8; 32]),
}

impl PermittedPeer {
    /// Read `sha256:AB:CD:…` (64 hex digits, colons optional) or a name pattern.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        if let Some(hex) = s
            .strip_prefix("sha256:")
            .or_else(|| s.strip_prefix("SHA256:"))
        {
            let digits: Vec<u8> = hex.bytes().filter(|&b| b != b':').collect();
            if digits.len() != 64 {
                return Err("a SHA-256 fingerprint has 64 hex digits".into());
            }
            let mut out = [0u8; 32];
            for (i, pair) in digits.chunks(2).enumerate() {
                let text = std::str::from_utf8(pair).map_err(|_| "not hex")?;
                out[i] = u8::from_str_radix(text, 16).map_err(|_| "not hex")?;
            }
            return Ok(Self::Sha256(out));
        }
        if s.is_empty() || s.contains(char::is_whitespace) {
            return Err("a name pattern is one word like host.example.com or *.example.com".into());
        }
        Ok(Self::Name(s.to_ascii_lowercase()))
    }

    /// Whether the certificate `der` with DNS SANs and CNs `names` is this peer.
    pub fn matches(&self, der: &[u8], names: &[String]) -> bool {
        match self {
            Self::Sha256(want) => sha256(der) == *want,
            Self::Name(pattern) => names
                .iter()
                .any(|n| name_matches(pattern, &n.to_ascii_lowercase())),
        }
    }
}

/// `pattern` against `name`, label by label (same count); `*` in a label matches any run of
/// characters within that label.
fn name_matches(pattern: &str, name: &str) -> bool {
    let (p, n): (Vec<&str>, Vec<&str>) = (pattern.split('.').collect(), name.split('.').collect());
    p.len() == n.len()
        && p.iter()
            .zip(&n)
            .all(|(p, n)| glob(p.as_bytes(), n.as_bytes()))
}

fn glob(p: &[u8], n: &[u8]) -> bool {
    match p.split_first() {
        None => n.is_empty(),
        Some((b'*', rest)) => (0..=n.len()).any(|i| glob(rest, &n[i..])),
        Some((c, rest)) => n.first() == Some(c) && glob(rest, &n[1..]),
    }
}

/// SHA-256 of `der`.
pub fn sha256(der: &[u8]) -> [u8; 32] {
    let d = ring::digest::digest(&ring::digest::SHA256, der);
    let mut out = [0u8; 32];
    out.copy_from_slice(d.as_ref());
    out
}

/// What an event and the permitted-peer check know of a certificate: its subject (RFC 4514)
/// and its DNS SANs and subject CNs. `None` when the DER cannot be read.
pub fn certificate_names(der: &[u8]) -> Option<(String, Vec<String>)> {
    let (_, cert) = x509_parser::parse_x509_certificate(der).ok()?;
    let subject = cert.subject().to_string();
    let mut names: Vec<String> = cert
        .subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok().map(str::to_string))
        .collect();
    if let Ok(Some(san)) = cert.subject_alternative_name() {
        for gn in &san.value.general_names {
            if let x509_parser::extensions::GeneralName::DNSName(d) = gn {
                names.push((*d).to_string());
            }
        }
    }
    Some((subject, names))
}

/// The files and settings a server configuration is built from.
#[derive(Debug, Clone)]
pub struct TlsFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
    pub client_ca: Option<PathBuf>,
    pub permitted: Vec<PermittedPeer>,
    /// Only TLS 1.3 (else 1.2 and 1.3).
    pub tls13_only: bool,
}

impl TlsFiles {
    /// The files and settings of a listener's TLS keys (validated by the config).
    pub fn from_keys(k: TlsKeys) -> Result<Self, TlsConfigError> {
        let (Some(cert), Some(key)) = (k.cert_file, k.key_file) else {
            return Err(TlsConfigError::Missing);
        };
        let permitted = k
            .permitted_peers
            .iter()
            .map(|p| PermittedPeer::parse(p))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|reason| TlsConfigError::Invalid {
                path: PathBuf::from("tls_permitted_peers"),
                reason,
            })?;
        Ok(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            client_ca: k.client_ca_file.map(Path::to_owned),
            permitted,
            tls13_only: k.min_version == "1.3",
        })
    }

    fn paths(&self) -> Vec<&Path> {
        let mut v = vec![self.cert.as_path(), self.key.as_path()];
        v.extend(self.client_ca.as_deref());
        v
    }

    /// Build the server configuration from the files as they are now.
    pub fn load(&self) -> Result<Arc<ServerConfig>, TlsConfigError> {
        let certs = read_certs(&self.cert)?;
        let key = read_key(&self.key)?;
        // ring, not aws-lc-rs: no cmake and a far shorter C build. rustls deprecates ring's
        // provider only for lacking post-quantum key exchange (X25519MLKEM768); classical
        // key exchange is what syslog senders (rsyslog, syslog-ng) offer today.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls13_only {
            &[&rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS12, &rustls::version::TLS13]
        };
        let builder = ServerConfig::builder_with_provider(provider.clone())
            .with_protocol_versions(versions)
            .map_err(|e| TlsConfigError::Invalid {
                path: self.cert.clone(),
                reason: e.to_string(),
            })?;
        let builder = match &self.client_ca {
            None => builder.with_no_client_auth(),
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                for c in read_certs(ca)? {
                    roots.add(c).map_err(|e| TlsConfigError::Invalid {
                        path: ca.clone(),
                        reason: format!("not a usable CA certificate: {e}"),
                    })?;
                }
                let inner = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                    .build()
                    .map_err(|e| TlsConfigError::Invalid {
                        path: ca.clone(),
                        reason: e.to_string(),
                    })?;
                let verifier: Arc<dyn ClientCertVerifier> = if self.permitted.is_empty() {
                    inner
                } else {
                    Arc::new(PermittedPeers {
                        inner,
                        peers: self.permitted.clone(),
                    })
                };
                builder.with_client_cert_verifier(verifier)
            }
        };
        let mut config =
            builder
                .with_single_cert(certs, key)
                .map_err(|e| TlsConfigError::Mismatch {
                    cert: self.cert.clone(),
                    key: self.key.clone(),
                    reason: match e {
                        rustls::Error::InconsistentKeys(_) => {
                            "the key is not the certificate's (their public keys differ)".into()
                        }
                        other => other.to_string(),
                    },
                })?;
        // Syslog connections are long-lived, HTTP senders keep theirs alive: no tickets to
        // write, no session cache shared (and locked) across shards.
        config.send_tls13_tickets = 0;
        config.session_storage = Arc::new(rustls::server::NoServerSessionStorage {});
        Ok(Arc::new(config))
    }

    /// What identifies the files' current contents (size, modification time, inode).
    fn stamps(&self) -> Vec<Option<(u64, SystemTime, u64)>> {
        use std::os::unix::fs::MetadataExt;
        self.paths()
            .iter()
            .map(|p| {
                let m = std::fs::metadata(p).ok()?;
                Some((m.len(), m.modified().ok()?, m.ino()))
            })
            .collect()
    }
}

/// The PEM certificates of `path` (at least one), or an error naming it.
pub fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsConfigError> {
    let bytes = std::fs::read(path).map_err(|error| TlsConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    let certs = CertificateDer::pem_slice_iter(&bytes)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TlsConfigError::Invalid {
            path: path.to_owned(),
            reason: format!("not PEM certificates: {e}"),
        })?;
    if certs.is_empty() {
        return Err(TlsConfigError::Invalid {
            path: path.to_owned(),
            reason: "no certificate (expected PEM `BEGIN CERTIFICATE` blocks)".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsConfigError> {
    let bytes = std::fs::read(path).map_err(|error| TlsConfigError::Read {
        path: path.to_owned(),
        error,
    })?;
    PrivateKeyDer::from_pem_slice(&bytes).map_err(|e| TlsConfigError::Invalid {
        path: path.to_owned(),
        reason: format!("no usable private key (PEM PKCS#8, PKCS#1 or SEC1): {e}"),
    })
}

/// A client verifier that lets in only [`PermittedPeer`]s, after the CA's verifier accepted
/// the chain. A refused peer fails its handshake with `ApplicationVerificationFailure`.
#[derive(Debug)]
struct PermittedPeers {
    inner: Arc<dyn ClientCertVerifier>,
    peers: Vec<PermittedPeer>,
}

impl ClientCertVerifier for PermittedPeers {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.inner.root_hint_subjects()
    }

    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        self.inner
            .verify_client_cert(end_entity, intermediates, now)?;
        let names = certificate_names(end_entity)
            .map(|(_, n)| n)
            .unwrap_or_default();
        if self.peers.iter().any(|p| p.matches(end_entity, &names)) {
            Ok(ClientCertVerified::assertion())
        } else {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::ApplicationVerificationFailure,
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// The server configuration in use, swapped whole on a successful reload.
#[derive(Debug)]
pub struct ReloadableTls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
    stamps: std::sync::Mutex<Vec<Option<(u64, SystemTime, u64)>>>,
}

impl ReloadableTls {
    /// Load the files now (start-up: an error stops it).
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsConfigError> {
        let stamps = files.stamps();
        let config = files.load()?;
        Ok(Arc::new(Self {
            files,
            current: RwLock::new(config),
            stamps: std::sync::Mutex::new(stamps),
        }))
    }

    /// The configuration new connections use.
    pub fn current(&self) -> Arc<ServerConfig> {
        match self.current.read() {
            Ok(c) => c.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Load the files again; on success new connections use them, on failure the error is
    /// logged and the old configuration stays. Returns whether it was replaced.
    pub fn reload(&self, why: &str) -> bool {
        if let Ok(mut s) = self.stamps.lock() {
            *s = self.files.stamps();
        }
        match self.files.load() {
            Ok(config) => {
                match self.current.write() {
                    Ok(mut c) => *c = config,
                    Err(poisoned) => *poisoned.into_inner() = config,
                }
                RELOADS[0].fetch_add(1, Ordering::Relaxed);
                tracing::info!(why, cert = %self.files.cert.display(), "tls: certificate reloaded; new connections use it");
                true
            }
            Err(e) => {
                RELOADS[1].fetch_add(1, Ordering::Relaxed);
                tracing::error!(why, error = %e, "tls: reload refused; the previous certificate stays in use");
                false
            }
        }
    }

    /// Whether any file changed since the last load (or reload attempt).
    fn changed(&self) -> bool {
        let now = self.files.stamps();
        self.stamps.lock().map(|s| *s != now).unwrap_or(false)
    }

    /// Start the thread that reloads on SIGHUP and, every `check` (zero: never), when a file
    /// changed. Registering SIGHUP replaces its default action (exit).
    pub fn spawn_watcher(self: &Arc<Self>, check: Duration) -> std::io::Result<()> {
        let hup = Arc::new(AtomicBool::new(false));
        signal_hook::flag::register(signal_hook::consts::SIGHUP, hup.clone())?;
        let me = self.clone();
        std::thread::Builder::new()
            .name("tls-reload".into())
            .spawn(move || {
                let mut since_check = Duration::ZERO;
                loop {
                    std::thread::sleep(SIGHUP_CHECK);
                    since_check += SIGHUP_CHECK;
                    if hup.swap(false, Ordering::Relaxed) {
                        me.reload("SIGHUP");
                        since_check = Duration::ZERO;
                    } else if !check.is_zero() && since_check >= check {
                        since_check = Duration::ZERO;
                        if me.changed() {
                            me.reload("files changed");
                        }
                    }
                }
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn name_patterns_match_label_by_label() {
        assert!(name_matches("*.example.com", "host1.example.com"));
        assert!(!name_matches("*.example.com", "a.b.example.com"));
        assert!(!name_matches("*.example.com", "example.com"));
        assert!(name_matches("web-*.example.com", "web-01.example.com"));
        assert!(!name_matches("web-*.example.com", "db-01.example.com"));
        assert!(name_matches("relay", "relay"));
    }

    #[test]
    fn fingerprints_parse_with_or_without_colons() {
        let hex = "AB".repeat(32);
        let colons: Vec<String> = (0..32).map(|_| "ab".to_string()).collect();
        assert_eq!(
            PermittedPeer::parse(&format!("sha256:{hex}")),
            Ok(PermittedPeer::Sha256([0xab; 32]))
        );
        assert_eq!(
            PermittedPeer::parse(&format!("SHA256:{}", colons.join(":"))),
            Ok(PermittedPeer::Sha256([0xab; 32]))
        );
        assert!(PermittedPeer::parse("sha256:abcd").is_err());
        assert!(PermittedPeer::parse("sha256:".to_string().as_str()).is_err());
        assert!(PermittedPeer::parse("two words").is_err());
        assert_eq!(
            PermittedPeer::parse("Host.Example.COM"),
            Ok(PermittedPeer::Name("host.example.com".into()))
        );
    }

    #[test]
    fn a_fingerprint_matches_only_its_certificate() {
        let der = b"certificate bytes";
        let p = PermittedPeer::Sha256(sha256(der));
        assert!(p.matches(der, &[]));
        assert!(!p.matches(b"other bytes", &[]));
    }
}
