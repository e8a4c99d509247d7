//! Client subcommands for the noderole engine: deployments (with
//! `commit --wait`, a live count of noderoles per state until the
//! deployment converges or fails), roles, noderoles and runs.

use std::io::{IsTerminal, Write};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::Client;
use super::table::{self, Table};
use super::{many, one, print};

const STATES: [&str; 6] = ["proposed", "todo", "transition", "active", "blocked", "error"];

/// `fulcrum deployment ...`
#[derive(Debug, Subcommand)]
pub enum DeploymentCmd {
    List,
    Show {
        name: String,
    },
    /// Create a proposed deployment.
    Create {
        name: String,
        #[arg(long)]
        parent: Option<String>,
        /// Attribute KEY=VALUE (VALUE parsed as JSON when it is JSON).
        #[arg(long = "attr")]
        attrs: Vec<String>,
    },
    /// Commit: proposed noderoles go to TODO or BLOCKED and the annealer
    /// starts; with --wait, show progress until done.
    Commit {
        name: String,
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
    },
    /// Back to proposed, for editing.
    Propose {
        name: String,
    },
}

/// `fulcrum role ...`
#[derive(Debug, Subcommand)]
pub enum RoleCmd {
    List,
    Show {
        name: String,
    },
    /// Create a role from a TOML or JSON file (same fields as roles/*.toml).
    Create {
        file: std::path::PathBuf,
    },
}

/// `fulcrum noderole ...`
#[derive(Debug, Subcommand)]
pub enum NodeRoleCmd {
    List {
        #[arg(long)]
        deployment: Option<String>,
        #[arg(long)]
        node: Option<String>,
        #[arg(long)]
        state: Option<String>,
    },
    Show {
        id: u64,
    },
    /// Bind ROLE to NODE in DEPLOYMENT (and the roles it requires).
    Bind {
        deployment: String,
        role: String,
        node: String,
    },
    /// Retry a noderole in ERROR.
    Retry {
        id: u64,
    },
}

/// `fulcrum run ...`
#[derive(Debug, Subcommand)]
pub enum RunCmd {
    List {
        #[arg(long)]
        noderole: Option<u64>,
        #[arg(long)]
        deployment: Option<String>,
    },
    /// Show one run with its log.
    Show { id: u64 },
}

fn counts_line(v: &Value) -> String {
    STATES.iter().map(|s| format!("{s} {}", v[s].as_u64().unwrap_or(0))).collect::<Vec<_>>().join("  ")
}

fn deployment_table(items: &[Value]) -> Table {
    let mut t = Table::new(&["NAME", "PARENT", "STATE", "STATUS", "NODEROLES"]);
    for d in items {
        t.row(vec![
            table::s(&d["name"]),
            table::s(&d["parent"]),
            table::s(&d["state"]),
            table::s(&d["status"]),
            counts_line(&d["noderoles"]),
        ]);
    }
    t
}

fn noderole_table(items: &[Value]) -> Table {
    let mut t = Table::new(&["ID", "DEPLOYMENT", "ROLE", "NODE", "STATE", "PARENTS", "RUNS", "ERROR"]);
    for n in items {
        t.row(vec![
            table::s(&n["id"]),
            table::s(&n["deployment"]),
            table::s(&n["role"]),
            table::s(&n["node"]),
            table::s(&n["state"]),
            table::list(&n["parents"]),
            table::s(&n["run_count"]),
            table::s(&n["error"]),
        ]);
    }
    t
}

fn parse_attr(kv: &str) -> anyhow::Result<(String, Value)> {
    let (k, v) = kv.split_once('=').with_context(|| format!("--attr `{kv}`: expected KEY=VALUE"))?;
    let value = serde_json::from_str(v).unwrap_or_else(|_| Value::String(v.to_string()));
    Ok((k.to_string(), value))
}

/// Polls the anneal status until the deployment is finished (Ok) or failed.
pub async fn wait(c: &Client, name: &str, timeout: Duration, json_out: bool) -> anyhow::Result<()> {
    let start = Instant::now();
    let tty = std::io::stdout().is_terminal() && !json_out;
    let mut last = String::new();
    loop {
        let (code, v) = c.status(&format!("/api/v1/anneal?deployment={name}")).await?;
        let line = format!("{:>6.1}s  {}", start.elapsed().as_secs_f64(), counts_line(&v["noderoles"]));
        let counts = counts_line(&v["noderoles"]);
        if !json_out && counts != last {
            if tty {
                print!("\r{line}   ");
                let _ = std::io::stdout().flush();
            } else {
                println!("{line}");
            }
            last = counts;
        }
        match code {
            200 => {
                if tty {
                    println!();
                }
                if json_out {
                    println!("{v}");
                } else {
                    println!("deployment {name} converged in {:.1?}", start.elapsed());
                }
                return Ok(());
            }
            409 => {
                if tty {
                    println!();
                }
                let failed = c.get(&format!("/api/v1/noderoles?deployment={name}&state=error")).await?;
                print!("{}", noderole_table(&many(&failed)).render());
                bail!("deployment {name} failed: noderoles in ERROR");
            }
            _ => {}
        }
        if start.elapsed() > timeout {
            bail!("deployment {name} still working after {timeout:?}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

pub async fn deployment(c: &Client, json_out: bool, cmd: DeploymentCmd) -> anyhow::Result<()> {
    match cmd {
        DeploymentCmd::List => print(json_out, &c.get("/api/v1/deployments").await?, |v| deployment_table(&many(v))),
        DeploymentCmd::Show { name } => {
            print(json_out, &c.get(&format!("/api/v1/deployments/{name}")).await?, |v| deployment_table(&one(v)))
        }
        DeploymentCmd::Create { name, parent, attrs } => {
            let attribs: serde_json::Map<String, Value> =
                attrs.iter().map(|a| parse_attr(a)).collect::<anyhow::Result<_>>()?;
            let mut body = json!({ "name": name, "attribs": attribs });
            if let Some(p) = parent {
                body["parent"] = json!(p);
            }
            print(json_out, &c.send("POST", "/api/v1/deployments", Some(body)).await?, |v| deployment_table(&one(v)))
        }
        DeploymentCmd::Commit { name, wait: w, timeout } => {
            let v = c.send("POST", &format!("/api/v1/deployments/{name}/commit"), None).await?;
            if !json_out {
                println!("committed {name}: {} noderoles left PROPOSED", table::s(&v["committed_noderoles"]));
            }
            if w {
                wait(c, &name, Duration::from_secs(timeout), json_out).await?;
            } else if json_out {
                println!("{v}");
            }
        }
        DeploymentCmd::Propose { name } => {
            let v = c.send("POST", &format!("/api/v1/deployments/{name}/propose"), None).await?;
            print(json_out, &v, |v| deployment_table(&one(v)))
        }
    }
    Ok(())
}

pub async fn role(c: &Client, json_out: bool, cmd: RoleCmd) -> anyhow::Result<()> {
    let t = |v: &Value| {
        table::of(&["NAME", "JIG", "REQUIRES", "FLAGS", "DESCRIPTION"], v, |r| {
            vec![
                table::s(&r["name"]),
                table::s(&r["jig"]),
                table::list(&r["requires"]),
                table::list(&r["flags"]),
                table::s(&r["description"]),
            ]
        })
    };
    match cmd {
        RoleCmd::List => print(json_out, &c.get("/api/v1/roles").await?, t),
        RoleCmd::Show { name } => print(json_out, &c.get(&format!("/api/v1/roles/{name}")).await?, t),
        RoleCmd::Create { file } => {
            let text = std::fs::read_to_string(&file).with_context(|| format!("reading {}", file.display()))?;
            let body: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(_) => {
                    toml::from_str(&text).with_context(|| format!("{} is neither JSON nor TOML", file.display()))?
                }
            };
            print(json_out, &c.send("POST", "/api/v1/roles", Some(body)).await?, t)
        }
    }
    Ok(())
}

pub async fn noderole(c: &Client, json_out: bool, cmd: NodeRoleCmd) -> anyhow::Result<()> {
    match cmd {
        NodeRoleCmd::List { deployment, node, state } => {
            let q: Vec<String> = [("deployment", deployment), ("node", node), ("state", state)]
                .into_iter()
                .filter_map(|(k, v)| v.map(|v| format!("{k}={v}")))
                .collect();
            let v = c.get(&format!("/api/v1/noderoles?{}", q.join("&"))).await?;
            print(json_out, &v, |v| noderole_table(&many(v)))
        }
        NodeRoleCmd::Show { id } => {
            print(json_out, &c.get(&format!("/api/v1/noderoles/{id}")).await?, |v| noderole_table(&one(v)))
        }
        NodeRoleCmd::Bind { deployment, role, node } => {
            let v = c
                .send(
                    "POST",
                    "/api/v1/noderoles",
                    Some(json!({ "deployment": deployment, "role": role, "node": node })),
                )
                .await?;
            print(json_out, &v, |v| noderole_table(&one(v)))
        }
        NodeRoleCmd::Retry { id } => {
            let v = c.send("POST", &format!("/api/v1/noderoles/{id}/retry"), None).await?;
            print(json_out, &v, |v| noderole_table(&one(v)))
        }
    }
    Ok(())
}

pub async fn run(c: &Client, json_out: bool, cmd: RunCmd) -> anyhow::Result<()> {
    match cmd {
        RunCmd::List { noderole, deployment } => {
            let mut q = vec!["brief=true".to_string()];
            if let Some(n) = noderole {
                q.push(format!("noderole={n}"));
            }
            if let Some(d) = deployment {
                q.push(format!("deployment={d}"));
            }
            let v = c.get(&format!("/api/v1/runs?{}", q.join("&"))).await?;
            print(json_out, &v, |v| {
                let mut t = Table::new(&["ID", "NODEROLE", "ROLE", "NODE", "OUTCOME", "MS"]);
                for r in many(v) {
                    let ms = match (r["started_ms"].as_u64(), r["ended_ms"].as_u64()) {
                        (Some(s), Some(e)) => (e - s).to_string(),
                        _ => "-".into(),
                    };
                    t.row(vec![
                        table::s(&r["id"]),
                        table::s(&r["noderole"]),
                        table::s(&r["role"]),
                        table::s(&r["node"]),
                        table::s(&r["outcome"]),
                        ms,
                    ]);
                }
                t
            })
        }
        RunCmd::Show { id } => {
            let v = c.get(&format!("/api/v1/runs/{id}")).await?;
            if json_out {
                println!("{}", serde_json::to_string_pretty(&v).unwrap_or_default());
            } else {
                println!(
                    "run {id}: {} on {} -> {}\n{}",
                    table::s(&v["role"]),
                    table::s(&v["node"]),
                    table::s(&v["outcome"]),
                    v["log"].as_str().unwrap_or("")
                );
            }
        }
    }
    Ok(())
}
