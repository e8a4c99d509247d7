//! The `fulcrum` command: `serve` runs the appliance, `demo` shows it off
//! on loopback, and the other subcommands are an API client.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use fulcrum::cli::{self, client::Client};
use fulcrum::config::Config;

#[derive(Debug, Parser)]
#[command(name = "fulcrum", version, about = "All-in-one bare-metal provisioning appliance")]
struct Cli {
    /// API endpoint for client subcommands.
    #[arg(long, global = true, env = "FULCRUM_ENDPOINT", default_value = "http://127.0.0.1")]
    endpoint: String,
    /// Print raw JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the appliance: DHCP, TFTP, HTTP boot, API, engine.
    Serve {
        /// TOML configuration file; without it, the built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Start a server on loopback and boot simulated machines through it.
    Demo {
        /// How many simulated machines.
        #[arg(long, default_value_t = 5)]
        machines: u8,
    },
    /// Nodes.
    #[command(subcommand)]
    Node(cli::NodeCmd),
    /// Networks.
    #[command(subcommand)]
    Network(cli::NetworkCmd),
    /// Boot environments.
    #[command(subcommand)]
    Bootenv(cli::BootenvCmd),
    /// DHCP leases.
    #[command(subcommand)]
    Lease(cli::LeaseCmd),
    /// Deployments (commit --wait shows convergence live).
    #[command(subcommand)]
    Deployment(cli::engine::DeploymentCmd),
    /// Roles.
    #[command(subcommand)]
    Role(cli::engine::RoleCmd),
    /// Noderoles: roles bound to nodes.
    #[command(subcommand)]
    Noderole(cli::engine::NodeRoleCmd),
    /// Runs and their logs.
    #[command(subcommand)]
    Run(cli::engine::RunCmd),
}

fn init_tracing(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FULCRUM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    let client = Client::new(&cli.endpoint);
    match cli.cmd {
        Cmd::Serve { config } => {
            init_tracing("info");
            let cfg = match config {
                Some(path) => Config::load(&path)?,
                None => Config::default().resolved(),
            };
            fulcrum::server::serve(cfg).await
        }
        Cmd::Demo { machines } => {
            init_tracing("warn");
            fulcrum::demo::run(machines).await
        }
        Cmd::Node(c) => cli::node(&client, cli.json, c).await,
        Cmd::Network(c) => cli::network(&client, cli.json, c).await,
        Cmd::Bootenv(c) => cli::bootenv(&client, cli.json, c).await,
        Cmd::Lease(c) => cli::lease(&client, cli.json, c).await,
        Cmd::Deployment(c) => cli::engine::deployment(&client, cli.json, c).await,
        Cmd::Role(c) => cli::engine::role(&client, cli.json, c).await,
        Cmd::Noderole(c) => cli::engine::noderole(&client, cli.json, c).await,
        Cmd::Run(c) => cli::engine::run(&client, cli.json, c).await,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fulcrum: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match rt.block_on(run(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fulcrum: {e:#}");
            ExitCode::FAILURE
        }
    }
}
