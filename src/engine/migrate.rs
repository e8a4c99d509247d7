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
        batch.put(Node::TABLE, key.to_string(), Arc::from(node.to_string()));
        Ok(())
    })?;
    Ok(batch)
}

/// Version 2 -> 3: each noderole gets `succeeded_runs`, counted from its
/// stored runs (succeeded or skipped). Version 2 skipped a destructive
/// role's jig after any run, so without this count an upgraded node would
/// run its one-time work again; a noderole that is ACTIVE with no run on
/// record (runs written before runs were kept) counts one.
fn succeeded_runs(store: &dyn Store) -> Result<Batch, StoreError> {
    let mut done: HashMap<u64, u32> = HashMap::new();
    store.scan(Run::TABLE, &mut |key, value| {
        let run = row(Run::TABLE, key, value)?;
        let counts = matches!(run["outcome"].as_str(), Some("succeeded" | "skipped"));
        if let (true, Some(nr)) = (counts, run["noderole"].as_u64()) {
            *done.entry(nr).or_default() += 1;
        }
        Ok(())
    })?;
    let mut batch = Batch::default();
    store.scan(NodeRole::TABLE, &mut |key, value| {
        let mut nr = row(NodeRole::TABLE, key, value)?;
        let Some(fields) = nr.as_object_mut() else { return Ok(()) };
        let id = fields.get("id").and_then(Value::as_u64);
        let active = fields.get("state").and_then(Value::as_str) == Some("active");
        let n = id.and_then(|i| done.get(&i).copied()).unwrap_or(0).max(u32::from(active));
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
        let v = serde_json::json!({"id": id, "noderole": noderole, "node": "n", "role": "r", "deployment": "d",
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
        assert_eq!(got, BTreeMap::from([(1, 0), (2, 2), (3, 1), (4, 0)]));
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
    }
}
