//! The node provisioning state machine (OpenStack Ironic's, seed 002):
//! states, the verbs operators use, and the one function that says where a
//! verb or a completion report takes a node. A node record carries its
//! state; the engine decides when a verb is applied.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a node is in its life (OpenStack Ironic's provision states).
///
/// Three kinds: stable states an operator's verb moves on from; steps
/// Fulcrum itself carries out (`verifying`, `inspecting`, `cleaning`,
/// `deploying`, `deleting`, `rescuing`, `unrescuing`, `adopting`), which a
/// restart cannot resume; and wait states, where the machine is doing the
/// work (`inspect wait`, `clean wait`, `wait call-back`, `rescue wait`),
/// which survive a restart and end with the machine's report, an abort, or
/// the watchdog.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProvisionState {
    #[default]
    Enroll,
    Verifying,
    Manageable,
    Inspecting,
    #[serde(rename = "inspect wait")]
    InspectWait,
    #[serde(rename = "inspect failed")]
    InspectFailed,
    Cleaning,
    #[serde(rename = "clean wait")]
    CleanWait,
    #[serde(rename = "clean failed")]
    CleanFailed,
    Available,
    Deploying,
    #[serde(rename = "wait call-back")]
    WaitCallBack,
    #[serde(rename = "deploy failed")]
    DeployFailed,
    Active,
    Deleting,
    /// Deleting failed: the machine's state is unknown.
    Error,
    Rescuing,
    #[serde(rename = "rescue wait")]
    RescueWait,
    Rescue,
    #[serde(rename = "rescue failed")]
    RescueFailed,
    Unrescuing,
    #[serde(rename = "unrescue failed")]
    UnrescueFailed,
    Adopting,
    #[serde(rename = "adopt failed")]
    AdoptFailed,
}

impl ProvisionState {
    /// Every state.
    pub(crate) const ALL: [ProvisionState; 24] = {
        use ProvisionState as S;
        [
            S::Enroll,
            S::Verifying,
            S::Manageable,
            S::Inspecting,
            S::InspectWait,
            S::InspectFailed,
            S::Cleaning,
            S::CleanWait,
            S::CleanFailed,
            S::Available,
            S::Deploying,
            S::WaitCallBack,
            S::DeployFailed,
            S::Active,
            S::Deleting,
            S::Error,
            S::Rescuing,
            S::RescueWait,
            S::Rescue,
            S::RescueFailed,
            S::Unrescuing,
            S::UnrescueFailed,
            S::Adopting,
            S::AdoptFailed,
        ]
    };

    /// A step Fulcrum carries out itself: a restart cannot resume it.
    pub(crate) fn is_step(self) -> bool {
        use ProvisionState as S;
        matches!(
            self,
            S::Verifying
                | S::Inspecting
                | S::Cleaning
                | S::Deploying
                | S::Deleting
                | S::Rescuing
                | S::Unrescuing
                | S::Adopting
        )
    }

    /// The machine is doing the work; Fulcrum waits for its report.
    pub(crate) fn is_wait(self) -> bool {
        use ProvisionState as S;
        matches!(self, S::InspectWait | S::CleanWait | S::WaitCallBack | S::RescueWait)
    }

    /// A step or a wait: it must end on its own (a report, an abort, the
    /// watchdog), not by an operator's next verb.
    pub(crate) fn in_progress(self) -> bool {
        self.is_step() || self.is_wait()
    }

    /// The operator verbs this state allows, in [`Verb::ALL`] order.
    pub(crate) fn allowed(self) -> Vec<Verb> {
        Verb::ALL.into_iter().filter(|v| v.is_operator() && self.apply(*v).is_ok()).collect()
    }
}

/// What moves a node: an operator's verb, or a report about the running
/// step: handed to the machine (`Wait`), finished (`Done`) or failed
/// (`Fail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verb {
    Manage,
    Inspect,
    Provide,
    Deploy,
    Rebuild,
    Undeploy,
    Rescue,
    Unrescue,
    Adopt,
    Abort,
    Wait,
    Done,
    Fail,
}

impl Verb {
    pub(crate) const ALL: [Verb; 13] = [
        Verb::Manage,
        Verb::Inspect,
        Verb::Provide,
        Verb::Deploy,
        Verb::Rebuild,
        Verb::Undeploy,
        Verb::Rescue,
        Verb::Unrescue,
        Verb::Adopt,
        Verb::Abort,
        Verb::Wait,
        Verb::Done,
        Verb::Fail,
    ];

    /// Whether the verb reboots the machine into a bootenv other than its
    /// disk (the agent, an installer, a rescue system): refused for a
    /// protected node.
    pub(crate) fn reboots_into_another_bootenv(self) -> bool {
        matches!(self, Verb::Inspect | Verb::Provide | Verb::Deploy | Verb::Rebuild | Verb::Undeploy | Verb::Rescue)
    }

    /// A verb an operator gives (the others are reports about a step).
    pub(crate) fn is_operator(self) -> bool {
        !matches!(self, Verb::Wait | Verb::Done | Verb::Fail)
    }
}

/// A word that is not a verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "unknown target `{0}`; expected one of manage, inspect, provide, deploy, rebuild, undeploy, rescue, unrescue, \
     adopt, abort, wait, done, fail"
)]
pub(crate) struct UnknownVerb(pub(crate) String);

impl FromStr for Verb {
    type Err = UnknownVerb;
    fn from_str(s: &str) -> Result<Self, UnknownVerb> {
        Verb::ALL.into_iter().find(|v| v.to_string() == s).ok_or_else(|| UnknownVerb(s.to_string()))
    }
}

/// A word that is not a provision state; lists them.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state `{0}`; expected one of {names}", names = ProvisionState::ALL.map(|s| s.to_string()).join(", "))]
pub(crate) struct UnknownState(pub(crate) String);

impl FromStr for ProvisionState {
    type Err = UnknownState;
    fn from_str(s: &str) -> Result<Self, UnknownState> {
        ProvisionState::ALL.into_iter().find(|x| x.to_string() == s).ok_or_else(|| UnknownState(s.to_string()))
    }
}

impl fmt::Display for ProvisionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => f.write_str(&s),
            _ => write!(f, "{self:?}"),
        }
    }
}

impl fmt::Display for Verb {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match serde_json::to_value(self) {
            Ok(serde_json::Value::String(s)) => f.write_str(&s),
            _ => write!(f, "{self:?}"),
        }
    }
}

/// A verb that the node's current state does not allow; says which verbs
/// it does allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {verb} a node in state `{from}`; {}", allowed_text(*from))]
pub(crate) struct InvalidTransition {
    pub(crate) from: ProvisionState,
    pub(crate) verb: Verb,
}

fn allowed_text(from: ProvisionState) -> String {
    let verbs: Vec<String> = from.allowed().iter().map(Verb::to_string).collect();
    match (verbs.is_empty(), from.in_progress()) {
        (true, _) => "no verb is allowed there; wait for the step to end".into(),
        (false, true) => format!("allowed there: {} (or wait for the step to end)", verbs.join(", ")),
        (false, false) => format!("allowed there: {}", verbs.join(", ")),
    }
}

impl ProvisionState {
    /// The state `verb` leads to from `self`, or why it may not.
    pub(crate) fn apply(self, verb: Verb) -> Result<ProvisionState, InvalidTransition> {
        use ProvisionState as S;
        use Verb as V;
        let to = match (self, verb) {
            (S::Enroll, V::Manage) => S::Verifying,
            (S::Verifying, V::Done) => S::Manageable,
            (S::Verifying, V::Fail) => S::Enroll,
            (S::InspectFailed | S::CleanFailed | S::Available | S::AdoptFailed, V::Manage) => S::Manageable,
            // Inspection: Fulcrum boots the agent, the agent reports.
            (S::Manageable | S::InspectFailed, V::Inspect) => S::Inspecting,
            (S::Inspecting, V::Wait) => S::InspectWait,
            (S::Inspecting | S::InspectWait, V::Done) => S::Manageable,
            (S::Inspecting | S::InspectWait, V::Fail) | (S::InspectWait, V::Abort) => S::InspectFailed,
            // Cleaning, on the way to available.
            (S::Manageable, V::Provide) => S::Cleaning,
            (S::Cleaning, V::Wait) => S::CleanWait,
            (S::Cleaning | S::CleanWait, V::Done) => S::Available,
            (S::Cleaning | S::CleanWait, V::Fail) | (S::CleanWait, V::Abort) => S::CleanFailed,
            // Deployment: Fulcrum sets the bootenv and reboots; the
            // installer (or image write) calls back.
            (S::Available | S::DeployFailed, V::Deploy) => S::Deploying,
            (S::Active | S::DeployFailed | S::Error, V::Rebuild) => S::Deploying,
            (S::Deploying, V::Wait) => S::WaitCallBack,
            (S::Deploying | S::WaitCallBack, V::Done) => S::Active,
            (S::Deploying | S::WaitCallBack, V::Fail) | (S::WaitCallBack, V::Abort) => S::DeployFailed,
            // Tearing down: then cleaning, then available.
            (S::Active | S::DeployFailed | S::Error | S::Rescue | S::RescueFailed | S::UnrescueFailed, V::Undeploy) => {
                S::Deleting
            }
            (S::Deleting, V::Done) => S::Cleaning,
            (S::Deleting, V::Fail) => S::Error,
            // Rescue: the machine boots a rescue system, and back.
            (S::Active | S::RescueFailed, V::Rescue) => S::Rescuing,
            (S::Rescuing, V::Wait) => S::RescueWait,
            (S::Rescuing | S::RescueWait, V::Done) => S::Rescue,
            (S::Rescuing | S::RescueWait, V::Fail) | (S::RescueWait, V::Abort) => S::RescueFailed,
            (S::Rescue | S::RescueFailed | S::UnrescueFailed, V::Unrescue) => S::Unrescuing,
            (S::Unrescuing, V::Done) => S::Active,
            (S::Unrescuing, V::Fail) => S::UnrescueFailed,
            // Adoption: a running machine taken over without touching it.
            (S::Manageable | S::AdoptFailed, V::Adopt) => S::Adopting,
            (S::Adopting, V::Done) => S::Active,
            (S::Adopting, V::Fail) => S::AdoptFailed,
            (from, verb) => return Err(InvalidTransition { from, verb }),
        };
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProvisionState as S;

    const STATES: [S; 24] = S::ALL;

    #[test]
    fn happy_path_enroll_to_active_and_back() {
        let mut s = S::Enroll;
        for (verb, want) in [
            (Verb::Manage, S::Verifying),
            (Verb::Done, S::Manageable),
            (Verb::Inspect, S::Inspecting),
            (Verb::Done, S::Manageable),
            (Verb::Provide, S::Cleaning),
            (Verb::Wait, S::CleanWait),
            (Verb::Done, S::Available),
            (Verb::Deploy, S::Deploying),
            (Verb::Wait, S::WaitCallBack),
            (Verb::Done, S::Active),
            (Verb::Rescue, S::Rescuing),
            (Verb::Done, S::Rescue),
            (Verb::Unrescue, S::Unrescuing),
            (Verb::Done, S::Active),
            (Verb::Undeploy, S::Deleting),
            (Verb::Done, S::Cleaning),
            (Verb::Done, S::Available),
        ] {
            s = s.apply(verb).unwrap();
            assert_eq!(s, want);
        }
    }

    #[test]
    fn inspect_touches_only_manageable_or_failed_nodes() {
        let allowed: Vec<S> = STATES.into_iter().filter(|s| s.apply(Verb::Inspect).is_ok()).collect();
        assert_eq!(allowed, vec![S::Manageable, S::InspectFailed]);
    }

    #[test]
    fn exhaustive_table_counts() {
        // Every (state, verb) pair either moves or is refused with the pair named.
        let mut moves = 0;
        for s in STATES {
            for v in Verb::ALL {
                match s.apply(v) {
                    Ok(_) => moves += 1,
                    Err(e) => assert_eq!(e, InvalidTransition { from: s, verb: v }),
                }
            }
        }
        assert_eq!(moves, 58);
    }

    #[test]
    fn every_step_and_wait_can_end_and_wait_states_can_be_aborted() {
        for s in STATES.into_iter().filter(|s| s.in_progress()) {
            assert!(s.apply(Verb::Done).is_ok() && s.apply(Verb::Fail).is_ok(), "{s} cannot end");
            if s.is_wait() {
                assert!(s.apply(Verb::Abort).is_ok(), "{s} cannot be aborted");
            }
        }
        for s in STATES.into_iter().filter(|s| !s.in_progress()) {
            assert!(s.apply(Verb::Done).is_err() && s.apply(Verb::Wait).is_err(), "{s} took a report");
        }
    }

    #[test]
    fn a_refusal_names_the_state_and_the_allowed_verbs() {
        let e = S::Active.apply(Verb::Inspect).unwrap_err().to_string();
        assert_eq!(e, "cannot inspect a node in state `active`; allowed there: rebuild, undeploy, rescue");
        let e = S::Deploying.apply(Verb::Manage).unwrap_err().to_string();
        assert!(e.contains("no verb is allowed there"), "{e}");
        let e = S::WaitCallBack.apply(Verb::Deploy).unwrap_err().to_string();
        assert!(e.contains("allowed there: abort (or wait for the step to end)"), "{e}");
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(S::InspectFailed.to_string(), "inspect failed");
        assert_eq!("provide".parse::<Verb>(), Ok(Verb::Provide));
        assert!("explode".parse::<Verb>().is_err());
    }
}
