//! How a node's power is controlled, and the actions a driver takes. The
//! drivers themselves are in the `power` room.

use serde::{Deserialize, Serialize};

use super::fingerprint::Fingerprint;
use super::secret::Secret;

/// A node's power driver and its settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "driver", rename_all = "lowercase", deny_unknown_fields)]
pub(crate) enum PowerSpec {
    /// `ssh root@<node> reboot`: the node must be up.
    Ssh,
    /// An operator's shell command, run on the admin node.
    Command {
        /// The command (`sh -c`).
        command: String,
    },
    /// IPMI over LAN 2.0 (`ipmitool -I lanplus`) to the node's BMC.
    Ipmi {
        /// The BMC's address (name or IP).
        address: String,
        /// Its UDP port.
        #[serde(default = "ipmi_port")]
        port: u16,
        user: String,
        /// Never shown: views and logs say `<redacted>`.
        password: Secret,
    },
    /// Redfish (DMTF) to the node's BMC: ComputerSystem.Reset, and
    /// Boot.BootSourceOverrideTarget for the next boot.
    Redfish {
        /// The BMC's base URL (`https://10.0.0.5`, `http://127.0.0.1:8000`).
        address: String,
        /// The system's path or id under `/redfish/v1/Systems/` (default:
        /// the BMC's first system).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        system: Option<String>,
        user: String,
        /// Never shown: views and logs say `<redacted>`.
        password: Secret,
        /// For `https://`: the BMC certificate's SHA-256 fingerprint (BMCs
        /// present self-signed certificates; nothing else is trusted).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tls_fingerprint: Option<Fingerprint>,
    },
}

impl PowerSpec {
    /// Whether it talks to a BMC (whose credentials `manage` checks).
    pub(crate) fn is_bmc(&self) -> bool {
        matches!(self, PowerSpec::Ipmi { .. } | PowerSpec::Redfish { .. })
    }

    /// Whether it can power on a machine that is off (a BMC, or an
    /// operator's command; not `ssh`, which needs the machine up).
    pub(crate) fn powers_on(&self) -> bool {
        !matches!(self, PowerSpec::Ssh)
    }
}

/// IPMI's port (RMCP+).
fn ipmi_port() -> u16 {
    623
}

/// Whether a machine is on, as its driver last said: never guessed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PowerState {
    On,
    Off,
    /// No driver has said (or the driver cannot tell).
    #[default]
    Unknown,
}

/// Where a machine boots from next.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BootDevice {
    /// The network (PXE, then Fulcrum's answers decide).
    Pxe,
    /// Its local disk.
    Disk,
}

/// A power action.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PowerAction {
    /// Switch on.
    On,
    /// Switch off.
    Off,
    /// Power-cycle (or switch on a machine that is off), booting from the
    /// network next.
    Reboot,
    /// Ask whether it is on (checks the credentials too).
    Status,
    /// Set the device of the next boot (once).
    BootFrom(BootDevice),
}

impl PowerAction {
    /// The word a command driver is given in `FULCRUM_POWER_ACTION`.
    pub(crate) fn word(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Reboot => "reboot",
            PowerAction::Status => "status",
            PowerAction::BootFrom(BootDevice::Pxe) => "boot_pxe",
            PowerAction::BootFrom(BootDevice::Disk) => "boot_disk",
        }
    }

    /// Whether it changes the machine's power (not a question, not the
    /// boot device).
    pub(crate) fn switches(self) -> bool {
        matches!(self, PowerAction::On | PowerAction::Off | PowerAction::Reboot)
    }
}

/// What a driver's answer to `status` says: `is on`, `is off` (ipmitool's
/// `Chassis Power is on`, the Redfish driver's `power is on`), else not known.
pub(crate) fn state_in(answer: &str) -> PowerState {
    let answer = answer.to_ascii_lowercase();
    if answer.contains("is on") {
        PowerState::On
    } else if answer.contains("is off") {
        PowerState::Off
    } else {
        PowerState::Unknown
    }
}
