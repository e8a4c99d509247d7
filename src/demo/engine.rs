//! The demo's second half: the noderole engine. Installers finish and the
//! installed systems report in (the destructive install role is not run
//! again; discovery roles are), then a seed-004 deployment (database
//! primary, secondary, computes in parallel, a load balancer that receives
//! every compute's address through wall data) converges live.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::bail;
use serde_json::{json, Value};

use super::Env;
use crate::cli::table;

const STATES: [&str; 6] = ["proposed", "todo", "transition", "active", "blocked", "error"];

fn counts(v: &Value) -> String {
    STATES.iter().map(|s| format!("{s} {}", v["noderoles"][s].as_u64().unwrap_or(0))).collect::<Vec<_>>().join("  ")
}

/// Shows noderole counts per state, live, until the deployment converges.
pub async fn wait_converged(env: &Env, deployment: &str) -> anyhow::Result<()> {
    let start = Instant::now();
    let tty = std::io::stdout().is_terminal();
    let mut last = String::new();
    loop {
        let (code, v) = env.api.status(&format!("/api/v1/anneal?deployment={deployment}")).await?;
        let line = counts(&v);
        if line != last {
            if tty {
                print!("\r   {:>5.2}s  {line}   ", start.elapsed().as_secs_f64());
                let _ = std::io::stdout().flush();
            } else {
                println!("   {:>5.2}s  {line}", start.elapsed().as_secs_f64());
            }
            last = line;
        }
        match code {
            200 => {
                if tty {
                    println!();
                }
                println!("   `{deployment}` converged in {:.2?}", start.elapsed());
                return Ok(());
            }
            409 => bail!("deployment {deployment} failed: {v}"),
            _ if start.elapsed() > Duration::from_secs(60) => bail!("deployment {deployment} did not converge in 60 s"),
            _ => tokio::time::sleep(Duration::from_millis(25)).await,
        }
    }
}

/// Polls a node until `done` holds (10 s at most).
pub async fn wait_node(env: &Env, name: &str, done: impl Fn(&Value) -> bool) -> anyhow::Result<Value> {
    for _ in 0..400 {
        let v = env.api.get(&format!("/api/v1/nodes/{name}")).await?;
        if done(&v) {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("node {name} did not reach the expected state")
}

/// Prints what the power driver was asked to do (after the commits).
pub async fn show_power_log(path: &Path) {
    // The reboot runs just after the commit; give it a moment to land.
    for _ in 0..40 {
        if path.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    for line in std::fs::read_to_string(path).unwrap_or_default().lines() {
        println!("   power driver (after commit): {line}");
    }
}

/// The installers finish: each sets its node's bootenv to `local`, and the
/// installed OS reports in with its node token.
pub async fn installers_finish(env: &Env, nodes: &[(String, String)]) -> anyhow::Result<()> {
    println!("\n5. The installers finish: bootenv back to `local`; the installed systems report in with their token");
    let http = reqwest::Client::new();
    for (name, token) in nodes {
        env.api.send("PUT", &format!("/api/v1/nodes/{name}/bootenv"), Some(json!({"bootenv": "local"}))).await?;
        let r = http.post(format!("{}/api/v1/nodes/{name}/alive", env.base)).bearer_auth(token).send().await?;
        if !r.status().is_success() {
            bail!("{name} could not report in: {}", r.status());
        }
    }
    wait_converged(env, "install").await?;
    wait_converged(env, "system").await?;
    for (name, _) in nodes {
        let runs = env.api.get(&format!("/api/v1/runs?node={name}&brief=true")).await?;
        let lines: Vec<String> = runs
            .as_array()
            .map(|a| a.iter().map(|r| format!("{}:{}", table::s(&r["role"]), table::s(&r["outcome"]))).collect())
            .unwrap_or_default();
        println!("   {name}: runs {}", lines.join(", "));
    }
    Ok(())
}

/// Seed 004's shape over the demo machines.
pub async fn seed_004(env: &Env, nodes: &[String]) -> anyhow::Result<()> {
    if nodes.len() < 3 {
        println!("\n(seed-004 deployment needs at least 3 machines; skipped)");
        return Ok(());
    }
    println!(
        "\n6. A deployment in seed 004's order: db-primary -> db-secondary -> computes (parallel) -> load balancer"
    );
    let roles = [
        json!({"name": "db-primary", "jig": "test", "test": {"delay_ms": 300}}),
        json!({"name": "db-secondary", "jig": "test", "requires": ["db-primary"], "test": {"delay_ms": 300}}),
        json!({"name": "compute", "jig": "script", "local": true, "cluster": true, "requires": ["db-secondary"],
               "script": "sleep 0.3; echo \"{\\\"address\\\": \\\"$FULCRUM_NODE_IP\\\", \\\"port\\\": $FULCRUM_ATTR_PORT}\""}),
        json!({"name": "load-balancer", "jig": "script", "local": true, "requires": ["compute"],
               "script": "b=$(grep -o '\"address\":\"[0-9.]*\",\"port\":[0-9]*' | sed 's/\"address\":\"\\([0-9.]*\\)\",\"port\":/\\1:/' | sort | tr '\\n' ' '); echo \"{\\\"backends\\\": \\\"${b% }\\\"}\""}),
    ];
    for r in roles {
        env.api.send("POST", "/api/v1/roles", Some(r)).await?;
    }
    env.api.send("POST", "/api/v1/deployments", Some(json!({"name": "stack", "attribs": {"port": 8080}}))).await?;
    let bind = |role: &str, node: &str| json!({"deployment": "stack", "role": role, "node": node});
    env.api.send("POST", "/api/v1/noderoles", Some(bind("db-primary", &nodes[0]))).await?;
    env.api.send("POST", "/api/v1/noderoles", Some(bind("db-secondary", &nodes[1]))).await?;
    for n in &nodes[2..] {
        env.api.send("POST", "/api/v1/noderoles", Some(bind("compute", n))).await?;
    }
    let lb = env.api.send("POST", "/api/v1/noderoles", Some(bind("load-balancer", &nodes[0]))).await?;
    println!(
        "   bound {} computes; the load balancer's parents are all of them: {}",
        nodes.len() - 2,
        table::list(&lb["parents"])
    );
    env.api.send("POST", "/api/v1/deployments/stack/commit", None).await?;
    wait_converged(env, "stack").await?;
    let runs = env.api.get("/api/v1/runs?deployment=stack&brief=true").await?;
    let mut order: Vec<(u64, String)> = runs
        .as_array()
        .map(|a| {
            a.iter()
                .map(|r| {
                    (
                        r["started_ms"].as_u64().unwrap_or(0),
                        format!("{}@{}", table::s(&r["role"]), table::s(&r["node"]).split('.').next().unwrap_or("")),
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    order.sort();
    println!("   run order: {}", order.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(" -> "));
    let lb = env.api.get(&format!("/api/v1/noderoles/{}", lb["id"])).await?;
    println!("   load balancer's backends, from the computes' wall data: {}", table::s(&lb["wall"]["backends"]));
    Ok(())
}
