//! The demo's second half: the noderole engine. Installers finish and the
//! installed systems report in (the destructive install role is not run
//! again; discovery roles are), then a seed-004 deployment (database
//! primary, secondary, computes in parallel, a load balancer that receives
//! every compute's address through wall data) converges live.

use std::path::Path;
use std::time::Duration;

use anyhow::bail;
use reqwest::Method;
use serde_json::json;

use super::Env;
use crate::api::wire::engine::{
    Committed, DeploymentView, NewDeployment, NewNodeRole, NodeRoleView, RoleBody, RunView,
};
use crate::api::wire::inventory::{NodeView, SetBootenv};
use crate::cli::client::NO_BODY;
use crate::cli::engine::wait;
use crate::cli::table;
use crate::engine::model::Attribs;
use crate::types::names::host_part;

/// How long the demo waits for a deployment.
const CONVERGE: Duration = Duration::from_secs(60);

/// Polls a node until `done` holds (10 s at most).
pub(super) async fn wait_node(env: &Env, name: &str, done: impl Fn(&NodeView) -> bool) -> anyhow::Result<NodeView> {
    for _ in 0..400 {
        let v: NodeView = env.api.get(&format!("/api/v1/nodes/{name}")).await?;
        if done(&v) {
            return Ok(v);
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    bail!("node {name} did not reach the expected state")
}

/// Prints what the power driver was asked to do (after the commits).
pub(super) async fn show_power_log(path: &Path) {
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
pub(super) async fn installers_finish(env: &Env, nodes: &[(String, String)]) -> anyhow::Result<()> {
    println!("\n5. The installers finish: bootenv back to `local`; the installed systems report in with their token");
    let http = reqwest::Client::new();
    for (name, token) in nodes {
        let local = SetBootenv { bootenv: "local".into() };
        env.api.send::<_, NodeView>(Method::PUT, &format!("/api/v1/nodes/{name}/bootenv"), Some(&local)).await?;
        let r = http.post(format!("{}/api/v1/nodes/{name}/alive", env.base)).bearer_auth(token).send().await?;
        if !r.status().is_success() {
            bail!("{name} could not report in: {}", r.status());
        }
    }
    wait(&env.api, "install", CONVERGE, false, "   ").await?;
    wait(&env.api, "system", CONVERGE, false, "   ").await?;
    for (name, _) in nodes {
        let runs: Vec<RunView> = env.api.get(&format!("/api/v1/runs?node={name}&brief=true")).await?;
        let lines: Vec<String> =
            runs.iter().map(|r| format!("{}:{}", r.run.role, table::word(&r.run.outcome))).collect();
        println!("   {name}: runs {}", lines.join(", "));
    }
    Ok(())
}

/// A demo role: it runs on the demo's machines whatever their lifecycle
/// state (they were discovered, not taken through Ironic's states).
fn role(mut v: serde_json::Value) -> anyhow::Result<RoleBody> {
    v["provision_states"] = json!("any");
    Ok(serde_json::from_value(v)?)
}

/// Seed 004's shape over the demo machines.
pub(super) async fn seed_004(env: &Env, nodes: &[String]) -> anyhow::Result<()> {
    if nodes.len() < 3 {
        println!("\n(seed-004 deployment needs at least 3 machines; skipped)");
        return Ok(());
    }
    println!(
        "\n6. A deployment in seed 004's order: db-primary -> db-secondary -> computes (parallel) -> load balancer"
    );
    let roles = [
        role(json!({"name": "db-primary", "jig": "test", "test": {"delay_ms": 300}}))?,
        role(json!({"name": "db-secondary", "jig": "test", "requires": ["db-primary"], "test": {"delay_ms": 300}}))?,
        role(json!({"name": "compute", "jig": "script", "local": true, "cluster": true, "requires": ["db-secondary"],
               "script": "sleep 0.3; echo \"{\\\"address\\\": \\\"$FULCRUM_NODE_IP\\\", \\\"port\\\": $FULCRUM_ATTR_PORT}\""}))?,
        role(json!({"name": "load-balancer", "jig": "script", "local": true, "requires": ["compute"],
               "script": "b=$(sed 's/.*\"parents\"://' | grep -o '\"address\":\"[0-9.]*\",\"port\":[0-9]*' | sed 's/\"address\":\"\\([0-9.]*\\)\",\"port\":/\\1:/' | sort | tr '\\n' ' '); echo \"{\\\"backends\\\": \\\"${b% }\\\"}\""}))?,
    ];
    for r in &roles {
        env.api.send::<_, RoleBody>(Method::POST, "/api/v1/roles", Some(r)).await?;
    }
    let stack = NewDeployment {
        name: "stack".into(),
        parent: None,
        attribs: Attribs::from([("port".to_string(), json!(8080))]),
    };
    env.api.send::<_, DeploymentView>(Method::POST, "/api/v1/deployments", Some(&stack)).await?;
    let bind = |role: &str, node: &str| NewNodeRole {
        deployment: "stack".into(),
        role: role.into(),
        node: node.into(),
        attribs: Attribs::new(),
    };
    let post = |b: NewNodeRole| async move {
        env.api.send::<_, NodeRoleView>(Method::POST, "/api/v1/noderoles", Some(&b)).await
    };
    post(bind("db-primary", &nodes[0])).await?;
    post(bind("db-secondary", &nodes[1])).await?;
    for n in &nodes[2..] {
        post(bind("compute", n)).await?;
    }
    let lb = post(bind("load-balancer", &nodes[0])).await?;
    println!(
        "   bound {} computes; the load balancer's parents are all of them: {}",
        nodes.len() - 2,
        table::list(&lb.parents)
    );
    env.api.send::<_, Committed>(Method::POST, "/api/v1/deployments/stack/commit", NO_BODY).await?;
    wait(&env.api, "stack", CONVERGE, false, "   ").await?;
    let runs: Vec<RunView> = env.api.get("/api/v1/runs?deployment=stack&brief=true").await?;
    let mut order: Vec<(u64, String)> =
        runs.iter().map(|r| (r.run.started_ms, format!("{}@{}", r.run.role, host_part(&r.run.node)))).collect();
    order.sort();
    println!("   run order: {}", order.into_iter().map(|(_, s)| s).collect::<Vec<_>>().join(" -> "));
    let lb: NodeRoleView = env.api.get(&format!("/api/v1/noderoles/{}", lb.id)).await?;
    let backends = lb.wall.get("backends").and_then(|v| v.as_str()).unwrap_or("-");
    println!("   load balancer's backends, from the computes' wall data: {backends}");
    // The demo checks itself: exactly one backend per compute.
    let mut want = Vec::new();
    for n in &nodes[2..] {
        let view: NodeView = env.api.get(&format!("/api/v1/nodes/{n}")).await?;
        want.push(format!("{}:8080", view.ipv4.map(|i| i.to_string()).unwrap_or_default()));
    }
    want.sort();
    if backends != want.join(" ") {
        bail!("the load balancer's backends are `{backends}`, not the computes' `{}`", want.join(" "));
    }
    Ok(())
}
