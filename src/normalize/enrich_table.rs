//! The enrichment table (`[enrich] table`): rows of `match, owner, site, criticality`, loaded
//! once at start-up from CSV (a header row `match,owner,site,criticality`) or TOML
//! (`[[entry]] match = "...", owner = "..."`), chosen by the file's extension.
//!
//! Guarantees:
//! - A `match` is a hostname (compared exactly, ASCII case-insensitively), an IP address, or
//!   a CIDR (v4 or v6; host bits are ignored). Anything else, a duplicate `match`, a missing
//!   column or more than `rows_max` rows stops loading with `file:line: reason`.
//! - [`EnrichTable::lookup`] tries the hostname first, then the IP by longest prefix. It
//!   allocates nothing: one hash probe per prefix length present in the table.
//! - Each row's labels are kept as the JSON fragment the enriched event gets
//!   (`,"labels":{"owner":…,"site":…,"criticality":…}`, empty values left out), built once.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use ipnet::IpNet;
use serde::Deserialize;

use super::ecs_writer::write_str;

/// Longest hostname a row may name (DNS names are at most 253 bytes).
pub const HOSTNAME_BYTES_MAX: usize = 253;

/// Why the table did not load.
#[derive(Debug, thiserror::Error)]
pub enum EnrichError {
    /// The file could not be read.
    #[error("{path}: {source}", path = .path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A row (or the header, line 1) is not valid.
    #[error("{path}:{line}: {reason}", path = .path.display())]
    Row {
        path: PathBuf,
        line: usize,
        reason: String,
    },
}

/// One row as read, before it is checked.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Row {
    #[serde(rename = "match")]
    match_: String,
    #[serde(default)]
    owner: String,
    #[serde(default)]
    site: String,
    #[serde(default)]
    criticality: String,
}

/// The TOML form: `[[entry]]` tables.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TomlTable {
    #[serde(default)]
    entry: Vec<toml::Spanned<Row>>,
}

/// Prefixes of one length, masked, to the row they belong to.
#[derive(Debug, Default, Clone)]
struct PrefixLen<K> {
    len: u8,
    rows: HashMap<K, u32>,
}

/// The loaded table (see the module docs). Read-only after loading.
#[derive(Debug, Default, Clone)]
pub struct EnrichTable {
    /// Lowercased hostname → row.
    hosts: HashMap<Box<[u8]>, u32>,
    /// Longest prefix first.
    v4: Vec<PrefixLen<u32>>,
    v6: Vec<PrefixLen<u128>>,
    /// Each row's `labels` fragment.
    labels: Vec<Box<[u8]>>,
}

fn mask_v4(addr: u32, len: u8) -> u32 {
    addr & u32::MAX.checked_shl(32 - u32::from(len)).unwrap_or(0)
}

fn mask_v6(addr: u128, len: u8) -> u128 {
    addr & u128::MAX.checked_shl(128 - u32::from(len)).unwrap_or(0)
}

fn is_hostname(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= HOSTNAME_BYTES_MAX
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// The `labels` fragment of a row.
fn labels_fragment(row: &Row) -> Box<[u8]> {
    let mut out = b",\"labels\":{".to_vec();
    let mut first = true;
    for (key, value) in [
        ("owner", &row.owner),
        ("site", &row.site),
        ("criticality", &row.criticality),
    ] {
        let value = value.trim();
        if value.is_empty() {
            continue;
        }
        if !first {
            out.push(b',');
        }
        first = false;
        write_str(&mut out, key.as_bytes());
        out.push(b':');
        write_str(&mut out, value.as_bytes());
    }
    out.push(b'}');
    out.into_boxed_slice()
}

fn insert_prefix<K: std::hash::Hash + Eq>(
    lens: &mut Vec<PrefixLen<K>>,
    len: u8,
    key: K,
    row: u32,
) -> bool {
    let i = match lens.iter().position(|p| p.len == len) {
        Some(i) => i,
        None => {
            lens.push(PrefixLen {
                len,
                rows: HashMap::new(),
            });
            lens.sort_by_key(|p| std::cmp::Reverse(p.len));
            lens.iter().position(|p| p.len == len).expect("just added")
        }
    };
    lens[i].rows.insert(key, row).is_none()
}

impl EnrichTable {
    /// Load `path`: TOML when it ends in `.toml`, else CSV; at most `rows_max` rows.
    pub fn load(path: &Path, rows_max: usize) -> Result<Self, EnrichError> {
        let text = std::fs::read_to_string(path).map_err(|source| EnrichError::Read {
            path: path.to_owned(),
            source,
        })?;
        let err = |line: usize, reason: String| EnrichError::Row {
            path: path.to_owned(),
            line,
            reason,
        };
        let rows = if path.extension().is_some_and(|e| e == "toml") {
            toml_rows(&text).map_err(|(line, reason)| err(line, reason))?
        } else {
            csv_rows(&text).map_err(|(line, reason)| err(line, reason))?
        };
        let mut table = Self::default();
        let mut first_line: HashMap<String, usize> = HashMap::new();
        for (line, row) in rows {
            if table.labels.len() >= rows_max {
                return Err(err(
                    line,
                    format!("more than {rows_max} rows (table_rows_max)"),
                ));
            }
            let m = row.match_.trim();
            let key = m.to_ascii_lowercase();
            if let Some(first) = first_line.get(&key) {
                return Err(err(
                    line,
                    format!("`{m}` is matched already on line {first}"),
                ));
            }
            table.add(&row).map_err(|reason| err(line, reason))?;
            first_line.insert(key, line);
        }
        Ok(table)
    }

    /// Add one row (its `match` not seen before as written).
    fn add(&mut self, row: &Row) -> Result<(), String> {
        let id = self.labels.len() as u32;
        let m = row.match_.trim();
        let net = m
            .parse::<IpNet>()
            .ok()
            .or_else(|| m.parse::<IpAddr>().ok().map(IpNet::from));
        let added = match net {
            Some(IpNet::V4(n)) => insert_prefix(
                &mut self.v4,
                n.prefix_len(),
                mask_v4(u32::from(n.addr()), n.prefix_len()),
                id,
            ),
            Some(IpNet::V6(n)) => insert_prefix(
                &mut self.v6,
                n.prefix_len(),
                mask_v6(u128::from(n.addr()), n.prefix_len()),
                id,
            ),
            None if is_hostname(m) => self
                .hosts
                .insert(m.to_ascii_lowercase().into_bytes().into(), id)
                .is_none(),
            None => {
                return Err(format!(
                    "match `{m}` is neither a hostname nor an IP address or CIDR"
                ))
            }
        };
        if !added {
            return Err(format!("`{m}` is the same network as an earlier row"));
        }
        self.labels.push(labels_fragment(row));
        Ok(())
    }

    /// Rows loaded.
    pub fn len(&self) -> usize {
        self.labels.len()
    }

    /// Whether no row was loaded.
    pub fn is_empty(&self) -> bool {
        self.labels.is_empty()
    }

    /// The `labels` fragment of the row matching `hostname` (as written in the event, any
    /// case), else the row whose network holds `ip` with the longest prefix.
    pub fn lookup(&self, hostname: Option<&[u8]>, ip: Option<IpAddr>) -> Option<&[u8]> {
        let by_host = hostname
            .filter(|h| h.len() <= HOSTNAME_BYTES_MAX && !self.hosts.is_empty())
            .and_then(|h| {
                let mut lower = [0u8; HOSTNAME_BYTES_MAX];
                let lower = &mut lower[..h.len()];
                lower.copy_from_slice(h);
                lower.make_ascii_lowercase();
                self.hosts.get(&*lower).copied()
            });
        let row = by_host.or_else(|| match ip? {
            IpAddr::V4(a) => {
                let a = u32::from(a);
                self.v4
                    .iter()
                    .find_map(|p| p.rows.get(&mask_v4(a, p.len)).copied())
            }
            IpAddr::V6(a) => {
                let a = u128::from(a);
                self.v6
                    .iter()
                    .find_map(|p| p.rows.get(&mask_v6(a, p.len)).copied())
            }
        })?;
        Some(&self.labels[row as usize])
    }
}

/// Rows of a CSV table with their line numbers.
fn csv_rows(text: &str) -> Result<Vec<(usize, Row)>, (usize, String)> {
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let headers = reader.headers().map_err(|e| (1, e.to_string()))?.clone();
    if headers.get(0) != Some("match") {
        return Err((
            1,
            "the header row must be `match,owner,site,criticality`".into(),
        ));
    }
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| {
            let line = e.position().map_or(0, |p| p.line() as usize);
            (line, e.to_string())
        })?;
        let line = record.position().map_or(0, |p| p.line() as usize);
        let row: Row = record
            .deserialize(Some(&headers))
            .map_err(|e| (line, e.to_string()))?;
        rows.push((line, row));
    }
    Ok(rows)
}

/// Rows of a TOML table with their line numbers.
fn toml_rows(text: &str) -> Result<Vec<(usize, Row)>, (usize, String)> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let table: TomlTable = toml::from_str(text).map_err(|e| {
        let line = e.span().map_or(1, |s| line_of(s.start));
        (line, e.message().to_string())
    })?;
    Ok(table
        .entry
        .into_iter()
        .map(|r| (line_of(r.span().start), r.into_inner()))
        .collect())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The table `text` loads as from a file called `name`, or its error without the path.
    pub(crate) fn table(name: &str, text: &str) -> Result<EnrichTable, String> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(name);
        std::fs::write(&path, text).unwrap();
        EnrichTable::load(&path, 100).map_err(|e| {
            let s = e.to_string();
            s.strip_prefix(&format!("{}:", path.display()))
                .unwrap_or(&s)
                .to_string()
        })
    }

    fn labels(t: &EnrichTable, host: Option<&str>, ip: Option<&str>) -> Option<String> {
        t.lookup(host.map(str::as_bytes), ip.map(|i| i.parse().unwrap()))
            .map(|l| String::from_utf8(l.to_vec()).unwrap())
    }

    const CSV: &str = "match,owner,site,criticality\n\
        web-01.corp.example.com,web team,fra1,high\n\
        10.0.0.0/8,netops,any,low\n\
        10.1.0.0/16,payments,fra1,\"critical, pci\"\n\
        10.1.2.3,db team,fra1,high\n\
        2001:db8::/32,v6 team,,medium\n";

    #[test]
    fn hostnames_match_exactly_and_in_any_case() {
        let t = table("t.csv", CSV).unwrap();
        assert_eq!(t.len(), 5);
        assert_eq!(
            labels(&t, Some("WEB-01.corp.example.com"), None).as_deref(),
            Some(r#","labels":{"owner":"web team","site":"fra1","criticality":"high"}"#)
        );
        assert_eq!(labels(&t, Some("web-01"), None), None);
        // The hostname wins over the address.
        assert!(
            labels(&t, Some("web-01.corp.example.com"), Some("10.1.2.3"))
                .unwrap()
                .contains("web team")
        );
    }

    #[test]
    fn addresses_match_the_longest_prefix() {
        let t = table("t.csv", CSV).unwrap();
        let owner = |ip: &str| labels(&t, Some("unknown"), Some(ip));
        assert!(owner("10.1.2.3").unwrap().contains("db team"));
        assert!(owner("10.1.9.9")
            .unwrap()
            .contains(r#""criticality":"critical, pci""#));
        assert!(owner("10.200.0.1").unwrap().contains("netops"));
        assert_eq!(owner("192.168.0.1"), None);
        assert_eq!(
            owner("2001:db8:1::5").as_deref(),
            Some(r#","labels":{"owner":"v6 team","criticality":"medium"}"#)
        );
        assert_eq!(owner("2001:db9::1"), None);
    }

    #[test]
    fn toml_tables_load_the_same_rows() {
        let t = table(
            "t.toml",
            "[[entry]]\nmatch = \"db-01\"\nowner = \"dba\"\n\n[[entry]]\nmatch = \"0.0.0.0/0\"\nsite = \"anywhere\"\n",
        )
        .unwrap();
        assert!(labels(&t, Some("DB-01"), None).unwrap().contains("dba"));
        assert_eq!(
            labels(&t, None, Some("8.8.8.8")).as_deref(),
            Some(r#","labels":{"site":"anywhere"}"#)
        );
    }

    #[test]
    fn bad_rows_stop_loading_with_their_line() {
        let cases = [
            ("t.csv", "owner,match\nx,y\n", "1: the header row"),
            (
                "t.csv",
                "match,owner\nbad host!,x\n",
                "2: match `bad host!`",
            ),
            (
                "t.csv",
                "match,owner\n10.0.0.0/33,x\n",
                "2: match `10.0.0.0/33`",
            ),
            (
                "t.csv",
                "match,owner\na,x\nA,y\n",
                "3: `A` is matched already on line 2",
            ),
            (
                "t.csv",
                "match,owner\n10.0.0.1/8,x\n10.0.0.0/8,y\n",
                "3: `10.0.0.0/8` is the same network",
            ),
            ("t.csv", "match,owner\na,x,extra\n", "2: "),
            (
                "t.toml",
                "[[entry]]\nowner = \"x\"\n",
                "1: missing field `match`",
            ),
            (
                "t.toml",
                "[[entry]]\nmatch = \"a\"\ncolour = \"x\"\n",
                "3: unknown field `colour`",
            ),
        ];
        for (name, text, want) in cases {
            let e = table(name, text).unwrap_err();
            assert!(e.starts_with(want), "{text:?}: {e}");
        }
        let many = format!(
            "match\n{}",
            (0..101).map(|i| format!("h{i}\n")).collect::<String>()
        );
        assert!(table("t.csv", &many)
            .unwrap_err()
            .contains("more than 100 rows"));
    }
}
