//! The module layering stays a DAG: no import cycle between the top-level modules of `src/`,
//! and no stage imports another stage (they share data through `model`, helpers through
//! `error`, `cpu` and `text`). Read from the sources, so a new `use` that breaks it fails here.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The pipeline's stages: each may use libraries, never another stage.
const STAGES: [&str; 5] = ["poll", "scrape", "judge", "record", "sink"];

/// Top-level module -> the top-level modules its non-test code names as `crate::<module>`.
fn module_graph() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut stack = vec![src.clone()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().is_none_or(|ext| ext != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str().to_string_lossy().into_owned();
            let module = first.trim_end_matches(".rs").to_string();
            if matches!(module.as_str(), "lib" | "main") || relative.ends_with("tests.rs") {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            // Unit tests may reach anywhere; only the code the library ships counts.
            let code = text.split("\n#[cfg(test)]").next().unwrap();
            let deps = graph.entry(module.clone()).or_default();
            for line in code.lines().filter(|line| !line.trim_start().starts_with("//")) {
                for (at, _) in line.match_indices("crate::") {
                    let name: String = line[at + 7..]
                        .chars()
                        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                        .collect();
                    if !name.is_empty() && name != module {
                        deps.insert(name);
                    }
                }
            }
        }
    }
    graph
}

#[test]
fn modules_form_a_dag_and_no_stage_imports_another() {
    let graph = module_graph();
    assert!(graph.contains_key("pipeline") && graph.contains_key("store"), "{graph:?}");
    for stage in STAGES {
        let deps = graph.get(stage).unwrap_or_else(|| panic!("no stage {stage}"));
        let others: Vec<&String> = deps.iter().filter(|dep| STAGES.contains(&dep.as_str())).collect();
        assert!(others.is_empty(), "stage {stage} imports stage(s) {others:?}");
    }
    assert!(!graph["model"].iter().any(|dep| STAGES.contains(&dep.as_str()) || dep == "store"));
    // Depth-first search for a cycle.
    fn visit<'a>(
        node: &'a str,
        graph: &'a BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<&'a str>,
        done: &mut BTreeSet<&'a str>,
    ) {
        if let Some(at) = path.iter().position(|seen| *seen == node) {
            panic!("import cycle: {}", path[at..].join(" -> ") + " -> " + node);
        }
        if done.contains(node) {
            return;
        }
        path.push(node);
        for dep in graph.get(node).into_iter().flatten() {
            visit(dep, graph, path, done);
        }
        path.pop();
        done.insert(node);
    }
    let mut done = BTreeSet::new();
    for node in graph.keys() {
        visit(node, &graph, &mut Vec::new(), &mut done);
    }
}
