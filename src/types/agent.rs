//! What Fulcrum hands the discovery agent (`fulcrum-agent`, in `agent/`)
//! to do, as it goes on the wire: a command with an id the agent reports
//! back with, and its action.

use serde::{Deserialize, Serialize};

use super::secret::Handover;

/// How much of each disk cleaning erases (`lifecycle.erase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EraseMode {
    /// Partition tables and the first and last MiB of the disk and of each
    /// partition (Ironic's `erase_devices_metadata`).
    #[default]
    Metadata,
    /// Every byte, with zeros.
    Full,
}

/// How a disk image is laid out in its file (`image.format`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    /// The disk's bytes as they are.
    #[default]
    Raw,
    /// QEMU's copy-on-write format (versions 2 and 3, deflate-compressed
    /// clusters included; no backing file, no encryption): the agent
    /// expands it onto the disk, unallocated clusters as zeros.
    Qcow2,
}

/// One thing the agent does.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum AgentAction {
    /// Gather the inventory again and report it.
    Inspect,
    /// Erase every writable disk.
    Erase {
        mode: EraseMode,
    },
    /// Write a whole-disk image (fetched from `url`, relative to the
    /// agent's API base when it starts with `/`, laid out as `format`
    /// says) to the smallest writable disk it fits on, and check the
    /// SHA-256 of the file fetched.
    WriteImage {
        url: String,
        sha256: String,
        format: ImageFormat,
    },
    Reboot,
    Poweroff,
    /// Be the rescue system: root's password is `password`, and a login
    /// waits on the machine's consoles (serial ports, screen).
    Rescue {
        password: Handover,
    },
}

/// A command: its action, and the id the agent's report names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct AgentCommand {
    pub(crate) id: String,
    #[serde(flatten)]
    pub(crate) action: AgentAction,
}

impl AgentAction {
    /// The id's stem.
    pub(crate) fn word(&self) -> &'static str {
        match self {
            AgentAction::Inspect => "inspect",
            AgentAction::Erase { .. } => "erase",
            AgentAction::WriteImage { .. } => "write_image",
            AgentAction::Reboot => "reboot",
            AgentAction::Poweroff => "poweroff",
            AgentAction::Rescue { .. } => "rescue",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn goes_on_the_wire_as_the_agent_reads_it() {
        let c = AgentCommand { id: "erase-7".into(), action: AgentAction::Erase { mode: EraseMode::Full } };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"id": "erase-7", "action": "erase", "mode": "full"})
        );
        let c = AgentCommand { id: "poweroff-7".into(), action: AgentAction::Poweroff };
        assert_eq!(serde_json::to_value(&c).unwrap(), serde_json::json!({"id": "poweroff-7", "action": "poweroff"}));
        let action = AgentAction::WriteImage { url: "/i".into(), sha256: "ab".into(), format: ImageFormat::Qcow2 };
        let c = AgentCommand { id: "write_image-7".into(), action };
        assert_eq!(
            serde_json::to_value(&c).unwrap(),
            serde_json::json!({"id": "write_image-7", "action": "write_image", "url": "/i", "sha256": "ab", "format": "qcow2"})
        );
    }
}
