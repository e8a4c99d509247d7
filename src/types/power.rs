//! How a node's power is controlled, and the actions a driver takes. The
//! drivers themselves are in the `power` room.

use serde::{Deserialize, Serialize};

use super::secret::Secret;

/// A node's power driver and its settings.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
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
}

/// IPMI's port (RMCP+).
fn ipmi_port() -> u16 {
    623
}

/// Whether a machine is on, as its driver last said: never guessed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum PowerState {
    On,
    Off,
    /// No driver has said (or the driver cannot tell).
    #[default]
    Unknown,
}

/// A power action.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) enum PowerAction {
    /// Switch on.
    #[serde(rename = "power on")]
    On,
    /// Switch off.
    #[serde(rename = "power off")]
    Off,
    /// Power-cycle.
    #[serde(rename = "reboot")]
    Reboot,
    /// Ask whether it is on (checks the credentials too).
    #[serde(rename = "status")]
    Status,
}

impl PowerAction {
    /// `on`, `off` or `reboot`: the word a command driver is given.
    pub(crate) fn word(self) -> &'static str {
        match self {
            PowerAction::On => "on",
            PowerAction::Off => "off",
            PowerAction::Reboot => "reboot",
            PowerAction::Status => "status",
        }
    }
}
