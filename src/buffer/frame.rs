//! The on-disk frame of one buffered event, as the ring stores it.
//!
//! ```text
//! header (24 bytes, little-endian):
//!   0  magic        u32   FRAME_MAGIC, or WRAP_MAGIC for "continue at offset 0"
//!   4  payload_len  u32
//!   8  seq          u64   per-shard sequence number, +1 per event, kept across restarts
//!   16 payload_crc  u32   crc32 of the payload
//!   20 header_crc   u32   crc32 of bytes 0..20
//! payload:
//!   0  received_unix_micros i64
//!   8  transport u8 (0 udp, 1 tcp, 2 evtx, 3 http), 9 flags u8 (bit 0: truncated; bits 1..4:
//!      the record kind, 0 = syslog;
//!      bit 5: a TLS block follows the peer)
//!   10 peer family u8 (0, 4 or 6)
//!   11 peer port u16, 13 peer address [u8; 16]
//!   29 with bit 5: TLS block length u16, then the block (the TLS session of the connection,
//!      see [`crate::normalize::tls`]); then the message as received
//! padding to a multiple of 8 bytes
//! ```
//!
//! The ring keeps what was received, not what was made of it: normalization is a pure
//! function of these bytes (and the config), so it runs when the event is sent, and again
//! if it is sent again. The header has its own crc so that a damaged length is never
//! trusted: a reader that finds a bad header resynchronises on the next valid one.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::event::ReceiveMeta;
use crate::event::{RecordKind, Transport};

/// Bytes of a frame header.
pub const HEADER_BYTES: usize = 24;
/// Bytes of the receive metadata at the start of a payload.
pub const META_BYTES: usize = 29;
/// Frames start at multiples of this.
pub const ALIGN_BYTES: usize = 8;
/// Magic of an event frame ("LRF1").
pub const FRAME_MAGIC: u32 = 0x3146_524c;
/// Magic of a wrap marker ("LRWP"): the rest of the ring's end is padding.
pub const WRAP_MAGIC: u32 = 0x5057_524c;

/// Bits of the flags byte holding the [`RecordKind`].
const KIND_SHIFT: u8 = 1;
const KIND_MASK: u8 = 0b1111;
/// Bit of the flags byte saying a TLS block follows the peer.
const TLS_FLAG: u8 = 1 << 5;
/// Longest TLS block a frame carries (its length is a u16; callers keep it far smaller).
pub const TLS_BLOCK_BYTES_MAX: usize = u16::MAX as usize;

/// One event as the ring holds it, borrowed from the ring's memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Event<'a> {
    pub seq: u64,
    pub meta: ReceiveMeta,
    pub transport: Transport,
    pub truncated: bool,
    /// What the record is. A kind this version does not know (a ring written by a newer
    /// one) reads as syslog: the raw topic still gets the bytes as received.
    pub kind: RecordKind,
    /// The TLS session the message came over, as [`crate::normalize::tls`] encoded it;
    /// empty when it did not come over TLS.
    pub tls: &'a [u8],
    pub raw: &'a [u8],
}

/// What a frame position holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame<'a> {
    /// An event and the frame's total length (header, payload, padding).
    Event(Event<'a>, usize),
    /// A wrap marker.
    Wrap,
}

/// Why the bytes at a position are not a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// No magic, a header crc mismatch, or a length past the readable bytes: the header
    /// cannot be trusted, so neither can the frame's length.
    #[error("damaged frame header")]
    Header,
    /// The header is sound but the payload's crc does not match: skip `len` bytes.
    #[error("damaged frame payload")]
    Payload { len: usize },
}

/// Total bytes of the frame of a `raw_len`-byte message.
pub fn frame_len(raw_len: usize) -> usize {
    frame_len_tls(raw_len, 0)
}

/// Total bytes of the frame of a `raw_len`-byte message with a `tls_len`-byte TLS block
/// (0: none).
pub fn frame_len_tls(raw_len: usize, tls_len: usize) -> usize {
    (HEADER_BYTES + META_BYTES + tls_bytes(tls_len) + raw_len).next_multiple_of(ALIGN_BYTES)
}

/// Payload bytes a TLS block of `tls_len` takes (its length prefix included).
fn tls_bytes(tls_len: usize) -> usize {
    if tls_len == 0 {
        0
    } else {
        2 + tls_len
    }
}

/// Write the frame of one event into `dst` (at least [`frame_len`] bytes). Writes the
/// payload before the header, so a frame cut short by a crash has no valid header.
pub fn write_event(
    dst: &mut [u8],
    seq: u64,
    meta: &ReceiveMeta,
    transport: Transport,
    truncated: bool,
    kind: RecordKind,
    raw: &[u8],
) {
    write_event_tls(dst, seq, meta, transport, truncated, kind, &[], raw)
}

/// [`write_event`] for a message that came over TLS: `tls` (at most
/// [`TLS_BLOCK_BYTES_MAX`], empty for none) is kept beside it; `dst` holds at least
/// [`frame_len_tls`] bytes.
#[allow(clippy::too_many_arguments)]
pub fn write_event_tls(
    dst: &mut [u8],
    seq: u64,
    meta: &ReceiveMeta,
    transport: Transport,
    truncated: bool,
    kind: RecordKind,
    tls: &[u8],
    raw: &[u8],
) {
    let tls = &tls[..tls.len().min(TLS_BLOCK_BYTES_MAX)];
    let payload_len = META_BYTES + tls_bytes(tls.len()) + raw.len();
    let (header, rest) = dst.split_at_mut(HEADER_BYTES);
    let payload = &mut rest[..payload_len];
    payload[0..8].copy_from_slice(&meta.received_unix_micros.to_le_bytes());
    payload[8] = transport as u8;
    let tls_flag = if tls.is_empty() { 0 } else { TLS_FLAG };
    payload[9] = u8::from(truncated) | ((kind as u8 & KIND_MASK) << KIND_SHIFT) | tls_flag;
    let (family, port, addr) = match meta.peer {
        None => (0u8, 0u16, [0u8; 16]),
        Some(SocketAddr::V4(a)) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&a.ip().octets());
            (4, a.port(), b)
        }
        Some(SocketAddr::V6(a)) => (6, a.port(), a.ip().octets()),
    };
    payload[10] = family;
    payload[11..13].copy_from_slice(&port.to_le_bytes());
    payload[13..29].copy_from_slice(&addr);
    let mut at = META_BYTES;
    if !tls.is_empty() {
        payload[at..at + 2].copy_from_slice(&(tls.len() as u16).to_le_bytes());
        payload[at + 2..at + 2 + tls.len()].copy_from_slice(tls);
        at += 2 + tls.len();
    }
    payload[at..].copy_from_slice(raw);
    let payload_crc = crc32fast::hash(payload);
    write_header(header, FRAME_MAGIC, payload_len as u32, seq, payload_crc);
}

/// Write a wrap marker into `dst` (at least [`HEADER_BYTES`] bytes).
pub fn write_wrap(dst: &mut [u8]) {
    write_header(&mut dst[..HEADER_BYTES], WRAP_MAGIC, 0, 0, 0);
}

fn write_header(h: &mut [u8], magic: u32, payload_len: u32, seq: u64, payload_crc: u32) {
    h[0..4].copy_from_slice(&magic.to_le_bytes());
    h[4..8].copy_from_slice(&payload_len.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..20].copy_from_slice(&payload_crc.to_le_bytes());
    let header_crc = crc32fast::hash(&h[0..20]);
    h[20..24].copy_from_slice(&header_crc.to_le_bytes());
}

/// The little-endian u32 at `at` (the caller checked the length).
pub(crate) fn u32_at(b: &[u8], at: usize) -> u32 {
    let mut v = [0u8; 4];
    v.copy_from_slice(&b[at..at + 4]);
    u32::from_le_bytes(v)
}

/// The little-endian u64 at `at` (the caller checked the length).
pub(crate) fn u64_at(b: &[u8], at: usize) -> u64 {
    let mut v = [0u8; 8];
    v.copy_from_slice(&b[at..at + 8]);
    u64::from_le_bytes(v)
}

/// Decode and verify (both crcs) the frame at the start of `src` (the readable bytes from
/// a frame position).
pub fn decode(src: &[u8]) -> Result<Frame<'_>, FrameError> {
    decode_checked(src, true)
}

/// Decode the frame at the start of `src`, checking the crcs only when `verify`: a reader
/// may skip them for frames this process wrote itself (still in its own page cache).
/// Without `verify`, the magic and the bounds are still checked, so a damaged frame can
/// give wrong data but never an out-of-bounds read.
pub fn decode_checked(src: &[u8], verify: bool) -> Result<Frame<'_>, FrameError> {
    let Some(h) = src.get(..HEADER_BYTES) else {
        return Err(FrameError::Header);
    };
    let magic = u32_at(h, 0);
    if (magic != FRAME_MAGIC && magic != WRAP_MAGIC)
        || (verify && crc32fast::hash(&h[0..20]) != u32_at(h, 20))
    {
        return Err(FrameError::Header);
    }
    if magic == WRAP_MAGIC {
        return Ok(Frame::Wrap);
    }
    let payload_len = u32_at(h, 4) as usize;
    let len = frame_len(payload_len.saturating_sub(META_BYTES));
    let Some(payload) = src.get(HEADER_BYTES..HEADER_BYTES + payload_len) else {
        return Err(FrameError::Header);
    };
    if payload_len < META_BYTES || len > src.len() {
        return Err(FrameError::Header);
    }
    if verify && crc32fast::hash(payload) != u32_at(h, 16) {
        return Err(FrameError::Payload { len });
    }
    let port = u16::from_le_bytes([payload[11], payload[12]]);
    let mut addr = [0u8; 16];
    addr.copy_from_slice(&payload[13..29]);
    let peer = match payload[10] {
        4 => Some(SocketAddr::new(
            IpAddr::V4(Ipv4Addr::new(addr[0], addr[1], addr[2], addr[3])),
            port,
        )),
        6 => Some(SocketAddr::new(IpAddr::V6(Ipv6Addr::from(addr)), port)),
        _ => None,
    };
    let mut body = &payload[META_BYTES..];
    let mut tls: &[u8] = &[];
    if payload[9] & TLS_FLAG != 0 {
        let Some(&[a, b]) = body.get(..2) else {
            return Err(FrameError::Payload { len });
        };
        let tls_len = u16::from_le_bytes([a, b]) as usize;
        let Some(block) = body.get(2..2 + tls_len) else {
            return Err(FrameError::Payload { len });
        };
        tls = block;
        body = &body[2 + tls_len..];
    }
    // Rings written before EVTX and HTTP had their own transport hold 0 or 1; a value this
    // version does not know (a newer ring) counts as TCP, as every non-UDP value once did.
    let transport = Transport::from_byte(payload[8]).unwrap_or(Transport::Tcp);
    Ok(Frame::Event(
        Event {
            seq: u64_at(h, 8),
            meta: ReceiveMeta {
                received_unix_micros: u64_at(payload, 0) as i64,
                peer,
            },
            transport,
            truncated: payload[9] & 1 == 1,
            kind: RecordKind::from_bits((payload[9] >> KIND_SHIFT) & KIND_MASK)
                .unwrap_or(RecordKind::Syslog),
            tls,
            raw: body,
        },
        len,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(peer: &str) -> ReceiveMeta {
        ReceiveMeta {
            received_unix_micros: 1_736_334_000_123_456,
            peer: peer.parse().ok(),
        }
    }

    #[test]
    fn round_trips_every_field() {
        for peer in ["10.1.2.3:514", "[2001:db8::1]:6514", "none"] {
            let raw = b"<13>Jan  8 12:00:00 h app: hello";
            let mut buf = vec![0u8; frame_len(raw.len())];
            write_event(
                &mut buf,
                42,
                &meta(peer),
                Transport::Tcp,
                true,
                RecordKind::Syslog,
                raw,
            );
            let Ok(Frame::Event(ev, len)) = decode(&buf) else {
                panic!("not an event")
            };
            assert_eq!(len, buf.len());
            assert_eq!(len % ALIGN_BYTES, 0);
            assert_eq!(ev.seq, 42);
            assert_eq!(ev.meta, meta(peer));
            assert_eq!(
                (ev.transport, ev.truncated, ev.kind, ev.raw),
                (Transport::Tcp, true, RecordKind::Syslog, &raw[..])
            );
        }
    }

    #[test]
    fn round_trips_every_kind_with_and_without_truncation() {
        let kinds = [
            RecordKind::Syslog,
            RecordKind::Windows,
            RecordKind::Cloudtrail,
            RecordKind::Azure,
            RecordKind::Gcp,
            RecordKind::FramingError,
        ];
        for kind in kinds {
            for truncated in [false, true] {
                let raw = br#"{"eventName":"ConsoleLogin"}"#;
                let mut buf = vec![0u8; frame_len(raw.len())];
                let m = meta("192.0.2.7:443");
                write_event(&mut buf, 9, &m, Transport::Tcp, truncated, kind, raw);
                let Ok(Frame::Event(ev, _)) = decode(&buf) else {
                    panic!("not an event")
                };
                assert_eq!((ev.kind, ev.truncated, ev.raw), (kind, truncated, &raw[..]));
                assert_eq!(RecordKind::from_bits(kind as u8), Some(kind));
            }
        }
    }

    #[test]
    fn old_frames_read_as_syslog_and_unknown_kinds_too() {
        let raw = b"<13>hello";
        let mut buf = vec![0u8; frame_len(raw.len())];
        let m = meta("10.0.0.1:1");
        write_event(
            &mut buf,
            1,
            &m,
            Transport::Udp,
            true,
            RecordKind::Syslog,
            raw,
        );
        // A frame written before kinds existed: flags byte is exactly the truncated bit.
        assert_eq!(buf[HEADER_BYTES + 9], 1);
        // An unknown kind (from a newer version), with a valid crc.
        buf[HEADER_BYTES + 9] = 1 | (15 << KIND_SHIFT);
        let crc = crc32fast::hash(&buf[HEADER_BYTES..HEADER_BYTES + META_BYTES + raw.len()]);
        buf[16..20].copy_from_slice(&crc.to_le_bytes());
        let hcrc = crc32fast::hash(&buf[0..20]);
        buf[20..24].copy_from_slice(&hcrc.to_le_bytes());
        let Ok(Frame::Event(ev, _)) = decode(&buf) else {
            panic!("not an event")
        };
        assert_eq!((ev.kind, ev.truncated), (RecordKind::Syslog, true));
        assert_eq!(RecordKind::from_bits(6), None);
    }

    /// Re-seal a frame whose payload bytes a test changed (both crcs).
    fn reseal(buf: &mut [u8], raw_len: usize) {
        let crc = crc32fast::hash(&buf[HEADER_BYTES..HEADER_BYTES + META_BYTES + raw_len]);
        buf[16..20].copy_from_slice(&crc.to_le_bytes());
        let hcrc = crc32fast::hash(&buf[0..20]);
        buf[20..24].copy_from_slice(&hcrc.to_le_bytes());
    }

    #[test]
    fn every_transport_round_trips() {
        for t in [
            Transport::Udp,
            Transport::Tcp,
            Transport::Evtx,
            Transport::Http,
        ] {
            let raw = b"<Event/>";
            let mut buf = vec![0u8; frame_len(raw.len())];
            write_event(
                &mut buf,
                3,
                &meta("none"),
                t,
                false,
                RecordKind::Windows,
                raw,
            );
            assert_eq!(buf[HEADER_BYTES + 8], t as u8);
            let Ok(Frame::Event(ev, _)) = decode(&buf) else {
                panic!("not an event")
            };
            assert_eq!(ev.transport, t);
            assert_eq!(Transport::from_byte(t as u8), Some(t));
        }
    }

    #[test]
    fn frames_of_the_previous_version_read_as_before() {
        // A TCP frame as the version before EVTX and HTTP had their own transport wrote
        // it (seq 5, no peer, received 2025-01-08T11:00:00.123456Z, "<13>hi"): the byte
        // layout is unchanged, transport 1 is still TCP.
        const OLD_TCP_FRAME: &str = "4c52463123000000 0500000000000000 c2d92dbfdd1ffc4a \
                                     40ee49c32f2b0600 0100000000000000 0000000000000000 \
                                     00000000003c3133 3e68690000000000";
        let hex: String = OLD_TCP_FRAME.split_whitespace().collect();
        let bytes: Vec<u8> = (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap())
            .collect();
        let Ok(Frame::Event(ev, len)) = decode(&bytes) else {
            panic!("the old frame no longer decodes")
        };
        assert_eq!(len, bytes.len());
        assert_eq!(
            (ev.seq, ev.transport, ev.kind, ev.raw),
            (5, Transport::Tcp, RecordKind::Syslog, &b"<13>hi"[..])
        );
        assert_eq!(ev.meta.received_unix_micros, 1_736_334_000_123_456);
        // The old writer's UDP byte, and a transport from a newer version (read as TCP).
        for (byte, read_as) in [(0u8, Transport::Udp), (9, Transport::Tcp)] {
            let mut b = bytes.clone();
            b[HEADER_BYTES + 8] = byte;
            reseal(&mut b, 6);
            let Ok(Frame::Event(ev, _)) = decode(&b) else {
                panic!("not an event")
            };
            assert_eq!(ev.transport, read_as, "transport byte {byte}");
        }
    }

    #[test]
    fn frames_stay_within_the_overhead_the_config_allows_for() {
        for raw_len in 0..64 {
            let overhead = frame_len(raw_len) - raw_len;
            assert!(overhead as u64 <= crate::config::FRAME_OVERHEAD_BYTES_MAX);
        }
    }

    #[test]
    fn round_trips_a_tls_block_and_plain_frames_have_none() {
        let raw = b"<13>Jan  8 12:00:00 h app: over tls";
        let tls = b"\x04\x03\x02\x13session block";
        let mut buf = vec![0u8; frame_len_tls(raw.len(), tls.len())];
        let m = meta("10.1.2.3:6514");
        write_event_tls(
            &mut buf,
            5,
            &m,
            Transport::Tcp,
            false,
            RecordKind::Syslog,
            tls,
            raw,
        );
        let Ok(Frame::Event(ev, len)) = decode(&buf) else {
            panic!("not an event")
        };
        assert_eq!(len, buf.len());
        assert_eq!((ev.tls, ev.raw, ev.meta), (&tls[..], &raw[..], m));
        let mut plain = vec![0u8; frame_len(raw.len())];
        write_event(
            &mut plain,
            6,
            &m,
            Transport::Tcp,
            false,
            RecordKind::Syslog,
            raw,
        );
        let Ok(Frame::Event(ev, _)) = decode(&plain) else {
            panic!("not an event")
        };
        assert_eq!((ev.tls, ev.raw), (&[][..], &raw[..]));
    }

    #[test]
    fn a_tls_length_past_the_payload_is_a_damaged_payload() {
        let raw = b"<13>x";
        let tls = b"abc";
        let mut buf = vec![0u8; frame_len_tls(raw.len(), tls.len())];
        let m = meta("10.1.2.3:6514");
        write_event_tls(
            &mut buf,
            1,
            &m,
            Transport::Tcp,
            false,
            RecordKind::Syslog,
            tls,
            raw,
        );
        // Claim a longer block, with valid crcs: still no read past the payload.
        buf[HEADER_BYTES + META_BYTES] = 200;
        let payload_len = META_BYTES + 2 + tls.len() + raw.len();
        let crc = crc32fast::hash(&buf[HEADER_BYTES..HEADER_BYTES + payload_len]);
        buf[16..20].copy_from_slice(&crc.to_le_bytes());
        let hcrc = crc32fast::hash(&buf[0..20]);
        buf[20..24].copy_from_slice(&hcrc.to_le_bytes());
        assert!(matches!(decode(&buf), Err(FrameError::Payload { .. })));
    }

    #[test]
    fn any_flipped_byte_is_detected() {
        let raw = b"payload bytes";
        let mut good = vec![0u8; frame_len(raw.len())];
        write_event(
            &mut good,
            7,
            &meta("10.0.0.1:1"),
            Transport::Udp,
            false,
            RecordKind::Syslog,
            raw,
        );
        for i in 0..HEADER_BYTES + META_BYTES + raw.len() {
            let mut bad = good.clone();
            bad[i] ^= 0x10;
            let r = decode(&bad);
            if i < HEADER_BYTES {
                assert_eq!(r, Err(FrameError::Header), "byte {i}");
            } else {
                assert_eq!(r, Err(FrameError::Payload { len: good.len() }), "byte {i}");
            }
        }
    }

    #[test]
    fn short_or_zeroed_input_is_a_bad_header() {
        assert_eq!(decode(&[0u8; 64]), Err(FrameError::Header));
        assert_eq!(decode(&[0u8; 3]), Err(FrameError::Header));
        let mut w = [0u8; HEADER_BYTES];
        write_wrap(&mut w);
        assert_eq!(decode(&w), Ok(Frame::Wrap));
    }
}
