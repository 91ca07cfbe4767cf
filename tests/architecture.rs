//! The house, checked: layers import one way, files stay small, and the
//! import graph in docs/architecture.md is the one the code has
//! (`UPDATE_GOLDEN=1` rewrites it after a deliberate change).
//!
//! Layers, bottom up (a module may import only the ones its row allows):
//! model; token; ingest; enrich; rules; engine; output; settings; the
//! drivers and their libraries (replay, stream, respond, forensics, selftest,
//! gen); cli; app. Only `main.rs` sits above app.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// What each top-level module may import (`crate::<module>`).
fn allowed(module: &str) -> Option<&'static [&'static str]> {
    const DRIVER: &[&str] =
        &["model", "token", "ingest", "enrich", "rules", "engine", "output", "settings", "replay", "respond"];
    Some(match module {
        "model" => &[],
        "token" => &["model"],
        "ingest" => &["model", "token"],
        "enrich" => &["model", "token", "ingest"],
        "rules" => &["model"],
        "engine" => &["model", "rules"],
        "output" => &["model", "engine", "rules"],
        "settings" => &["model", "token", "ingest", "enrich", "rules", "output"],
        // a driver may use the libraries of replay (the files driver) and
        // respond (the responder), never another driver's wiring
        "replay" | "respond" | "selftest" | "gen" => &DRIVER[..8],
        "stream" | "forensics" => DRIVER,
        "cli" => &["model", "ingest", "enrich", "output", "settings", "gen"],
        "app" => &[
            "model",
            "token",
            "ingest",
            "enrich",
            "rules",
            "engine",
            "output",
            "settings",
            "replay",
            "respond",
            "stream",
            "forensics",
            "selftest",
            "gen",
            "cli",
        ],
        _ => return None,
    })
}

/// `crate::x` references outside test code, by top-level module.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let mut out: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for f in files(&common::root().join("src")) {
        let rel = f.strip_prefix(common::root().join("src")).unwrap();
        let top = rel.components().next().unwrap().as_os_str().to_string_lossy().trim_end_matches(".rs").to_string();
        if top == "lib" || top == "main" {
            continue;
        }
        let text = std::fs::read_to_string(&f).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let deps = out.entry(top.clone()).or_default();
        for (i, _) in code.match_indices("crate::") {
            let name: String = code[i + 7..].chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
            if !name.is_empty() && name != top {
                deps.insert(name);
            }
        }
    }
    out
}

fn files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut v = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            v.extend(files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            v.push(p);
        }
    }
    v.sort();
    v
}

#[test]
fn layers_import_one_way() {
    let mut wrong = Vec::new();
    for (m, deps) in imports() {
        let Some(ok) = allowed(&m) else {
            wrong.push(format!("{m}: a new top-level module: give it a layer here and in docs/architecture.md"));
            continue;
        };
        for d in deps {
            if !ok.contains(&d.as_str()) {
                wrong.push(format!("{m} imports {d}"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the layering:\n  {}", wrong.join("\n  "));
}

#[test]
fn the_documented_graph_is_the_code_s() {
    let mut graph = String::from("```text\n");
    for (m, deps) in imports() {
        let d: Vec<&str> = deps.iter().map(String::as_str).collect();
        graph.push_str(&format!("{m:<10} -> {}\n", if d.is_empty() { "-".to_string() } else { d.join(", ") }));
    }
    graph.push_str("```\n");
    let path = common::root().join("docs/architecture.md");
    let doc = std::fs::read_to_string(&path).unwrap();
    let (start, end) = ("<!-- import graph: begin -->\n", "<!-- import graph: end -->");
    let a = doc.find(start).expect("import graph markers") + start.len();
    let b = doc.find(end).expect("import graph markers");
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, format!("{}{graph}{}", &doc[..a], &doc[b..])).unwrap();
        return;
    }
    assert_eq!(&doc[a..b], graph, "docs/architecture.md's import graph is stale (UPDATE_GOLDEN=1 rewrites it)");
}

#[test]
fn files_and_wiring_stay_small() {
    let mut big = Vec::new();
    for f in files(&common::root().join("src")) {
        let text = std::fs::read_to_string(&f).unwrap();
        let n = text.lines().count();
        if n > 400 {
            big.push(format!("{} has {n} lines (at most 400)", f.display()));
        }
        if f.components().any(|c| c.as_os_str() == "app") {
            big.extend(
                long_functions(&text)
                    .into_iter()
                    .map(|(name, n)| format!("{}: fn {name} has {n} lines (at most 60 in app/)", f.display())),
            );
        }
    }
    assert!(big.is_empty(), "{}", big.join("\n"));
}

/// Functions longer than 60 lines (by their braces, from `fn` to the closing one).
fn long_functions(text: &str) -> Vec<(String, usize)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    for (i, l) in lines.iter().enumerate() {
        let t = l.trim_start();
        if !(t.starts_with("fn ") || t.starts_with("pub fn ") || t.starts_with("pub(crate) fn ")) {
            continue;
        }
        let name: String =
            t.split("fn ").nth(1).unwrap_or("").chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
        let mut depth = 0i32;
        let mut opened = false;
        for (j, body) in lines.iter().enumerate().skip(i) {
            for c in body.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                if j - i + 1 > 60 {
                    out.push((name.clone(), j - i + 1));
                }
                break;
            }
        }
    }
    out
}
