//! Records of the noderole engine (OpenCrowbar's model): deployments, roles,
//! noderoles and runs, and the noderole state machine. The engine decides
//! *when* a transition happens; this module says which ones exist.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Free-form attributes (deployment data, role defaults, wall data).
pub type Attribs = BTreeMap<String, Value>;

/// The root deployment: bootstrap and discovery; never proposed.
pub const SYSTEM: &str = "system";

/// Whether a deployment's noderoles may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeploymentState {
    Proposed,
    Committed,
}

/// A set of noderoles that are proposed and committed together; a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Deployment {
    pub name: String,
    /// `None` only for `system`.
    pub parent: Option<String>,
    pub state: DeploymentState,
    #[serde(default)]
    pub attribs: Attribs,
    pub created_at: u64,
}

/// How a role's work is done on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JigKind {
    /// Nothing to do: the noderole goes ACTIVE.
    Noop,
    /// Configurable delay, failure and flakiness, for tests and the demo.
    Test,
    /// A script run on the node over SSH, or on the admin node.
    Script,
}

/// Role flags (OpenCrowbar's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RoleFlag {
    /// Bound only on the same node, never found across the deployment.
    Implicit,
    /// Every noderole of it in the deployment is a parent of its dependents.
    Cluster,
    /// Its jig runs once per noderole; later runs are skipped.
    Destructive,
    /// Bound to every node as it is created (in `system`).
    Discovery,
    /// Runs on the admin node during bootstrap.
    Bootstrap,
}

/// Settings of the `test` jig.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TestJig {
    #[serde(default)]
    pub delay_ms: u64,
    /// Always fail.
    #[serde(default)]
    pub fail: bool,
    /// Probability (0..=1) that a run fails.
    #[serde(default)]
    pub flaky: f64,
    /// Merged into the noderole's wall on success.
    #[serde(default)]
    pub wall: Attribs,
}

/// Something a hook does, inside the transaction that triggered it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub enum Action {
    /// Set the node's bootenv (a template over the noderole's attributes,
    /// e.g. `"{{ os }}"`).
    SetBootenv { bootenv: String },
    /// Mark the node alive or not.
    SetAlive { alive: bool },
    /// Mark the node available or not.
    SetAvailable { available: bool },
    /// Power-cycle the node, after the transaction has committed.
    Reboot,
    /// Bind a role to the node in a deployment (committed at once when the
    /// deployment is).
    Bind { role: String, deployment: String },
}

/// Role hooks.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Hooks {
    #[serde(default)]
    pub on_todo: Vec<Action>,
    #[serde(default)]
    pub on_active: Vec<Action>,
    #[serde(default)]
    pub on_error: Vec<Action>,
    #[serde(default)]
    pub on_node_create: Vec<Action>,
    #[serde(default)]
    pub on_node_change: Vec<Action>,
    #[serde(default)]
    pub on_node_delete: Vec<Action>,
}

impl Hooks {
    pub fn watches_nodes(&self) -> bool {
        !(self.on_node_create.is_empty() && self.on_node_change.is_empty() && self.on_node_delete.is_empty())
    }
}

/// A unit of work that can be bound to nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Role {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub jig: JigKind,
    #[serde(default)]
    pub requires: Vec<String>,
    /// Shorthand for the `cluster` flag.
    #[serde(default)]
    pub cluster: bool,
    #[serde(default)]
    pub flags: Vec<RoleFlag>,
    /// Attribute defaults; deployment attributes and noderole attributes
    /// override them.
    #[serde(default)]
    pub attribs: Attribs,
    /// The `script` jig's program (run with bash).
    #[serde(default)]
    pub script: Option<String>,
    /// Run the script on the admin node instead of over SSH on the node.
    #[serde(default)]
    pub local: bool,
    #[serde(default)]
    pub test: Option<TestJig>,
    /// A run taking longer is stopped and the noderole goes to ERROR.
    #[serde(default = "default_timeout")]
    pub timeout_seconds: u64,
    #[serde(default)]
    pub hooks: Hooks,
}

fn default_timeout() -> u64 {
    600
}

impl Role {
    pub fn has(&self, flag: RoleFlag) -> bool {
        self.flags.contains(&flag) || (flag == RoleFlag::Cluster && self.cluster)
    }
}

/// A noderole's state (OpenCrowbar's six).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NrState {
    Proposed,
    Todo,
    Transition,
    Active,
    Blocked,
    Error,
}

impl NrState {
    pub const ALL: [NrState; 6] =
        [NrState::Proposed, NrState::Todo, NrState::Transition, NrState::Active, NrState::Blocked, NrState::Error];

    pub fn name(self) -> &'static str {
        match self {
            NrState::Proposed => "proposed",
            NrState::Todo => "todo",
            NrState::Transition => "transition",
            NrState::Active => "active",
            NrState::Blocked => "blocked",
            NrState::Error => "error",
        }
    }
}

impl fmt::Display for NrState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happens to a noderole.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NrEvent {
    /// Its deployment is committed; `ready` = every parent is ACTIVE.
    Commit { ready: bool },
    /// The annealer starts a run.
    Start,
    /// The run succeeded.
    Succeed,
    /// The run failed.
    Fail,
    /// Its parents' states changed (or its node died); `ready` as above.
    Reconsider { ready: bool },
    /// An ancestor went to ERROR (or left ACTIVE): wait for it.
    Block,
    /// The operator retries it (from ERROR).
    Retry { ready: bool },
    /// Its deployment went back to proposed.
    Propose,
    /// Fulcrum stopped while it ran: run it again.
    Requeue { ready: bool },
}

/// A transition the state machine does not have.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("noderole in state `{from}` cannot take event {event:?}")]
pub struct InvalidNrTransition {
    pub from: NrState,
    pub event: NrEvent,
}

impl NrState {
    /// The state after `event`; every pair not listed is refused.
    pub fn next(self, event: NrEvent) -> Result<NrState, InvalidNrTransition> {
        use NrEvent as E;
        use NrState as S;
        let ready = |r: bool| if r { S::Todo } else { S::Blocked };
        let to = match (self, event) {
            (S::Proposed, E::Commit { ready: r }) => ready(r),
            (S::Todo, E::Start) => S::Transition,
            (S::Transition, E::Succeed) => S::Active,
            (S::Transition, E::Fail) => S::Error,
            (S::Todo | S::Blocked | S::Active, E::Reconsider { ready: r }) => ready(r),
            (S::Todo | S::Blocked | S::Error | S::Active, E::Block) => S::Blocked,
            (S::Error, E::Retry { ready: r }) => ready(r),
            (S::Todo | S::Blocked | S::Active | S::Error, E::Propose) => S::Proposed,
            (S::Transition, E::Requeue { ready: r }) => ready(r),
            (from, event) => return Err(InvalidNrTransition { from, event }),
        };
        Ok(to)
    }
}

/// A role bound to a node in a deployment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct NodeRole {
    pub id: u64,
    pub deployment: String,
    pub role: String,
    pub node: String,
    pub state: NrState,
    /// Noderoles that must be ACTIVE before this one runs.
    #[serde(default)]
    pub parents: Vec<u64>,
    /// Per-noderole attribute overrides.
    #[serde(default)]
    pub attribs: Attribs,
    /// Data its runs produced; flows to its children's runs.
    #[serde(default)]
    pub wall: Attribs,
    /// Completed runs (successful or not).
    #[serde(default)]
    pub run_count: u32,
    /// Why it is in ERROR.
    #[serde(default)]
    pub error: Option<String>,
    pub created_at: u64,
    pub updated_at: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    Running,
    Succeeded,
    Failed,
    /// The jig was skipped (a destructive role that already ran).
    Skipped,
    /// Fulcrum stopped while it ran.
    Interrupted,
}

/// One execution of a noderole's jig.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: u64,
    pub noderole: u64,
    pub node: String,
    pub role: String,
    pub deployment: String,
    pub outcome: Outcome,
    /// Unix milliseconds.
    pub started_ms: u64,
    #[serde(default)]
    pub ended_ms: Option<u64>,
    /// The input the jig got (attributes and parents' wall data).
    #[serde(default)]
    pub input: Value,
    #[serde(default)]
    pub log: String,
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use NrEvent as E;
    use NrState as S;

    #[test]
    fn opencrowbar_transitions() {
        assert_eq!(S::Proposed.next(E::Commit { ready: true }), Ok(S::Todo));
        assert_eq!(S::Proposed.next(E::Commit { ready: false }), Ok(S::Blocked));
        assert_eq!(S::Todo.next(E::Start), Ok(S::Transition));
        assert_eq!(S::Transition.next(E::Succeed), Ok(S::Active));
        assert_eq!(S::Transition.next(E::Fail), Ok(S::Error));
        assert_eq!(S::Blocked.next(E::Reconsider { ready: true }), Ok(S::Todo));
        assert_eq!(S::Active.next(E::Reconsider { ready: false }), Ok(S::Blocked));
        assert_eq!(S::Error.next(E::Retry { ready: true }), Ok(S::Todo));
        assert_eq!(S::Todo.next(E::Block), Ok(S::Blocked));
    }

    #[test]
    fn refuses_what_opencrowbar_refuses() {
        for (s, e) in [
            (S::Active, E::Start),
            (S::Blocked, E::Start),
            (S::Proposed, E::Start),
            (S::Todo, E::Succeed),
            (S::Active, E::Retry { ready: true }),
            (S::Transition, E::Block),
            (S::Transition, E::Propose),
            (S::Todo, E::Commit { ready: true }),
        ] {
            assert_eq!(s.next(e), Err(InvalidNrTransition { from: s, event: e }));
        }
    }

    #[test]
    fn role_files_parse() {
        let r: Role = toml::from_str(
            r#"
            name = "provisioner-os-install"
            jig = "noop"
            flags = ["destructive"]
            attribs = { os = "ubuntu-24.04" }
            [hooks]
            on_active = [{ action = "set_bootenv", bootenv = "{{ os }}" }, { action = "set_alive", alive = false }, { action = "reboot" }]
            "#,
        )
        .unwrap();
        assert!(r.has(RoleFlag::Destructive));
        assert_eq!(r.hooks.on_active.len(), 3);
        assert_eq!(r.timeout_seconds, 600);
    }
}
