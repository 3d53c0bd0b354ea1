//! The client side of the control API's HTTPS, for the appliance's own tools (`linerate top`):
//! no `--ca` or `--insecure` flag, the trust comes from the configuration. A tool trusts the
//! certificate file `[http] tls_cert_file` names, that is, the server certificate it was
//! configured with:
//! - a server presenting exactly one of that file's certificates is trusted whatever name it
//!   was reached by (pinned: the operator configured that certificate; the handshake still
//!   proves the server holds its key, and an expired one is refused);
//! - otherwise the file's certificates are the trust anchors of an ordinary verification
//!   (chain and name): a `tls_cert_file` that carries its issuing CA or intermediate (a
//!   full chain) lets one appliance's file verify every appliance that CA signed.
//!
//! Mutual TLS is not offered: the tools have no client certificate of their own, and lending
//! them the server's key would make it a client credential too.

use std::path::Path;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, ClientConfig, DigitallySignedStruct, RootCertStore};

use crate::tls::config::{read_certs, TlsConfigError};

/// A client configuration trusting the certificates of `cert_file` (see the module's doc).
pub fn trusting_cert_file(cert_file: &Path) -> Result<Arc<ClientConfig>, TlsConfigError> {
    let certs = read_certs(cert_file)?;
    let invalid = |reason: String| TlsConfigError::Invalid {
        path: cert_file.to_owned(),
        reason,
    };
    let mut roots = RootCertStore::empty();
    for c in &certs {
        roots
            .add(c.clone())
            .map_err(|e| invalid(format!("not a usable certificate: {e}")))?;
    }
    // ring, as the servers use (see `crate::tls::config`).
    #[allow(deprecated)]
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let inner = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
        .build()
        .map_err(|e| invalid(e.to_string()))?;
    let verifier = Arc::new(ConfiguredCert {
        pinned: certs,
        inner,
        algorithms: provider.signature_verification_algorithms,
    });
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| invalid(e.to_string()))?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// Trusts the configured certificates themselves, else what chains to them.
#[derive(Debug)]
struct ConfiguredCert {
    pinned: Vec<CertificateDer<'static>>,
    inner: Arc<WebPkiServerVerifier>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for ConfiguredCert {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if !self
            .pinned
            .iter()
            .any(|p| p.as_ref() == end_entity.as_ref())
        {
            return self.inner.verify_server_cert(
                end_entity,
                intermediates,
                server_name,
                ocsp_response,
                now,
            );
        }
        let (_, cert) = x509_parser::parse_x509_certificate(end_entity)
            .map_err(|_| rustls::Error::InvalidCertificate(CertificateError::BadEncoding))?;
        let now = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
        let validity = cert.validity();
        if now < validity.not_before.timestamp() {
            return Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidYet,
            ));
        }
        if now > validity.not_after.timestamp() {
            return Err(rustls::Error::InvalidCertificate(CertificateError::Expired));
        }
        Ok(ServerCertVerified::assertion())
    }

    // The handshake's signatures, by the certificate's key (pinned or not).
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
