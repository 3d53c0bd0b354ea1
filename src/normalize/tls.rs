//! The ECS `tls.*` fields of an event that came over TLS, from the session block kept beside
//! it in the ring ([`crate::event::tls`]).

use crate::event::tls::{cipher_name, decode, version_name};
use crate::normalize::ecs_writer::write_str;

/// Add the `tls` object of `block` to the JSON object in `out` (inserted before its closing
/// brace): `tls.version_protocol`, `tls.version`, `tls.cipher`, `tls.established`, and with a
/// client certificate `tls.client.subject` and `tls.client.hash.sha256` (upper-case hex, as
/// ECS asks). Leaves `out` alone when the block is empty or unreadable, or `out` is not an
/// object.
pub fn append_tls_fields(out: &mut Vec<u8>, block: &[u8]) {
    let Some(s) = decode(block) else { return };
    if out.last() != Some(&b'}') {
        return;
    }
    out.pop();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(b"\"tls\":{\"established\":true,\"version_protocol\":\"tls\"");
    if let Some(v) = version_name(s.version) {
        out.extend_from_slice(b",\"version\":");
        write_str(out, v.as_bytes());
    }
    if let Some((prefix, rest)) = cipher_name(s.cipher) {
        // IANA names are plain ASCII: nothing to escape.
        out.extend_from_slice(b",\"cipher\":\"");
        out.extend_from_slice(prefix.as_bytes());
        out.extend_from_slice(rest.as_bytes());
        out.push(b'"');
    }
    if let Some((subject, sha256)) = s.client {
        out.extend_from_slice(b",\"client\":{\"subject\":");
        write_str(out, subject.as_bytes());
        out.extend_from_slice(b",\"hash\":{\"sha256\":\"");
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for b in sha256 {
            out.push(HEX[(b >> 4) as usize]);
            out.push(HEX[(b & 15) as usize]);
        }
        out.extend_from_slice(b"\"}}");
    }
    out.extend_from_slice(b"}}");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::tls::{ClientIdentity, TlsSession, SUBJECT_BYTES_MAX};

    fn session(client: bool) -> TlsSession {
        TlsSession {
            version: 0x0304,
            cipher: 0x1301,
            client: client.then(|| ClientIdentity {
                subject: "CN=host1, O=Ex \"quoted\"".into(),
                sha256: [0xab; 32],
            }),
        }
    }

    #[test]
    fn fields_are_added_to_the_object_and_parse_as_json() {
        let mut out = br#"{"message":"hi"}"#.to_vec();
        append_tls_fields(&mut out, &session(true).encode());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["message"], "hi");
        assert_eq!(v["tls"]["version"], "1.3");
        assert_eq!(v["tls"]["version_protocol"], "tls");
        assert_eq!(v["tls"]["cipher"], "TLS_AES_128_GCM_SHA256");
        assert_eq!(v["tls"]["client"]["subject"], "CN=host1, O=Ex \"quoted\"");
        assert_eq!(v["tls"]["client"]["hash"]["sha256"], "AB".repeat(32));
    }

    #[test]
    fn without_a_client_certificate_there_is_no_client_object() {
        let mut out = br#"{"a":1}"#.to_vec();
        append_tls_fields(&mut out, &session(false).encode());
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["tls"]["version"], "1.3");
        assert!(v["tls"].get("client").is_none());
    }

    #[test]
    fn empty_or_damaged_blocks_leave_the_event_alone() {
        let mut out = br#"{"a":1}"#.to_vec();
        append_tls_fields(&mut out, &[]);
        append_tls_fields(&mut out, &[9, 9, 9]);
        let mut cut = session(true).encode();
        cut.truncate(20);
        append_tls_fields(&mut out, &cut);
        assert_eq!(out, br#"{"a":1}"#);
    }

    #[test]
    fn a_long_subject_is_cut_at_a_character_boundary() {
        let mut s = session(true);
        let subject = "CN=".to_string() + &"é".repeat(SUBJECT_BYTES_MAX);
        s.client.as_mut().unwrap().subject = subject;
        let block = s.encode();
        let d = decode(&block).unwrap();
        let (subj, _) = d.client.unwrap();
        assert!(subj.len() <= SUBJECT_BYTES_MAX && subj.starts_with("CN=é"));
    }
}
