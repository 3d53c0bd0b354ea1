//! Test certificates made by the tests (rcgen): a CA, server and client certificates it
//! signs, and a second, unknown CA; written as PEM files into a directory.

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose,
};

/// A certificate authority that signs leaves.
pub struct Ca {
    cert: rcgen::Certificate,
    key: KeyPair,
    /// Its certificate's PEM file.
    pub pem: PathBuf,
}

/// A leaf certificate's files.
#[derive(Debug, Clone)]
pub struct Leaf {
    pub cert: PathBuf,
    pub key: PathBuf,
    /// The certificate's DER bytes.
    pub der: Vec<u8>,
}

impl Ca {
    /// A new CA named `name`, its PEM written to `dir/<name>-ca.pem`.
    pub fn new(dir: &Path, name: &str) -> Self {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(DnType::CommonName, format!("{name} test CA"));
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        let cert = params.self_signed(&key).unwrap();
        let pem = dir.join(format!("{name}-ca.pem"));
        std::fs::write(&pem, cert.pem()).unwrap();
        Self { cert, key, pem }
    }

    /// A server certificate for `localhost` and 127.0.0.1 with subject CN `cn`, written to
    /// `dir/<file>.pem` and `dir/<file>.key`.
    pub fn server(&self, dir: &Path, file: &str, cn: &str) -> Leaf {
        self.leaf(
            dir,
            file,
            cn,
            vec!["localhost".into(), "127.0.0.1".into()],
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    /// A client certificate with subject CN `cn` and DNS SAN `cn`.
    pub fn client(&self, dir: &Path, file: &str, cn: &str) -> Leaf {
        self.leaf(
            dir,
            file,
            cn,
            vec![cn.to_string()],
            ExtendedKeyUsagePurpose::ClientAuth,
        )
    }

    fn leaf(
        &self,
        dir: &Path,
        file: &str,
        cn: &str,
        sans: Vec<String>,
        usage: ExtendedKeyUsagePurpose,
    ) -> Leaf {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(sans).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "linerate tests");
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let cert = params.signed_by(&key, &self.cert, &self.key).unwrap();
        let leaf = Leaf {
            cert: dir.join(format!("{file}.pem")),
            key: dir.join(format!("{file}.key")),
            der: cert.der().to_vec(),
        };
        std::fs::write(&leaf.cert, cert.pem()).unwrap();
        std::fs::write(&leaf.key, key.serialize_pem()).unwrap();
        leaf
    }
}

/// Upper-case hex SHA-256 of `der` (as ECS `tls.client.hash.sha256` has it).
pub fn sha256_hex(der: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, der)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect()
}

/// A temporary directory holding a CA, a server certificate it signed (for `localhost` and
/// 127.0.0.1) and a client certificate it signed.
pub struct Pki {
    pub dir: tempfile::TempDir,
    pub ca: Ca,
    pub server: Leaf,
    pub client: Leaf,
}

impl Pki {
    /// The CA `ca_name`, the server `server_cn` (files `server.*`) and the client
    /// `client_cn` (files `client.*`).
    pub fn new(ca_name: &str, server_cn: &str, client_cn: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ca = Ca::new(dir.path(), ca_name);
        let server = ca.server(dir.path(), "server", server_cn);
        let client = ca.client(dir.path(), "client", client_cn);
        Self {
            dir,
            ca,
            server,
            client,
        }
    }
}
