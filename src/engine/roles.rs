//! Roles: the ones shipped with Fulcrum (`roles/*.toml`, compiled in and
//! added at start-up when absent), and validation of any role before it is
//! stored: its jig has what it needs, its requirements exist, and they form
//! no cycle (the error names the cycle).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use super::error::EngineError;
use super::model::{JigKind, Role};
use crate::state::World;
use crate::types::field::Refuse;
use crate::types::names;

const SHIPPED: [(&str, &str); 2] = [
    ("provisioner-os-install.toml", include_str!("../../roles/provisioner-os-install.toml")),
    ("fulcrum-discovered.toml", include_str!("../../roles/fulcrum-discovered.toml")),
];

/// A role file that cannot be read or parsed; names the file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RoleFileError {
    #[error("cannot list {}", dir.display())]
    List {
        dir: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot read {}", file.display())]
    Read {
        file: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a role file", file.display())]
    Parse {
        file: PathBuf,
        #[source]
        source: Box<toml::de::Error>,
    },
}

fn parse(file: &Path, text: &str) -> Result<Role, RoleFileError> {
    toml::from_str(text).map_err(|source| RoleFileError::Parse { file: file.to_path_buf(), source: Box::new(source) })
}

/// Parses the shipped roles.
pub(crate) fn shipped() -> Result<Vec<Role>, RoleFileError> {
    SHIPPED.iter().map(|(file, text)| parse(&Path::new("roles").join(file), text)).collect()
}

/// Parses every `*.toml` in an operator's roles directory, in name order.
pub(crate) fn from_dir(dir: &Path) -> Result<Vec<Role>, RoleFileError> {
    let list = |source| RoleFileError::List { dir: dir.to_path_buf(), source };
    let mut files: Vec<PathBuf> = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(list)? {
        let path = entry.map_err(list)?.path();
        if path.extension().is_some_and(|x| x == "toml") {
            files.push(path);
        }
    }
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).map_err(|source| RoleFileError::Read { file: f.clone(), source })?;
            parse(f, &text)
        })
        .collect()
}

/// Checks a role against the roles that exist (plus itself).
pub(crate) fn validate(w: &World, role: &Role) -> Result<(), EngineError> {
    names::check_name("name", &role.name)?;
    match role.jig {
        JigKind::Script if role.script.as_deref().is_none_or(|s| s.trim().is_empty()) => {
            return Err(EngineError::invalid("script", "the script jig needs a script"));
        }
        JigKind::Test => {
            if let Some(t) = &role.test {
                if !(0.0..=1.0).contains(&t.flaky) {
                    return Err(EngineError::invalid("test.flaky", "must be between 0 and 1"));
                }
            }
        }
        _ => {}
    }
    if role.timeout_seconds == 0 {
        return Err(EngineError::invalid("timeout_seconds", "must be at least 1"));
    }
    let roles = w.table::<Role>();
    for req in &role.requires {
        if req != &role.name && !roles.contains(req) {
            return Err(EngineError::invalid("requires", format!("no role named `{req}`")));
        }
    }
    let mut graph: BTreeMap<String, Vec<String>> = roles.iter().map(|r| (r.name.clone(), r.requires.clone())).collect();
    graph.insert(role.name.clone(), role.requires.clone());
    if let Some(cycle) = find_cycle(&graph, &role.name) {
        return Err(EngineError::invalid("requires", format!("role requirement cycle: {}", cycle.join(" -> "))));
    }
    Ok(())
}

/// A cycle through `start`, as the list of role names from `start` back to it.
fn find_cycle(graph: &BTreeMap<String, Vec<String>>, start: &str) -> Option<Vec<String>> {
    fn walk(
        graph: &BTreeMap<String, Vec<String>>,
        node: &str,
        start: &str,
        path: &mut Vec<String>,
        seen: &mut Vec<String>,
    ) -> bool {
        for next in graph.get(node).into_iter().flatten() {
            if next == start {
                path.push(next.clone());
                return true;
            }
            if seen.contains(next) {
                continue;
            }
            seen.push(next.clone());
            path.push(next.clone());
            if walk(graph, next, start, path, seen) {
                return true;
            }
            path.pop();
        }
        false
    }
    let mut path = vec![start.to_string()];
    walk(graph, start, start, &mut path, &mut Vec::new()).then_some(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_and_names_cycles() {
        let g: BTreeMap<String, Vec<String>> = [("a", vec!["b"]), ("b", vec!["c"]), ("c", vec!["a"]), ("d", vec!["a"])]
            .into_iter()
            .map(|(k, v)| (k.to_string(), v.into_iter().map(String::from).collect()))
            .collect();
        assert_eq!(find_cycle(&g, "a"), Some(vec!["a".into(), "b".into(), "c".into(), "a".into()]));
        assert_eq!(find_cycle(&g, "d"), None);
        let selfish: BTreeMap<String, Vec<String>> = [("x".to_string(), vec!["x".to_string()])].into_iter().collect();
        assert_eq!(find_cycle(&selfish, "x"), Some(vec!["x".into(), "x".into()]));
    }

    #[test]
    fn shipped_roles_parse() {
        let names: Vec<String> = shipped().unwrap().into_iter().map(|r| r.name).collect();
        assert_eq!(names, ["provisioner-os-install", "fulcrum-discovered"]);
    }
}
