//! The node provisioning state machine (OpenStack Ironic's, seed 002):
//! states, the verbs operators use, and the one function that says where a
//! verb or a completion report takes a node. A node record carries its
//! state; the engine decides when a verb is applied.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// Where a node is in its life.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ProvisionState {
    #[default]
    Enroll,
    Verifying,
    Manageable,
    Inspecting,
    #[serde(rename = "inspect failed")]
    InspectFailed,
    Cleaning,
    #[serde(rename = "clean failed")]
    CleanFailed,
    Available,
    Deploying,
    #[serde(rename = "deploy failed")]
    DeployFailed,
    Active,
}

impl ProvisionState {
    /// Whether the node is in the middle of a step that must end on its
    /// own (a report, or the watchdog): verifying, inspecting, cleaning,
    /// deploying.
    pub(crate) fn in_progress(self) -> bool {
        matches!(
            self,
            ProvisionState::Verifying
                | ProvisionState::Inspecting
                | ProvisionState::Cleaning
                | ProvisionState::Deploying
        )
    }
}

/// What moves a node: an operator's verb, or the report that the running
/// step finished (`Done`) or failed (`Fail`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verb {
    Manage,
    Inspect,
    Provide,
    Deploy,
    Rebuild,
    Undeploy,
    Abort,
    Done,
    Fail,
}

impl Verb {
    pub(crate) const ALL: [Verb; 9] = [
        Verb::Manage,
        Verb::Inspect,
        Verb::Provide,
        Verb::Deploy,
        Verb::Rebuild,
        Verb::Undeploy,
        Verb::Abort,
        Verb::Done,
        Verb::Fail,
    ];
}

/// A word that is not a verb.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown target `{0}`; expected one of manage, inspect, provide, deploy, rebuild, undeploy, abort, done, fail")]
pub(crate) struct UnknownVerb(pub(crate) String);

impl FromStr for Verb {
    type Err = UnknownVerb;
    fn from_str(s: &str) -> Result<Self, UnknownVerb> {
        Verb::ALL.into_iter().find(|v| v.to_string() == s).ok_or_else(|| UnknownVerb(s.to_string()))
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

/// A verb that the node's current state does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("cannot {verb} a node in state `{from}`")]
pub(crate) struct InvalidTransition {
    pub(crate) from: ProvisionState,
    pub(crate) verb: Verb,
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
            (S::Manageable | S::InspectFailed, V::Inspect) => S::Inspecting,
            (S::Inspecting, V::Done) => S::Manageable,
            (S::Inspecting, V::Fail | V::Abort) => S::InspectFailed,
            (S::Manageable, V::Provide) => S::Cleaning,
            (S::Cleaning, V::Done) => S::Available,
            (S::Cleaning, V::Fail | V::Abort) => S::CleanFailed,
            (S::InspectFailed | S::CleanFailed | S::Available, V::Manage) => S::Manageable,
            (S::Available, V::Deploy) => S::Deploying,
            (S::Active | S::DeployFailed, V::Rebuild) => S::Deploying,
            (S::Deploying, V::Done) => S::Active,
            (S::Deploying, V::Fail | V::Abort) => S::DeployFailed,
            (S::Active | S::DeployFailed, V::Undeploy) => S::Cleaning,
            (from, verb) => return Err(InvalidTransition { from, verb }),
        };
        Ok(to)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ProvisionState as S;

    const STATES: [S; 11] = [
        S::Enroll,
        S::Verifying,
        S::Manageable,
        S::Inspecting,
        S::InspectFailed,
        S::Cleaning,
        S::CleanFailed,
        S::Available,
        S::Deploying,
        S::DeployFailed,
        S::Active,
    ];

    #[test]
    fn happy_path_enroll_to_active_and_back() {
        let mut s = S::Enroll;
        for (verb, want) in [
            (Verb::Manage, S::Verifying),
            (Verb::Done, S::Manageable),
            (Verb::Inspect, S::Inspecting),
            (Verb::Done, S::Manageable),
            (Verb::Provide, S::Cleaning),
            (Verb::Done, S::Available),
            (Verb::Deploy, S::Deploying),
            (Verb::Done, S::Active),
            (Verb::Undeploy, S::Cleaning),
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
        assert_eq!(moves, 23);
    }

    #[test]
    fn names_round_trip() {
        assert_eq!(S::InspectFailed.to_string(), "inspect failed");
        assert_eq!("provide".parse::<Verb>(), Ok(Verb::Provide));
        assert!("explode".parse::<Verb>().is_err());
    }
}
