//! The layering as code, not as a promise: the use-case crate links no web framework, and the web
//! face opens no transaction (every change goes through a use case that owns its transaction and
//! its audit entry).

use std::path::{Path, PathBuf};

use crate::helpers::TestResult;

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if path.is_dir() {
            rust_files(&path, out)?;
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
    Ok(())
}

#[test]
fn the_web_face_opens_no_transaction() -> TestResult {
    let mut files = Vec::new();
    rust_files(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"), &mut files)?;
    assert!(files.len() > 20, "found only {} source files", files.len());
    let mut offenders = Vec::new();
    for f in files {
        let text = std::fs::read_to_string(&f)?;
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or_default();
            if code.contains("db.begin()") || code.contains(".pool.begin()") || code.contains("tx.commit()") {
                offenders.push(format!("{}:{}: {}", f.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(offenders.is_empty(), "transactions in licentia-web:\n{}", offenders.join("\n"));
    Ok(())
}

#[test]
fn the_use_case_crate_links_no_web_framework() -> TestResult {
    let out = std::process::Command::new(env!("CARGO"))
        .args(["tree", "-p", "licentia-app", "-e", "normal", "--prefix", "none", "--offline", "--locked"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()?;
    let tree = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success() && tree.contains("licentia-db"), "cargo tree failed: {}", String::from_utf8_lossy(&out.stderr));
    let web: Vec<&str> = tree.lines().filter(|l| l.starts_with("actix") || l.starts_with("askama") || l.starts_with("licentia-web")).collect();
    assert!(web.is_empty(), "licentia-app depends on {web:?}");
    Ok(())
}

/// A module inside one crate, as the path of its file: `pages::login` for `src/pages/login.rs`
/// (`lib.rs`, `main.rs` and `mod.rs` name their directory).
fn module_of(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).unwrap_or(file).with_extension("");
    let mut parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.last().is_some_and(|p| p == "lib" || p == "main" || p == "mod") {
        parts.pop();
    }
    parts.join("::")
}

/// Reads one path tree after `crate::` or `super::`, expanding `{a, b::{c, self}}` groups.
fn path_tree(s: &[u8], i: &mut usize, prefix: Vec<String>, out: &mut Vec<Vec<String>>) {
    let mut prefix = prefix;
    loop {
        while *i < s.len() && s[*i].is_ascii_whitespace() {
            *i += 1;
        }
        if *i < s.len() && s[*i] == b'{' {
            *i += 1;
            loop {
                path_tree(s, i, prefix.clone(), out);
                while *i < s.len() && s[*i].is_ascii_whitespace() {
                    *i += 1;
                }
                match s.get(*i) {
                    Some(b',') => *i += 1,
                    Some(b'}') => {
                        *i += 1;
                        return;
                    }
                    _ => return,
                }
            }
        }
        let start = *i;
        while *i < s.len() && (s[*i].is_ascii_alphanumeric() || s[*i] == b'_') {
            *i += 1;
        }
        let ident = String::from_utf8_lossy(&s[start..*i]).into_owned();
        if !ident.is_empty() && ident != "self" {
            prefix.push(ident);
        }
        if s[*i..].starts_with(b"::") {
            *i += 2;
        } else {
            out.push(prefix);
            return;
        }
    }
}

/// The module graph of one crate: for every module, the modules of the crate it names through
/// `crate::…` or `super::…` (resolved to the longest prefix that is a module file). Comments and
/// the inline `tests` module are left out. A parent reaching its children by relative paths is
/// not an edge (declaring a child is not depending on it); the crate root is not a node.
fn module_graph(modules: &[(String, String)]) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    let known: std::collections::BTreeSet<&str> = modules.iter().map(|(m, _)| m.as_str()).collect();
    let mut graph = std::collections::BTreeMap::new();
    for (module, text) in modules {
        let code: String = text
            .split("#[cfg(test)]\nmod tests")
            .next()
            .unwrap_or_default()
            .lines()
            .filter(|l| !l.trim_start().starts_with("//"))
            .map(|l| format!("{}\n", l.split(" // ").next().unwrap_or_default()))
            .collect();
        let s = code.as_bytes();
        let mut edges = std::collections::BTreeSet::new();
        for (needle, is_super) in [("crate::", false), ("super::", true)] {
            let mut from = 0;
            while let Some(at) = code[from..].find(needle).map(|p| p + from) {
                from = at + needle.len();
                if at > 0 && (s[at - 1].is_ascii_alphanumeric() || s[at - 1] == b'_' || s[at - 1] == b':') {
                    continue;
                }
                let base: Vec<String> = if is_super {
                    let mut b: Vec<String> = module.split("::").filter(|p| !p.is_empty()).map(str::to_owned).collect();
                    b.pop();
                    b
                } else {
                    Vec::new()
                };
                let mut paths = Vec::new();
                let mut i = from;
                path_tree(s, &mut i, base, &mut paths);
                for p in paths {
                    let target = (1..=p.len()).rev().map(|k| p[..k].join("::")).find(|cand| known.contains(cand.as_str()));
                    if let Some(t) = target.filter(|t| t != module && !t.is_empty()) {
                        edges.insert(t);
                    }
                }
            }
        }
        graph.insert(module.clone(), edges);
    }
    graph
}

/// The groups of two or more modules that import each other, directly or around a loop (Tarjan).
fn cycles(graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>) -> Vec<Vec<String>> {
    struct Walk<'g> {
        graph: &'g std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        index: std::collections::HashMap<&'g str, usize>,
        low: std::collections::HashMap<&'g str, usize>,
        stack: Vec<&'g str>,
        found: Vec<Vec<String>>,
    }
    fn visit<'g>(w: &mut Walk<'g>, v: &'g str) {
        let n = w.index.len();
        w.index.insert(v, n);
        w.low.insert(v, n);
        w.stack.push(v);
        for t in w.graph.get(v).into_iter().flatten() {
            let t = t.as_str();
            if !w.graph.contains_key(t) {
                continue;
            }
            if !w.index.contains_key(t) {
                visit(w, t);
                let lt = w.low[t];
                let lv = w.low[v];
                w.low.insert(v, lv.min(lt));
            } else if w.stack.contains(&t) {
                let it = w.index[t];
                let lv = w.low[v];
                w.low.insert(v, lv.min(it));
            }
        }
        if w.low[v] == w.index[v] {
            let mut group = Vec::new();
            while let Some(t) = w.stack.pop() {
                group.push(t.to_owned());
                if t == v {
                    break;
                }
            }
            if group.len() > 1 {
                group.sort();
                w.found.push(group);
            }
        }
    }
    let mut w = Walk { graph, index: Default::default(), low: Default::default(), stack: Vec::new(), found: Vec::new() };
    for v in graph.keys() {
        if !w.index.contains_key(v.as_str()) {
            visit(&mut w, v.as_str());
        }
    }
    w.found
}

#[test]
fn the_cycle_finder_finds_cycles_through_groups_and_super() {
    let files = [
        ("a".to_owned(), "use crate::{b::{self, X}, c};\n// crate::d is only a comment\n".to_owned()),
        ("b".to_owned(), "fn f() { crate::c::g() }".to_owned()),
        ("c".to_owned(), "use super::a::Thing;".to_owned()),
        ("d".to_owned(), "use crate::a;".to_owned()),
        ("e::f".to_owned(), "use super::g;\n#[cfg(test)]\nmod tests { use crate::d; }".to_owned()),
        ("e::g".to_owned(), String::new()),
    ];
    let graph = module_graph(&files);
    assert_eq!(graph["a"].iter().map(String::as_str).collect::<Vec<_>>(), ["b", "c"], "groups expand; comments do not count");
    assert_eq!(graph["e::f"].iter().map(String::as_str).collect::<Vec<_>>(), ["e::g"], "super resolves to the sibling; tests do not count");
    assert_eq!(cycles(&graph), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]], "d only depends on the loop");
}

#[test]
fn no_module_imports_form_a_cycle_in_any_crate() -> TestResult {
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let mut checked = 0;
    let mut found = Vec::new();
    for entry in std::fs::read_dir(&crates)? {
        let src = entry?.path().join("src");
        if !src.is_dir() {
            continue;
        }
        let mut files = Vec::new();
        rust_files(&src, &mut files)?;
        let modules: Vec<(String, String)> = files.iter().map(|f| Ok((module_of(&src, f), std::fs::read_to_string(f)?))).collect::<std::io::Result<_>>()?;
        let graph = module_graph(&modules);
        checked += graph.len();
        for group in cycles(&graph) {
            let edges: Vec<String> = group.iter().map(|m| format!("{m} -> {:?}", graph[m].iter().filter(|t| group.contains(t)).collect::<Vec<_>>())).collect();
            found.push(format!("{}: {}", src.display(), edges.join("; ")));
        }
    }
    assert!(checked > 80, "only {checked} modules found: is the scan looking in the right place?");
    assert!(found.is_empty(), "modules that import each other:\n{}", found.join("\n"));
    Ok(())
}
