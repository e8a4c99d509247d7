//! Power control of nodes. Drivers:
//! - `ssh`: `ssh root@<node> reboot` (the node must be up);
//! - `command`: an operator-given shell command, run on the admin node with
//!   `FULCRUM_NODE`, `FULCRUM_NODE_IP` and `FULCRUM_POWER_ACTION` set (wrap
//!   ipmitool, a PDU, or a VM monitor in it).
//!
//! Power actions that follow a state change are issued only after that
//! change has committed (see `engine::hooks::Effect`).

use std::process::Stdio;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::process::Command;

use crate::config::EngineConfig;
use crate::state::model::Node;

/// How a node's power is controlled.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "driver", rename_all = "lowercase", deny_unknown_fields)]
pub enum PowerSpec {
    Ssh,
    Command { command: String },
}

/// A power action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum PowerAction {
    #[serde(rename = "power on")]
    On,
    #[serde(rename = "power off")]
    Off,
    #[serde(rename = "reboot")]
    Reboot,
}

impl PowerAction {
    fn word(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Reboot => "reboot",
        }
    }
}

/// Why a power action did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PowerError {
    #[error("node `{0}` has no power driver")]
    NoDriver(String),
    #[error("the ssh driver can only reboot or power off a running node")]
    Unsupported,
    #[error("node `{0}` has no address for ssh")]
    NoAddress(String),
    #[error("power command failed: {0}")]
    Failed(String),
}

/// Performs `action` on `node`; returns the driver's output.
pub async fn act(node: &Node, action: PowerAction, cfg: &EngineConfig) -> Result<String, PowerError> {
    let spec = node.power.clone().ok_or_else(|| PowerError::NoDriver(node.name.clone()))?;
    let ip = node.ipv4.map(|i| i.to_string()).unwrap_or_default();
    let mut cmd = match spec {
        PowerSpec::Command { command } => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(command);
            c
        }
        PowerSpec::Ssh => {
            let verb = match action {
                PowerAction::Reboot => "reboot",
                PowerAction::Off => "poweroff",
                PowerAction::On => return Err(PowerError::Unsupported),
            };
            if ip.is_empty() {
                return Err(PowerError::NoAddress(node.name.clone()));
            }
            let mut c = crate::net::ssh::command(cfg, &ip);
            c.arg(verb);
            c
        }
    };
    cmd.env("FULCRUM_NODE", &node.name)
        .env("FULCRUM_NODE_IP", &ip)
        .env("FULCRUM_POWER_ACTION", action.word())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    let out = tokio::time::timeout(Duration::from_secs(60), cmd.output())
        .await
        .map_err(|_| PowerError::Failed("timed out after 60 s".into()))?
        .map_err(|e| PowerError::Failed(e.to_string()))?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(PowerError::Failed(format!("{}: {}", out.status, text.trim())))
    }
}
