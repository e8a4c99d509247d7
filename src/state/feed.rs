//! The change feed: every committed write is announced, in commit order, to
//! whoever subscribed (the events API, the services' caches, later the
//! annealer). Nothing that must be atomic with a write listens here.

use std::sync::Arc;

use serde::Serialize;

use super::model::{now, Kind};

/// What happened to a record.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Op {
    Created,
    Updated,
    Deleted,
}

/// One committed change.
#[derive(Clone, Debug, Serialize)]
pub struct Change {
    /// Position in the feed, gap-free and increasing across one process run.
    pub seq: u64,
    pub kind: Kind,
    pub key: String,
    pub op: Op,
    /// Unix seconds of the commit.
    pub at: u64,
    /// The record's JSON after the change (`None` for deletions).
    #[serde(skip)]
    pub value: Option<Arc<str>>,
}

impl Change {
    pub(super) fn new(kind: Kind, key: String, op: Op, value: Option<Arc<str>>) -> Change {
        Change { seq: 0, kind, key, op, at: now(), value }
    }

    /// `node.updated` and the like: the SSE event name.
    pub fn event_name(&self) -> String {
        let op = match self.op {
            Op::Created => "created",
            Op::Updated => "updated",
            Op::Deleted => "deleted",
        };
        format!("{}.{op}", self.kind)
    }

    /// The change as a JSON document, with the record inlined.
    pub fn to_json(&self) -> String {
        let value = self.value.as_deref().unwrap_or("null");
        format!(
            r#"{{"seq":{},"kind":"{}","key":{},"op":"{}","at":{},"value":{}}}"#,
            self.seq,
            self.kind,
            serde_json::Value::String(self.key.clone()),
            match self.op {
                Op::Created => "created",
                Op::Updated => "updated",
                Op::Deleted => "deleted",
            },
            self.at,
            value
        )
    }
}
