//! The module structure: every `crate::` import in `src/` goes down the layer table in
//! ARCHITECTURE.md (or stays in its layer), and no two top-level modules import each other,
//! directly or around a circle. A failure names the file and line of each offending import.
//!
//! The layer table is read from ARCHITECTURE.md itself, so the document and the code cannot
//! drift apart: a new top-level module must be given a layer there before this test passes.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// One import of another top-level module.
#[derive(Debug, Clone)]
struct Import {
    file: String,
    line: usize,
    from: String,
    to: String,
}

/// Top-level module → layer number (0 is the bottom), from the `## Layers` table: each row
/// is `| <number> | <name> | <modules in backticks> | ... |`.
fn layer_table(architecture: &str) -> BTreeMap<String, usize> {
    let mut layers = BTreeMap::new();
    let section = architecture
        .split("\n## ")
        .find(|s| s.starts_with("Layers"))
        .expect("ARCHITECTURE.md has a `## Layers` section");
    for row in section.lines().filter(|l| l.starts_with('|')) {
        let cells: Vec<&str> = row.split('|').map(str::trim).collect();
        let Some(Ok(layer)) = cells.get(1).map(|c| c.parse::<usize>()) else {
            continue;
        };
        let modules = cells.get(3).copied().unwrap_or_default();
        for name in modules.split('`').skip(1).step_by(2) {
            layers.insert(name.to_string(), layer);
        }
    }
    assert!(!layers.is_empty(), "the `## Layers` table lists no modules");
    layers
}

/// Every `.rs` file under `dir`, as (path relative to `src/`, text).
fn sources(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            sources(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, std::fs::read_to_string(&path).unwrap()));
        }
    }
}

/// The module path of a file relative to `src/`: `http/routes.rs` → `[http, routes]`,
/// `sources/prices/mod.rs` → `[sources, prices]`; the crate root is `[]`.
fn module_path(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// The leading identifier of `s`.
fn ident(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The top-level modules named right after `crate::` at the start of `rest`: one, or the
/// first segment of each item of a `{...}` group.
fn named_after_root(rest: &str) -> Vec<String> {
    let Some(group) = rest.strip_prefix('{') else {
        return vec![ident(rest).to_string()];
    };
    let mut names = Vec::new();
    let (mut depth, mut item_start) = (0usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => break,
            '}' => depth -= 1,
            ',' if depth == 0 => item_start = true,
            c if item_start && depth == 0 && !c.is_whitespace() => {
                item_start = false;
                let name = ident(&group[i..]);
                if !name.is_empty() && name != "self" {
                    names.push(name.to_string());
                }
            }
            _ => {}
        }
    }
    names
}

/// The imports of other top-level modules in one file: `crate::x` anywhere in code (not in
/// comments), and `super::` chains that climb to the crate root.
fn imports_of(file: &str, text: &str) -> Vec<Import> {
    let path = module_path(file);
    let Some(from) = path.first().cloned() else {
        return Vec::new();
    };
    let mut found = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    // Inline modules (`mod tests {`) open at an indentation and close with `}` at the same
    // one; `super::` inside them climbs once more.
    let mut inline_mods: Vec<usize> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let code = line.trim_start();
        let indent = line.len() - code.len();
        if code == "}" && inline_mods.last() == Some(&indent) {
            inline_mods.pop();
        }
        let declaration = code
            .strip_prefix("pub(crate) ")
            .or(code.strip_prefix("pub "))
            .unwrap_or(code);
        if declaration.starts_with("mod ") && declaration.ends_with('{') {
            inline_mods.push(indent);
        }
        if code.starts_with("//") {
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        // A `use` group may span lines: join them before looking into it.
        let mut joined = code.to_string();
        let mut j = i + 1;
        while joined.matches('{').count() > joined.matches('}').count() && j < lines.len() {
            joined.push_str(lines[j].trim());
            j += 1;
        }
        let mut targets = Vec::new();
        for (at, _) in code.match_indices("crate::") {
            let before = code[..at].chars().next_back();
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_') {
                continue; // e.g. `my_crate::`
            }
            targets.extend(named_after_root(&joined[at + "crate::".len()..]));
        }
        // `super::` climbs one module per step (a mod.rs file is its directory's module);
        // climbing as many steps as the file is deep reaches the crate root.
        let mut rest = code;
        while let Some(at) = rest.find("super::") {
            let mut chain = &rest[at..];
            let mut climbs = 0;
            while let Some(r) = chain.strip_prefix("super::") {
                climbs += 1;
                chain = r;
            }
            if climbs >= path.len() + inline_mods.len() {
                targets.extend(named_after_root(chain));
            }
            rest = chain;
        }
        for to in targets {
            if to != from && !to.is_empty() {
                found.push(Import {
                    file: format!("src/{file}"),
                    line: i + 1,
                    from: from.clone(),
                    to,
                });
            }
        }
    }
    found
}

/// What is wrong with `imports` under `layers`: unknown modules, upward imports, and the
/// imports that form circles between top-level modules.
fn problems(imports: &[Import], layers: &BTreeMap<String, usize>) -> Vec<String> {
    let mut out = Vec::new();
    for i in imports {
        match (layers.get(&i.from), layers.get(&i.to)) {
            (None, _) => out.push(format!(
                "{}:{}: module `{}` has no layer in ARCHITECTURE.md's layer table",
                i.file, i.line, i.from
            )),
            (_, None) => out.push(format!(
                "{}:{}: imports `{}`, which has no layer in ARCHITECTURE.md's layer table",
                i.file, i.line, i.to
            )),
            (Some(f), Some(t)) if t > f => out.push(format!(
                "{}:{}: `{}` (layer {f}) imports `{}` (layer {t}): an import must not go up",
                i.file, i.line, i.from, i.to
            )),
            _ => {}
        }
    }
    // Circles: an import a → b closes one when a is reachable from b.
    let mut edges: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    for i in imports {
        edges.entry(&i.from).or_default().insert(&i.to);
    }
    let reaches = |start: &str, goal: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![start];
        while let Some(m) = stack.pop() {
            if m == goal {
                return true;
            }
            if seen.insert(m) {
                stack.extend(edges.get(m).into_iter().flatten().copied());
            }
        }
        false
    };
    // A circle across layers holds an upward import, reported above; within a layer it is
    // reported here.
    for i in imports {
        let same_layer = layers.get(&i.from).is_some() && layers.get(&i.from) == layers.get(&i.to);
        if same_layer && reaches(&i.to, &i.from) {
            out.push(format!(
                "{}:{}: `{}` imports `{}`, which imports `{}` back (directly or around a circle)",
                i.file, i.line, i.from, i.to, i.from
            ));
        }
    }
    out
}

fn tree_imports() -> Vec<Import> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    files.iter().flat_map(|(f, t)| imports_of(f, t)).collect()
}

fn architecture() -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("ARCHITECTURE.md"))
        .expect("ARCHITECTURE.md")
}

#[test]
fn imports_go_down_the_layers_without_circles() {
    let layers = layer_table(&architecture());
    let imports = tree_imports();
    assert!(
        imports.len() > 50,
        "too few imports found: {}",
        imports.len()
    );
    let found = problems(&imports, &layers);
    assert!(found.is_empty(), "module structure:\n{}", found.join("\n"));
}

#[test]
fn every_top_level_module_has_a_layer() {
    let layers = layer_table(&architecture());
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&root, &root, &mut files);
    let missing: BTreeSet<String> = files
        .iter()
        .filter_map(|(f, _)| module_path(f).first().cloned())
        .filter(|m| !layers.contains_key(m))
        .collect();
    assert!(missing.is_empty(), "modules without a layer: {missing:?}");
}

#[test]
fn the_check_names_an_upward_import_and_a_circle() {
    let layers: BTreeMap<String, usize> = [("clock", 0), ("http", 1), ("status", 4), ("logs", 4)]
        .into_iter()
        .map(|(m, l)| (m.to_string(), l))
        .collect();
    let mut imports = imports_of(
        "http/routes.rs",
        "//! [`crate::status`] in a comment is not an import\nuse crate::{\n    clock,\n    status::STATUS,\n};\n",
    );
    imports.extend(imports_of("status.rs", "use crate::logs::LogsHub;\n"));
    imports.extend(imports_of(
        "logs/api.rs",
        "fn f() { super::super::status::x(); }\n",
    ));
    imports.extend(imports_of("logs/api.rs", "use super::view_of;\n"));
    imports.extend(imports_of(
        "logs/api.rs",
        "mod tests {\n    use super::super::render;\n}\nuse super::super::clock;\n",
    ));
    let found = problems(&imports, &layers);
    assert_eq!(
        found,
        [
            "src/http/routes.rs:2: `http` (layer 1) imports `status` (layer 4): an import must not go up",
            "src/status.rs:1: `status` imports `logs`, which imports `status` back (directly or around a circle)",
            "src/logs/api.rs:1: `logs` imports `status`, which imports `logs` back (directly or around a circle)",
        ],
        "{found:#?}"
    );
}
