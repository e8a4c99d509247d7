//! Wire types of API tokens and the audit log.

use serde::{Deserialize, Serialize};

use crate::auth::audit::{AuditEntry, Who};
use crate::auth::token::ApiToken;
use crate::auth::Access;
use crate::types::secret::Handover;

/// `POST /api/v1/tokens`.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci", "role": "reader", "expires": "30d"}))]
pub(crate) struct NewToken {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    pub(crate) name: String,
    /// `admin`, `operator` or `reader`.
    pub(crate) role: Access,
    /// How long it is valid: `30d`, `12h`, `90m`, `3600s`; forever when
    /// absent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) expires: Option<String>,
}

/// A token as the API lists it (never its secret).
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct TokenView {
    pub(crate) id: u64,
    pub(crate) name: String,
    pub(crate) role: Access,
    pub(crate) created_at: u64,
    pub(crate) expires_at: Option<u64>,
    pub(crate) revoked_at: Option<u64>,
}

impl From<&ApiToken> for TokenView {
    fn from(t: &ApiToken) -> TokenView {
        TokenView {
            id: t.id,
            name: t.name.clone(),
            role: t.access,
            created_at: t.created_at,
            expires_at: t.expires_at,
            revoked_at: t.revoked_at,
        }
    }
}

/// The answer to a token's creation: the only time its text is shown.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct CreatedToken {
    #[serde(flatten)]
    pub(crate) view: TokenView,
    pub(crate) token: Handover,
}

/// `?after=&limit=` on `GET /api/v1/audit`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub(crate) struct AuditQuery {
    /// Only entries after this id.
    pub(crate) after: Option<u64>,
    /// At most this many (the newest; default 100).
    pub(crate) limit: Option<usize>,
}

/// One audit entry.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AuditView {
    #[serde(flatten)]
    pub(crate) entry: AuditEntry,
}

impl AuditView {
    /// Who, in a few words: `token 3 (ops, operator)`, `node n1.x`.
    pub(crate) fn who(&self) -> String {
        match &self.entry.who {
            Who::Token { id, name, access } => format!("token {id} ({name}, {access})"),
            Who::Machine { node: Some(n) } => format!("node {n}"),
            Who::Machine { node: None } => "a machine token".into(),
            Who::Anonymous => "anonymous".into(),
        }
    }
}
