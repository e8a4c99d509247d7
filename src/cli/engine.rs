//! Client subcommands for the noderole engine: deployments (with
//! `commit --wait`, a live count of noderoles per state until the
//! deployment converges or fails), roles, noderoles and runs.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use reqwest::Method;
use serde_json::Value;

use super::client::{Client, NO_BODY};
use super::{print, table};
use crate::api::wire::engine::{
    AnnealView, Committed, DeploymentView, NewDeployment, NewNodeRole, NodeRoleView, RoleBody, RunView,
};
use crate::engine::annealer::{Progress, StateCounts};
use crate::engine::model::{Attribs, NrState};

/// `fulcrum deployment ...`
#[derive(Debug, Subcommand)]
pub(crate) enum DeploymentCmd {
    /// List deployments.
    List,
    /// Show one deployment.
    Show { name: String },
    /// Create a proposed deployment.
    Create {
        /// The deployment's name.
        name: String,
        /// Parent deployment (default `system`).
        #[arg(long)]
        parent: Option<String>,
        /// Attribute KEY=VALUE (VALUE parsed as JSON when it is JSON).
        #[arg(long = "attr")]
        attrs: Vec<String>,
    },
    /// Commit: proposed noderoles go to TODO or BLOCKED and the annealer
    /// starts; with --wait, show progress until done.
    Commit {
        /// The deployment's name.
        name: String,
        /// Show progress until the deployment converges or fails.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Back to proposed, for editing.
    Propose {
        /// The deployment's name.
        name: String,
    },
}

/// `fulcrum role ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RoleCmd {
    /// List roles.
    List,
    /// Show one role.
    Show { name: String },
    /// Create a role from a TOML or JSON file (same fields as roles/*.toml).
    Create {
        /// The role file.
        file: PathBuf,
    },
}

/// `fulcrum noderole ...`
#[derive(Debug, Subcommand)]
pub(crate) enum NodeRoleCmd {
    /// List noderoles.
    List {
        /// Only this deployment's.
        #[arg(long)]
        deployment: Option<String>,
        /// Only this node's.
        #[arg(long)]
        node: Option<String>,
        /// Only those in this state.
        #[arg(long)]
        state: Option<String>,
    },
    /// Show one noderole.
    Show { id: u64 },
    /// Bind ROLE to NODE in DEPLOYMENT (and the roles it requires).
    Bind {
        /// The deployment.
        deployment: String,
        /// The role.
        role: String,
        /// The node's FQDN.
        node: String,
    },
    /// Retry a noderole in ERROR.
    Retry {
        /// The noderole's id.
        id: u64,
    },
}

/// `fulcrum run ...`
#[derive(Debug, Subcommand)]
pub(crate) enum RunCmd {
    /// List runs (without inputs and logs).
    List {
        /// Only this noderole's.
        #[arg(long)]
        noderole: Option<u64>,
        /// Only this deployment's.
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Show one run with its log.
    Show { id: u64 },
}

/// `proposed 0  todo 1  ...`, in state order.
fn counts_line(c: &StateCounts) -> String {
    NrState::ALL.iter().map(|s| format!("{s} {}", c.get(*s))).collect::<Vec<_>>().join("  ")
}

fn deployment_table(items: &[DeploymentView]) -> String {
    table::render(&["NAME", "PARENT", "STATE", "STATUS", "NODEROLES"], items, |d| {
        vec![
            d.name.clone(),
            table::opt(d.parent.as_ref()),
            table::word(&d.state),
            table::word(&d.status),
            counts_line(&d.noderoles),
        ]
    })
}

fn noderole_table(items: &[NodeRoleView]) -> String {
    table::render(&["ID", "DEPLOYMENT", "ROLE", "NODE", "STATE", "PARENTS", "RUNS", "ERROR"], items, |n| {
        vec![
            n.id.to_string(),
            n.deployment.clone(),
            n.role.clone(),
            n.node.clone(),
            n.state.to_string(),
            table::list(&n.parents),
            n.run_count.to_string(),
            table::opt(n.error.as_ref()),
        ]
    })
}

fn role_table(items: &[RoleBody]) -> String {
    table::render(&["NAME", "JIG", "REQUIRES", "FLAGS", "DESCRIPTION"], items, |r| {
        let flags: Vec<String> = r.flags.iter().map(table::word).collect();
        vec![r.name.clone(), table::word(&r.jig), table::list(&r.requires), table::list(&flags), r.description.clone()]
    })
}

fn parse_attr(kv: &str) -> anyhow::Result<(String, Value)> {
    let (k, v) = kv.split_once('=').with_context(|| format!("--attr `{kv}`: expected KEY=VALUE"))?;
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

/// Polls the anneal status of `name` until it is finished (Ok) or failed
/// (the noderoles in ERROR are printed), showing the counts per state as
/// they change; lines start with `indent`.
pub(crate) async fn wait(
    c: &Client,
    name: &str,
    timeout: Duration,
    json_out: bool,
    indent: &str,
) -> anyhow::Result<()> {
    let start = Instant::now();
    let mut shown = super::progress::Progress::new(&format!("deployment {name}"), json_out, indent);
    loop {
        let (_, v) = c.status::<AnnealView>(&format!("/api/v1/anneal?deployment={name}")).await?;
        let n = &v.noderoles;
        let total = n.proposed + n.todo + n.transition + n.active + n.blocked + n.error;
        shown.update(n.active as u64, total as u64, &counts_line(n));
        match v.status {
            Progress::Finished => {
                shown.finish();
                if json_out {
                    println!("{}", serde_json::to_string(&v).unwrap_or_default());
                } else {
                    println!("{indent}deployment {name} converged in {:.2?}", start.elapsed());
                }
                return Ok(());
            }
            Progress::Failed => {
                shown.finish();
                let failed: Vec<NodeRoleView> =
                    c.get(&format!("/api/v1/noderoles?deployment={name}&state=error")).await?;
                print!("{}", noderole_table(&failed));
                bail!("deployment {name} failed: noderoles in ERROR");
            }
            Progress::Working => {}
        }
        if start.elapsed() > timeout {
            bail!("deployment {name} still working after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs `fulcrum deployment ...`.
pub(crate) async fn deployment(c: &Client, json_out: bool, cmd: DeploymentCmd) -> anyhow::Result<()> {
    let one = |d: &DeploymentView| deployment_table(std::slice::from_ref(d));
    match cmd {
        DeploymentCmd::List => {
            print(json_out, &c.get::<Vec<DeploymentView>>("/api/v1/deployments").await?, |v| deployment_table(v))
        }
        DeploymentCmd::Show { name } => {
            print(json_out, &c.get::<DeploymentView>(&format!("/api/v1/deployments/{name}")).await?, one)
        }
        DeploymentCmd::Create { name, parent, attrs } => {
            let attribs: Attribs = attrs.iter().map(|a| parse_attr(a)).collect::<anyhow::Result<_>>()?;
            let body = NewDeployment { name, parent, attribs };
            print(json_out, &c.send::<_, DeploymentView>(Method::POST, "/api/v1/deployments", Some(&body)).await?, one)
        }
        DeploymentCmd::Commit { name, wait: w, timeout } => {
            let path = format!("/api/v1/deployments/{name}/commit");
            let v: Committed = c.send(Method::POST, &path, NO_BODY).await?;
            if !json_out {
                println!("committed {name}: {} noderoles left PROPOSED", v.committed_noderoles);
            }
            if w {
                wait(c, &name, Duration::from_secs(timeout), json_out, "").await?;
            } else if json_out {
                println!("{}", serde_json::to_string(&v).unwrap_or_default());
            }
        }
        DeploymentCmd::Propose { name } => {
            let path = format!("/api/v1/deployments/{name}/propose");
            print(json_out, &c.send::<_, DeploymentView>(Method::POST, &path, NO_BODY).await?, one)
        }
    }
    Ok(())
}

/// Runs `fulcrum role ...`.
pub(crate) async fn role(c: &Client, json_out: bool, cmd: RoleCmd) -> anyhow::Result<()> {
    let one = |r: &RoleBody| role_table(std::slice::from_ref(r));
    match cmd {
        RoleCmd::List => print(json_out, &c.get::<Vec<RoleBody>>("/api/v1/roles").await?, |v| role_table(v)),
        RoleCmd::Show { name } => print(json_out, &c.get::<RoleBody>(&format!("/api/v1/roles/{name}")).await?, one),
        RoleCmd::Create { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let body: RoleBody = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(json) => toml::from_str(&text).map_err(|toml| {
                    anyhow::anyhow!("{} is neither a JSON role ({json}) nor a TOML one ({toml})", file.display())
                })?,
            };
            print(json_out, &c.send::<_, RoleBody>(Method::POST, "/api/v1/roles", Some(&body)).await?, one)
        }
    }
    Ok(())
}

/// Runs `fulcrum noderole ...`.
pub(crate) async fn noderole(c: &Client, json_out: bool, cmd: NodeRoleCmd) -> anyhow::Result<()> {
    let one = |n: &NodeRoleView| noderole_table(std::slice::from_ref(n));
    match cmd {
        NodeRoleCmd::List { deployment, node, state } => {
            let q: Vec<String> = [("deployment", deployment), ("node", node), ("state", state)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
            let v: Vec<NodeRoleView> = c.get(&format!("/api/v1/noderoles?{}", q.join("&"))).await?;
            print(json_out, &v, |v| noderole_table(v))
        }
        NodeRoleCmd::Show { id } => {
            print(json_out, &c.get::<NodeRoleView>(&format!("/api/v1/noderoles/{id}")).await?, one)
        }
        NodeRoleCmd::Bind { deployment, role, node } => {
            let body = NewNodeRole { deployment, role, node, attribs: Attribs::new() };
            print(json_out, &c.send::<_, NodeRoleView>(Method::POST, "/api/v1/noderoles", Some(&body)).await?, one)
        }
        NodeRoleCmd::Retry { id } => {
            let path = format!("/api/v1/noderoles/{id}/retry");
            print(json_out, &c.send::<_, NodeRoleView>(Method::POST, &path, NO_BODY).await?, one)
        }
    }
    Ok(())
}

/// Runs `fulcrum run ...`.
pub(crate) async fn run(c: &Client, json_out: bool, cmd: RunCmd) -> anyhow::Result<()> {
    match cmd {
        RunCmd::List { noderole, deployment } => {
            let mut q = vec!["brief=true".to_string()];
            if let Some(n) = noderole {
                q.push(format!("noderole={n}"));
            }
            if let Some(d) = deployment {
                q.push(format!("deployment={d}"));
            }
            let v: Vec<RunView> = c.get(&format!("/api/v1/runs?{}", q.join("&"))).await?;
            print(json_out, &v, |v| {
                table::render(&["ID", "NODEROLE", "ROLE", "NODE", "OUTCOME", "MS"], v, |r| {
                    let r = &r.run;
                    vec![
                        r.id.to_string(),
                        r.noderole.to_string(),
                        r.role.clone(),
                        r.node.clone(),
                        table::word(&r.outcome),
                        table::opt(r.ended_ms.map(|e| e.saturating_sub(r.started_ms))),
                    ]
                })
            })
        }
        RunCmd::Show { id } => {
            let v: RunView = c.get(&format!("/api/v1/runs/{id}")).await?;
            print(json_out, &v, |r| {
                let r = &r.run;
                format!("run {id}: {} on {} -> {}\n{}\n", r.role, r.node, table::word(&r.outcome), r.log)
            })
        }
    }
    Ok(())
}
