//! Tidy checks of the source tree, so that none of it depends on memory (rust-analyzer's `tidy.rs`
//! is the model): every `.rs` file opens with a `//!` line, the modules of `graphql/src` import
//! one way only – `cli` → `http` → `schema` → `app` → `error` – with no circle anywhere, and the
//! GraphQL schema registers no async-graphql extension.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The workspace root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests/ sits in the workspace").to_path_buf()
}

/// Every `.rs` file under `dir`, skipping build output, vendored data and fuzzing corpora.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> =
        std::fs::read_dir(dir).expect("readable directory").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "third_party" | "node_modules" | "corpus" | "artifacts" | "out")
                && !name.starts_with('.')
            {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

#[test]
fn every_rust_file_opens_with_a_doc_line_saying_what_it_is_for() {
    let root = root();
    let mut files = Vec::new();
    for crate_dir in ["ledger", "projections", "graphql", "tests", "fuzz"] {
        rust_files(&root.join(crate_dir), &mut files);
    }
    assert!(files.len() > 50, "found only {} files: is the walk right?", files.len());
    let missing: Vec<String> = files
        .iter()
        .filter(|path| {
            let text = std::fs::read_to_string(path).expect("readable file");
            !text.trim_start().starts_with("//!")
        })
        .map(|path| path.strip_prefix(&root).unwrap_or(path).display().to_string())
        .collect();
    assert!(missing.is_empty(), "these files do not open with a `//!` line: {missing:#?}");
}

/// A module of `graphql/src` by its path (`["app", "record"]`); the crate root is `[]`.
type Module = Vec<String>;

/// The module a file under `src` defines (`None` for `main.rs`, a crate of its own).
fn module_of(src: &Path, file: &Path) -> Option<Module> {
    let relative = file.strip_prefix(src).ok()?.with_extension("");
    let parts: Module = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    match parts.as_slice() {
        [only] if only == "main" => None,
        [only] if only == "lib" => Some(Vec::new()),
        _ => Some(parts),
    }
}

/// The module paths a file's code names (`crate::a::b`, `super::c`), comments left out. Only
/// lowercase segments are kept, so `crate::app::App` names the module `app`.
fn named_paths(module: &Module, text: &str) -> Vec<Module> {
    let mut found = Vec::new();
    // Inline modules (`mod tests {`, always at the end of a file here) are one level down: their
    // `super::` is the file's own module.
    let mut inline = 0;
    for line in text.lines() {
        let code = line.trim_start();
        if code.starts_with("//") {
            continue;
        }
        if code.starts_with("mod ") && code.ends_with('{') {
            inline += 1;
            continue;
        }
        let code = code.split(" //").next().unwrap_or(code);
        for (start, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
            // `super::` inside `crate::x::super::` does not occur; a preceding identifier
            // character means another word (`mycrate::`), which is not ours.
            if code[..start].ends_with(|c: char| c.is_alphanumeric() || c == '_') {
                continue;
            }
            let mut rest = &code[start..];
            let mut path: Module = if let Some(after) = rest.strip_prefix("crate::") {
                rest = after;
                Vec::new()
            } else {
                let mut base = module.clone();
                let mut levels = inline;
                while let Some(after) = rest.strip_prefix("super::") {
                    if levels > 0 {
                        levels -= 1;
                    } else {
                        base.pop();
                    }
                    rest = after;
                }
                base
            };
            loop {
                let end = rest.find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'));
                let segment = &rest[..end.unwrap_or(rest.len())];
                if segment.is_empty() {
                    break;
                }
                path.push(segment.to_owned());
                match rest[segment.len()..].strip_prefix("::") {
                    Some(after) => rest = after,
                    None => break,
                }
            }
            found.push(path);
        }
    }
    found
}

/// The layer of a module of `graphql/src`: a module may name only modules of its own layer or
/// below. Unknown top-level modules fail the test, so a new one must be placed here.
fn layer(module: &Module) -> usize {
    match module.first().map(String::as_str) {
        None => 5, // the crate root re-exports everything
        Some("cli") => 4,
        Some("http") => 3,
        Some("schema") => 2,
        Some("app") => 1,
        Some("error") => 0,
        Some(other) => panic!("graphql/src/{other}: place the new module in a layer of tidy.rs"),
    }
}

#[test]
fn graphql_modules_import_one_way_with_no_circle() {
    let src = root().join("graphql/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeMap<Module, String> = files
        .iter()
        .filter_map(|f| module_of(&src, f).map(|m| (m, std::fs::read_to_string(f).expect("readable file"))))
        .collect();
    assert!(modules.len() > 15, "found only {} modules", modules.len());

    // Each named path resolves to the longest module it starts with. A module naming its own
    // descendants (declaring and re-exporting them) is the module tree, not a dependency.
    let mut edges: BTreeMap<&Module, BTreeSet<&Module>> = BTreeMap::new();
    let mut wrong_way = Vec::new();
    for (module, text) in &modules {
        for path in named_paths(module, text) {
            let Some(target) = (0..=path.len()).rev().find_map(|n| modules.get_key_value(&path[..n]).map(|(k, _)| k))
            else {
                continue;
            };
            if target.starts_with(module) {
                continue;
            }
            if layer(target) > layer(module) {
                wrong_way.push(format!("{} names {}", module.join("::"), target.join("::")));
            }
            edges.entry(module).or_default().insert(target);
        }
    }
    assert!(wrong_way.is_empty(), "imports against the layers (cli → http → schema → app → error): {wrong_way:#?}");
    assert!(
        edges.get(&vec!["schema".to_owned(), "agreements".to_owned()]).is_some_and(|e| !e.is_empty()),
        "the scan found no imports: is it reading the files?"
    );

    // Depth-first search for a circle.
    fn visit<'a>(
        node: &'a Module,
        edges: &BTreeMap<&'a Module, BTreeSet<&'a Module>>,
        state: &mut BTreeMap<&'a Module, bool>,
        stack: &mut Vec<&'a Module>,
    ) -> Option<Vec<String>> {
        match state.get(node) {
            Some(true) => return None,
            Some(false) => {
                let from = stack.iter().position(|m| *m == node).unwrap_or(0);
                let mut circle: Vec<String> = stack[from..].iter().map(|m| m.join("::")).collect();
                circle.push(node.join("::"));
                return Some(circle);
            }
            None => {}
        }
        state.insert(node, false);
        stack.push(node);
        for next in edges.get(node).into_iter().flatten() {
            if let Some(circle) = visit(next, edges, state, stack) {
                return Some(circle);
            }
        }
        stack.pop();
        state.insert(node, true);
        None
    }
    let mut state = BTreeMap::new();
    for module in modules.keys() {
        if let Some(circle) = visit(module, &edges, &mut state, &mut Vec::new()) {
            panic!("an import circle in graphql/src: {}", circle.join(" → "));
        }
    }
}

#[test]
fn the_layer_scan_sees_a_circle_and_a_wrong_way_import() {
    // The scan itself, on made-up modules: `schema/a` naming its sibling through `super::b`, and
    // `app/x` naming `crate::http`.
    let a: Module = vec!["schema".into(), "a".into()];
    assert_eq!(named_paths(&a, "use super::b::Thing;\n// use crate::cli;"), vec![vec!["schema", "b"]]);
    assert_eq!(named_paths(&a, "let x = crate::app::record(&app);"), vec![vec!["app", "record"]]);
    assert_eq!(named_paths(&a, "use super::{app, readable};"), vec![vec!["schema"]]);
    assert_eq!(named_paths(&a, "mod tests {\n    use super::Thing;"), vec![vec!["schema", "a"]]);
    let x: Module = vec!["app".into(), "x".into()];
    let named = named_paths(&x, "use crate::http::ServerConfig;");
    assert!(layer(&named[0]) > layer(&x));
}

/// Issue 19: in async-graphql 7.2 the mere presence of a schema extension sends every field and
/// every list item of every answer through a slow path (a registry lookup, type-name strings, a
/// boxed future through the extension chain), which cost a county-wide answer milliseconds. What
/// the extensions did runs around the engine (`graphql/src/schema/checks.rs`, `bounds.rs`), and
/// nothing in `graphql/src` may register or define one again. A source check, because a schema
/// does not tell which extensions it has.
#[test]
fn the_graphql_schema_registers_no_extension() {
    let src = root().join("graphql/src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    assert!(files.len() > 15, "found only {} files", files.len());
    let forbidden = [".extension(", "impl Extension for", "impl ExtensionFactory for", "ApolloPersistedQueries::new"];
    let mut found = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable file");
        for (number, line) in text.lines().enumerate() {
            // Comments may say what is forbidden; code may not do it.
            let code = line.split("//").next().unwrap_or("");
            for pattern in forbidden.iter().filter(|p| code.contains(*p)) {
                found.push(format!("{}:{}: {pattern}", file.strip_prefix(&src).unwrap_or(file).display(), number + 1));
            }
        }
    }
    assert!(found.is_empty(), "a schema extension in graphql/src (see issue 19): {found:#?}");
    let schema = std::fs::read_to_string(src.join("schema.rs")).expect("readable file");
    assert!(schema.contains("Schema::build("), "the scan reads the schema builder");
}
