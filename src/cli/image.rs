//! `fulcrum image build discovery`: builds the discovery image on this
//! machine (no API call) into the directory the discovery bootenv serves
//! it from, and prints what went into it.

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::image::discovery::{self, Inputs, DEFAULT_MODULES};

/// `fulcrum image ...`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ImageCmd {
    /// Build an image.
    #[command(subcommand)]
    Build(BuildCmd),
}

/// What to build.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BuildCmd {
    /// The discovery image (kernel, initramfs with the agent).
    Discovery(DiscoveryArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct DiscoveryArgs {
    /// Where to write vmlinuz, initrd.img and manifest.json (default: the
    /// config's files directory, `discovery/`).
    #[arg(long)]
    out: Option<PathBuf>,
    /// The server's config, for its files directory.
    #[arg(long)]
    config: Option<PathBuf>,
    /// A kernel .deb to use instead of downloading one.
    #[arg(long)]
    kernel_deb: Option<PathBuf>,
    /// The kernel package to download with apt-get.
    #[arg(long, default_value = "linux-image-amd64")]
    kernel_package: String,
    /// The static agent (default: /usr/lib/fulcrum/fulcrum-agent, or
    /// fulcrum-agent next to this program).
    #[arg(long)]
    agent: Option<PathBuf>,
    /// A static busybox.
    #[arg(long, default_value = "/bin/busybox")]
    busybox: PathBuf,
    /// The drivers to carry, comma-separated (default: common NICs and disks).
    #[arg(long, value_delimiter = ',')]
    modules: Option<Vec<String>>,
}

/// Where the agent is when `--agent` is not given.
fn find_agent() -> anyhow::Result<PathBuf> {
    let mut candidates = vec![PathBuf::from("/usr/lib/fulcrum/fulcrum-agent")];
    if let Some(dir) = std::env::current_exe().ok().as_deref().and_then(Path::parent) {
        candidates.push(dir.join("fulcrum-agent"));
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        anyhow::anyhow!(
            "no fulcrum-agent found (looked in /usr/lib/fulcrum and next to this program); build it with \
             RUSTFLAGS=\"-C target-feature=+crt-static\" cargo build --profile agent -p fulcrum-agent \
             --target x86_64-unknown-linux-gnu, and pass --agent"
        )
    })
}

pub(crate) fn image(cmd: ImageCmd, json_out: bool) -> anyhow::Result<()> {
    let ImageCmd::Build(BuildCmd::Discovery(a)) = cmd;
    let out = match a.out {
        Some(o) => o,
        None => {
            let cfg = match &a.config {
                Some(p) => Config::load(p)?,
                None => Config::default().resolved(),
            };
            cfg.files_dir().join("discovery")
        }
    };
    let inputs = Inputs {
        kernel_deb: a.kernel_deb,
        kernel_package: a.kernel_package,
        agent: match a.agent {
            Some(p) => p,
            None => find_agent()?,
        },
        busybox: a.busybox,
        modules: a.modules.unwrap_or_else(|| DEFAULT_MODULES.iter().map(|m| m.to_string()).collect()),
        out: out.clone(),
    };
    let shown = super::progress::Progress::spinner("building the discovery image", json_out);
    let built = discovery::build(&inputs);
    shown.finish();
    let m = built?;
    if json_out {
        println!("{}", serde_json::to_string_pretty(&m)?);
        return Ok(());
    }
    println!("discovery image in {}", out.display());
    println!("  kernel   {} ({})", m.kernel_version, m.kernel_package);
    println!("  initrd   {} bytes, sha256 {}", m.initrd_bytes, m.initrd_sha256);
    println!("  drivers  {} ({} modules in all)", m.drivers.join(" "), m.modules);
    if !m.drivers_missing.is_empty() {
        println!("  not in this kernel as modules: {}", m.drivers_missing.join(" "));
    }
    println!("  agent    sha256 {}", m.agent_sha256);
    Ok(())
}
