//! The shape of the code, checked: the modules depend on each other without cycles (shared
//! types live in `common` and `stats`, below the stages that use them), and the per-packet
//! stages stay short enough to read.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Every source file under `src/` with its module path (`flow/stream`, `detect`, ...).
fn modules() -> BTreeMap<String, PathBuf> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in fs::read_dir(dir).expect("read src") {
            let p = e.expect("dir entry").path();
            if p.is_dir() {
                walk(&p, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                out.push(p);
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    walk(&root, &mut files);
    let mut mods = BTreeMap::new();
    for f in files {
        let rel = f.strip_prefix(&root).unwrap().with_extension("");
        let mut name = rel.to_string_lossy().replace('\\', "/");
        if let Some(parent) = name.strip_suffix("/mod") {
            name = parent.to_string();
        }
        if name == "lib" || name == "main" {
            continue;
        }
        mods.insert(name, f);
    }
    mods
}

/// The longest module path that `parts` starts with.
fn resolve(mods: &BTreeMap<String, PathBuf>, parts: &[&str]) -> Option<String> {
    (1..=parts.len())
        .rev()
        .map(|i| parts[..i].join("/"))
        .find(|m| mods.contains_key(m))
}

/// Module -> modules it names through `crate::` paths or a top-level `use super::`. Unit
/// tests are left out (a test module file, and a file's code from its `#[cfg(test)]` on): what
/// the sensor runs must form the graph; tests may build their input with `testgen`.
fn edges(mods: &BTreeMap<String, PathBuf>) -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (m, file) in mods {
        let deps = out.entry(m.clone()).or_default();
        if m.ends_with("/tests") {
            continue;
        }
        let text = fs::read_to_string(file).expect("read source");
        for line in text.lines().take_while(|l| *l != "#[cfg(test)]") {
            let code = line.split("//").next().unwrap_or("");
            let mut rest = code;
            while let Some(i) = rest.find("crate::") {
                rest = &rest[i + "crate::".len()..];
                let path: Vec<&str> = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
                    .next()
                    .unwrap_or("")
                    .split("::")
                    .filter(|s| !s.is_empty())
                    .collect();
                if let Some(t) = resolve(mods, &path) {
                    if &t != m {
                        deps.insert(t);
                    }
                }
            }
            // A file's own `use super::x` (not one inside a nested test module) names its
            // parent module, or the sibling `x`.
            let top = code.strip_prefix("pub ").unwrap_or(code);
            if let Some(rest) = top.strip_prefix("use super::") {
                let parent: Vec<&str> = match m.rsplit_once('/') {
                    Some((p, _)) => p.split('/').collect(),
                    None => Vec::new(),
                };
                let first = rest
                    .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .next()
                    .unwrap_or("");
                let mut path = parent.clone();
                path.push(first);
                if let Some(t) = resolve(mods, &path).or_else(|| resolve(mods, &parent)) {
                    if &t != m {
                        deps.insert(t);
                    }
                }
            }
        }
    }
    out
}

/// A cycle in `g`, if there is one (depth-first search).
fn find_cycle(g: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        v: &str,
        g: &BTreeMap<String, BTreeSet<String>>,
        state: &mut BTreeMap<String, u8>,
        stack: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        state.insert(v.to_string(), 1);
        stack.push(v.to_string());
        for w in g.get(v).into_iter().flatten() {
            match state.get(w.as_str()).copied().unwrap_or(0) {
                0 => {
                    if let Some(c) = visit(w, g, state, stack) {
                        return Some(c);
                    }
                }
                1 => {
                    let from = stack.iter().position(|s| s == w).unwrap();
                    let mut c = stack[from..].to_vec();
                    c.push(w.clone());
                    return Some(c);
                }
                _ => {}
            }
        }
        stack.pop();
        state.insert(v.to_string(), 2);
        None
    }
    let mut state = BTreeMap::new();
    for v in g.keys() {
        if state.get(v.as_str()).copied().unwrap_or(0) == 0 {
            if let Some(c) = visit(v, g, &mut state, &mut Vec::new()) {
                return Some(c);
            }
        }
    }
    None
}

#[test]
fn top_level_modules_form_a_dag() {
    let mods = modules();
    let mut top: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (a, bs) in edges(&mods) {
        let ta = a.split('/').next().unwrap().to_string();
        for b in bs {
            let tb = b.split('/').next().unwrap().to_string();
            if ta != tb {
                top.entry(ta.clone()).or_default().insert(tb);
            }
        }
    }
    assert!(top.contains_key("runtime"), "module scan found nothing");
    if let Some(c) = find_cycle(&top) {
        panic!("top-level modules import each other: {}", c.join(" -> "));
    }
    // The shared layer depends on no stage.
    let common = top.get("common").cloned().unwrap_or_default();
    assert!(common.is_empty(), "common depends on {common:?}");
}

#[test]
fn files_do_not_import_each_other() {
    let mods = modules();
    // A mod.rs and its own children are one unit (the parent declares them); every other
    // pair of files must depend one way only.
    let g: BTreeMap<String, BTreeSet<String>> = edges(&mods)
        .into_iter()
        .map(|(a, bs)| {
            let bs = bs
                .into_iter()
                .filter(|b| !a.starts_with(&format!("{b}/")) && !b.starts_with(&format!("{a}/")))
                .collect();
            (a, bs)
        })
        .collect();
    if let Some(c) = find_cycle(&g) {
        panic!("source files import each other: {}", c.join(" -> "));
    }
}

#[test]
fn the_cycle_check_finds_a_cycle() {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    g.entry("a".into()).or_default().insert("b".into());
    g.entry("b".into()).or_default().insert("c".into());
    assert_eq!(find_cycle(&g), None);
    g.entry("c".into()).or_default().insert("a".into());
    assert_eq!(
        find_cycle(&g).unwrap(),
        vec!["a".to_string(), "b".into(), "c".into(), "a".into()]
    );
}

/// Lines of each `fn` in `text`: (name, first line, length), by brace counting (strings and
/// comments with braces are rare enough in this code base to be ignored).
fn functions(text: &str) -> Vec<(String, usize, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        let t = t.strip_prefix("pub(crate) ").unwrap_or(t);
        let t = t.strip_prefix("pub ").unwrap_or(t);
        let Some(rest) = t.strip_prefix("fn ") else {
            continue;
        };
        let name: String = rest
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect();
        let mut depth = 0i32;
        let mut opened = false;
        for (j, body) in lines[i..].iter().enumerate() {
            let code = body.split("//").next().unwrap_or("");
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth == 0 {
                out.push((name.clone(), i + 1, j + 1));
                break;
            }
            if !opened && code.trim_end().ends_with(';') {
                break; // a declaration without a body
            }
        }
    }
    out
}

#[test]
fn packet_path_stages_are_short() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/runtime/worker");
    let mut long = Vec::new();
    let mut seen = 0;
    for e in fs::read_dir(&dir).expect("src/runtime/worker") {
        let p = e.unwrap().path();
        let text = fs::read_to_string(&p).unwrap();
        // Tests at the bottom of a file are not part of the path.
        let code = text.split("#[cfg(test)]").next().unwrap();
        for (name, line, len) in functions(code) {
            seen += 1;
            if len > 120 {
                long.push(format!("{}:{line} fn {name}: {len} lines", p.display()));
            }
        }
    }
    assert!(seen > 10, "found only {seen} functions");
    assert!(
        long.is_empty(),
        "stages over 120 lines:\n{}",
        long.join("\n")
    );
}

#[test]
fn function_lengths_are_measured() {
    let f = functions("fn a() {\n    if x { y }\n}\nfn b();\npub fn c() { }\n");
    assert_eq!(f, vec![("a".to_string(), 1, 3), ("c".to_string(), 5, 1)]);
}
