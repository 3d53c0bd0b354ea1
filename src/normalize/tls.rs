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
    let mut member = Vec::with_capacity(256);
    if write_tls_member(&mut member, block) {
        splice_member(out, &member);
    }
}

/// [`append_tls_fields`] for a stream of events: a connection's events all carry the same
/// session block, so the `tls` object is rendered once per block seen in a row and each
/// further event costs a comparison of the block and a copy. Holds two buffers, reused.
#[derive(Debug, Default)]
pub struct TlsFields {
    /// The block `member` was rendered from.
    block: Vec<u8>,
    /// `"tls":{...}`, or empty when `block` is unreadable.
    member: Vec<u8>,
}

impl TlsFields {
    /// As [`append_tls_fields`] (the same bytes), rendering only when `block` differs from
    /// the last one.
    pub fn append(&mut self, out: &mut Vec<u8>, block: &[u8]) {
        if block.is_empty() {
            return;
        }
        if self.block != block {
            self.block.clear();
            self.block.extend_from_slice(block);
            self.member.clear();
            if !write_tls_member(&mut self.member, block) {
                self.member.clear();
            }
        }
        if !self.member.is_empty() {
            splice_member(out, &self.member);
        }
    }
}

/// Write `"tls":{...}` of `block` to `member`; false when the block is empty or unreadable.
fn write_tls_member(member: &mut Vec<u8>, block: &[u8]) -> bool {
    let Some(s) = decode(block) else {
        return false;
    };
    member.extend_from_slice(b"\"tls\":{\"established\":true,\"version_protocol\":\"tls\"");
    if let Some(v) = version_name(s.version) {
        member.extend_from_slice(b",\"version\":");
        write_str(member, v.as_bytes());
    }
    if let Some((prefix, rest)) = cipher_name(s.cipher) {
        // IANA names are plain ASCII: nothing to escape.
        member.extend_from_slice(b",\"cipher\":\"");
        member.extend_from_slice(prefix.as_bytes());
        member.extend_from_slice(rest.as_bytes());
        member.push(b'"');
    }
    if let Some((subject, sha256)) = s.client {
        member.extend_from_slice(b",\"client\":{\"subject\":");
        write_str(member, subject.as_bytes());
        member.extend_from_slice(b",\"hash\":{\"sha256\":\"");
        const HEX: &[u8; 16] = b"0123456789ABCDEF";
        for b in sha256 {
            member.push(HEX[(b >> 4) as usize]);
            member.push(HEX[(b & 15) as usize]);
        }
        member.extend_from_slice(b"\"}}");
    }
    member.push(b'}');
    true
}

/// Insert `member` as the last member of the JSON object in `out` (nothing when `out` is not
/// an object).
fn splice_member(out: &mut Vec<u8>, member: &[u8]) {
    if out.last() != Some(&b'}') {
        return;
    }
    out.pop();
    if out.len() > 1 {
        out.push(b',');
    }
    out.extend_from_slice(member);
    out.push(b'}');
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

    /// The cached rendering writes exactly what a fresh one does, for a run of events of one
    /// session, a change of session, damaged and empty blocks in between.
    #[test]
    fn the_cached_tls_object_is_the_fresh_one() {
        let mut cache = TlsFields::default();
        let mut other = session(true);
        other.client.as_mut().unwrap().subject = "CN=relay2".into();
        let blocks = [
            session(true).encode(),
            session(true).encode(),
            session(false).encode(),
            vec![9, 9, 9],
            vec![],
            other.encode(),
            other.encode(),
            session(true).encode(),
        ];
        for block in &blocks {
            for start in [&br#"{"message":"hi"}"#[..], b"{}", b"[1]"] {
                let (mut fresh, mut cached) = (start.to_vec(), start.to_vec());
                append_tls_fields(&mut fresh, block);
                cache.append(&mut cached, block);
                assert_eq!(cached, fresh, "{block:?}");
            }
        }
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
