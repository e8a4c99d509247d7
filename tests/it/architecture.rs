//! The code matches the drawing: ARCHITECTURE.md's `rooms` block names,
//! for every top-level module of `src/`, the rooms it may import; this
//! test reads the block and every source file (all but its `#[cfg(test)]`
//! items; `crate::room` paths and grouped `crate::{..}` imports), and
//! fails on an import the drawing does not allow, on a room the drawing
//! does not list, and on a cycle in the drawing itself.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The allowed arrows, from the `rooms` block.
fn drawing() -> BTreeMap<String, BTreeSet<String>> {
    let text = std::fs::read_to_string(root().join("ARCHITECTURE.md")).expect("ARCHITECTURE.md");
    let block = text.split("```rooms\n").nth(1).and_then(|b| b.split("```").next()).expect("a ```rooms block");
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (room, to) = l.split_once("->").unwrap_or_else(|| panic!("`{l}`: expected ROOM -> ROOMS"));
            (room.trim().to_string(), to.split_whitespace().map(String::from).collect())
        })
        .collect()
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// `text` without its `#[cfg(test)]` items: each is skipped up to the end
/// of its braces, or of its line when it has none (`mod tests;`).
fn without_test_items(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim() != "#[cfg(test)]" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let mut depth = 0i64;
        let mut opened = false;
        for item in lines.by_ref() {
            depth += item.matches('{').count() as i64 - item.matches('}').count() as i64;
            opened |= item.contains('{');
            if (opened && depth <= 0) || (!opened && item.trim_end().ends_with(';')) {
                break;
            }
        }
    }
    out
}

/// The rooms a piece of code names: `crate::room` and the rooms of a
/// grouped `crate::{room, other::..}`.
fn rooms_named(code: &str, names: &BTreeSet<String>) -> BTreeSet<String> {
    let mut used = BTreeSet::new();
    let word = |s: &str| -> String { s.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect() };
    for (i, _) in code.match_indices("crate::") {
        let rest = &code[i + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level entries of the group.
            let mut depth = 0;
            let mut start = 0;
            for (j, c) in group.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => {
                        used.insert(word(group[start..j].trim()));
                        break;
                    }
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        used.insert(word(group[start..j].trim()));
                        start = j + 1;
                    }
                    _ => {}
                }
            }
        } else {
            used.insert(word(rest));
        }
    }
    used.retain(|w| names.contains(w));
    used
}

/// The rooms each room imports, outside its `#[cfg(test)]` items.
fn imports() -> BTreeMap<String, BTreeSet<String>> {
    let src = root().join("src");
    let mut rooms: BTreeMap<String, Vec<PathBuf>> = BTreeMap::new();
    for entry in std::fs::read_dir(&src).expect("src") {
        let path = entry.expect("entry").path();
        let name = path.file_stem().and_then(|n| n.to_str()).unwrap_or("").to_string();
        if path.is_dir() {
            let mut files = Vec::new();
            rust_files(&path, &mut files);
            rooms.insert(name, files);
        } else if path.extension().is_some_and(|e| e == "rs") && name != "lib" && name != "main" {
            rooms.insert(name, vec![path]);
        }
    }
    let names: BTreeSet<String> = rooms.keys().cloned().collect();
    rooms
        .into_iter()
        .map(|(room, files)| {
            let mut used = BTreeSet::new();
            for f in files {
                let text = std::fs::read_to_string(&f).expect("source");
                used.extend(rooms_named(&without_test_items(&text), &names));
            }
            used.remove(&room);
            (room, used)
        })
        .collect()
}

#[test]
fn the_scanner_sees_grouped_imports_and_skips_only_test_items() {
    let names: BTreeSet<String> = ["api", "state", "types", "net"].iter().map(|s| s.to_string()).collect();
    let code = "#[cfg(test)]\nmod tests;\nuse crate::{state::{A, B}, types};\n#[cfg(test)]\nfn t() {\n    crate::api::x();\n}\nfn f() { crate::net::y(); }\n";
    let used = rooms_named(&without_test_items(code), &names);
    assert_eq!(used.into_iter().collect::<Vec<_>>(), ["net", "state", "types"]);
}

#[test]
fn rooms_import_only_what_the_drawing_allows() {
    let allowed = drawing();
    let actual = imports();
    let mut problems = Vec::new();
    for (room, used) in &actual {
        let Some(may) = allowed.get(room) else {
            problems.push(format!("room `{room}` is not in ARCHITECTURE.md's drawing"));
            continue;
        };
        for u in used.difference(may) {
            problems.push(format!("`{room}` imports `{u}`, which the drawing does not allow"));
        }
    }
    for room in allowed.keys() {
        if !actual.contains_key(room) {
            problems.push(format!("the drawing lists `{room}`, which is not a room of src/"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[test]
fn the_drawing_has_no_cycle() {
    let g = drawing();
    // Kahn's algorithm: a graph without cycles empties.
    let mut indegree: BTreeMap<&str, usize> = g.keys().map(|k| (k.as_str(), 0)).collect();
    for to in g.values() {
        for t in to {
            *indegree.entry(t.as_str()).or_default() += 1;
        }
    }
    let mut ready: Vec<&str> = indegree.iter().filter(|(_, d)| **d == 0).map(|(k, _)| *k).collect();
    let mut seen = 0;
    while let Some(r) = ready.pop() {
        seen += 1;
        for t in g.get(r).into_iter().flatten() {
            let d = indegree.get_mut(t.as_str()).expect("listed");
            *d -= 1;
            if *d == 0 {
                ready.push(t);
            }
        }
    }
    assert_eq!(seen, indegree.len(), "the drawing has a cycle: {g:?}");
}
