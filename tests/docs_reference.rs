//! The configuration reference (`docs/configuration.md`) and the metrics list
//! (`docs/metrics.md`) are generated from the code, and this test fails when the documents
//! differ from what the code says today. `UPDATE_DOCS=1 cargo test --test docs_reference`
//! rewrites the generated parts (between `<!-- generated:NAME -->` and
//! `<!-- end generated -->`); the prose around them is kept.
//!
//! - Configuration: every key is a field of `linerate::config::Config` or of a struct it
//!   holds. The keys, their nesting and their doc comments come from the source files
//!   (parsed with `syn`), their defaults from `Config::default()` serialized to TOML.
//! - Metrics: every family `/metrics` renders (its `# HELP` and `# TYPE` lines, the label
//!   names of its samples) for a sample state with one shard, every input and a latency
//!   sample.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use linerate::config::Config;

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

// ------------------------------------------------------------------ configuration ----

/// One field of a config struct, as the source declares it.
struct Field {
    key: String,
    doc: String,
    /// The struct this field holds (directly, in `Option` or in `Vec`), when it is one.
    ty: String,
    /// `Vec<Struct>`: an array of tables (`[[key]]`).
    array: bool,
    /// `#[serde(flatten)]`: its struct's keys are written in this section.
    flatten: bool,
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

fn doc_of(attrs: &[syn::Attribute]) -> String {
    let mut lines = Vec::new();
    for a in attrs {
        if !a.path().is_ident("doc") {
            continue;
        }
        if let syn::Meta::NameValue(nv) = &a.meta {
            if let syn::Expr::Lit(syn::ExprLit {
                lit: syn::Lit::Str(s),
                ..
            }) = &nv.value
            {
                lines.push(s.value().trim().to_string());
            }
        }
    }
    // Rustdoc links read as plain code in a table.
    let text = lines.join(" ");
    let mut out = String::with_capacity(text.len());
    let mut rest = text.as_str();
    while let Some(start) = rest.find("[`") {
        out.push_str(&rest[..start]);
        let tail = &rest[start + 1..];
        match tail.find("`]") {
            Some(end) => {
                out.push_str(&tail[..end + 1]);
                rest = &tail[end + 2..];
                // Drop a `(path)` or `[path]` link target right after.
                if rest.starts_with('(') {
                    if let Some(close) = rest.find(')') {
                        rest = &rest[close + 1..];
                    }
                }
            }
            None => {
                out.push_str("[`");
                rest = tail;
            }
        }
    }
    out.push_str(rest);
    out.replace('|', "\\|")
}

/// A field's `#[serde(rename = "..")]` and whether it has `#[serde(flatten)]`.
fn serde_attrs(attrs: &[syn::Attribute]) -> (Option<String>, bool) {
    let mut rename = None;
    let mut flatten = false;
    for a in attrs.iter().filter(|a| a.path().is_ident("serde")) {
        let _ = a.parse_nested_meta(|m| {
            if m.path.is_ident("flatten") {
                flatten = true;
            } else if m.path.is_ident("rename") {
                let s: syn::LitStr = m.value()?.parse()?;
                rename = Some(s.value());
            } else if m.input.peek(syn::Token![=]) {
                let _: syn::Expr = m.value()?.parse()?;
            }
            Ok(())
        });
    }
    (rename, flatten)
}

/// The last path segment of `ty`, looking through `Option<..>` and `Vec<..>` (the second
/// value says whether a `Vec` was looked through).
fn inner_type(ty: &syn::Type) -> (String, bool) {
    let syn::Type::Path(p) = ty else {
        return (String::new(), false);
    };
    let Some(last) = p.path.segments.last() else {
        return (String::new(), false);
    };
    let name = last.ident.to_string();
    if name == "Option" || name == "Vec" {
        if let syn::PathArguments::AngleBracketed(args) = &last.arguments {
            if let Some(syn::GenericArgument::Type(t)) = args.args.first() {
                let (inner, array) = inner_type(t);
                return (inner, array || name == "Vec");
            }
        }
    }
    (name, false)
}

/// Every struct with named fields under `src/`, by name.
fn structs() -> BTreeMap<String, Vec<Field>> {
    let mut files = Vec::new();
    rust_files(&root().join("src"), &mut files);
    let mut out = BTreeMap::new();
    for f in files {
        let text = std::fs::read_to_string(&f).unwrap();
        let Ok(file) = syn::parse_file(&text) else {
            panic!("{} does not parse", f.display());
        };
        collect_structs(&file.items, &mut out);
    }
    out
}

fn collect_structs(items: &[syn::Item], out: &mut BTreeMap<String, Vec<Field>>) {
    for item in items {
        match item {
            syn::Item::Struct(s) => {
                let syn::Fields::Named(named) = &s.fields else {
                    continue;
                };
                let fields = named
                    .named
                    .iter()
                    .filter(|f| matches!(f.vis, syn::Visibility::Public(_)))
                    .map(|f| {
                        let (ty, array) = inner_type(&f.ty);
                        let (rename, flatten) = serde_attrs(&f.attrs);
                        Field {
                            key: rename.unwrap_or_else(|| f.ident.as_ref().unwrap().to_string()),
                            doc: doc_of(&f.attrs),
                            ty,
                            array,
                            flatten,
                        }
                    })
                    .collect();
                out.insert(s.ident.to_string(), fields);
            }
            syn::Item::Mod(m) => {
                if let Some((_, items)) = &m.content {
                    collect_structs(items, out);
                }
            }
            _ => {}
        }
    }
}

/// A default as the TOML a user writes; `unset` for an absent optional value.
fn show(value: Option<&toml::Value>) -> String {
    match value {
        None => "unset".into(),
        Some(toml::Value::Table(t)) if t.is_empty() => "empty".into(),
        Some(toml::Value::Array(a)) if a.is_empty() => "`[]`".into(),
        Some(v) => format!("`{v}`"),
    }
}

/// Defaults of a `[[section]]` entry, which `Config::default()` holds none of.
fn array_defaults(key: &str) -> toml::Value {
    match key {
        "evtx_input" => toml::Value::try_from(linerate::config::EvtxInputConfig::default())
            .expect("EvtxInputConfig serializes"),
        other => panic!(
            "`[[{other}]]` is a new array of tables: add its Default to array_defaults() in \
             tests/docs_reference.rs"
        ),
    }
}

fn config_rows(
    structs: &BTreeMap<String, Vec<Field>>,
    ty: &str,
    prefix: &str,
    defaults: Option<&toml::Value>,
    rows: &mut Vec<String>,
) {
    let fields = &structs[ty];
    for f in fields {
        if f.flatten {
            // Its keys are this section's, their defaults in this section's table.
            config_rows(structs, &f.ty, prefix, defaults, rows);
            continue;
        }
        let default = defaults.and_then(|d| d.get(&f.key));
        let nested = structs
            .get(&f.ty)
            .is_some_and(|fields| !fields.is_empty() && f.ty.ends_with("Config"));
        if nested {
            let (section, defaults) = if f.array {
                (
                    format!("[[{}{}]]", prefix, f.key),
                    Some(array_defaults(&f.key)),
                )
            } else {
                (format!("[{}{}]", prefix, f.key), default.cloned())
            };
            if !f.doc.is_empty() {
                rows.push(format!("| `{section}` | | {} |", f.doc));
            }
            let inner_prefix = format!("{}{}.", prefix, f.key);
            let mut sub = Vec::new();
            config_rows(structs, &f.ty, &inner_prefix, defaults.as_ref(), &mut sub);
            rows.extend(sub);
        } else {
            rows.push(format!(
                "| `{}{}` | {} | {} |",
                prefix,
                f.key,
                show(default),
                f.doc
            ));
        }
    }
}

fn config_reference() -> String {
    let structs = structs();
    let defaults = toml::Value::try_from(Config::default()).expect("Config serializes");
    let mut rows = Vec::new();
    config_rows(&structs, "Config", "", Some(&defaults), &mut rows);
    let mut out = String::from("| key | default | meaning |\n| --- | --- | --- |\n");
    for r in rows {
        out.push_str(&r);
        out.push('\n');
    }
    out
}

// ------------------------------------------------------------------------ metrics ----

fn metrics_reference() -> String {
    use linerate::control::aggregator::State;
    use linerate::control::inputs::Inputs;
    use linerate::stats::ShardSnapshot;

    let cfg: Config = toml::from_str(
        r#"
        [http_input]
        listen = "127.0.0.1:0"
        [[evtx_input]]
        dir = "/nonexistent"
        "#,
    )
    .expect("sample config");
    let mut st = State::new(
        1,
        [
            "logs.raw".into(),
            "logs.normalized".into(),
            "logs.enriched".into(),
        ],
        Duration::from_secs(1),
    );
    st.shards[0] = Some((Instant::now(), ShardSnapshot::default()));
    let mut h = linerate::latency::new_histogram();
    h.saturating_record(3_000);
    st.latency[0].add(&h, 3_000);
    let inputs = Inputs::from_config(&cfg, 1);
    let text = linerate::control::metrics::render(&st, &inputs, &Default::default());

    let mut order = Vec::new();
    let mut help = BTreeMap::new();
    let mut kind = BTreeMap::new();
    let mut labels: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("# HELP ") {
            let (name, h) = rest.split_once(' ').unwrap_or((rest, ""));
            order.push(name.to_string());
            help.insert(name.to_string(), h.replace('|', "\\|"));
        } else if let Some(rest) = line.strip_prefix("# TYPE ") {
            let (name, k) = rest.split_once(' ').unwrap_or((rest, ""));
            kind.insert(name.to_string(), k.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let name_end = line.find(['{', ' ']).unwrap_or(line.len());
            let sample = &line[..name_end];
            let family = order
                .iter()
                .rev()
                .find(|f| sample == f.as_str() || sample.starts_with(&format!("{f}_")))
                .cloned()
                .unwrap_or_else(|| sample.to_string());
            let set = labels.entry(family).or_default();
            if let Some(open) = line.find('{') {
                let close = line.rfind('}').unwrap_or(line.len());
                for pair in line[open + 1..close].split(',') {
                    if let Some((k, _)) = pair.split_once('=') {
                        set.insert(k.to_string());
                    }
                }
            }
        }
    }
    let mut out = String::from("| metric | type | labels | meaning |\n| --- | --- | --- | --- |\n");
    for name in order {
        let l = labels
            .get(&name)
            .map(|s| s.iter().cloned().collect::<Vec<_>>().join(", "))
            .unwrap_or_default();
        out.push_str(&format!(
            "| `{name}` | {} | {l} | {} |\n",
            kind.get(&name).map(String::as_str).unwrap_or(""),
            help[&name]
        ));
    }
    out
}

// -------------------------------------------------------------------- comparison ----

/// Replaces (or, with `update`, rewrites) the block between `<!-- generated:NAME -->` and
/// `<!-- end generated -->` in `doc`; returns whether it already matched.
fn check(doc: &str, name: &str, generated: &str) {
    let path = root().join(doc);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let open = format!("<!-- generated:{name} -->\n");
    let close = "<!-- end generated -->";
    let start = text
        .find(&open)
        .unwrap_or_else(|| panic!("{doc} has no `{}` marker", open.trim()))
        + open.len();
    let end = start
        + text[start..]
            .find(close)
            .unwrap_or_else(|| panic!("{doc} has no `{close}` after `{}`", open.trim()));
    if &text[start..end] == generated {
        return;
    }
    if std::env::var_os("UPDATE_DOCS").is_some() {
        let updated = format!("{}{}{}", &text[..start], generated, &text[end..]);
        std::fs::write(&path, updated).unwrap();
        return;
    }
    let old: BTreeSet<&str> = text[start..end].lines().collect();
    let new: BTreeSet<&str> = generated.lines().collect();
    let gone: Vec<_> = old.difference(&new).collect();
    let added: Vec<_> = new.difference(&old).collect();
    panic!(
        "{doc} differs from the code.\nIn the document only:\n{}\nIn the code only:\n{}\n\
         Regenerate with: UPDATE_DOCS=1 cargo test --test docs_reference",
        gone.iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
        added
            .iter()
            .map(|l| format!("  {l}"))
            .collect::<Vec<_>>()
            .join("\n"),
    );
}

#[test]
fn configuration_reference_matches_the_code() {
    check("docs/configuration.md", "config", &config_reference());
}

#[test]
fn metrics_list_matches_the_code() {
    check("docs/metrics.md", "metrics", &metrics_reference());
}
