//! `loadgen --replay FILE`: the lines of a file of real messages, sent in order (cycling
//! when more are asked for than the file has).

use std::path::Path;

use anyhow::{bail, Context, Result};

/// Largest replay file read into memory, bytes.
pub const REPLAY_FILE_BYTES_MAX: u64 = 1 << 30;

/// The non-empty lines of a file, without their line ends.
#[derive(Debug)]
pub struct Lines {
    bytes: Vec<u8>,
    /// `(start, end)` of each line in `bytes`.
    spans: Vec<(usize, usize)>,
}

impl Lines {
    /// Read `path` (at most [`REPLAY_FILE_BYTES_MAX`]).
    pub fn read(path: &Path) -> Result<Self> {
        let len = std::fs::metadata(path)
            .with_context(|| format!("replay file {}", path.display()))?
            .len();
        if len > REPLAY_FILE_BYTES_MAX {
            bail!(
                "replay file {} is {len} bytes, more than {REPLAY_FILE_BYTES_MAX}",
                path.display()
            );
        }
        let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
        let lines = Self::from_bytes(bytes);
        if lines.is_empty() {
            bail!("replay file {} has no non-empty line", path.display());
        }
        Ok(lines)
    }

    /// Split `bytes` at LF (a CR before it is dropped; empty lines are skipped).
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        let mut spans = Vec::new();
        let mut start = 0;
        for end in memchr::memchr_iter(b'\n', &bytes).chain(std::iter::once(bytes.len())) {
            let mut e = end;
            if e > start && bytes[e - 1] == b'\r' {
                e -= 1;
            }
            if e > start {
                spans.push((start, e));
            }
            start = end + 1;
        }
        Self { bytes, spans }
    }

    /// Number of lines.
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there is no line.
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Line `k` modulo the number of lines.
    pub fn get(&self, k: u64) -> &[u8] {
        let (s, e) = self.spans[(k % self.spans.len() as u64) as usize];
        &self.bytes[s..e]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_lines_and_cycles() {
        let l = Lines::from_bytes(b"a\r\n\nbb\nccc".to_vec());
        assert_eq!(l.len(), 3);
        assert_eq!(l.get(0), b"a");
        assert_eq!(l.get(1), b"bb");
        assert_eq!(l.get(2), b"ccc");
        assert_eq!(l.get(4), b"bb");
        assert!(Lines::from_bytes(b"\n\n".to_vec()).is_empty());
    }
}
