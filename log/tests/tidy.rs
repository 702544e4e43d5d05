//! Tidiness of the crate's source: the modules of log/src depend on each other without a cycle (the order
//! is written down in log/DESIGN.md, "Modules, bottom to top").

use std::collections::BTreeMap;
use std::path::Path;

/// Each module of log/src (but the crate root) with the sibling modules its code names through
/// `crate::X`, `crate::{X, ..}` or `super::X`. Comment lines are skipped.
fn module_graph() -> BTreeMap<String, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("read log/src") {
        let path = entry.expect("read log/src").path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()) else { continue };
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            let text = std::fs::read_to_string(&path).expect("read a module");
            let code: Vec<&str> = text.lines().filter(|l| !l.trim_start().starts_with("//")).collect();
            sources.insert(name.to_string(), code.join("\n"));
        }
    }
    let mut graph = BTreeMap::new();
    for (module, code) in &sources {
        let mut uses: Vec<String> =
            referenced(code).into_iter().filter(|used| used != module && sources.contains_key(used)).collect();
        uses.sort();
        uses.dedup();
        graph.insert(module.clone(), uses);
    }
    graph
}

/// The first path segments after every `crate::` and `super::` in `code`, including each item of a
/// `crate::{..}` group.
fn referenced(code: &str) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for prefix in ["crate::", "super::"] {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            match rest.strip_prefix('{') {
                Some(group) => {
                    // Items of the group at its top level: after the `{` and after each top-level comma.
                    let mut depth = 0;
                    let mut item_starts = vec![0];
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => item_starts.push(i + 1),
                            _ => {}
                        }
                    }
                    found.extend(item_starts.into_iter().map(|i| ident(group[i..].trim_start())));
                }
                None => found.push(ident(rest)),
            }
        }
    }
    found
}

/// A cycle of the graph, as the modules along it with the first repeated at the end, if there is one.
fn find_cycle(graph: &BTreeMap<String, Vec<String>>) -> Option<Vec<String>> {
    fn visit<'a>(
        module: &'a str,
        graph: &'a BTreeMap<String, Vec<String>>,
        path: &mut Vec<&'a str>,
        done: &mut Vec<&'a str>,
    ) -> Option<Vec<String>> {
        if let Some(start) = path.iter().position(|m| *m == module) {
            let mut cycle: Vec<String> = path[start..].iter().map(|m| m.to_string()).collect();
            cycle.push(module.to_string());
            return Some(cycle);
        }
        if done.contains(&module) {
            return None;
        }
        path.push(module);
        for used in &graph[module] {
            if let Some(cycle) = visit(used, graph, path, done) {
                return Some(cycle);
            }
        }
        path.pop();
        done.push(module);
        None
    }
    let mut done = Vec::new();
    graph.keys().find_map(|module| visit(module, graph, &mut Vec::new(), &mut done))
}

#[test]
fn the_modules_depend_on_each_other_without_a_cycle() {
    let graph = module_graph();
    assert!(graph.len() > 5 && graph.contains_key("writer"), "log/src was not read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("log/src has a module cycle: {}\nwhole graph: {graph:#?}", cycle.join(" -> "));
    }
}

#[test]
fn the_cycle_check_finds_references_and_cycles() {
    let code = "use crate::a::X;\nuse crate::{b::Y, c};\nfn f() { super::d::g(); crate::SCHEMA; }";
    assert_eq!(referenced(code), ["a", "b", "c", "SCHEMA", "d"]);
    let graph = |edges: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(m, uses)| (m.to_string(), uses.iter().map(|u| u.to_string()).collect())).collect()
    };
    assert_eq!(find_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])), None);
    assert_eq!(
        find_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
}
