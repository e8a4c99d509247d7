//! Trust: who may call the API and what they may do.
//! - [`access`]: the access levels (admin, operator, reader) and the one
//!   table of what each route needs;
//! - [`token`]: API tokens, stored as HMAC digests under a server key,
//!   with expiry and revocation;
//! - [`audit`]: the audit log of API writes;
//! - [`caller`]: who a request comes from, and what it may do;
//! - [`error`]: why a caller is refused.
//!
//! [`Auth`] runs the auth commands. At first start it creates the first
//! admin token and writes it, mode 0600, into the data dir, so that the
//! operator (and the CLI) can start at once.

pub(crate) mod access;
pub(crate) mod audit;
pub(crate) mod caller;
pub(crate) mod error;
pub(crate) mod token;

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) use access::Access;
pub(crate) use caller::Caller;
pub(crate) use error::AuthError;

use crate::state::{Schema, State};
use crate::types::secret::Secret;
use audit::AuditEntry;
use token::{ApiToken, AuthKey};

/// The first admin token's file in the data dir.
pub(crate) const ADMIN_TOKEN_FILE: &str = "admin.token";

/// Registers the auth room's record kinds.
pub(crate) fn register(schema: &mut Schema) {
    schema.register::<AuthKey>().register::<ApiToken>().register::<AuditEntry>();
}

/// The auth commands.
#[derive(Clone)]
pub(crate) struct Auth {
    state: State,
    /// How many audit entries are kept (`[api] audit_keep`).
    audit_keep: usize,
}

/// Writes `text` to `path`, mode 0600, replacing it atomically.
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(0o600).open(&tmp)?;
    f.write_all(text.as_bytes())?;
    f.write_all(b"\n")?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)
}

impl Auth {
    pub(crate) fn new(state: State, audit_keep: usize) -> Auth {
        Auth { state, audit_keep }
    }

    /// At first start (no token exists yet): creates an admin token and
    /// writes it to `data_dir/admin.token` (0600) before the token is
    /// committed, so a token that is stored is never lost. Returns the
    /// file and the token, to be shown once.
    pub(crate) async fn bootstrap(&self, data_dir: &Path) -> Result<Option<(PathBuf, Secret)>, AuthError> {
        let path = data_dir.join(ADMIN_TOKEN_FILE);
        self.state
            .write(move |txn| {
                if !txn.world().table::<ApiToken>().is_empty() {
                    return Ok(None);
                }
                let (_, text) = token::create(txn, "admin".into(), Access::Admin, None)?;
                write_private(&path, text.expose())
                    .map_err(|source| AuthError::TokenFile { path: path.clone(), source })?;
                Ok(Some((path, text)))
            })
            .await
    }

    /// Creates a token; returns its record and its text (shown once).
    pub(crate) async fn create(
        &self,
        name: String,
        access: Access,
        lifetime_seconds: Option<u64>,
    ) -> Result<(Arc<ApiToken>, Secret), AuthError> {
        self.state.write(move |txn| token::create(txn, name, access, lifetime_seconds)).await
    }

    /// Revokes a token.
    pub(crate) async fn revoke(&self, id: u64) -> Result<Arc<ApiToken>, AuthError> {
        self.state.write(move |txn| token::revoke(txn, id)).await
    }

    /// Records an API write.
    pub(crate) async fn audit(&self, entry: AuditEntry) -> Result<(), AuthError> {
        let keep = self.audit_keep;
        Ok(self.state.write(move |txn| audit::append(txn, entry, keep)).await?)
    }
}
