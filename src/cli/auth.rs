//! Client subcommands for trust: API tokens (admin) and the audit log.

use clap::Subcommand;
use reqwest::Method;

use super::client::{Client, NO_BODY};
use super::{print, table};
use crate::api::wire::auth::{AuditView, CreatedToken, NewToken, TokenView};
use crate::auth::Access;
use crate::types::time::now;

/// `fulcrum token ...`
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// List API tokens (never their secrets).
    List,
    /// Create an API token; its text is printed this once.
    Create {
        /// `admin`, `operator` or `reader`.
        #[arg(long)]
        role: Access,
        /// How long it is valid (`30d`, `12h`, `90m`); forever by default.
        #[arg(long)]
        expires: Option<String>,
        /// A name to tell it by (default `<role>-<unix time>`).
        #[arg(long)]
        name: Option<String>,
    },
    /// Revoke an API token.
    Revoke {
        /// The token's id.
        id: u64,
    },
}

fn token_table(items: &[TokenView]) -> String {
    table::render(&["ID", "NAME", "ROLE", "CREATED", "EXPIRES", "REVOKED"], items, |t| {
        vec![
            t.id.to_string(),
            t.name.clone(),
            t.role.to_string(),
            t.created_at.to_string(),
            table::opt(t.expires_at),
            table::opt(t.revoked_at),
        ]
    })
}

/// Runs `fulcrum token ...`.
pub(crate) async fn token(c: &Client, json_out: bool, cmd: TokenCmd) -> anyhow::Result<()> {
    match cmd {
        TokenCmd::List => print(json_out, &c.get::<Vec<TokenView>>("/api/v1/tokens").await?, |v| token_table(v)),
        TokenCmd::Create { role, expires, name } => {
            let name = name.unwrap_or_else(|| format!("{role}-{}", now()));
            let body = NewToken { name, role, expires };
            let t: CreatedToken = c.send(Method::POST, "/api/v1/tokens", Some(&body)).await?;
            print(json_out, &t, |t| {
                format!(
                    "{}\ntoken {} ({}, {}): shown this once, keep it:\n  {}\n",
                    token_table(std::slice::from_ref(&t.view)).trim_end(),
                    t.view.id,
                    t.view.name,
                    t.view.role,
                    t.token.expose()
                )
            })
        }
        TokenCmd::Revoke { id } => {
            let t: TokenView = c.send(Method::DELETE, &format!("/api/v1/tokens/{id}"), NO_BODY).await?;
            print(json_out, &t, |t| token_table(std::slice::from_ref(t)))
        }
    }
    Ok(())
}

/// Runs `fulcrum audit`: the newest API writes, oldest first.
pub(crate) async fn audit(c: &Client, json_out: bool, after: Option<u64>, limit: usize) -> anyhow::Result<()> {
    let mut q = vec![format!("limit={limit}")];
    if let Some(a) = after {
        q.push(format!("after={a}"));
    }
    let v: Vec<AuditView> = c.get(&format!("/api/v1/audit?{}", q.join("&"))).await?;
    print(json_out, &v, |v| {
        table::render(&["ID", "AT (ms)", "WHO", "METHOD", "PATH", "STATUS"], v, |a| {
            vec![
                a.entry.id.to_string(),
                a.entry.at_ms.to_string(),
                a.who(),
                a.entry.method.clone(),
                a.entry.path.clone(),
                a.entry.status.to_string(),
            ]
        })
    });
    Ok(())
}
