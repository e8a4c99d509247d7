//! The `fulcrum` program: parses the command line and runs the appliance
//! (`serve`), the loopback demo (`demo`), or one of the API client
//! subcommands of [`crate::cli`].

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::cli::client::Client;
use crate::cli::trust::Trust;
use crate::cli::{auth, dns, engine, inventory, status};
use crate::config::{Config, LogFormat};
use crate::types::fingerprint::Fingerprint;
use crate::types::secret::Secret;

#[derive(Debug, Parser)]
#[command(name = "fulcrum", version, about = "All-in-one bare-metal provisioning appliance")]
struct Cli {
    #[command(flatten)]
    opts: ClientOpts,
    #[command(subcommand)]
    cmd: Cmd,
}

/// How client subcommands reach and trust the API.
#[derive(Debug, clap::Args)]
struct ClientOpts {
    /// API endpoint for client subcommands.
    #[arg(long, global = true, env = "FULCRUM_ENDPOINT", default_value = "https://127.0.0.1")]
    endpoint: String,
    /// Trust exactly the API certificate with this SHA-256 fingerprint.
    #[arg(long, global = true, env = "FULCRUM_TLS_FINGERPRINT")]
    tls_fingerprint: Option<Fingerprint>,
    /// Trust API certificates that chain to one in this PEM file (name checked).
    #[arg(long, global = true, env = "FULCRUM_CACERT")]
    cacert: Option<PathBuf>,
    /// Without either of those, pin the certificate in this file when it
    /// can be read: the self-signed one Fulcrum makes at first start.
    #[arg(long, global = true, env = "FULCRUM_SERVER_CERT", default_value = "/var/lib/fulcrum/tls/cert.pem")]
    server_cert: PathBuf,
    /// Print the API's JSON instead of tables.
    #[arg(long, global = true)]
    json: bool,
    /// API token for client subcommands (default: the token file).
    #[arg(long, global = true, env = "FULCRUM_TOKEN", hide_env_values = true)]
    token: Option<String>,
    /// Where to read the API token when none is given: the admin token
    /// Fulcrum writes at first start.
    #[arg(long, global = true, env = "FULCRUM_TOKEN_FILE", default_value = "/var/lib/fulcrum/admin.token")]
    token_file: PathBuf,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Run the appliance: DHCP, TFTP, HTTP boot, API, engine.
    Serve {
        /// TOML configuration file; without it, the built-in defaults.
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Check a configuration file as `serve` would read it, without
    /// starting anything (as `nginx -t`): prints `ok`, or the key at fault.
    CheckConfig {
        /// TOML configuration file.
        #[arg(long, default_value = "/etc/fulcrum/fulcrum.toml")]
        config: PathBuf,
    },
    /// Start a server on loopback and boot simulated machines through it.
    Demo {
        /// How many simulated machines.
        #[arg(long, default_value_t = 5)]
        machines: u8,
    },
    /// Build the images Fulcrum boots machines with (on this machine).
    #[command(subcommand)]
    Image(crate::cli::image::ImageCmd),
    /// Print a shell completion script: `fulcrum completions bash >
    /// /etc/bash_completion.d/fulcrum` (or zsh, fish, elvish, powershell).
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
    #[command(flatten)]
    Api(Box<ApiCmd>),
}

/// The subcommands that call the API.
#[derive(Debug, Subcommand)]
enum ApiCmd {
    /// Nodes.
    #[command(subcommand)]
    Node(inventory::NodeCmd),
    /// Networks.
    #[command(subcommand)]
    Network(inventory::NetworkCmd),
    /// Boot environments.
    #[command(subcommand)]
    Bootenv(inventory::BootenvCmd),
    /// DHCP leases.
    #[command(subcommand)]
    Lease(inventory::LeaseCmd),
    /// DNS: operator records, zones, what a name gets now.
    #[command(subcommand)]
    Dns(dns::DnsCmd),
    /// Deployments (commit --wait shows convergence live).
    #[command(subcommand)]
    Deployment(engine::DeploymentCmd),
    /// Roles.
    #[command(subcommand)]
    Role(engine::RoleCmd),
    /// Noderoles: roles bound to nodes.
    #[command(subcommand)]
    Noderole(engine::NodeRoleCmd),
    /// Runs and their logs.
    #[command(subcommand)]
    Run(engine::RunCmd),
    /// API tokens (admin).
    #[command(subcommand)]
    Token(auth::TokenCmd),
    /// The server's version, listeners and API certificate.
    Status,
    /// The API itself: every operation it describes (`api list`), and any call (`api call`).
    #[command(subcommand, name = "api")]
    Raw(crate::cli::raw::RawCmd),
    /// The audit log of API writes.
    Audit {
        /// Only entries after this id.
        #[arg(long)]
        after: Option<u64>,
        /// At most this many, the newest.
        #[arg(long, default_value_t = 50)]
        limit: usize,
    },
}

/// The token the client presents: `--token` (or `FULCRUM_TOKEN`), else
/// the token file when it can be read.
fn token_of(cli: &ClientOpts) -> Option<Secret> {
    if let Some(t) = &cli.token {
        return Some(Secret::new(t.trim()));
    }
    std::fs::read_to_string(&cli.token_file).ok().map(|t| Secret::new(t.trim())).filter(|t| !t.expose().is_empty())
}

async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Serve { config } => {
            let cfg = match config {
                Some(path) => Config::load(&path)?,
                None => Config::default().resolved(),
            };
            crate::log::init(cfg.log.format, "info")?;
            crate::server::serve(cfg).await
        }
        Cmd::CheckConfig { config } => {
            Config::load(&config)?;
            println!("{}: ok", config.display());
            Ok(())
        }
        Cmd::Demo { machines } => {
            crate::log::init(LogFormat::Text, "warn")?;
            crate::demo::run(machines).await
        }
        Cmd::Image(cmd) => {
            let json = cli.opts.json;
            tokio::task::spawn_blocking(move || crate::cli::image::image(cmd, json)).await?
        }
        Cmd::Completions { shell } => {
            use anyhow::Context;
            use clap::CommandFactory;
            use std::io::Write;
            // Made whole first: clap_complete panics on a failed write
            // (a closed pipe); this way that is an error, said plainly.
            let mut script = Vec::new();
            clap_complete::generate(shell, &mut Cli::command(), "fulcrum", &mut script);
            std::io::stdout().write_all(&script).context("writing the completion script")
        }
        Cmd::Api(cmd) => call_api(&cli.opts, *cmd).await,
    }
}

/// Runs one API client subcommand.
async fn call_api(cli: &ClientOpts, cmd: ApiCmd) -> anyhow::Result<()> {
    let trust = Trust::resolve(cli.tls_fingerprint, cli.cacert.as_deref(), &cli.server_cert)?;
    let c = Client::new(&cli.endpoint, token_of(cli), &trust)?;
    let json = cli.json;
    match cmd {
        ApiCmd::Status => status::status(&c, json, &cli.endpoint, &trust).await,
        ApiCmd::Node(cmd) => inventory::node(&c, json, cmd).await,
        ApiCmd::Network(cmd) => inventory::network(&c, json, cmd).await,
        ApiCmd::Bootenv(cmd) => inventory::bootenv(&c, json, cmd).await,
        ApiCmd::Lease(cmd) => inventory::lease(&c, json, cmd).await,
        ApiCmd::Dns(cmd) => dns::dns(&c, json, cmd).await,
        ApiCmd::Deployment(cmd) => engine::deployment(&c, json, cmd).await,
        ApiCmd::Role(cmd) => engine::role(&c, json, cmd).await,
        ApiCmd::Noderole(cmd) => engine::noderole(&c, json, cmd).await,
        ApiCmd::Run(cmd) => engine::run(&c, json, cmd).await,
        ApiCmd::Token(cmd) => auth::token(&c, json, cmd).await,
        ApiCmd::Audit { after, limit } => auth::audit(&c, json, after, limit).await,
        ApiCmd::Raw(cmd) => crate::cli::raw::raw(&c, json, cmd).await,
    }
}

/// The `fulcrum` program: parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("fulcrum: cannot start runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = rt.block_on(run(cli));
    // Whatever is still running (after a second signal) gets a moment, not
    // forever.
    rt.shutdown_timeout(std::time::Duration::from_secs(2));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("fulcrum: {e:#}");
            ExitCode::FAILURE
        }
    }
}
