//! The client side of the `fulcrum` command: subcommands that call the REST
//! API at `--endpoint` (or `FULCRUM_ENDPOINT`) and print human tables, or
//! the raw JSON with `--json`.

pub mod client;
pub mod engine;
pub mod table;

use clap::Subcommand;
use serde_json::{json, Value};

use client::Client;
use table::Table;

/// `fulcrum node ...`
#[derive(Debug, Subcommand)]
pub enum NodeCmd {
    /// List nodes.
    List,
    /// Show one node.
    Show { name: String },
    /// Register a node.
    Create {
        name: String,
        /// MAC address (repeat for several NICs).
        #[arg(long = "mac", required = true)]
        macs: Vec<String>,
        #[arg(long)]
        bootenv: Option<String>,
        #[arg(long)]
        network: Option<String>,
        /// Static IPv4 address instead of the next free one.
        #[arg(long)]
        address: Option<String>,
    },
    /// Set the bootenv of the node's next network boot.
    SetBootenv { name: String, bootenv: String },
    /// Apply a provisioning verb (manage, inspect, provide, deploy, ...).
    Provision { name: String, verb: String },
    /// Delete a node.
    Delete { name: String },
}

/// `fulcrum network ...`
// Parsed once per process; boxing the big variant buys nothing.
#[allow(clippy::large_enum_variant)]
#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    List,
    Show {
        name: String,
    },
    /// Create a network, e.g. `fulcrum network create admin --subnet 10.0.0.0/24
    /// --router 10.0.0.1 --static 10.0.0.10-10.0.0.99 --dynamic 10.0.0.100-10.0.0.200
    /// --domain cluster.example`.
    Create {
        name: String,
        #[arg(long)]
        subnet: String,
        /// START-END of the static (node) range.
        #[arg(long = "static")]
        static_range: String,
        /// START-END of the dynamic range for unknown clients.
        #[arg(long)]
        dynamic: Option<String>,
        #[arg(long)]
        domain: String,
        #[arg(long)]
        router: Option<String>,
        /// `auto` or an explicit /64.
        #[arg(long)]
        v6prefix: Option<String>,
        /// The admin node's own address on this network.
        #[arg(long)]
        server: Option<String>,
        #[arg(long)]
        interface: Option<String>,
        #[arg(long = "dns")]
        dns_servers: Vec<String>,
        #[arg(long)]
        lease_seconds: Option<u32>,
        #[arg(long)]
        mtu: Option<u16>,
    },
    Delete {
        name: String,
    },
}

/// `fulcrum bootenv ...`
#[derive(Debug, Subcommand)]
pub enum BootenvCmd {
    List,
    Show { name: String },
}

/// `fulcrum lease ...`
#[derive(Debug, Subcommand)]
pub enum LeaseCmd {
    List,
}

fn range(field: &str, s: &str) -> anyhow::Result<Value> {
    let (a, b) = s
        .split_once('-')
        .ok_or_else(|| anyhow::anyhow!("--{field} `{s}`: expected START-END, e.g. 10.0.0.10-10.0.0.99"))?;
    Ok(json!({ "start": a.trim(), "end": b.trim() }))
}

fn node_table(nodes: &[Value]) -> Table {
    let mut t = Table::new(&["NAME", "MACS", "ADDRESSES", "BOOTENV", "ALIVE", "AVAILABLE", "STATE"]);
    for n in nodes {
        t.row(vec![
            table::s(&n["name"]),
            table::list(&n["macs"]),
            table::list(&n["addresses"]),
            table::s(&n["bootenv"]),
            table::s(&n["alive"]),
            table::s(&n["available"]),
            table::s(&n["provision_state"]),
        ]);
    }
    t
}

fn network_table(nets: &[Value]) -> Table {
    let mut t = Table::new(&["NAME", "SUBNET", "STATIC", "DYNAMIC", "DOMAIN", "IPV6"]);
    for n in nets {
        let r = |v: &Value| {
            if v.is_null() {
                "-".to_string()
            } else {
                format!("{}-{}", table::s(&v["start"]), table::s(&v["end"]))
            }
        };
        t.row(vec![
            table::s(&n["name"]),
            table::s(&n["subnet"]),
            r(&n["static"]),
            r(&n["dynamic"]),
            table::s(&n["domain"]),
            table::s(&n["v6_network"]),
        ]);
    }
    t
}

pub(crate) fn print(json_out: bool, v: &Value, table: impl FnOnce(&Value) -> Table) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        print!("{}", table(v).render());
    }
}

pub(crate) fn one(v: &Value) -> Vec<Value> {
    vec![v.clone()]
}

pub(crate) fn many(v: &Value) -> Vec<Value> {
    v.as_array().cloned().unwrap_or_default()
}

pub async fn node(c: &Client, json_out: bool, cmd: NodeCmd) -> anyhow::Result<()> {
    match cmd {
        NodeCmd::List => print(json_out, &c.get("/api/v1/nodes").await?, |v| node_table(&many(v))),
        NodeCmd::Show { name } => {
            print(json_out, &c.get(&format!("/api/v1/nodes/{name}")).await?, |v| node_table(&one(v)))
        }
        NodeCmd::Create { name, macs, bootenv, network, address } => {
            let mut body = json!({ "name": name, "macs": macs });
            for (k, v) in [("bootenv", bootenv), ("network", network), ("address", address)] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            print(json_out, &c.send("POST", "/api/v1/nodes", Some(body)).await?, |v| node_table(&one(v)))
        }
        NodeCmd::SetBootenv { name, bootenv } => {
            let v =
                c.send("PUT", &format!("/api/v1/nodes/{name}/bootenv"), Some(json!({ "bootenv": bootenv }))).await?;
            print(json_out, &v, |v| node_table(&one(v)))
        }
        NodeCmd::Provision { name, verb } => {
            let v = c
                .send("PUT", &format!("/api/v1/nodes/{name}/states/provision"), Some(json!({ "target": verb })))
                .await?;
            print(json_out, &v, |v| node_table(&one(v)))
        }
        NodeCmd::Delete { name } => {
            c.send("DELETE", &format!("/api/v1/nodes/{name}"), None).await?;
            if !json_out {
                println!("deleted node {name}");
            }
        }
    }
    Ok(())
}

pub async fn network(c: &Client, json_out: bool, cmd: NetworkCmd) -> anyhow::Result<()> {
    match cmd {
        NetworkCmd::List => print(json_out, &c.get("/api/v1/networks").await?, |v| network_table(&many(v))),
        NetworkCmd::Show { name } => {
            print(json_out, &c.get(&format!("/api/v1/networks/{name}")).await?, |v| network_table(&one(v)))
        }
        NetworkCmd::Create {
            name,
            subnet,
            static_range,
            dynamic,
            domain,
            router,
            v6prefix,
            server,
            interface,
            dns_servers,
            lease_seconds,
            mtu,
        } => {
            let mut body = json!({
                "name": name, "subnet": subnet, "static": range("static", &static_range)?, "domain": domain,
                "dns_servers": dns_servers,
            });
            if let Some(d) = dynamic {
                body["dynamic"] = range("dynamic", &d)?;
            }
            for (k, v) in [("router", router), ("v6prefix", v6prefix), ("server", server), ("interface", interface)] {
                if let Some(v) = v {
                    body[k] = json!(v);
                }
            }
            if let Some(l) = lease_seconds {
                body["lease_seconds"] = json!(l);
            }
            if let Some(m) = mtu {
                body["mtu"] = json!(m);
            }
            print(json_out, &c.send("POST", "/api/v1/networks", Some(body)).await?, |v| network_table(&one(v)))
        }
        NetworkCmd::Delete { name } => {
            c.send("DELETE", &format!("/api/v1/networks/{name}"), None).await?;
            if !json_out {
                println!("deleted network {name}");
            }
        }
    }
    Ok(())
}

pub async fn bootenv(c: &Client, json_out: bool, cmd: BootenvCmd) -> anyhow::Result<()> {
    let table = |v: &Value| {
        table::of(&["NAME", "KIND", "OS", "KERNEL", "DESCRIPTION"], v, |b| {
            ["name", "kind", "os", "kernel", "description"].iter().map(|k| table::s(&b[*k])).collect()
        })
    };
    match cmd {
        BootenvCmd::List => print(json_out, &c.get("/api/v1/bootenvs").await?, table),
        BootenvCmd::Show { name } => print(json_out, &c.get(&format!("/api/v1/bootenvs/{name}")).await?, table),
    }
    Ok(())
}

pub async fn lease(c: &Client, json_out: bool, cmd: LeaseCmd) -> anyhow::Result<()> {
    match cmd {
        LeaseCmd::List => print(json_out, &c.get("/api/v1/leases").await?, |v| {
            let mut t = Table::new(&["IP", "MAC", "NETWORK", "HOSTNAME", "EXPIRES"]);
            for l in many(v) {
                t.row(vec![
                    table::s(&l["ip"]),
                    table::s(&l["mac"]),
                    table::s(&l["network"]),
                    table::s(&l["hostname"]),
                    table::s(&l["expires_at"]),
                ]);
            }
            t
        }),
    }
    Ok(())
}
