//! Who may do what: the three levels of API access, and the one table
//! that says which level each route needs. Machine routes (a node's own
//! reports) take the node's token instead, checked against the node the
//! route names.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// The access an API token grants; each level includes the ones below.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Access {
    /// GET only, the event stream included.
    Reader,
    /// Networks, nodes, bootenvs, deployments, noderoles, lifecycle verbs,
    /// power actions.
    Operator,
    /// Everything: tokens, roles with local scripts, command power drivers.
    Admin,
}

impl Access {
    /// Every level, lowest first.
    pub(crate) const ALL: [Access; 3] = [Access::Reader, Access::Operator, Access::Admin];

    /// `reader`, `operator` or `admin`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Access::Reader => "reader",
            Access::Operator => "operator",
            Access::Admin => "admin",
        }
    }
}

impl fmt::Display for Access {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A word that is not an access level.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown role `{0}`; expected admin, operator or reader")]
pub(crate) struct UnknownAccess(pub(crate) String);

impl FromStr for Access {
    type Err = UnknownAccess;
    fn from_str(s: &str) -> Result<Access, UnknownAccess> {
        Access::ALL.into_iter().find(|a| a.name() == s).ok_or_else(|| UnknownAccess(s.to_string()))
    }
}

/// What a route needs from its caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Need {
    /// Nothing (health; the discovery image registering a machine).
    Nothing,
    /// The token of the node the route names, or an operator's token.
    NodeOrOperator,
    /// An API token with at least this access.
    Access(Access),
}

/// The one table of what each route needs. `route` is the route pattern
/// as the router declares it (`/api/v1/nodes/{name}`).
pub(crate) fn need(method: &str, route: &str) -> Need {
    let read = matches!(method, "GET" | "HEAD");
    match route {
        "/healthz" => Need::Nothing,
        // The web UI's own files hold no data: it calls the API with a token.
        "/" | "/ui" | "/ui/" | "/ui/{file}" if read => Need::Nothing,
        // The API's description holds no state (MAAS publishes its own likewise).
        "/api/v1/openapi.json" | "/api/docs" if read => Need::Nothing,
        // Machine-facing: a machine in the discovery image has no token yet.
        "/api/v1/discover" => Need::Nothing,
        "/api/v1/nodes/{name}/alive" | "/api/v1/nodes/{name}/installed" => Need::NodeOrOperator,
        // The agent's step loop: its own questions, even the reads.
        "/api/v1/nodes/{name}/agent/next" | "/api/v1/nodes/{name}/agent/done" => Need::NodeOrOperator,
        "/api/v1/nodes/{name}/inventory" if !read => Need::NodeOrOperator,
        r if r.starts_with("/api/v1/tokens") => Need::Access(Access::Admin),
        "/api/v1/audit" => Need::Access(Access::Operator),
        _ if read => Need::Access(Access::Reader),
        _ => Need::Access(Access::Operator),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_route_table() {
        let cases = [
            ("GET", "/healthz", Need::Nothing),
            ("GET", "/ui/{file}", Need::Nothing),
            ("GET", "/api/v1/openapi.json", Need::Nothing),
            ("GET", "/api/docs", Need::Nothing),
            ("POST", "/ui/{file}", Need::Access(Access::Operator)),
            ("POST", "/api/v1/discover", Need::Nothing),
            ("POST", "/api/v1/nodes/{name}/alive", Need::NodeOrOperator),
            ("POST", "/api/v1/nodes/{name}/installed", Need::NodeOrOperator),
            ("POST", "/api/v1/nodes/{name}/inventory", Need::NodeOrOperator),
            ("GET", "/api/v1/nodes/{name}/inventory", Need::Access(Access::Reader)),
            ("GET", "/api/v1/nodes/{name}/agent/next", Need::NodeOrOperator),
            ("POST", "/api/v1/nodes/{name}/agent/done", Need::NodeOrOperator),
            ("GET", "/api/v1/nodes", Need::Access(Access::Reader)),
            ("GET", "/api/v1/events", Need::Access(Access::Reader)),
            ("GET", "/metrics", Need::Access(Access::Reader)),
            ("PATCH", "/api/v1/nodes/{name}", Need::Access(Access::Operator)),
            ("POST", "/api/v1/roles", Need::Access(Access::Operator)),
            ("GET", "/api/v1/audit", Need::Access(Access::Operator)),
            ("GET", "/api/v1/tokens", Need::Access(Access::Admin)),
            ("DELETE", "/api/v1/tokens/{id}", Need::Access(Access::Admin)),
        ];
        for (m, r, want) in cases {
            assert_eq!(need(m, r), want, "{m} {r}");
        }
        assert!(Access::Admin > Access::Operator && Access::Operator > Access::Reader);
        assert_eq!("operator".parse::<Access>(), Ok(Access::Operator));
        assert!("root".parse::<Access>().is_err());
    }
}
