//! Stream framing for syslog over TCP: LF-delimited or RFC 6587 octet-counted, detected per
//! connection from its first byte (a digit means octet counting, as RFC 6587 §3.4.1 allows).
//!
//! Guarantees: frames borrow from the caller's buffer (no copy); a message longer than
//! `message_bytes_max` yields its first `message_bytes_max` bytes marked truncated and the rest
//! is skipped, so memory per connection stays bounded; malformed octet counts never panic —
//! the connection falls back to LF framing.
//!
//! On LF-framed connections a NUL byte ends a frame too, as syslog-ng does: Python's
//! `SysLogHandler` ends each message with NUL and no LF, and a NUL inside a message cannot be
//! meant. An octet count above [`OCTET_COUNT_FACTOR_MAX`] × `message_bytes_max` is not an
//! over-long message but a broken stream (`9999999999` would otherwise turn the rest of the
//! connection into one skipped truncation): [`Step::Error`], after which the connection is
//! closed.

use crate::config::OCTET_COUNT_FACTOR_MAX;

/// Framing of one connection, settled by its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// Not seen a byte yet.
    Unknown,
    /// Messages end with `\n` (non-transparent framing).
    Lf,
    /// `MSG-LEN SP MSG` (octet counting).
    OctetCounted,
}

/// One step of the framer over the unconsumed bytes of a read buffer.
#[derive(Debug, PartialEq, Eq)]
pub enum Step<'a> {
    /// A message; `consumed` bytes of the buffer are used up by it (with its delimiter).
    Frame {
        message: &'a [u8],
        truncated: bool,
        consumed: usize,
    },
    /// `consumed` bytes were discarded (the tail of a truncated message, or empty lines).
    Skip { consumed: usize },
    /// No complete frame in the buffer; read more.
    NeedMore,
    /// The stream cannot be framed (an octet count beyond the bound): `read` is what was
    /// read of the bad frame, its header included, at most `message_bytes_max` bytes. The
    /// framer takes nothing more; the connection is to be closed.
    Error { read: &'a [u8], count: u64 },
}

/// Longest MSG-LEN accepted: 10 digits covers any `u32`.
const OCTET_LEN_DIGITS_MAX: usize = 10;

/// Per-connection framing state.
#[derive(Debug)]
pub struct Framer {
    framing: Framing,
    message_bytes_max: usize,
    /// Bytes of an over-long octet-counted message still to skip.
    skip_bytes: usize,
    /// Discarding an over-long LF message until its `\n` (or NUL).
    skip_to_lf: bool,
    /// A framing error was reported: nothing more is framed.
    failed: bool,
}

impl Framer {
    /// A framer that truncates messages to `message_bytes_max` bytes.
    pub fn new(message_bytes_max: usize) -> Self {
        Self {
            framing: Framing::Unknown,
            message_bytes_max,
            skip_bytes: 0,
            skip_to_lf: false,
            failed: false,
        }
    }

    /// The largest octet count taken as a (possibly over-long) message; a larger one is a
    /// [`Step::Error`].
    pub fn octet_count_bytes_max(&self) -> usize {
        self.message_bytes_max
            .saturating_mul(OCTET_COUNT_FACTOR_MAX)
    }

    /// The framing detected so far.
    pub fn framing(&self) -> Framing {
        self.framing
    }

    /// The smallest read buffer that always makes progress: a maximal message plus its header.
    pub fn buffer_bytes_min(&self) -> usize {
        self.message_bytes_max + OCTET_LEN_DIGITS_MAX + 2
    }

    /// Take the next frame from `buf` (the unconsumed bytes). Call until `NeedMore`.
    pub fn next<'a>(&mut self, buf: &'a [u8]) -> Step<'a> {
        if buf.is_empty() {
            return Step::NeedMore;
        }
        if self.failed {
            return Step::Skip {
                consumed: buf.len(),
            };
        }
        if self.skip_bytes > 0 {
            let n = self.skip_bytes.min(buf.len());
            self.skip_bytes -= n;
            return Step::Skip { consumed: n };
        }
        if self.skip_to_lf {
            return match memchr::memchr2(b'\n', 0, buf) {
                Some(i) => {
                    self.skip_to_lf = false;
                    Step::Skip { consumed: i + 1 }
                }
                None => Step::Skip {
                    consumed: buf.len(),
                },
            };
        }
        if self.framing == Framing::Unknown {
            self.framing = if buf[0].is_ascii_digit() {
                Framing::OctetCounted
            } else {
                Framing::Lf
            };
        }
        match self.framing {
            Framing::OctetCounted => self.next_octet(buf),
            _ => self.next_lf(buf),
        }
    }

    /// At end of stream: whatever is left is one last (possibly truncated) message.
    pub fn finish<'a>(&mut self, buf: &'a [u8]) -> Option<(&'a [u8], bool)> {
        if buf.is_empty() || self.skip_bytes > 0 || self.skip_to_lf || self.failed {
            return None;
        }
        let body = match self.framing {
            // An incomplete octet-counted frame: keep what arrived after the length.
            Framing::OctetCounted => match memchr::memchr(b' ', buf) {
                Some(sp) => &buf[sp + 1..],
                None => return None,
            },
            _ => buf,
        };
        if body.is_empty() {
            return None;
        }
        let keep = body.len().min(self.message_bytes_max);
        let truncated = self.framing == Framing::OctetCounted || body.len() > keep;
        Some((&body[..keep], truncated))
    }

    fn next_lf<'a>(&mut self, buf: &'a [u8]) -> Step<'a> {
        match memchr::memchr2(b'\n', 0, buf) {
            Some(0) => Step::Skip { consumed: 1 },
            Some(i) if i <= self.message_bytes_max => {
                let line = &buf[..i];
                let line = line.strip_suffix(b"\r").unwrap_or(line);
                Step::Frame {
                    message: line,
                    truncated: false,
                    consumed: i + 1,
                }
            }
            Some(i) => Step::Frame {
                message: &buf[..self.message_bytes_max],
                truncated: true,
                consumed: i + 1,
            },
            None if buf.len() > self.message_bytes_max => {
                self.skip_to_lf = true;
                Step::Frame {
                    message: &buf[..self.message_bytes_max],
                    truncated: true,
                    consumed: buf.len(),
                }
            }
            None => Step::NeedMore,
        }
    }

    fn next_octet<'a>(&mut self, buf: &'a [u8]) -> Step<'a> {
        // Octet-counted streams may carry LFs between frames (some senders add them).
        if buf[0] == b'\n' || buf[0] == b'\r' {
            return Step::Skip { consumed: 1 };
        }
        let digits = buf
            .iter()
            .take(OCTET_LEN_DIGITS_MAX + 1)
            .take_while(|b| b.is_ascii_digit())
            .count();
        if digits == buf.len().min(OCTET_LEN_DIGITS_MAX + 1) && digits <= OCTET_LEN_DIGITS_MAX {
            return Step::NeedMore; // length still arriving
        }
        let valid_header = digits > 0
            && digits <= OCTET_LEN_DIGITS_MAX
            && buf[0] != b'0'
            && buf.get(digits) == Some(&b' ');
        if !valid_header {
            // Not octet counting after all: treat the rest of the connection as LF-framed.
            self.framing = Framing::Lf;
            return self.next_lf(buf);
        }
        let len: usize = buf[..digits]
            .iter()
            .fold(0usize, |n, d| n * 10 + usize::from(d - b'0'));
        if len > self.octet_count_bytes_max() {
            self.failed = true;
            return Step::Error {
                read: &buf[..buf.len().min(self.message_bytes_max)],
                count: len as u64,
            };
        }
        let start = digits + 1;
        let keep = len.min(self.message_bytes_max);
        if buf.len() < start + keep {
            return Step::NeedMore;
        }
        let message = &buf[start..start + keep];
        if keep == len {
            Step::Frame {
                message,
                truncated: false,
                consumed: start + len,
            }
        } else {
            self.skip_bytes = len - keep;
            Step::Frame {
                message,
                truncated: true,
                consumed: start + keep,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feed `input` in chunks of `chunk` bytes through a compacting buffer, as a connection does.
    fn frame_all(input: &[u8], chunk: usize, max: usize) -> Vec<(Vec<u8>, bool)> {
        let mut f = Framer::new(max);
        let mut buf: Vec<u8> = Vec::new();
        let mut out = Vec::new();
        for piece in input.chunks(chunk) {
            buf.extend_from_slice(piece);
            let mut pos = 0;
            loop {
                match f.next(&buf[pos..]) {
                    Step::Frame {
                        message,
                        truncated,
                        consumed,
                    } => {
                        out.push((message.to_vec(), truncated));
                        pos += consumed;
                    }
                    Step::Skip { consumed } => pos += consumed,
                    Step::NeedMore => break,
                    Step::Error { read, count } => {
                        out.push((format!("error {count}: ").into_bytes(), true));
                        out.last_mut().unwrap().0.extend_from_slice(read);
                        return out;
                    }
                }
            }
            buf.drain(..pos);
        }
        if let Some((m, t)) = f.finish(&buf) {
            out.push((m.to_vec(), t));
        }
        out
    }

    #[test]
    fn lf_frames_any_chunking() {
        let input = b"<13>a\n<13>bb\r\n\n<13>ccc\n";
        for chunk in 1..input.len() {
            let got = frame_all(input, chunk, 100);
            let msgs: Vec<_> = got.iter().map(|(m, _)| m.as_slice()).collect();
            assert_eq!(
                msgs,
                vec![&b"<13>a"[..], b"<13>bb", b"<13>ccc"],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn octet_counted_any_chunking() {
        let input = b"5 <13>a6 <13>bb\n7 <13>ccc";
        for chunk in 1..input.len() {
            let got = frame_all(input, chunk, 100);
            let msgs: Vec<_> = got.iter().map(|(m, t)| (m.as_slice(), *t)).collect();
            assert_eq!(
                msgs,
                vec![
                    (&b"<13>a"[..], false),
                    (b"<13>bb", false),
                    (b"<13>ccc", false)
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn octet_counted_message_may_contain_lf() {
        let got = frame_all(b"9 <13>a\nb\nc", 3, 100);
        assert_eq!(got, vec![(b"<13>a\nb\nc".to_vec(), false)]);
    }

    #[test]
    fn oversize_lf_is_truncated_and_rest_skipped() {
        let mut input = b"<13>".to_vec();
        input.extend(std::iter::repeat_n(b'x', 50));
        input.extend_from_slice(b"\n<13>next\n");
        for chunk in [1, 7, 16, 100] {
            let got = frame_all(&input, chunk, 16);
            assert_eq!(got.len(), 2, "chunk {chunk}: {got:?}");
            assert_eq!(got[0].0.len(), 16);
            assert!(got[0].1);
            assert_eq!(got[1], (b"<13>next".to_vec(), false));
        }
    }

    #[test]
    fn oversize_octet_is_truncated_and_rest_skipped() {
        let mut input = b"40 ".to_vec();
        input.extend(std::iter::repeat_n(b'y', 40));
        input.extend_from_slice(b"3 abc");
        for chunk in [1, 5, 64] {
            let got = frame_all(&input, chunk, 10);
            assert_eq!(
                got,
                vec![(vec![b'y'; 10], true), (b"abc".to_vec(), false)],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn bad_octet_header_falls_back_to_lf() {
        let got = frame_all(b"12abc\nnext\n", 4, 100);
        let msgs: Vec<_> = got.iter().map(|(m, _)| m.as_slice()).collect();
        assert_eq!(msgs, vec![&b"12abc"[..], b"next"]);
    }

    #[test]
    fn unterminated_last_line_is_kept() {
        assert_eq!(
            frame_all(b"<13>a\n<13>tail", 64, 100).last().unwrap(),
            &(b"<13>tail".to_vec(), false)
        );
    }

    #[test]
    fn incomplete_octet_frame_at_eof_is_kept_truncated() {
        assert_eq!(
            frame_all(b"20 <13>short", 64, 100),
            vec![(b"<13>short".to_vec(), true)]
        );
    }

    #[test]
    fn nul_ends_a_frame_on_lf_connections() {
        // Python's SysLogHandler over TCP: NUL after each message, no LF.
        let input = b"<14>one\x00<14>two\x00\x00<14>three\n<14>four\x00";
        for chunk in 1..input.len() {
            let got = frame_all(input, chunk, 100);
            let msgs: Vec<_> = got.iter().map(|(m, t)| (m.as_slice(), *t)).collect();
            assert_eq!(
                msgs,
                vec![
                    (&b"<14>one"[..], false),
                    (b"<14>two", false),
                    (b"<14>three", false),
                    (b"<14>four", false)
                ],
                "chunk {chunk}"
            );
        }
    }

    #[test]
    fn oversize_lf_skip_stops_at_nul() {
        let mut input = vec![b'z'; 40];
        input.extend_from_slice(b"\x00<13>next\x00");
        let got = frame_all(&input, 8, 16);
        assert_eq!(
            got,
            vec![(vec![b'z'; 16], true), (b"<13>next".to_vec(), false)]
        );
    }

    #[test]
    fn octet_count_beyond_the_bound_is_a_framing_error() {
        // 16 × 10 = 160 is still an over-long message, truncated; 161 is an error.
        let mut ok = b"160 ".to_vec();
        ok.extend(std::iter::repeat_n(b'a', 160));
        ok.extend_from_slice(b"3 abc");
        assert_eq!(
            frame_all(&ok, 7, 10),
            vec![(vec![b'a'; 10], true), (b"abc".to_vec(), false)]
        );
        for chunk in [1, 4, 64] {
            let got = frame_all(b"5 <13>a9999999999 <13>lost\n3 abc", chunk, 10);
            assert_eq!(got[0], (b"<13>a".to_vec(), false), "chunk {chunk}");
            let (err, _) = &got[1];
            assert!(
                err.starts_with(b"error 9999999999: 9999999999"),
                "chunk {chunk}: {got:?}"
            );
            assert!(err.len() <= b"error 9999999999: ".len() + 10);
            assert_eq!(got.len(), 2, "nothing after the error: {got:?}");
        }
        let mut f = Framer::new(10);
        assert_eq!(f.octet_count_bytes_max(), 160);
        assert!(matches!(f.next(b"161 x"), Step::Error { count: 161, .. }));
        assert_eq!(f.next(b"3 abc"), Step::Skip { consumed: 5 });
        assert_eq!(f.finish(b"3 abc"), None);
    }
}
