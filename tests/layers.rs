//! The layers `src/lib.rs` declares hold: every `crate::` path under `src/` points to
//! its own layer or a lower one, the top-level modules import each other without a
//! cycle, and only the command layer prints. The layer table is read from lib.rs's
//! own doc, so there is one table, and the one people read is the one enforced.
//! (Test modules are left out: a test may reach anywhere.)

use crate::common::repo_root;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// `module -> (layer number, layer name)`.
type Layers = BTreeMap<String, (u32, String)>;

/// The layer table, from lib.rs's `//! | 1 core | a, b |` rows.
fn layer_table(lib_rs: &str) -> Layers {
    let mut table = BTreeMap::new();
    for line in lib_rs.lines() {
        let Some(row) = line.strip_prefix("//! |") else {
            continue;
        };
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some((number, name)) = cells.first().and_then(|c| c.split_once(' ')) else {
            continue;
        };
        let Ok(number) = number.parse::<u32>() else {
            continue; // the header row
        };
        for module in cells[1].split(',').map(str::trim).filter(|m| !m.is_empty()) {
            let old = table.insert(module.to_string(), (number, name.to_string()));
            assert!(old.is_none(), "lib.rs lists `{module}` in two layers");
        }
    }
    table
}

/// The code of a file without its test module and without comments.
fn production_code(text: &str) -> Vec<(usize, String)> {
    let end = text.find("#[cfg(test)]\nmod tests").unwrap_or(text.len());
    text[..end]
        .lines()
        .enumerate()
        .map(|(i, l)| (i + 1, l.split("//").next().unwrap_or("").to_string()))
        .filter(|(_, l)| !l.trim().is_empty())
        .collect()
}

/// The top-level modules a line names through `crate::`.
fn referenced_modules(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(i) = rest.find("crate::") {
        let before = rest[..i].chars().last();
        rest = &rest[i + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `respawn_crate::`, not ours
        }
        if let Some(group) = rest.strip_prefix('{') {
            // `use crate::{a::X, b};`: the first segment of each item (one line).
            let inside = group.split('}').next().unwrap_or("");
            for item in inside.split(',') {
                let first = item.trim().split("::").next().unwrap_or("").trim();
                if !first.is_empty() {
                    out.push(first.to_string());
                }
            }
            continue;
        }
        let name: String = rest
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        if !name.is_empty() {
            out.push(name);
        }
    }
    out
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

/// `src/a/b.rs` → `a`; `src/a.rs` → `a`; None for the crate roots.
fn top_module(relative: &Path) -> Option<String> {
    let first = relative.components().next()?.as_os_str().to_str()?;
    match first {
        "lib.rs" | "main.rs" | "bin" => None,
        f => Some(f.trim_end_matches(".rs").to_string()),
    }
}

struct Findings {
    wrong_way: Vec<String>,
    edges: BTreeMap<String, BTreeSet<String>>,
    prints: Vec<String>,
}

fn examine(
    table: &Layers,
    files: &[(PathBuf, String)],
    may_print: impl Fn(&Path) -> bool,
) -> Findings {
    let mut found = Findings {
        wrong_way: Vec::new(),
        edges: BTreeMap::new(),
        prints: Vec::new(),
    };
    for (relative, text) in files {
        let Some(from) = top_module(relative) else {
            continue;
        };
        let Some((from_layer, from_name)) = table.get(&from) else {
            found.wrong_way.push(format!(
                "src/{}: module `{from}` is in no layer of lib.rs's table",
                relative.display()
            ));
            continue;
        };
        for (number, line) in production_code(text) {
            if !may_print(relative)
                && ["println!", "eprintln!", "print!(", "eprint!("]
                    .iter()
                    .any(|m| line.contains(m))
            {
                found.prints.push(format!(
                    "src/{}:{number}: {}",
                    relative.display(),
                    line.trim()
                ));
            }
            for to in referenced_modules(&line) {
                // `self`, and items of the crate root itself (`crate::VERSION`), which
                // every layer may use.
                if to == from || to == "self" || to.starts_with(|c: char| c.is_ascii_uppercase()) {
                    continue;
                }
                found
                    .edges
                    .entry(from.clone())
                    .or_default()
                    .insert(to.clone());
                match table.get(&to) {
                    Some((to_layer, to_name)) if to_layer > from_layer => {
                        found.wrong_way.push(format!(
                            "src/{}:{number}: `{from}` ({from_name}, layer {from_layer}) uses \
                             `{to}` ({to_name}, layer {to_layer}): {}",
                            relative.display(),
                            line.trim()
                        ))
                    }
                    Some(_) => {}
                    None => found.wrong_way.push(format!(
                        "src/{}:{number}: `crate::{to}` is in no layer of lib.rs's table",
                        relative.display()
                    )),
                }
            }
        }
    }
    found
}

/// One cycle among the modules, if there is one (depth-first search).
fn a_cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        node: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|n| n == node) {
            let mut cycle = path[at..].to_vec();
            cycle.push(node.to_string());
            return Some(cycle);
        }
        if done.contains(node) {
            return None;
        }
        path.push(node.to_string());
        for next in edges.get(node).into_iter().flatten() {
            if let Some(cycle) = visit(next, edges, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.insert(node.to_string());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|start| visit(start, edges, &mut Vec::new(), &mut done))
}

/// The command layer, doctor, and the service host's entry point print; the rest
/// returns what is to be said.
fn may_print(relative: &Path) -> bool {
    let p = relative.to_string_lossy().replace('\\', "/");
    p.starts_with("cli/") || p.starts_with("doctor") || p == "backend/scm/host.rs"
}

fn source_tree() -> (Layers, Vec<(PathBuf, String)>, String) {
    let src = repo_root().join("src");
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut paths = Vec::new();
    rust_files(&src, &mut paths);
    let files = paths
        .into_iter()
        .map(|p| {
            let text = std::fs::read_to_string(&p).unwrap();
            (p.strip_prefix(&src).unwrap().to_path_buf(), text)
        })
        .collect();
    (layer_table(&lib), files, lib)
}

#[test]
fn every_import_goes_down_the_layers_of_lib_rs() {
    let (table, files, _) = source_tree();
    assert!(
        table.len() > 10,
        "lib.rs's layer table was not found: {table:?}"
    );
    let found = examine(&table, &files, may_print);
    assert!(
        found.wrong_way.is_empty(),
        "imports against the layers of src/lib.rs (move the shared item down):\n{}",
        found.wrong_way.join("\n")
    );
}

#[test]
fn the_top_level_modules_import_each_other_without_a_cycle() {
    let (table, files, _) = source_tree();
    let found = examine(&table, &files, may_print);
    if let Some(cycle) = a_cycle(&found.edges) {
        panic!("import cycle: {}", cycle.join(" -> "));
    }
}

#[test]
fn only_the_command_layer_prints() {
    let (table, files, _) = source_tree();
    let found = examine(&table, &files, may_print);
    assert!(
        found.prints.is_empty(),
        "printing outside cli/, doctor and the service host's entry point (return a \
         text::Remark or a note instead):\n{}",
        found.prints.join("\n")
    );
}

#[test]
fn every_module_of_lib_rs_has_a_layer_and_every_layer_module_exists() {
    let (table, _, lib) = source_tree();
    let declared: BTreeSet<String> = lib
        .lines()
        .filter_map(|l| l.strip_prefix("pub mod "))
        .map(|m| m.trim_end_matches(';').to_string())
        .collect();
    let listed: BTreeSet<String> = table.keys().cloned().collect();
    assert_eq!(
        declared, listed,
        "lib.rs's `pub mod` lines and its layer table differ"
    );
}

/// The checker itself catches what it is for: a wrong-way import, a cycle, a print.
#[test]
fn the_checker_catches_a_wrong_way_import_a_cycle_and_a_print() {
    let table = layer_table("//! | 1 core | spec, text |\n//! | 2 os | os |\n");
    let files = vec![
        (
            PathBuf::from("spec/mod.rs"),
            "use crate::os::Thing;\nfn f() { eprintln!(\"x\"); }\n".to_string(),
        ),
        (
            PathBuf::from("text.rs"),
            "use crate::{spec::Spec, text};\n".to_string(),
        ),
        (
            PathBuf::from("os/mod.rs"),
            "use crate::text::secs; // crate::nothing\n".to_string(),
        ),
        (
            PathBuf::from("os/unix.rs"),
            "fn g() { crate::spec::x(); }\n".to_string(),
        ),
        (
            PathBuf::from("spec/health.rs"),
            "#[cfg(test)]\nmod tests { use crate::os::x; }\n".to_string(),
        ),
    ];
    let found = examine(&table, &files, |_| false);
    assert_eq!(found.wrong_way.len(), 1, "{:?}", found.wrong_way);
    assert!(found.wrong_way[0].contains("`spec` (core, layer 1) uses `os`"));
    assert_eq!(found.prints.len(), 1, "{:?}", found.prints);
    let cycle = a_cycle(&found.edges).expect("spec -> os -> spec");
    assert_eq!(cycle.first(), cycle.last());
    let no_cycle = examine(&table, &files[1..3], |_| false);
    assert_eq!(a_cycle(&no_cycle.edges), None);
}
