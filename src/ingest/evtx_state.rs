//! The position of an EVTX directory input, per file: the last record ID appended to the
//! ring and the file's identity, in `data_dir/evtx-state/<dir>-<crc32>.json` (one file per
//! polled directory, owned by the one shard polling it). Written whole to a temporary file
//! and renamed over the old one, so a crash leaves the old or the new position, never a mix.

use std::collections::BTreeMap;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::evtx_file::FileStat;

/// Where one file got to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct FilePosition {
    pub dev: u64,
    pub ino: u64,
    /// The highest EVTX record ID appended (or filtered out); records up to it are done.
    pub last_record_id: u64,
    /// Size and modification time when the file was last read to its end: unchanged, it is
    /// not read again.
    pub len: u64,
    pub mtime_ns: i64,
}

impl FilePosition {
    /// Whether `stat` is this file (same device and inode).
    pub fn is_file(&self, stat: &FileStat) -> bool {
        self.dev == stat.dev && self.ino == stat.ino
    }

    /// Whether the file is as it was when last read to its end.
    pub fn is_unchanged(&self, stat: &FileStat) -> bool {
        self.is_file(stat) && self.len == stat.len && self.mtime_ns == stat.mtime_ns
    }
}

/// The saved state of one directory input.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct DirState {
    /// The directory, to tell a state file written for another one.
    pub dir: PathBuf,
    /// By file name.
    pub files: BTreeMap<String, FilePosition>,
}

/// The state file of directory `dir` under `state_dir`: its path's characters that are not
/// alphanumeric replaced by `-`, and the crc32 of the whole path (so names never collide).
pub fn state_path(state_dir: &Path, dir: &Path) -> PathBuf {
    let text = dir.to_string_lossy();
    let readable: String = text
        .trim_start_matches('/')
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .take(64)
        .collect();
    let crc = crc32fast::hash(text.as_bytes());
    state_dir.join(format!("{readable}-{crc:08x}.json"))
}

impl DirState {
    /// Load the state of `dir` from `path`; a missing file is an empty state. A file that
    /// cannot be read or parsed, or that belongs to another directory, is an error.
    pub fn load(path: &Path, dir: &Path) -> io::Result<Self> {
        let text = match std::fs::read(path) {
            Ok(t) => t,
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                return Ok(Self {
                    dir: dir.to_owned(),
                    files: BTreeMap::new(),
                })
            }
            Err(e) => return Err(e),
        };
        let state: Self = serde_json::from_slice(&text).map_err(io::Error::other)?;
        if state.dir != dir {
            return Err(io::Error::other(format!(
                "the state file is for {}",
                state.dir.display()
            )));
        }
        Ok(state)
    }

    /// Write the state to `path`: to `path.tmp`, then renamed over `path`.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        let text = serde_json::to_vec_pretty(self).map_err(io::Error::other)?;
        std::fs::write(&tmp, text)?;
        std::fs::rename(&tmp, path)
    }

    /// The position of file `name` now at `stat`: its own when it is the same file; else
    /// that of a known file with the same identity (the file was renamed, as Windows does
    /// when it archives a full log), moved under the new name; else none (a new or
    /// replaced file: read from the start).
    pub fn position(&mut self, name: &str, stat: &FileStat) -> FilePosition {
        if let Some(p) = self.files.get(name).filter(|p| p.is_file(stat)) {
            return *p;
        }
        let renamed = self
            .files
            .iter()
            .find(|(n, p)| n.as_str() != name && p.is_file(stat))
            .map(|(n, p)| (n.clone(), *p));
        match renamed {
            Some((old, p)) => {
                self.files.remove(&old);
                p
            }
            None => FilePosition {
                dev: stat.dev,
                ino: stat.ino,
                ..FilePosition::default()
            },
        }
    }

    /// Forget the files not in `names`.
    pub fn retain(&mut self, names: &[String]) {
        self.files.retain(|n, _| names.contains(n));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stat(ino: u64) -> FileStat {
        FileStat {
            dev: 1,
            ino,
            len: 69632,
            mtime_ns: 7,
        }
    }

    #[test]
    fn saved_and_loaded_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let path = state_path(dir.path(), Path::new("/var/evtx/dc01"));
        assert!(path
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("var-evtx-dc01-"));
        let mut s = DirState::load(&path, Path::new("/var/evtx/dc01")).unwrap();
        assert!(s.files.is_empty());
        let mut p = s.position("a.evtx", &stat(5));
        p.last_record_id = 91;
        s.files.insert("a.evtx".into(), p);
        s.save(&path).unwrap();
        assert!(!path.with_extension("json.tmp").exists());
        let loaded = DirState::load(&path, Path::new("/var/evtx/dc01")).unwrap();
        assert_eq!(loaded, s);
        assert!(DirState::load(&path, Path::new("/var/evtx/dc02")).is_err());
        std::fs::write(&path, b"{").unwrap();
        assert!(DirState::load(&path, Path::new("/var/evtx/dc01")).is_err());
    }

    #[test]
    fn replaced_and_renamed_files() {
        let mut s = DirState::default();
        let mut p = s.position("Security.evtx", &stat(5));
        assert_eq!(p.last_record_id, 0);
        p.last_record_id = 500;
        s.files.insert("Security.evtx".into(), p);
        assert_eq!(s.position("Security.evtx", &stat(5)).last_record_id, 500);
        // Another inode under the same name: read from the start.
        assert_eq!(s.position("Security.evtx", &stat(6)).last_record_id, 0);
        // Renamed (archived): keeps its position under the new name.
        let moved = s.position("Archive-Security.evtx", &stat(5));
        assert_eq!(moved.last_record_id, 500);
        assert!(!s.files.contains_key("Security.evtx"));
        s.files.insert("Archive-Security.evtx".into(), moved);
        s.retain(&[]);
        assert!(s.files.is_empty());
    }
}
