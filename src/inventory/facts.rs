//! What a machine reports about its own hardware (CPUs, memory, disks,
//! NICs, firmware: whatever its discovery image gathers), one record per
//! node, replaced whole at every report, moved when the node is renamed
//! and deleted with it. Fulcrum stores and shows the facts; the one it
//! reads is the firmware the agent booted under (`boot.firmware`), which
//! tells a BMC how to boot the machine from the network.

use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::InventoryError;
use super::node::Node;
use crate::state::{record, NoIndex, Record, StateError, Txn};
use crate::types::field::Refuse;

/// Largest report, as serialized JSON.
pub(crate) const MAX_BYTES: usize = 64 * 1024;
/// Deepest nesting of objects and arrays in a report.
pub(crate) const MAX_DEPTH: usize = 8;

/// A node's last hardware report.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Facts {
    pub(crate) node: String,
    /// The report as sent: a JSON object.
    #[schema(value_type = Object)]
    pub(crate) facts: serde_json::Map<String, serde_json::Value>,
    /// Unix seconds.
    pub(crate) reported_at: u64,
}

record!(Facts, kind = "inventory", table = "facts", key = node: String, index = NoIndex);

fn depth(v: &serde_json::Value) -> usize {
    match v {
        serde_json::Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        serde_json::Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// A report that has been checked: a JSON object within [`MAX_BYTES`] and
/// [`MAX_DEPTH`]. Only [`Report::new`] makes one.
#[derive(Debug, Clone)]
pub(crate) struct Report(serde_json::Map<String, serde_json::Value>);

impl Report {
    /// Checks a report's size and shape; the error names the limit.
    pub(crate) fn new(facts: serde_json::Map<String, serde_json::Value>) -> Result<Report, InventoryError> {
        let size = serde_json::to_vec(&facts).map_or(usize::MAX, |b| b.len());
        if size > MAX_BYTES {
            return Err(InventoryError::invalid("inventory", format!("{size} bytes; at most {MAX_BYTES}")));
        }
        let deepest = facts.values().map(depth).max().unwrap_or(0) + 1;
        if deepest > MAX_DEPTH {
            return Err(InventoryError::invalid("inventory", format!("nested {deepest} deep; at most {MAX_DEPTH}")));
        }
        Ok(Report(facts))
    }
}

/// Records `report` as `node`'s, replacing the last one.
pub(crate) fn report(txn: &mut Txn<'_>, node: &str, report: Report, now: u64) -> Result<Arc<Facts>, InventoryError> {
    if txn.world().table::<Node>().get(node).is_none() {
        return Err(InventoryError::not_found(Node::KIND, node));
    }
    Ok(txn.put(Facts { node: node.to_string(), facts: report.0, reported_at: now })?)
}

/// A deleted node's report goes with it.
fn node_deleted(txn: &mut Txn<'_>, node: &Node) -> Result<(), StateError> {
    txn.delete::<Facts, _>(&node.name)?;
    Ok(())
}

/// A renamed node's report moves to its new name.
fn node_renamed(txn: &mut Txn<'_>, old: &Node, new: &Node) -> Result<(), StateError> {
    if let Some(f) = txn.delete::<Facts, _>(&old.name)? {
        txn.put(Facts { node: new.name.clone(), ..(*f).clone() })?;
    }
    Ok(())
}

pub(crate) fn register(schema: &mut crate::state::Schema) {
    schema.register::<Facts>().on_delete::<Node>(node_deleted).on_rekey::<Node>(node_renamed);
}

impl Facts {
    /// Whether the machine network-boots under UEFI firmware: the agent's
    /// `boot.firmware` in its last report, or what an import declared
    /// until then.
    pub(crate) fn booted_uefi(&self) -> bool {
        self.facts.get("boot").and_then(|b| b.get("firmware")).and_then(serde_json::Value::as_str) == Some("uefi")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn object(v: serde_json::Value) -> serde_json::Map<String, serde_json::Value> {
        v.as_object().cloned().expect("an object")
    }

    #[test]
    fn reports_are_bounded_in_size_and_depth() {
        assert!(Report::new(object(json!({"cpus": 4, "disks": [{"name": "vda", "bytes": 1}]}))).is_ok());
        let big = object(json!({ "blob": "x".repeat(MAX_BYTES) }));
        assert!(Report::new(big).unwrap_err().to_string().contains("at most 65536"));
        // The object itself is level 1: MAX_DEPTH levels in all are fine, one more is not.
        let mut deep = json!(1);
        for _ in 0..MAX_DEPTH - 1 {
            deep = json!([deep]);
        }
        assert!(Report::new(object(json!({ "d": deep.clone() }))).is_ok());
        let too_deep = json!([deep]);
        assert!(Report::new(object(json!({ "d": too_deep }))).unwrap_err().to_string().contains("nested 9 deep"));
    }
}
