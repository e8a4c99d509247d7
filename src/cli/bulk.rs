//! Client subcommands that act on many nodes: `fulcrum node import` (an
//! instackenv.json, then `--introspect` and `--provide` as TripleO's
//! `openstack overcloud node import` does) and the bulk lifecycle verbs
//! (`fulcrum node inspect|provide|deploy|bulk VERB --all-manageable`). A
//! bulk verb is always previewed first; `--dry-run` stops there, otherwise
//! it acts on exactly the previewed nodes, one at a time, each only if it
//! is still in the state the preview showed, printing a line per node.

use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Args;
use reqwest::Method;

use super::client::Client;
use super::table;
use crate::api::wire::inventory::{BulkAnswer, BulkRequest, NodeView};

/// Which nodes a bulk verb selects.
#[derive(Debug, Clone, Args)]
pub(crate) struct Selection {
    /// Every node in the state `manageable` (the usual source of inspect
    /// and provide).
    #[arg(long, conflicts_with = "state")]
    pub(crate) all_manageable: bool,
    /// Every node in this state (e.g. `available` for deploy).
    #[arg(long)]
    pub(crate) state: Option<String>,
    /// These nodes (repeat); with a state, only those in it.
    #[arg(long = "node")]
    pub(crate) nodes: Vec<String>,
    /// Show the nodes it would touch, and touch none.
    #[arg(long)]
    pub(crate) dry_run: bool,
    /// For deploy and rebuild: the bootenv to install.
    #[arg(long)]
    pub(crate) bootenv: Option<String>,
}

impl Selection {
    fn state(&self) -> Option<String> {
        if self.all_manageable {
            Some("manageable".into())
        } else {
            self.state.clone()
        }
    }
}

/// Previews `verb` over `sel`, then (unless a dry run) applies it node by
/// node with a progress line each. Fails if any node was refused.
pub(crate) async fn run(c: &Client, json_out: bool, verb: &str, sel: &Selection) -> anyhow::Result<()> {
    if sel.state().is_none() && sel.nodes.is_empty() {
        bail!("select the nodes: --all-manageable, --state STATE or --node NAME");
    }
    let preview = BulkRequest {
        verb: verb.to_string(),
        state: sel.state(),
        nodes: (!sel.nodes.is_empty()).then(|| sel.nodes.clone()),
        dry_run: true,
        since: None,
        bootenv: sel.bootenv.clone(),
    };
    let plan: BulkAnswer = c.send(Method::POST, "/api/v1/nodes/bulk", Some(&preview)).await?;
    if sel.dry_run && json_out {
        println!("{}", serde_json::to_string_pretty(&plan).unwrap_or_default());
        return Ok(());
    }
    let n = plan.planned.len();
    println!(
        "{verb}: {n} node{}{}",
        if n == 1 { "" } else { "s" },
        if sel.dry_run { " (dry run: none touched)" } else { "" }
    );
    print!(
        "{}",
        table::render(&["NODE", "FROM", "TO"], &plan.planned, |p| vec![
            p.name.clone(),
            p.from.to_string(),
            p.to.to_string()
        ])
    );
    for s in &plan.skipped {
        println!("left alone: {} ({})", s.name, s.why);
    }
    if sel.dry_run {
        return Ok(());
    }
    let mut refused = 0;
    let mut results = Vec::with_capacity(n);
    let mut shown = super::progress::Progress::on_terminal(verb, json_out);
    for (i, p) in plan.planned.iter().enumerate() {
        shown.update(i as u64, n as u64, &p.name);
        let one = BulkRequest {
            verb: verb.to_string(),
            state: Some(p.from.to_string()),
            nodes: Some(vec![p.name.clone()]),
            dry_run: false,
            since: p.since,
            bootenv: sel.bootenv.clone(),
        };
        // A node the server refuses (or a failed request) is reported on
        // its line; the others are still done.
        let line = match c.send::<_, BulkAnswer>(Method::POST, "/api/v1/nodes/bulk", Some(&one)).await {
            Err(e) => {
                refused += 1;
                format!("failed: {e:#}")
            }
            Ok(answer) => {
                let line = match (answer.done.first(), answer.skipped.first()) {
                    (Some(d), _) => match (&d.now, &d.error) {
                        (Some(now), _) => format!("{} -> {now}", d.from),
                        (None, e) => {
                            refused += 1;
                            format!("refused: {}", e.as_deref().unwrap_or("?"))
                        }
                    },
                    (None, Some(s)) => {
                        refused += 1;
                        format!("left alone: {} (it moved since the preview)", s.why)
                    }
                    (None, None) => {
                        refused += 1;
                        "not in the answer".into()
                    }
                };
                results.extend(answer.done);
                line
            }
        };
        if !json_out {
            shown.line(&format!("[{}/{n}] {}: {line}", i + 1, p.name));
        }
    }
    shown.finish();
    if json_out {
        println!("{}", serde_json::to_string_pretty(&results).unwrap_or_default());
    }
    if refused > 0 {
        bail!("{refused} of {n} nodes were refused");
    }
    Ok(())
}

/// What `fulcrum node import` does after the import.
#[derive(Debug, Clone, Args)]
pub(crate) struct ImportArgs {
    /// The instackenv.json (`{"nodes": [{"name", "mac": [...], "pm_type",
    /// "pm_addr", "pm_user", "pm_password", "arch", "cpu", "memory",
    /// "disk"}]}`).
    pub(crate) file: std::path::PathBuf,
    /// The network the nodes' addresses come from (default: the one whose
    /// domain their names are in, or the only one).
    #[arg(long)]
    pub(crate) network: Option<String>,
    /// Inspect the imported nodes once they are manageable, and wait for
    /// their inspection to end.
    #[arg(long)]
    pub(crate) introspect: bool,
    /// Then provide them (cleaning, then available).
    #[arg(long)]
    pub(crate) provide: bool,
    /// How long to wait for the BMC checks and for inspection, in seconds.
    #[arg(long, default_value_t = 3600)]
    pub(crate) wait: u64,
}

/// Imports, then optionally inspects and provides, printing progress.
pub(crate) async fn import(c: &Client, json_out: bool, args: &ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("reading {}", args.file.display()))?;
    let mut body: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    if let (Some(net), Some(obj)) = (&args.network, body.as_object_mut()) {
        obj.insert("network".into(), serde_json::Value::from(net.clone()));
    }
    let imported: Vec<NodeView> = c.send(Method::POST, "/api/v1/nodes/import", Some(&body)).await?;
    super::print(json_out, &imported, |v| {
        format!("imported {} node{}\n{}", v.len(), if v.len() == 1 { "" } else { "s" }, super::inventory::node_table(v))
    });
    let names: Vec<String> = imported.iter().map(|n| n.name.clone()).collect();
    let deadline = Instant::now() + Duration::from_secs(args.wait);
    if args.introspect || args.provide {
        wait_while(c, &names, &["verifying"], "checking power credentials", deadline, json_out).await?;
    }
    let sel = |names: &[String]| Selection {
        all_manageable: false,
        state: Some("manageable".into()),
        nodes: names.to_vec(),
        dry_run: false,
        bootenv: None,
    };
    if args.introspect || args.provide {
        expect(c, &names, "manageable", "the power credential check").await?;
    }
    if args.introspect {
        run(c, false, "inspect", &sel(&names)).await?;
        wait_while(c, &names, &["inspecting", "inspect wait"], "inspection", deadline, json_out).await?;
        expect(c, &names, "manageable", "inspection").await?;
    }
    if args.provide {
        run(c, false, "provide", &sel(&names)).await?;
    }
    Ok(())
}

/// Fails, naming each node and its `last_error`, unless every one of
/// `names` is in `state` after `what` (as TripleO's import does).
async fn expect(c: &Client, names: &[String], state: &str, what: &str) -> anyhow::Result<()> {
    let nodes: Vec<NodeView> = c.get("/api/v1/nodes").await?;
    let off: Vec<String> = nodes
        .iter()
        .filter(|n| names.contains(&n.name) && n.provision_state.to_string() != state)
        .map(|n| {
            format!("{} is {}: {}", n.name, n.provision_state, n.last_error.as_deref().unwrap_or("no error recorded"))
        })
        .collect();
    if off.is_empty() {
        return Ok(());
    }
    for line in &off {
        println!("after {what}: {line}");
    }
    bail!("{} of {} imported nodes are not {state} after {what}", off.len(), names.len())
}

/// Waits until none of `names` is in one of `states`, printing how many
/// have left them whenever that changes.
async fn wait_while(
    c: &Client,
    names: &[String],
    states: &[&str],
    what: &str,
    deadline: Instant,
    json_out: bool,
) -> anyhow::Result<()> {
    let mut shown = super::progress::Progress::new(what, json_out, "");
    loop {
        let nodes: Vec<NodeView> = c.get("/api/v1/nodes").await?;
        let busy = nodes
            .iter()
            .filter(|n| names.contains(&n.name) && states.contains(&n.provision_state.to_string().as_str()))
            .count();
        shown.update((names.len() - busy) as u64, names.len() as u64, "");
        if busy == 0 {
            shown.finish();
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("{what}: {busy} node(s) still busy after the wait (--wait)");
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}
