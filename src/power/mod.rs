//! Power control of nodes. Drivers:
//! - `ssh`: `ssh root@<node> reboot` (the node must be up);
//! - `command`: an operator-given shell command, run on the admin node with
//!   `FULCRUM_NODE`, `FULCRUM_NODE_IP` and `FULCRUM_POWER_ACTION` set (wrap
//!   a PDU or a VM monitor in it);
//! - `ipmi`: IPMI over LAN 2.0 to the node's BMC with Debian's `ipmitool`
//!   (`-I lanplus`, the password in the environment); a reboot sets the
//!   next boot to PXE and switches the machine on, or cycles it; the next
//!   boot's device can be set on its own (`chassis bootdev pxe|disk`);
//! - `redfish`: the same over Redfish ([`redfish`]).
//!
//! The engine calls [`act`] only after the commit that decided the action,
//! or for an operator's own power request.

mod redfish;

use std::net::Ipv4Addr;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::net::ssh::{self, SshOptions};
use crate::types::power::{BootDevice, PowerAction, PowerSpec};
use crate::types::secret::Secret;

/// How long a driver may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// The node a power action is for.
#[derive(Debug, Clone)]
pub(crate) struct Target {
    pub(crate) node: String,
    pub(crate) ip: Option<Ipv4Addr>,
    pub(crate) spec: Option<PowerSpec>,
    /// Its firmware is UEFI: a BMC is asked for a UEFI network boot
    /// (`options=efiboot`, `BootSourceOverrideMode = UEFI`), without which
    /// many boot the legacy ROM or nothing.
    pub(crate) uefi: bool,
}

/// Why a power action did not happen.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PowerError {
    #[error("node `{0}` has no power driver")]
    NoDriver(String),
    #[error("the ssh driver can only reboot or power off a running node")]
    Unsupported,
    #[error("node `{0}` has no address for ssh")]
    NoAddress(String),
    #[error("the power driver did not finish within {} s", TIMEOUT.as_secs())]
    TimedOut,
    #[error("cannot run the power driver")]
    Spawn(#[source] std::io::Error),
    #[error("power driver failed ({status}): {output}")]
    Failed { status: std::process::ExitStatus, output: String },
    #[error("cannot reach the BMC")]
    Http(#[source] reqwest::Error),
    #[error("the BMC answered HTTP {status} to {what}: {body}")]
    Bmc { what: String, status: u16, body: String },
    #[error("the BMC's answer is not what Redfish says: {0}")]
    Answer(String),
    #[error("an https:// BMC needs `tls_fingerprint` (its certificate's SHA-256); nothing else is trusted")]
    Unpinned,
    #[error("TLS: {0}")]
    Tls(String),
}

/// ipmitool's words for the next boot from `device`, for a UEFI machine
/// or a legacy one.
fn bootdev(device: BootDevice, uefi: bool) -> &'static [&'static str] {
    match (device, uefi) {
        (BootDevice::Pxe, false) => &["chassis", "bootdev", "pxe"],
        (BootDevice::Pxe, true) => &["chassis", "bootdev", "pxe", "options=efiboot"],
        (BootDevice::Disk, false) => &["chassis", "bootdev", "disk"],
        (BootDevice::Disk, true) => &["chassis", "bootdev", "disk", "options=efiboot"],
    }
}

/// One ipmitool call (IPMI over LAN 2.0; the password goes in the
/// environment, `-E`, never argv); its output, or why it failed.
async fn ipmi(address: &str, port: u16, user: &str, password: &Secret, args: &[&str]) -> Result<String, PowerError> {
    let mut c = Command::new("ipmitool");
    c.args(["-I", "lanplus", "-H", address, "-p", &port.to_string(), "-U", user, "-E"]).args(args);
    c.env("IPMI_PASSWORD", password.expose()).stdin(Stdio::null()).kill_on_drop(true);
    run(c).await
}

async fn run(mut cmd: Command) -> Result<String, PowerError> {
    let out = tokio::time::timeout(TIMEOUT, cmd.output())
        .await
        .map_err(|_| PowerError::TimedOut)?
        .map_err(PowerError::Spawn)?;
    let text = String::from_utf8_lossy(&out.stdout).to_string() + &String::from_utf8_lossy(&out.stderr);
    if out.status.success() {
        Ok(text)
    } else {
        Err(PowerError::Failed { status: out.status, output: text.trim().to_string() })
    }
}

/// Performs `action` on `target`; returns the driver's output.
pub(crate) async fn act(target: &Target, action: PowerAction, ssh_opts: &SshOptions) -> Result<String, PowerError> {
    let spec = target.spec.clone().ok_or_else(|| PowerError::NoDriver(target.node.clone()))?;
    let ip = target.ip.map(|i| i.to_string()).unwrap_or_default();
    let mut cmd = match spec {
        PowerSpec::Redfish { address, system, user, password, tls_fingerprint } => {
            let bmc = redfish::Bmc {
                address: &address,
                system: system.as_deref(),
                user: &user,
                password: &password,
                tls_fingerprint,
                uefi: target.uefi,
            };
            return tokio::time::timeout(TIMEOUT, bmc.act(action)).await.map_err(|_| PowerError::TimedOut)?;
        }
        PowerSpec::Command { command } => {
            let mut c = Command::new("sh");
            c.arg("-c").arg(command);
            c
        }
        PowerSpec::Ipmi { address, port, user, password } => {
            let bmc = |args: &'static [&'static str]| {
                let (address, user, password) = (address.clone(), user.clone(), password.clone());
                async move { ipmi(&address, port, &user, &password, args).await }
            };
            return match action {
                PowerAction::On => bmc(&["chassis", "power", "on"]).await,
                PowerAction::Off => bmc(&["chassis", "power", "off"]).await,
                PowerAction::Status => bmc(&["chassis", "power", "status"]).await,
                PowerAction::BootFrom(device) => bmc(bootdev(device, target.uefi)).await,
                // A machine that is off is switched on; one that is on is
                // cycled. Either way its next boot is from the network,
                // where Fulcrum's answers decide what it boots.
                PowerAction::Reboot => {
                    let state = bmc(&["chassis", "power", "status"]).await?;
                    bmc(bootdev(BootDevice::Pxe, target.uefi)).await?;
                    let verb: &'static [&'static str] = if state.contains("is off") {
                        &["chassis", "power", "on"]
                    } else {
                        &["chassis", "power", "cycle"]
                    };
                    bmc(verb).await
                }
            };
        }
        PowerSpec::Ssh => {
            let verb = match action {
                PowerAction::Reboot => "reboot",
                PowerAction::Off => "poweroff",
                PowerAction::On | PowerAction::Status | PowerAction::BootFrom(_) => {
                    return Err(PowerError::Unsupported)
                }
            };
            if ip.is_empty() {
                return Err(PowerError::NoAddress(target.node.clone()));
            }
            let mut c = ssh::command(ssh_opts, &ip);
            c.arg(verb);
            c
        }
    };
    cmd.env("FULCRUM_NODE", &target.node)
        .env("FULCRUM_NODE_IP", &ip)
        .env("FULCRUM_POWER_ACTION", action.word())
        .stdin(Stdio::null())
        .kill_on_drop(true);
    run(cmd).await
}
