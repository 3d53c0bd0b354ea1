//! Every shard layout in `shards/` is a complete config that `linerate run` would accept, so
//! none of them can rot as the config changes.

use std::path::Path;

use linerate::config::Config;

#[test]
fn every_layout_loads() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("shards");
    let mut loaded = Vec::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let cfg = Config::load(&path).unwrap_or_else(|e| panic!("{e}"));
        let cores = &cfg.shards.cores;
        assert!(!cores.is_empty(), "{}: lists its cores", path.display());
        let mut distinct = cores.clone();
        distinct.sort_unstable();
        distinct.dedup();
        assert_eq!(
            distinct.len(),
            cores.len(),
            "{}: one shard per core",
            path.display()
        );
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(
            text.starts_with('#'),
            "{}: opens with a comment",
            path.display()
        );
        loaded.push(path.file_name().unwrap().to_string_lossy().into_owned());
    }
    loaded.sort();
    assert!(loaded.len() >= 3, "{loaded:?}");
}
