//! The engine's data migrations: rewrites of its stored rows from one
//! schema version to the next, run once at start-up before anything reads
//! them (see [`crate::state::schema`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;

use super::model::{NodeRole, Run};
use crate::inventory::node::Node;
use crate::state::store::{Batch, StoreError};
use crate::state::{Record, Store};
use crate::types::time::now;

/// Version 2 -> 3: the engine's part of it ([`succeeded_runs`]) and the
/// lifecycle's: nodes that version 2 left in `inspecting`, `cleaning` or
/// `deploying` were waiting for their machine, which version 3 calls
/// `inspect wait`, `clean wait` and `wait call-back` (its steps are
/// Fulcrum's own, failed at start-up when cut short).
pub(crate) fn v2_to_v3(store: &dyn Store) -> Result<Batch, StoreError> {
    let mut batch = succeeded_runs(store)?;
    batch.absorb(waits(store)?);
    Ok(batch)
}

fn waits(store: &dyn Store) -> Result<Batch, StoreError> {
    let mut batch = Batch::default();
    store.scan(Node::TABLE, &mut |key, value| {
        let mut node = row(Node::TABLE, key, value)?;
        let Some(fields) = node.as_object_mut() else { return Ok(()) };
        let wait = match fields.get("provision_state").and_then(Value::as_str) {
            Some("inspecting") => "inspect wait",
            Some("cleaning") => "clean wait",
            Some("deploying") => "wait call-back",
            _ => return Ok(()),
        };
        fields.insert("provision_state".into(), Value::from(wait));
        // Version 2 kept no entry time: the watchdog's clock starts now.
        fields.entry("provision_since").or_insert_with(|| Value::from(now()));
        batch.put(Node::TABLE, key.to_string(), Arc::from(node.to_string()));
        Ok(())
    })?;
    Ok(batch)
}

/// Version 2 -> 3: each noderole gets `succeeded_runs`, counted from its
/// stored runs: every `succeeded` one, and a `skipped` one only after a
/// `succeeded` one (version 2 also skipped after a failure, the very
/// defect this count ends). A run counts only when its node, role and
/// deployment are the noderole's (ids of deleted noderoles are reused). A
/// noderole that is ACTIVE with no run on record counts one.
fn succeeded_runs(store: &dyn Store) -> Result<Batch, StoreError> {
    /// A stored run: its id, (node, role, deployment), outcome.
    type Past = (u64, (String, String, String), String);
    let text = |v: &Value, k: &str| v[k].as_str().unwrap_or_default().to_string();
    let binding = |v: &Value| (text(v, "node"), text(v, "role"), text(v, "deployment"));
    let mut runs: HashMap<u64, Vec<Past>> = HashMap::new();
    store.scan(Run::TABLE, &mut |key, value| {
        let run = row(Run::TABLE, key, value)?;
        if let (Some(id), Some(nr)) = (run["id"].as_u64(), run["noderole"].as_u64()) {
            runs.entry(nr).or_default().push((id, binding(&run), text(&run, "outcome")));
        }
        Ok(())
    })?;
    let mut batch = Batch::default();
    store.scan(NodeRole::TABLE, &mut |key, value| {
        let mut nr = row(NodeRole::TABLE, key, value)?;
        let own_binding = binding(&nr);
        let active = nr["state"].as_str() == Some("active");
        let mut own: Vec<&Past> = nr["id"]
            .as_u64()
            .and_then(|i| runs.get(&i))
            .map(|r| r.iter().filter(|p| p.1 == own_binding).collect())
            .unwrap_or_default();
        own.sort_by_key(|p| p.0);
        // Active with no run on record (runs written before runs were kept).
        let mut n = u32::from(active && own.is_empty());
        for (_, _, outcome) in own {
            match outcome.as_str() {
                "succeeded" => n += 1,
                "skipped" if n > 0 => n += 1,
                _ => {}
            }
        }
        let Some(fields) = nr.as_object_mut() else { return Ok(()) };
        fields.insert("succeeded_runs".into(), Value::from(n));
        batch.put(NodeRole::TABLE, key.to_string(), Arc::from(nr.to_string()));
        Ok(())
    })?;
    Ok(batch)
}

fn row(table: &str, key: &str, value: &[u8]) -> Result<Value, StoreError> {
    serde_json::from_slice(value).map_err(|source| StoreError::Corrupt {
        table: table.to_string(),
        key: key.to_string(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::state::store::RowFn;

    /// Rows of version-2 data, read-only.
    struct Rows(BTreeMap<&'static str, Vec<(String, String)>>);

    impl Store for Rows {
        fn scan(&self, table: &str, row: &mut RowFn<'_>) -> Result<(), StoreError> {
            self.0.get(table).into_iter().flatten().try_for_each(|(k, v)| row(k, v.as_bytes()))
        }
        fn get(&self, _: &str, _: &str) -> Result<Option<Vec<u8>>, StoreError> {
            Ok(None)
        }
        fn commit(&self, _: &Batch) -> Result<(), StoreError> {
            Ok(())
        }
    }

    fn noderole(id: u64, state: &str, runs: u32) -> (String, String) {
        let v = serde_json::json!({"id": id, "deployment": "d", "role": "r", "node": "n", "state": state,
            "run_count": runs, "error": null, "created_at": 1, "updated_at": 1});
        (format!("{id:020}"), v.to_string())
    }

    fn run(id: u64, noderole: u64, outcome: &str) -> (String, String) {
        run_on(id, noderole, "n", outcome)
    }

    fn run_on(id: u64, noderole: u64, node: &str, outcome: &str) -> (String, String) {
        let v = serde_json::json!({"id": id, "noderole": noderole, "node": node, "role": "r", "deployment": "d",
            "outcome": outcome, "started_ms": 1, "ended_ms": 2});
        (format!("{id:020}"), v.to_string())
    }

    #[test]
    fn succeeded_runs_are_counted_from_the_runs_and_failures_do_not_count() {
        let rows = Rows(BTreeMap::from([
            (
                NodeRole::TABLE,
                vec![
                    noderole(1, "error", 1),
                    noderole(2, "active", 3),
                    noderole(3, "active", 0),
                    noderole(4, "todo", 0),
                    noderole(5, "active", 2),
                    noderole(6, "todo", 0),
                ],
            ),
            (
                Run::TABLE,
                vec![
                    run(10, 1, "failed"),
                    run(11, 2, "failed"),
                    run(12, 2, "succeeded"),
                    run(13, 2, "skipped"),
                    run(14, 4, "interrupted"),
                    // Version 2's defect: failed, then skipped on retry.
                    run(15, 5, "failed"),
                    run(16, 5, "skipped"),
                    // A deleted noderole's run; its id was reused on another node.
                    run_on(17, 6, "gone", "succeeded"),
                ],
            ),
        ]));
        let batch = succeeded_runs(&rows).expect("migrates");
        let got: BTreeMap<u64, u32> = batch
            .rows()
            .map(|(t, _, v)| {
                assert_eq!(t, NodeRole::TABLE);
                let nr: NodeRole = serde_json::from_str(v.expect("a put")).expect("a version-3 noderole");
                (nr.id, nr.succeeded_runs)
            })
            .collect();
        assert_eq!(got, BTreeMap::from([(1, 0), (2, 2), (3, 1), (4, 0), (5, 0), (6, 0)]));
    }

    #[test]
    fn nodes_waiting_for_their_machine_get_the_wait_states() {
        let node = |name: &str, state: &str| {
            (name.to_string(), serde_json::json!({"name": name, "provision_state": state, "extra": 1}).to_string())
        };
        let rows = Rows(BTreeMap::from([(
            Node::TABLE,
            vec![node("a", "deploying"), node("b", "cleaning"), node("c", "inspecting"), node("d", "active")],
        )]));
        let batch = v2_to_v3(&rows).expect("migrates");
        let got: BTreeMap<String, Value> = batch
            .rows()
            .map(|(_, k, v)| (k.to_string(), serde_json::from_str(v.expect("a put")).expect("json")))
            .collect();
        assert_eq!(got.len(), 3, "an active node is left as it is: {got:?}");
        assert_eq!(got["a"]["provision_state"], "wait call-back");
        assert_eq!(got["b"]["provision_state"], "clean wait");
        assert_eq!(got["c"]["provision_state"], "inspect wait");
        assert_eq!(got["a"]["extra"], 1, "other fields are kept");
        assert!(got["a"]["provision_since"].as_u64().is_some(), "the watchdog's clock starts: {got:?}");
    }
}
