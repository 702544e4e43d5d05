//! Tidiness of the source, checked the way rust-analyzer's `tidy` does: by reading the files. Each rule is an
//! invariant of ARCHITECTURE.md stated as an absence, so a back-edge fails a test instead of waiting for a
//! reviewer. The modules of `log/` are checked too: they must not form a cycle.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The crate's top-level modules from the top down: a module may name only modules of a lower layer.
/// Modules of one layer never name each other (`http`, `mcp` and `cli` are adapters that do not know each
/// other).
const LAYERS: &[&[&str]] = &[
    &["main"],
    &["app", "fuzzing"],
    &["http", "mcp", "cli"],
    &["backup", "consolidator"],
    &["store"],
    &["sync"],
    &["cloudflare", "oauth", "tls", "mdns", "healthcheck"],
    &["config"],
    &["portability"],
    &["service"],
    &["consolidation", "ingest"],
    &["embed"],
    &["error", "malloc"],
];

/// Where `anyhow` may be used: the binary, the wiring and the command line (everything else keeps typed
/// errors with their sources).
const ANYHOW: &[&str] = &["main", "app", "cli"];

/// The modules that may hold the whole `Config`; every other subsystem is handed its own part of it.
const WHOLE_CONFIG: &[&str] = &["main", "app", "cli", "store", "config"];

/// Every `.rs` file under `src/`, with its text less comment lines and `#[cfg(test)]` modules.
fn sources() -> Vec<(PathBuf, String)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            stack.extend(std::fs::read_dir(&path).expect("read src").flatten().map(|e| e.path()));
        } else if path.extension().is_some_and(|e| e == "rs") && !path.ends_with("tidy.rs") {
            let text = std::fs::read_to_string(&path).expect("read a source file");
            let relative = path.strip_prefix(&root).expect("under src").to_path_buf();
            files.push((relative, code_of(&text)));
        }
    }
    files.sort();
    files
}

/// The code of a file: without comment lines, and without its test module (tests may reach anything; by
/// this crate's habit the `#[cfg(test)] mod` is at the end of a file).
fn code_of(text: &str) -> String {
    let tests = regex::Regex::new(r"#\[cfg\(test\)\]\s*(pub(\([a-z]+\))? )?mod ").expect("a valid pattern");
    let code = tests.find(text).map_or(text, |found| &text[..found.start()]);
    code.lines().filter(|line| !line.trim_start().starts_with("//")).collect::<Vec<_>>().join("\n")
}

/// The top-level module a file belongs to: `http/auth.rs` → `http`, `app.rs` → `app`.
fn module_of(path: &Path) -> String {
    let first = path.components().next().expect("a file name").as_os_str().to_string_lossy();
    first.trim_end_matches(".rs").to_string()
}

/// How this crate's files name its modules: `crate::` (and, in `main.rs`, the library's name).
const CRATE_PATHS: &[&str] = &["crate::", "mcp_memory_service::"];

/// The modules that `code` names: the first segment after each of `prefixes`, including every item of a
/// `crate::{..}` group.
fn named(code: &str, prefixes: &[&str]) -> Vec<String> {
    let ident = |s: &str| s.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect::<String>();
    let mut found = Vec::new();
    for prefix in prefixes {
        for (at, _) in code.match_indices(prefix) {
            let rest = &code[at + prefix.len()..];
            match rest.strip_prefix('{') {
                Some(group) => {
                    let mut depth = 0;
                    let mut starts = vec![0];
                    for (i, c) in group.char_indices() {
                        match c {
                            '{' => depth += 1,
                            '}' if depth == 0 => break,
                            '}' => depth -= 1,
                            ',' if depth == 0 => starts.push(i + 1),
                            _ => {}
                        }
                    }
                    found.extend(starts.into_iter().map(|i| ident(group[i..].trim_start())));
                }
                None => found.push(ident(rest)),
            }
        }
    }
    found.retain(|name| !name.is_empty());
    found
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// Each top-level module with the crate modules it names, and the file that names each first.
fn module_graph() -> BTreeMap<String, BTreeMap<String, PathBuf>> {
    let mut graph: BTreeMap<String, BTreeMap<String, PathBuf>> = BTreeMap::new();
    for (path, code) in sources() {
        let module = module_of(&path);
        let edges = graph.entry(module.clone()).or_default();
        for used in named(&code, CRATE_PATHS).into_iter().filter(|used| *used != module) {
            edges.entry(used).or_insert_with(|| path.clone());
        }
    }
    graph
}

#[test]
fn every_module_has_a_layer() {
    let unplaced: Vec<_> = module_graph().into_keys().filter(|m| m != "lib" && layer_of(m).is_none()).collect();
    assert!(unplaced.is_empty(), "modules missing from tidy::LAYERS (place them): {unplaced:?}");
}

#[test]
fn dependencies_point_down() {
    let mut upward = Vec::new();
    for (module, edges) in module_graph() {
        let Some(from) = layer_of(&module) else { continue };
        for (used, path) in edges {
            let to = layer_of(&used);
            if to.is_some_and(|to| to <= from) {
                upward.push(format!("{} names crate::{used} ({module} may only use lower layers)", path.display()));
            }
        }
    }
    assert!(upward.is_empty(), "dependencies that do not point down:\n{}", upward.join("\n"));
}

#[test]
fn only_main_names_app_and_the_adapters_do_not_know_each_other() {
    let graph = module_graph();
    let naming = |target: &str| -> Vec<String> {
        graph.iter().filter(|(_, edges)| edges.contains_key(target)).map(|(m, _)| m.clone()).collect()
    };
    assert_eq!(naming("app"), ["main"], "only main.rs names crate::app");
    assert!(!graph["http"].contains_key("mcp"), "http names crate::mcp");
    assert!(!graph["mcp"].contains_key("http"), "mcp names crate::http");
    assert!(graph["config"].is_empty(), "config.rs names the crate: {:?}", graph["config"]);
}

#[test]
fn anyhow_stays_in_main_app_and_cli() {
    let users: Vec<_> = sources()
        .into_iter()
        .filter(|(path, code)| !ANYHOW.contains(&module_of(path).as_str()) && code.contains("anyhow"))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(users.is_empty(), "anyhow outside main, app and cli (use a thiserror type): {users:?}");
}

#[test]
fn subsystems_receive_their_own_settings() {
    let whole = regex::Regex::new(r"\bConfig\b").expect("a valid pattern");
    let holders: Vec<_> = sources()
        .into_iter()
        .filter(|(path, code)| !WHOLE_CONFIG.contains(&module_of(path).as_str()) && whole.is_match(code))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(holders.is_empty(), "these name the whole Config (hand them their own part): {holders:?}");
}

#[test]
fn commands_and_restore_are_total() {
    let partial: Vec<_> = sources()
        .into_iter()
        .filter(|(path, code)| {
            (path.starts_with("cli") || path.starts_with("service/restore.rs")) && code.contains("unreachable!")
        })
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(partial.is_empty(), "unreachable! where the types should say it: {partial:?}");
}

#[test]
fn the_router_starts_nothing_and_redaction_has_one_entry_point() {
    let sources = sources();
    let router = sources.iter().find(|(path, _)| path == Path::new("http/mod.rs")).expect("http/mod.rs");
    assert!(!router.1.contains("spawn"), "http/mod.rs builds routes; app starts the tasks");
    // `Backups::redact` redacts in the log and erases from the backups; nothing else calls the service's.
    let callers: Vec<_> = sources
        .iter()
        .filter(|(path, code)| !path.starts_with("backup") && code.contains("service.redact("))
        .map(|(path, _)| path.display().to_string())
        .collect();
    assert!(callers.is_empty(), "redact through Backups::redact, which also erases the backups: {callers:?}");
}

/// Each module of `log/src` (but the crate root) with the sibling modules its code names.
fn log_graph() -> BTreeMap<String, Vec<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("log/src");
    let mut sources = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("read log/src").flatten() {
        let path = entry.path();
        let Some(name) = path.file_stem().and_then(|n| n.to_str()) else { continue };
        if path.extension().is_some_and(|e| e == "rs") && name != "lib" {
            let text = std::fs::read_to_string(&path).expect("read a module");
            sources.insert(name.to_string(), code_of(&text));
        }
    }
    let mut graph = BTreeMap::new();
    for (module, code) in &sources {
        let mut uses: Vec<String> = named(code, &["crate::", "super::"])
            .into_iter()
            .filter(|used| used != module && sources.contains_key(used))
            .collect();
        uses.sort();
        uses.dedup();
        graph.insert(module.clone(), uses);
    }
    graph
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
        for used in graph.get(module).into_iter().flatten() {
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
fn the_log_modules_have_no_cycle() {
    let graph = log_graph();
    assert!(graph.len() > 5 && graph.contains_key("writer"), "log/src was not read: {graph:?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!("log/src has a module cycle (its order is in log/DESIGN.md): {}", cycle.join(" -> "));
    }
}

#[test]
fn every_source_file_says_what_it_owns() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut missing = Vec::new();
    let mut stack: Vec<PathBuf> =
        ["src", "log/src", "projections/src", "tests", "log/tests", "projections/tests", "benches"]
            .iter()
            .map(|d| root.join(d))
            .collect();
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if let Ok(entries) = std::fs::read_dir(&path) {
                stack.extend(entries.flatten().map(|e| e.path()));
            }
        } else if path.extension().is_some_and(|e| e == "rs") {
            let text = std::fs::read_to_string(&path).unwrap_or_default();
            if !text.trim_start().starts_with("//!") {
                missing.push(path.display().to_string());
            }
        }
    }
    assert!(missing.is_empty(), "files without a //! module doc: {missing:?}");
}

#[test]
fn the_rules_see_what_they_check() {
    // The reader of `crate::` paths, on the forms the rules rely on.
    let code =
        "use crate::{app, http::auth::{A, B}, config};\nfn f() { crate::mcp::x(); mcp_memory_service::cli::run(); }";
    assert_eq!(named(code, CRATE_PATHS), ["app", "http", "config", "mcp", "cli"]);
    assert_eq!(named("fn f() { super::d::g(); crate::SCHEMA; }", &["crate::", "super::"]), ["SCHEMA", "d"]);
    let graph = |edges: &[(&str, &[&str])]| -> BTreeMap<String, Vec<String>> {
        edges.iter().map(|(m, uses)| (m.to_string(), uses.iter().map(|u| u.to_string()).collect())).collect()
    };
    assert_eq!(find_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &[])])), None);
    assert_eq!(
        find_cycle(&graph(&[("a", &["b"]), ("b", &["c"]), ("c", &["a"])])),
        Some(vec!["a".into(), "b".into(), "c".into(), "a".into()])
    );
    let text =
        "#[cfg(test)]\nuse b;\nuse a;\n// use crate::app;\nfn f() {}\n#[cfg(test)]\nmod tests { use crate::app; }";
    assert_eq!(code_of(text), "#[cfg(test)]\nuse b;\nuse a;\nfn f() {}");
    assert_eq!(module_of(Path::new("http/auth.rs")), "http");
    assert_eq!(module_of(Path::new("app.rs")), "app");
}
