//! The wire form of an explanation (`GET /api/v1/explain/{who}`) and of a
//! node's boot trace (`GET /api/v1/nodes/{name}/trace`): the explain
//! room's and the inventory's own serde types, and the query.

use serde::{Deserialize, Serialize};

pub(crate) use crate::explain::Explanation;
pub(crate) use crate::inventory::trace::TraceEvent;

/// `?network=NAME`: the network a stranger's MAC is on.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExplainQuery {
    pub(crate) network: Option<String>,
}

/// A node's boot trace, oldest first.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct TraceView {
    pub(crate) node: String,
    pub(crate) events: Vec<TraceEvent>,
}
