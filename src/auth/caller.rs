//! [`Caller`]: who a request comes from, as the API's front door
//! established it, and the checks every route and command make against it.

use std::sync::Arc;

use super::access::{Access, Need};
use super::audit::Who;
use super::error::AuthError;
use super::token::{self, ApiToken};
use crate::inventory::node::Node;
use crate::state::World;
use crate::types::secret::Secret;

/// Who a request comes from.
#[derive(Clone, Debug)]
pub(crate) enum Caller {
    /// A valid API token.
    Token(Arc<ApiToken>),
    /// A bearer that is not an API token: a machine's node token, to be
    /// checked against the node the route names.
    Machine(Secret),
    /// No `Authorization` header.
    Anonymous,
}

impl Caller {
    /// The caller a bearer token (or its absence) makes, as of `now`.
    pub(crate) fn from_bearer(w: &World, bearer: Option<&str>, now: u64) -> Result<Caller, AuthError> {
        match bearer {
            None => Ok(Caller::Anonymous),
            Some(b) if b.starts_with(token::PREFIX) => token::verify(w, b, now).map(Caller::Token),
            Some(b) => Ok(Caller::Machine(Secret::new(b))),
        }
    }

    /// Whether the caller may use a route that needs `need`. Machine
    /// routes are let through here; their handler checks the node.
    pub(crate) fn admit(&self, w: &World, need: Need) -> Result<(), AuthError> {
        match (need, self) {
            (Need::Nothing, _) => Ok(()),
            (Need::NodeOrOperator, Caller::Anonymous) => Err(AuthError::Missing),
            (Need::NodeOrOperator, Caller::Machine(_)) => Ok(()),
            (Need::NodeOrOperator, Caller::Token(t)) => at_least(t, Access::Operator),
            (Need::Access(_), Caller::Anonymous) => Err(AuthError::Missing),
            (Need::Access(_), Caller::Machine(b)) => {
                // A node's own token is known, and refused here; anything
                // else is just not a token.
                if w.table::<Node>().iter().any(|n| n.token.matches(b.expose())) {
                    Err(AuthError::MachineToken)
                } else {
                    Err(AuthError::Unknown)
                }
            }
            (Need::Access(a), Caller::Token(t)) => at_least(t, a),
        }
    }

    /// Whether the caller may act for `node` (a machine route): its own
    /// token, or an operator's.
    pub(crate) fn may_report_for(&self, node: &Node) -> Result<(), AuthError> {
        match self {
            Caller::Machine(b) if node.token.matches(b.expose()) => Ok(()),
            Caller::Machine(_) => Err(AuthError::NotThisNode),
            Caller::Token(t) => at_least(t, Access::Operator),
            Caller::Anonymous => Err(AuthError::Missing),
        }
    }

    /// Requires an admin token (for the features only admins may use).
    pub(crate) fn must_be_admin(&self, what: &'static str) -> Result<(), AuthError> {
        match self {
            Caller::Token(t) if t.access == Access::Admin => Ok(()),
            _ => Err(AuthError::AdminOnly { what }),
        }
    }

    /// The caller as the audit log names it; `node` is the node a machine
    /// route names.
    pub(crate) fn who(&self, w: &World, node: Option<&str>) -> Who {
        match self {
            Caller::Token(t) => Who::Token { id: t.id, name: t.name.clone(), access: t.access },
            Caller::Machine(b) => Who::Machine {
                node: node
                    .and_then(|n| w.table::<Node>().get(n))
                    .filter(|n| n.token.matches(b.expose()))
                    .map(|n| n.name.clone()),
            },
            Caller::Anonymous => Who::Anonymous,
        }
    }
}

fn at_least(t: &ApiToken, need: Access) -> Result<(), AuthError> {
    if t.access >= need {
        Ok(())
    } else {
        Err(AuthError::Forbidden { id: t.id, need, have: t.access })
    }
}
