//! Wire types of roles, deployments, noderoles, runs and annealing.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::engine::annealer::{Progress, StateCounts};
use crate::engine::model::{Attribs, Deployment, DeploymentState, NodeRole, NrState, Role, Run};
use crate::engine::orchestrate::{Binding, DeploymentSpec};
use crate::state::World;

/// A role: what `POST /api/v1/roles` takes and `GET` shows. A role is a
/// document whose format the shipped role files, the operator's
/// `roles_dir`, the store and the API share, so the wire type is the
/// record itself: one definition, not three kept in step.
pub(crate) type RoleBody = Role;

/// `POST /api/v1/deployments`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "shop", "attribs": {"ntp": "10.20.0.1"}}))]
pub(crate) struct NewDeployment {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    pub(crate) name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) parent: Option<String>,
    #[serde(default)]
    pub(crate) attribs: Attribs,
}

impl From<NewDeployment> for DeploymentSpec {
    fn from(d: NewDeployment) -> DeploymentSpec {
        DeploymentSpec { name: d.name, parent: d.parent, attribs: d.attribs }
    }
}

/// `PATCH /api/v1/deployments/{name}` and `PATCH /api/v1/noderoles/{id}`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"attribs": {"ntp": "10.20.0.2"}}))]
pub(crate) struct AttribsPatch {
    pub(crate) attribs: Attribs,
}

/// A deployment with its noderole counts and annealing status.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct DeploymentView {
    pub(crate) name: String,
    pub(crate) parent: Option<String>,
    pub(crate) state: DeploymentState,
    pub(crate) attribs: Attribs,
    pub(crate) created_at: u64,
    pub(crate) noderoles: StateCounts,
    pub(crate) status: Progress,
}

impl DeploymentView {
    pub(crate) fn new(w: &World, d: &Deployment) -> DeploymentView {
        let noderoles = StateCounts::of(w.table::<NodeRole>().of_deployment(&d.name).map(|n| &**n));
        DeploymentView {
            name: d.name.clone(),
            parent: d.parent.clone(),
            state: d.state,
            attribs: d.attribs.clone(),
            created_at: d.created_at,
            noderoles,
            status: Progress::of(&noderoles),
        }
    }
}

/// The answer to a commit: the deployment and how many noderoles left
/// PROPOSED.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Committed {
    #[serde(flatten)]
    pub(crate) deployment: DeploymentView,
    pub(crate) committed_noderoles: usize,
}

/// `POST /api/v1/noderoles`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"deployment": "system", "role": "web", "node": "n1.lab.example"}))]
pub(crate) struct NewNodeRole {
    pub(crate) deployment: String,
    pub(crate) role: String,
    pub(crate) node: String,
    #[serde(default)]
    pub(crate) attribs: Attribs,
}

impl From<NewNodeRole> for Binding {
    fn from(b: NewNodeRole) -> Binding {
        Binding { deployment: b.deployment, role: b.role, node: b.node, attribs: b.attribs }
    }
}

/// `?deployment=&node=&role=&state=` on `GET /api/v1/noderoles`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct NodeRoleFilter {
    pub(crate) deployment: Option<String>,
    pub(crate) node: Option<String>,
    pub(crate) role: Option<String>,
    pub(crate) state: Option<String>,
}

/// A noderole with its parents and children.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct NodeRoleView {
    pub(crate) id: u64,
    pub(crate) deployment: String,
    pub(crate) role: String,
    pub(crate) node: String,
    pub(crate) state: NrState,
    pub(crate) parents: Vec<u64>,
    pub(crate) children: Vec<u64>,
    pub(crate) attribs: Attribs,
    pub(crate) wall: Attribs,
    pub(crate) run_count: u32,
    /// Runs that succeeded (or were skipped as done): above zero, a
    /// destructive role skips its jig.
    pub(crate) succeeded_runs: u32,
    pub(crate) error: Option<String>,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
}

impl NodeRoleView {
    pub(crate) fn new(w: &World, nr: &NodeRole) -> NodeRoleView {
        NodeRoleView {
            id: nr.id,
            deployment: nr.deployment.clone(),
            role: nr.role.clone(),
            node: nr.node.clone(),
            state: nr.state,
            parents: nr.parents.clone(),
            children: w.table::<NodeRole>().children_of(nr.id).collect(),
            attribs: nr.attribs.clone(),
            wall: nr.wall.clone(),
            run_count: nr.run_count,
            succeeded_runs: nr.succeeded_runs,
            error: nr.error.clone(),
            created_at: nr.created_at,
            updated_at: nr.updated_at,
        }
    }
}

/// `?noderole=&node=&deployment=&brief=` on `GET /api/v1/runs`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct RunFilter {
    pub(crate) noderole: Option<u64>,
    pub(crate) node: Option<String>,
    pub(crate) deployment: Option<String>,
    /// Leave out inputs and logs (for large listings).
    pub(crate) brief: Option<bool>,
}

/// A run: what it was given, how it ended, its log (input and log left
/// out in brief listings).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct RunView {
    #[serde(flatten)]
    pub(crate) run: Run,
}

impl RunView {
    /// The run, without its input and log when `brief`.
    pub(crate) fn new(r: &Run, brief: bool) -> RunView {
        let mut run = r.clone();
        if brief {
            run.input = Value::Null;
            run.log.clear();
        }
        RunView { run }
    }
}

/// `?deployment=` on `GET /api/v1/anneal`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AnnealQuery {
    pub(crate) deployment: Option<String>,
}

/// OpenCrowbar's anneal status.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AnnealView {
    pub(crate) status: Progress,
    pub(crate) noderoles: StateCounts,
    /// Runs in flight.
    pub(crate) running: usize,
}
