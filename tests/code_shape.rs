//! The shape of the source, read from the code itself (issue 13): the layers import in one
//! direction, no source files import each other in a circle, and no function is longer than
//! 100 lines. `cargo test --test code_shape` prints what breaks a rule, with file and line.
//!
//! Imports are read with `syn` from every `src/**/*.rs` file: `use` items and paths written
//! in code (`crate::a::b::f()`), outside `#[cfg(test)]` items; comments and doc links are not
//! imports. A path is an arrow to the deepest source file it names (`crate::buffer::frame::X`
//! → `src/buffer/frame.rs`; `crate::normalize::f` → `src/normalize/mod.rs`). The binary
//! (`src/main.rs` and the `linerate::` paths of its modules) sits on top and is left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use syn::visit::Visit;

/// A function may be this long, in lines, signature and closing brace included.
const FUNCTION_LINES_MAX: usize = 100;

/// Functions that are tables (one arm or entry per line, no control flow to read), which the
/// issue leaves out of the length rule: file, function, why.
const TABLES: &[(&str, &str, &str)] = &[];

/// The layering rules: files under the first prefix import nothing under the others.
const FORBIDDEN: &[(&str, &[&str])] = &[
    (
        "src/buffer/",
        &["src/shard/", "src/normalize/", "src/sink/"],
    ),
    ("src/config", &["src/buffer/"]),
    ("src/parse/", &["src/normalize/"]),
    ("src/ingest/", &["src/shard/"]),
    // The event's own types are the bottom layer: they import nothing of the crate.
    (
        "src/event/",
        &[
            "src/buffer/",
            "src/config",
            "src/control/",
            "src/ingest/",
            "src/normalize/",
            "src/parse/",
            "src/shard/",
            "src/sink/",
            "src/stats",
        ],
    ),
];

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
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

/// One library source file: its path relative to the repository and its module path.
struct SourceFile {
    rel: String,
    module: Vec<String>,
    syntax: syn::File,
}

fn library_files() -> Vec<SourceFile> {
    let mut paths = Vec::new();
    rust_files(&root().join("src"), &mut paths);
    paths.sort();
    let mut files = Vec::new();
    for path in paths {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        if rel == "src/main.rs" || rel == "src/lib.rs" {
            continue;
        }
        let inner = rel.trim_start_matches("src/").trim_end_matches(".rs");
        let mut module: Vec<String> = inner.split('/').map(str::to_string).collect();
        if module.last().is_some_and(|m| m == "mod") {
            module.pop();
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        files.push(SourceFile {
            rel,
            module,
            syntax,
        });
    }
    files
}

fn is_cfg_test(attrs: &[syn::Attribute]) -> bool {
    attrs.iter().any(|a| {
        a.path().is_ident("cfg")
            && a.parse_args::<syn::Meta>()
                .is_ok_and(|m| m.path().is_ident("test"))
    })
}

/// Collects the crate paths a file's code uses and its functions' lengths, skipping
/// `#[cfg(test)]` items.
#[derive(Default)]
struct Reader {
    /// Module paths named (`crate::`-absolute), with the line they are named on.
    paths: Vec<(Vec<String>, usize)>,
    /// Functions: name, first line, lines.
    functions: Vec<(String, usize, usize)>,
    /// The file's module path, to resolve `super::` and `self::`.
    module: Vec<String>,
}

impl Reader {
    fn absolute(&self, segments: &[String]) -> Option<Vec<String>> {
        let first = segments.first()?;
        let mut here = self.module.clone();
        match first.as_str() {
            "crate" => Some(segments[1..].to_vec()),
            "self" => {
                here.extend_from_slice(&segments[1..]);
                Some(here)
            }
            "super" => {
                let mut rest = segments;
                while rest.first().is_some_and(|s| s == "super") {
                    here.pop()?;
                    rest = &rest[1..];
                }
                here.extend_from_slice(rest);
                Some(here)
            }
            // A path from a child module (`use ecs_writer::f;` in `normalize/mod.rs`),
            // or from an extern crate, which no file of ours matches.
            _ => {
                here.extend_from_slice(segments);
                Some(here)
            }
        }
    }

    fn add(&mut self, segments: Vec<String>, line: usize) {
        if let Some(abs) = self.absolute(&segments) {
            self.paths.push((abs, line));
        }
    }

    fn use_tree(&mut self, prefix: &mut Vec<String>, tree: &syn::UseTree, line: usize) {
        match tree {
            syn::UseTree::Path(p) => {
                prefix.push(p.ident.to_string());
                self.use_tree(prefix, &p.tree, line);
                prefix.pop();
            }
            syn::UseTree::Name(n) => {
                let mut full = prefix.clone();
                if n.ident != "self" {
                    full.push(n.ident.to_string());
                }
                self.add(full, line);
            }
            syn::UseTree::Rename(r) => {
                let mut full = prefix.clone();
                full.push(r.ident.to_string());
                self.add(full, line);
            }
            syn::UseTree::Glob(_) => self.add(prefix.clone(), line),
            syn::UseTree::Group(g) => {
                for t in &g.items {
                    self.use_tree(prefix, t, line);
                }
            }
        }
    }

    fn function(&mut self, name: String, span: proc_macro2::Span) {
        let first = span.start().line;
        let lines = span.end().line - first + 1;
        self.functions.push((name, first, lines));
    }
}

impl<'ast> Visit<'ast> for Reader {
    fn visit_item(&mut self, item: &'ast syn::Item) {
        let attrs: &[syn::Attribute] = match item {
            syn::Item::Mod(m) => &m.attrs,
            syn::Item::Fn(f) => &f.attrs,
            syn::Item::Impl(i) => &i.attrs,
            syn::Item::Use(u) => &u.attrs,
            syn::Item::Const(c) => &c.attrs,
            syn::Item::Static(s) => &s.attrs,
            syn::Item::Struct(s) => &s.attrs,
            syn::Item::Enum(e) => &e.attrs,
            syn::Item::Trait(t) => &t.attrs,
            _ => &[],
        };
        if is_cfg_test(attrs) {
            return;
        }
        syn::visit::visit_item(self, item);
    }

    fn visit_item_use(&mut self, u: &'ast syn::ItemUse) {
        let line = syn::spanned::Spanned::span(u).start().line;
        self.use_tree(&mut Vec::new(), &u.tree, line);
    }

    fn visit_path(&mut self, p: &'ast syn::Path) {
        let segments: Vec<String> = p.segments.iter().map(|s| s.ident.to_string()).collect();
        let line = syn::spanned::Spanned::span(p).start().line;
        self.add(segments, line);
        syn::visit::visit_path(self, p);
    }

    fn visit_item_fn(&mut self, f: &'ast syn::ItemFn) {
        self.function(f.sig.ident.to_string(), syn::spanned::Spanned::span(f));
        syn::visit::visit_item_fn(self, f);
    }

    fn visit_impl_item_fn(&mut self, f: &'ast syn::ImplItemFn) {
        if is_cfg_test(&f.attrs) {
            return;
        }
        self.function(f.sig.ident.to_string(), syn::spanned::Spanned::span(f));
        syn::visit::visit_impl_item_fn(self, f);
    }

    fn visit_trait_item_fn(&mut self, f: &'ast syn::TraitItemFn) {
        if f.default.is_some() {
            self.function(f.sig.ident.to_string(), syn::spanned::Spanned::span(f));
        }
        syn::visit::visit_trait_item_fn(self, f);
    }
}

fn read(file: &SourceFile) -> Reader {
    let mut reader = Reader {
        module: file.module.clone(),
        ..Reader::default()
    };
    reader.visit_file(&file.syntax);
    reader
}

/// The arrows between library files: from → to → the first line naming it.
fn arrows(files: &[SourceFile]) -> BTreeMap<String, BTreeMap<String, usize>> {
    let by_module: BTreeMap<Vec<String>, &str> = files
        .iter()
        .map(|f| (f.module.clone(), f.rel.as_str()))
        .collect();
    let mut out: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    for file in files {
        let reader = read(file);
        let targets = out.entry(file.rel.clone()).or_default();
        for (path, line) in reader.paths {
            // The deepest file the path names.
            let target = (1..=path.len())
                .rev()
                .find_map(|n| by_module.get(&path[..n]).copied());
            if let Some(target) = target {
                if target != file.rel {
                    targets.entry(target.to_string()).or_insert(line);
                }
            }
        }
    }
    out
}

#[test]
fn the_layers_import_downward_only() {
    let files = library_files();
    let arrows = arrows(&files);
    let mut broken = Vec::new();
    for (from, targets) in &arrows {
        for (prefix, banned) in FORBIDDEN {
            if !from.starts_with(prefix) {
                continue;
            }
            for (to, line) in targets {
                if banned.iter().any(|b| to.starts_with(b)) {
                    broken.push(format!("{from}:{line} imports {to}"));
                }
            }
        }
    }
    assert!(
        broken.is_empty(),
        "imports against the layering rules:\n{}",
        broken.join("\n")
    );
}

/// Strongly connected components of more than one file (Tarjan's algorithm).
fn circles(arrows: &BTreeMap<String, BTreeMap<String, usize>>) -> Vec<Vec<String>> {
    struct State<'a> {
        arrows: &'a BTreeMap<String, BTreeMap<String, usize>>,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on_stack: BTreeSet<&'a str>,
        next: usize,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(s: &mut State<'a>, v: &'a str) {
        s.index.insert(v, s.next);
        s.low.insert(v, s.next);
        s.next += 1;
        s.stack.push(v);
        s.on_stack.insert(v);
        if let Some(targets) = s.arrows.get(v) {
            for w in targets.keys() {
                let w = w.as_str();
                if !s.index.contains_key(w) {
                    visit(s, w);
                    let low = s.low[v].min(s.low[w]);
                    s.low.insert(v, low);
                } else if s.on_stack.contains(w) {
                    let low = s.low[v].min(s.index[w]);
                    s.low.insert(v, low);
                }
            }
        }
        if s.low[v] == s.index[v] {
            let mut component = Vec::new();
            while let Some(w) = s.stack.pop() {
                s.on_stack.remove(w);
                component.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if component.len() > 1 {
                component.sort();
                s.out.push(component);
            }
        }
    }
    let mut s = State {
        arrows,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        next: 0,
        out: Vec::new(),
    };
    for v in arrows.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// The arrows without those from a folder's `mod.rs` into its own folder: a `mod.rs` that
/// declares, re-exports or calls its own children is the folder's front door (Rust's module
/// convention), so a child using a type its `mod.rs` defines is not a circle.
fn arrows_between_layers(
    arrows: BTreeMap<String, BTreeMap<String, usize>>,
) -> BTreeMap<String, BTreeMap<String, usize>> {
    arrows
        .into_iter()
        .map(|(from, targets)| {
            let own = from.strip_suffix("mod.rs").map(str::to_string);
            let targets = targets
                .into_iter()
                .filter(|(to, _)| own.as_ref().is_none_or(|dir| !to.starts_with(dir.as_str())))
                .collect();
            (from, targets)
        })
        .collect()
}

#[test]
fn no_source_files_import_each_other_in_a_circle() {
    let files = library_files();
    let arrows = arrows_between_layers(arrows(&files));
    let found = circles(&arrows);
    let mut report = Vec::new();
    for circle in &found {
        report.push(format!("circle of {} files:", circle.len()));
        for from in circle {
            for (to, line) in &arrows[from] {
                if circle.contains(to) {
                    report.push(format!("  {from}:{line} -> {to}"));
                }
            }
        }
    }
    assert!(found.is_empty(), "{}", report.join("\n"));
}

#[test]
fn no_function_is_longer_than_100_lines() {
    let mut long = Vec::new();
    let mut paths = Vec::new();
    rust_files(&root().join("src"), &mut paths);
    paths.sort();
    for path in paths {
        let rel = path
            .strip_prefix(root())
            .unwrap()
            .to_string_lossy()
            .into_owned();
        let text = std::fs::read_to_string(&path).unwrap();
        let syntax = syn::parse_file(&text).unwrap_or_else(|e| panic!("{rel}: {e}"));
        let mut reader = Reader::default();
        reader.visit_file(&syntax);
        for (name, line, lines) in reader.functions {
            let table = TABLES.iter().any(|(f, n, _)| *f == rel && *n == name);
            if lines > FUNCTION_LINES_MAX && !table {
                long.push(format!("{rel}:{line} {name}: {lines} lines"));
            }
        }
    }
    assert!(
        long.is_empty(),
        "functions over {FUNCTION_LINES_MAX} lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn the_reader_sees_arrows_and_circles() {
    // The rules above pass on an empty graph too; this shows the reader finds real arrows.
    let files = library_files();
    let arrows = arrows(&files);
    assert!(arrows["src/buffer/ring.rs"].contains_key("src/buffer/frame.rs"));
    let mut toy: BTreeMap<String, BTreeMap<String, usize>> = BTreeMap::new();
    toy.entry("a".into()).or_default().insert("b".into(), 1);
    toy.entry("b".into()).or_default().insert("a".into(), 1);
    toy.entry("c".into()).or_default().insert("a".into(), 1);
    assert_eq!(circles(&toy), vec![vec!["a".to_string(), "b".to_string()]]);
}
