//! The change feed: every committed change, announced in commit order to
//! whoever subscribed (the events API, the annealer's wake-up; later DNS
//! serials and NOTIFYs). Each change carries the record's public view:
//! secrets are redacted. Nothing that must be atomic with a write listens
//! here.

use std::fmt;
use std::sync::Arc;

use serde::Serialize;

use crate::types::time::now;

/// What happened to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Op {
    Created,
    Updated,
    Deleted,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        })
    }
}

/// One committed change.
#[derive(Clone, Debug)]
pub(crate) struct Change {
    /// Position in the feed, gap-free and increasing within one process.
    pub(crate) seq: u64,
    /// The record kind (`node`).
    pub(crate) kind: &'static str,
    /// The record's key as stored.
    pub(crate) key: String,
    pub(crate) op: Op,
    /// Unix seconds when the change's transaction ran (it was committed
    /// within milliseconds of that, with its batch).
    pub(crate) at: u64,
    /// The record's public JSON after the change (`None` for deletions).
    pub(crate) value: Option<Arc<str>>,
}

impl Change {
    pub(super) fn new(kind: &'static str, key: String, op: Op, value: Option<Arc<str>>) -> Change {
        Change { seq: 0, kind, key, op, at: now(), value }
    }

    /// `node.updated` and the like: the event's name.
    pub(crate) fn event_name(&self) -> String {
        format!("{}.{}", self.kind, self.op)
    }

    /// The change as one JSON document, with the record inlined.
    pub(crate) fn to_json(&self) -> String {
        format!(
            r#"{{"seq":{},"kind":"{}","key":{},"op":"{}","at":{},"value":{}}}"#,
            self.seq,
            self.kind,
            serde_json::Value::String(self.key.clone()),
            self.op,
            self.at,
            self.value.as_deref().unwrap_or("null")
        )
    }
}
