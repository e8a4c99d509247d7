//! Records of the noderole engine (OpenCrowbar's model): deployments,
//! roles, noderoles and runs, their indexes (a noderole's children, the
//! noderoles of a node or a deployment, one binding per role, node and
//! deployment, the TODO set, running runs), and the noderole state
//! machine. The engine decides *when* a transition happens; this module
//! says which ones exist.

use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;
use std::sync::Arc;

use imbl::{HashMap, OrdSet};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::inventory::lifecycle::ProvisionState;
use crate::inventory::node::Node;
use crate::state::{record, Index, NoIndex, Schema, StateError, Table, Txn};

/// Free-form attributes (deployment data, role defaults, wall data).
pub(crate) type Attribs = BTreeMap<String, Value>;

/// The root deployment: bootstrap and discovery; never proposed.
pub(crate) const SYSTEM: &str = "system";

/// Whether a deployment's noderoles may run.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum DeploymentState {
    Proposed,
    Committed,
}

/// A set of noderoles that are proposed and committed together; a tree.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Deployment {
    pub(crate) name: String,
    /// `None` only for `system`.
    pub(crate) parent: Option<String>,
    pub(crate) state: DeploymentState,
    #[serde(default)]
    pub(crate) attribs: Attribs,
    pub(crate) created_at: u64,
}

/// How a role's work is done on a node.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum JigKind {
    /// Nothing to do: the noderole goes ACTIVE.
    Noop,
    /// Configurable delay, failure and flakiness, for tests and the demo.
    Test,
    /// A script run on the node over SSH, or on the admin node.
    Script,
}

/// Role flags (OpenCrowbar's).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RoleFlag {
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct TestJig {
    #[serde(default)]
    pub(crate) delay_ms: u64,
    /// Always fail.
    #[serde(default)]
    pub(crate) fail: bool,
    /// Probability (0..=1) that a run fails.
    #[serde(default)]
    pub(crate) flaky: f64,
    /// Merged into the noderole's wall on success.
    #[serde(default)]
    pub(crate) wall: Attribs,
}

/// Something a hook does, inside the transaction that triggered it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case", deny_unknown_fields)]
pub(crate) enum Action {
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
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Hooks {
    #[serde(default)]
    pub(crate) on_todo: Vec<Action>,
    #[serde(default)]
    pub(crate) on_active: Vec<Action>,
    #[serde(default)]
    pub(crate) on_error: Vec<Action>,
    #[serde(default)]
    pub(crate) on_node_create: Vec<Action>,
    #[serde(default)]
    pub(crate) on_node_change: Vec<Action>,
    #[serde(default)]
    pub(crate) on_node_delete: Vec<Action>,
}

impl Hooks {
    pub(crate) fn watches_nodes(&self) -> bool {
        !(self.on_node_create.is_empty() && self.on_node_change.is_empty() && self.on_node_delete.is_empty())
    }
}

/// A unit of work that can be bound to nodes.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "web", "jig": "test", "test": {"delay_ms": 100}}))]
pub(crate) struct Role {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    pub(crate) jig: JigKind,
    #[serde(default)]
    pub(crate) requires: Vec<String>,
    /// Shorthand for the `cluster` flag.
    #[serde(default)]
    pub(crate) cluster: bool,
    #[serde(default)]
    pub(crate) flags: Vec<RoleFlag>,
    /// Attribute defaults; deployment attributes and noderole attributes
    /// override them.
    #[serde(default)]
    pub(crate) attribs: Attribs,
    /// The `script` jig's program (run with bash).
    pub(crate) script: Option<String>,
    /// Run the script on the admin node instead of over SSH on the node.
    #[serde(default)]
    pub(crate) local: bool,
    pub(crate) test: Option<TestJig>,
    /// A run taking longer is stopped and the noderole goes to ERROR.
    #[serde(default = "default_timeout")]
    pub(crate) timeout_seconds: u64,
    #[serde(default)]
    pub(crate) hooks: Hooks,
    /// The lifecycle states of a node in which its noderoles may run
    /// (default: active only, so enrolled, manageable or cleaning nodes
    /// are left alone); `"any"` for every state.
    #[serde(default)]
    pub(crate) provision_states: RunsIn,
}

/// The lifecycle states a role's noderoles may run in.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub(crate) enum RunsIn {
    /// `"any"`: whatever state the node is in.
    Any(AnyState),
    /// Only these.
    Only(Vec<ProvisionState>),
}

/// The word `any`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum AnyState {
    Any,
}

impl Default for RunsIn {
    fn default() -> Self {
        RunsIn::Only(vec![ProvisionState::Active])
    }
}

impl RunsIn {
    /// Whether a node in `state` may run the role.
    pub(crate) fn allows(&self, state: ProvisionState) -> bool {
        match self {
            RunsIn::Any(_) => true,
            RunsIn::Only(states) => states.contains(&state),
        }
    }
}

/// A role's timeout when it names none.
pub(crate) const DEFAULT_TIMEOUT_SECONDS: u64 = 600;

fn default_timeout() -> u64 {
    DEFAULT_TIMEOUT_SECONDS
}

impl Role {
    pub(crate) fn has(&self, flag: RoleFlag) -> bool {
        self.flags.contains(&flag) || (flag == RoleFlag::Cluster && self.cluster)
    }
}

/// A noderole's state (OpenCrowbar's six).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum NrState {
    Proposed,
    Todo,
    Transition,
    Active,
    Blocked,
    Error,
}

impl NrState {
    pub(crate) const ALL: [NrState; 6] =
        [NrState::Proposed, NrState::Todo, NrState::Transition, NrState::Active, NrState::Blocked, NrState::Error];

    pub(crate) fn name(self) -> &'static str {
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
pub(crate) enum NrEvent {
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
pub(crate) struct InvalidNrTransition {
    pub(crate) from: NrState,
    pub(crate) event: NrEvent,
}

impl NrState {
    /// The state after `event`; every pair not listed is refused.
    pub(crate) fn next(self, event: NrEvent) -> Result<NrState, InvalidNrTransition> {
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
pub(crate) struct NodeRole {
    pub(crate) id: u64,
    pub(crate) deployment: String,
    pub(crate) role: String,
    pub(crate) node: String,
    pub(crate) state: NrState,
    /// Noderoles that must be ACTIVE before this one runs.
    #[serde(default)]
    pub(crate) parents: Vec<u64>,
    /// Per-noderole attribute overrides.
    #[serde(default)]
    pub(crate) attribs: Attribs,
    /// Data its runs produced; flows to its children's runs.
    #[serde(default)]
    pub(crate) wall: Attribs,
    /// Completed runs (successful or not).
    #[serde(default)]
    pub(crate) run_count: u32,
    /// Runs that succeeded (or were skipped because one had): a
    /// destructive role skips its jig, and its `on_active` hook, only once
    /// this is above zero. Failed runs never count.
    #[serde(default)]
    pub(crate) succeeded_runs: u32,
    /// Why it is in ERROR.
    pub(crate) error: Option<String>,
    pub(crate) created_at: u64,
    pub(crate) updated_at: u64,
}

/// How a run ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Outcome {
    Running,
    Succeeded,
    Failed,
    /// The jig was skipped (a destructive role that already ran).
    Skipped,
    /// Fulcrum stopped while it ran.
    Interrupted,
    /// Its node failed the aliveness probe (ping, then SSH): the jig did
    /// not run, the node was marked not alive, and the noderole waits.
    Unreachable,
}

/// One execution of a noderole's jig.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Run {
    pub(crate) id: u64,
    pub(crate) noderole: u64,
    pub(crate) node: String,
    pub(crate) role: String,
    pub(crate) deployment: String,
    pub(crate) outcome: Outcome,
    /// Unix milliseconds.
    pub(crate) started_ms: u64,
    pub(crate) ended_ms: Option<u64>,
    /// The input the jig got (attributes and parents' wall data).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub(crate) input: Value,
    /// What the jig printed.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) log: String,
}

impl Outcome {
    /// Its word, as the API and the metrics write it.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Outcome::Running => "running",
            Outcome::Succeeded => "succeeded",
            Outcome::Failed => "failed",
            Outcome::Skipped => "skipped",
            Outcome::Interrupted => "interrupted",
            Outcome::Unreachable => "unreachable",
        }
    }
}

/// A word that is not a noderole state.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`; expected one of {names}", names = NrState::ALL.map(NrState::name).join(", "))]
pub(crate) struct UnknownNrState(pub(crate) String);

impl FromStr for NrState {
    type Err = UnknownNrState;
    fn from_str(s: &str) -> Result<Self, UnknownNrState> {
        NrState::ALL.into_iter().find(|x| x.name() == s).ok_or_else(|| UnknownNrState(s.to_string()))
    }
}

record!(Deployment, kind = "deployment", table = "deployments", key = name: String, index = NoIndex);

record!(Role, kind = "role", table = "roles", key = name: String, index = NoIndex);

/// The noderole graph's indexes.
#[derive(Clone, Default)]
pub(crate) struct NodeRoleIndex {
    /// Children of each noderole (the reverse of `parents`).
    children: HashMap<u64, OrdSet<u64>>,
    by_node: HashMap<String, OrdSet<u64>>,
    by_deployment: HashMap<String, OrdSet<u64>>,
    /// (deployment, role, node) -> noderole: one binding each.
    binding: HashMap<(String, String, String), u64>,
    /// Noderoles in TODO, in id order: the annealer's candidates.
    todo: OrdSet<u64>,
    /// The highest id ever stored (in this process): the next id is above.
    seq: u64,
}

fn binding_key(nr: &NodeRole) -> (String, String, String) {
    (nr.deployment.clone(), nr.role.clone(), nr.node.clone())
}

/// Removes `id` from the set at `key`, and the set once it is empty.
fn unlist<K: std::hash::Hash + Eq + Clone>(map: &mut HashMap<K, OrdSet<u64>>, key: &K, id: u64) {
    if let Some(set) = map.get_mut(key) {
        set.remove(&id);
        if set.is_empty() {
            map.remove(key);
        }
    }
}

impl Index<NodeRole> for NodeRoleIndex {
    fn inserted(&mut self, old: Option<&NodeRole>, new: &NodeRole) {
        let id = new.id;
        // Most updates are state changes: touch only the entries whose
        // field changed (a noderole's own children are defined by the
        // other noderoles' parents and stay).
        let old_parents: &[u64] = old.map_or(&[], |o| &o.parents);
        for p in old_parents.iter().filter(|p| !new.parents.contains(p)) {
            unlist(&mut self.children, p, id);
        }
        for p in new.parents.iter().filter(|p| !old_parents.contains(p)) {
            self.children.entry(*p).or_default().insert(id);
        }
        if old.is_none_or(|o| o.node != new.node) {
            if let Some(o) = old {
                unlist(&mut self.by_node, &o.node, id);
            }
            self.by_node.entry(new.node.clone()).or_default().insert(id);
        }
        if old.is_none_or(|o| o.deployment != new.deployment) {
            if let Some(o) = old {
                unlist(&mut self.by_deployment, &o.deployment, id);
            }
            self.by_deployment.entry(new.deployment.clone()).or_default().insert(id);
        }
        if old.is_none_or(|o| (&o.deployment, &o.role, &o.node) != (&new.deployment, &new.role, &new.node)) {
            if let Some(o) = old {
                self.binding.remove(&binding_key(o));
            }
            self.binding.insert(binding_key(new), id);
        }
        if new.state == NrState::Todo {
            self.todo.insert(id);
        } else {
            self.todo.remove(&id);
        }
        self.seq = self.seq.max(id);
    }

    fn removed(&mut self, old: &NodeRole) {
        let id = old.id;
        for p in &old.parents {
            unlist(&mut self.children, p, id);
        }
        self.children.remove(&id);
        unlist(&mut self.by_node, &old.node, id);
        unlist(&mut self.by_deployment, &old.deployment, id);
        self.binding.remove(&binding_key(old));
        self.todo.remove(&id);
    }
}

record!(NodeRole, kind = "noderole", table = "noderoles", key = id: u64, index = NodeRoleIndex);

impl Table<NodeRole> {
    /// The noderole binding `role` to `node` in `deployment`.
    pub(crate) fn binding(&self, deployment: &str, role: &str, node: &str) -> Option<&Arc<NodeRole>> {
        self.index()
            .binding
            .get(&(deployment.to_string(), role.to_string(), node.to_string()))
            .and_then(|id| self.get(id))
    }

    /// Ids of the noderoles that list `id` as a parent.
    pub(crate) fn children_of(&self, id: u64) -> impl Iterator<Item = u64> + '_ {
        self.index().children.get(&id).into_iter().flat_map(|s| s.iter().copied())
    }

    /// The noderoles bound to `node`.
    pub(crate) fn of_node<'a>(&'a self, node: &str) -> impl Iterator<Item = &'a Arc<NodeRole>> + 'a {
        self.index().by_node.get(node).into_iter().flat_map(|s| s.iter()).filter_map(|id| self.get(id))
    }

    /// The noderoles of `deployment`.
    pub(crate) fn of_deployment<'a>(&'a self, d: &str) -> impl Iterator<Item = &'a Arc<NodeRole>> + 'a {
        self.index().by_deployment.get(d).into_iter().flat_map(|s| s.iter()).filter_map(|id| self.get(id))
    }

    /// Noderoles in TODO, lowest id first.
    pub(crate) fn todo(&self) -> impl Iterator<Item = &Arc<NodeRole>> {
        self.index().todo.iter().filter_map(|id| self.get(id))
    }

    /// How many noderoles are in TODO.
    pub(crate) fn todo_count(&self) -> usize {
        self.index().todo.len()
    }

    /// The id a new noderole gets.
    pub(crate) fn next_id(&self) -> u64 {
        self.index().seq + 1
    }
}

/// Runs still marked running.
#[derive(Clone, Default)]
pub(crate) struct RunIndex {
    running: OrdSet<u64>,
    seq: u64,
}

impl Index<Run> for RunIndex {
    fn inserted(&mut self, _: Option<&Run>, new: &Run) {
        if new.outcome == Outcome::Running {
            self.running.insert(new.id);
        } else {
            self.running.remove(&new.id);
        }
        self.seq = self.seq.max(new.id);
    }

    fn removed(&mut self, old: &Run) {
        self.running.remove(&old.id);
    }
}

record!(Run, kind = "run", table = "runs", key = id: u64, index = RunIndex);

impl Table<Run> {
    /// Runs marked running (in flight, or interrupted by a crash).
    pub(crate) fn running(&self) -> impl Iterator<Item = &Arc<Run>> {
        self.index().running.iter().filter_map(|id| self.get(id))
    }

    /// How many runs are marked running.
    pub(crate) fn running_count(&self) -> usize {
        self.index().running.len()
    }

    /// The id a new run gets.
    pub(crate) fn next_id(&self) -> u64 {
        self.index().seq + 1
    }
}

/// A renamed node keeps its noderoles and its runs' history: they move to
/// the new name in the renaming transaction (the engine refuses a rename
/// while one of them runs).
fn node_renamed(txn: &mut Txn<'_>, old: &Node, new: &Node) -> Result<(), StateError> {
    let w = txn.world();
    let noderoles: Vec<NodeRole> = w.table::<NodeRole>().of_node(&old.name).map(|n| (**n).clone()).collect();
    // The runs of its noderoles (not those of an earlier node of that name).
    let ids: std::collections::HashSet<u64> = noderoles.iter().map(|n| n.id).collect();
    let runs: Vec<Run> = w.table::<Run>().iter().filter(|r| ids.contains(&r.noderole)).map(|r| (**r).clone()).collect();
    for nr in noderoles {
        txn.put(NodeRole { node: new.name.clone(), ..nr })?;
    }
    for run in runs {
        txn.put(Run { node: new.name.clone(), ..run })?;
    }
    Ok(())
}

/// Registers the engine's record kinds.
pub(crate) fn register(schema: &mut Schema) {
    schema.register::<Role>().register::<Deployment>().register::<NodeRole>().register::<Run>();
    schema.on_rekey::<Node>(node_renamed);
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
