//! What the discovery agent running on a machine does next, decided from
//! the node's state on every question (the agent keeps no plan of its
//! own), and what its reports do:
//!
//! - `inspect wait`: report the inventory again (the report ends the
//!   wait, as a first report does);
//! - `clean wait`: erase the disks (`lifecycle.erase`); done makes the
//!   node `available`, a failure `clean failed` with the agent's reason;
//! - `wait call-back` with an `image` bootenv: write the image to the
//!   disk; done makes the node `active` (booting from its disk), a
//!   failure `deploy failed`;
//! - `rescue wait`: the agent is the rescue system: its registration
//!   ends the wait ([`Engine::discover`]); in `rescue` it sets root's
//!   password (the node's `rescue_password`, forgotten once it is taken)
//!   and opens a login on the machine's consoles. It is never the agent
//!   for a later step: the node is not `in_agent` in rescue, and a step
//!   for the agent on a machine whose agent has not registered since
//!   (the rescue system, or one that went down) reboots it first;
//! - a step over, its bootenv no longer the agent's: a deployed node
//!   reboots (into its disk or its next bootenv), a node whose power
//!   driver can power it on again powers off (Fulcrum powers it on when it needs it), and any
//!   other waits in the agent for its next step (Ironic's fast track);
//! - otherwise nothing: ask again later.
//!
//! Asking is a read (an idle agent asks every few seconds, and nothing is
//! written for it); only the reports write. A command's id carries the
//! number of the node's step, so a report for a step that has since
//! ended is refused, not applied to the next one (even one begun in the
//! same second).

use std::sync::Arc;

use super::error::EngineError;
use super::hooks::{self, NodeEvent};
use super::steps::{self, LOCAL_BOOTENV};
use super::Engine;
use crate::inventory::bootenv::{BootKind, Bootenv, DiskImage};
use crate::inventory::lifecycle::{ProvisionState, Verb};
use crate::inventory::node::{self, Node};
use crate::state::Record;
use crate::types::agent::{AgentAction, AgentCommand, EraseMode};
use crate::types::field::Refuse;
use crate::types::power::PowerSpec;
use crate::types::secret::Handover;

/// How often an idle agent asks again.
pub(crate) const POLL_SECONDS: u64 = 5;

/// What the node's bootenv boots, as far as its agent is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Booting {
    /// The agent, to write this image (an `image` bootenv).
    Image(DiskImage),
    /// The agent, to wait for its next step: the configured discovery
    /// bootenv, or any other whose `os` is `discovery` (a variant with
    /// other kernel parameters, say). Rebooting would only boot it again.
    Agent,
    /// Something else: an installer, an OS, the local disk.
    Other,
}

/// The OS name that marks a bootenv as booting the discovery image.
pub(crate) const AGENT_OS: &str = "discovery";

/// What `node`'s bootenv boots (`agent`: the configured discovery bootenv).
pub(crate) fn booting(w: &crate::state::World, node: &Node, agent: &str) -> Booting {
    booting_env(w, &node.bootenv, agent)
}

/// What bootenv `name` boots.
pub(crate) fn booting_env(w: &crate::state::World, name: &str, agent: &str) -> Booting {
    match w.table::<Bootenv>().get(name) {
        Some(b) if b.kind == BootKind::Image => b.image.clone().map_or(Booting::Agent, Booting::Image),
        Some(b) if b.os == AGENT_OS => Booting::Agent,
        _ if name == agent => Booting::Agent,
        _ => Booting::Other,
    }
}

/// The agent's command for `node` now, if any, given what its bootenv
/// boots.
pub(crate) fn command_for(node: &Node, boots: &Booting, erase: EraseMode) -> Option<AgentCommand> {
    use ProvisionState as S;
    let action = match (node.provision_state, boots) {
        // A step for the agent, but the agent running there is the
        // rescue system (or has not registered since the machine went
        // down): the machine boots a fresh agent first.
        (S::InspectWait | S::CleanWait, _) | (S::WaitCallBack, Booting::Image(_)) if !node.in_agent => {
            AgentAction::Reboot
        }
        (S::InspectWait, _) => AgentAction::Inspect,
        (S::CleanWait, _) => AgentAction::Erase { mode: erase },
        (S::WaitCallBack, Booting::Image(i)) => {
            AgentAction::WriteImage { url: i.url(), sha256: i.sha256.clone(), format: i.format }
        }
        // The agent is the rescue system: it opens the consoles' login.
        (S::Rescue, Booting::Agent) => match &node.rescue_password {
            Some(p) => AgentAction::Rescue { password: Handover::of(p) },
            None => return None,
        },
        // Its bootenv boots the agent again: it waits here.
        (_, Booting::Image(_) | Booting::Agent) => return None,
        (S::Active, _) => AgentAction::Reboot,
        // Another bootenv to boot, or off until Fulcrum powers it on.
        _ if node.bootenv != LOCAL_BOOTENV => AgentAction::Reboot,
        _ if node.power.as_ref().is_some_and(PowerSpec::powers_on) => AgentAction::Poweroff,
        _ => return None,
    };
    Some(AgentCommand { id: format!("{}-{}", action.word(), node.provision_step), action })
}

/// The agent's report on a command.
#[derive(Debug, Clone)]
pub(crate) struct Outcome {
    pub(crate) command: String,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

fn current(txn: &crate::state::Txn<'_>, name: &str) -> Result<Arc<Node>, EngineError> {
    txn.world().table::<Node>().get(name).cloned().ok_or_else(|| EngineError::not_found(Node::KIND, name))
}

impl Engine {
    /// The agent on `name` asks what to do: its command now, or none yet.
    /// A read: asking changes nothing.
    pub(crate) fn agent_next(&self, name: &str) -> Result<Option<AgentCommand>, EngineError> {
        let w = self.state.snapshot();
        let node = w.table::<Node>().get(name).ok_or_else(|| EngineError::not_found(Node::KIND, name))?;
        let boots = booting(&w, node, &self.config.boot.discovery_bootenv);
        Ok(command_for(node, &boots, self.config.lifecycle.erase))
    }

    /// The agent reports how a command went. A report for any command
    /// but the node's current one is refused (409), and changes nothing.
    pub(crate) async fn agent_done(&self, name: String, outcome: Outcome) -> Result<Arc<Node>, EngineError> {
        let envs = self.bootenvs(None);
        let erase = self.config.lifecycle.erase;
        self.write(move |txn, fx| {
            let node = current(txn, &name)?;
            // An inspection's success is its inventory report, which has
            // already ended the wait: the step it names is over by design.
            if outcome.ok && outcome.command.starts_with("inspect-") {
                return Ok(node);
            }
            let boots = booting(txn.world(), &node, &envs.agent);
            let Some(cmd) = command_for(&node, &boots, erase).filter(|c| c.id == outcome.command) else {
                return Err(EngineError::conflict(
                    "command",
                    format!(
                        "`{}` is not node `{name}`'s current command (it is {}): its step has ended",
                        outcome.command, node.provision_state
                    ),
                ));
            };
            match (&cmd.action, outcome.ok) {
                (AgentAction::Erase { .. } | AgentAction::WriteImage { .. }, true) => {
                    steps::apply(txn, &name, Verb::Done, &envs, fx)?;
                }
                (AgentAction::Erase { .. } | AgentAction::WriteImage { .. } | AgentAction::Inspect, false) => {
                    steps::fail(
                        txn,
                        &name,
                        format!("{} failed on the machine: {}", cmd.action.word(), outcome.detail),
                    )?;
                }
                // Answered above: the inventory report ended the wait.
                (AgentAction::Inspect, true) => return Ok(node),
                // Going down: not alive until it reports in again.
                (AgentAction::Reboot | AgentAction::Poweroff, _) => {
                    hooks::set_alive(txn, &name, false, fx)?;
                }
                // The rescue system is up (or could not set up its login,
                // which its console says): the node stays in rescue, and
                // the password, taken, is forgotten (so never sent again).
                (AgentAction::Rescue { .. }, _) => {
                    return Ok(node::set_rescue_password(txn, &name, None)?);
                }
            }
            hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            current(txn, &name)
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::agent::ImageFormat;

    fn node(state: ProvisionState, bootenv: &str) -> Node {
        let mut n = Node::bare("n1.example", vec![], bootenv);
        n.provision_state = state;
        n.provision_step = 7;
        n.in_agent = true;
        n
    }

    fn action(n: &Node) -> Option<AgentAction> {
        let boots = if n.bootenv == "discovery" { Booting::Agent } else { Booting::Other };
        command_for(n, &boots, EraseMode::Full).map(|c| c.action)
    }

    #[test]
    fn the_state_decides_the_command() {
        use ProvisionState as S;
        assert_eq!(action(&node(S::CleanWait, "discovery")), Some(AgentAction::Erase { mode: EraseMode::Full }));
        assert_eq!(action(&node(S::InspectWait, "discovery")), Some(AgentAction::Inspect));
        assert_eq!(action(&node(S::Enroll, "discovery")), None, "a discovered machine waits");
        assert_eq!(action(&node(S::Active, "local")), Some(AgentAction::Reboot));
        assert_eq!(action(&node(S::Enroll, "ubuntu-24.04")), Some(AgentAction::Reboot), "another bootenv to boot");
        assert_eq!(action(&node(S::Manageable, "local")), None, "no power driver: it waits in the agent");
        let mut ssh = node(S::Available, "local");
        ssh.power = Some(PowerSpec::Ssh);
        assert_eq!(action(&ssh), None, "ssh cannot power it on again");
        let mut powered = node(S::Available, "local");
        powered.power = Some(PowerSpec::Command { command: "true".into() });
        assert_eq!(action(&powered), Some(AgentAction::Poweroff));
        let c = command_for(&node(S::CleanWait, "discovery"), &Booting::Agent, EraseMode::Metadata).unwrap();
        assert_eq!(c.id, "erase-7");
        let image = Booting::Image(DiskImage {
            path: "images/os.img".into(),
            sha256: "ab".repeat(32),
            format: ImageFormat::Qcow2,
        });
        let deploying = node(S::WaitCallBack, "os-image");
        let c = command_for(&deploying, &image, EraseMode::Metadata).unwrap();
        assert_eq!(
            c.action,
            AgentAction::WriteImage {
                url: "/boot/files/images/os.img".into(),
                sha256: "ab".repeat(32),
                format: ImageFormat::Qcow2
            }
        );
        assert_eq!(command_for(&node(S::Available, "os-image"), &image, EraseMode::Metadata), None);
        // The rescue system (not in the agent) is asked to reboot into a
        // fresh agent before a step that erases or writes; in rescue it
        // is given the password until it has taken it.
        for state in [S::CleanWait, S::InspectWait] {
            let mut rescued = node(state, "discovery");
            rescued.in_agent = false;
            assert_eq!(action(&rescued), Some(AgentAction::Reboot), "{state}");
        }
        let mut rescued = node(S::WaitCallBack, "os-image");
        rescued.in_agent = false;
        assert_eq!(command_for(&rescued, &image, EraseMode::Metadata).map(|c| c.action), Some(AgentAction::Reboot));
        let mut rescue = node(S::Rescue, "discovery");
        rescue.in_agent = false;
        assert_eq!(action(&rescue), None, "a password taken is not sent again");
        rescue.rescue_password = Some(crate::types::secret::Secret::new("correct horse"));
        assert!(matches!(action(&rescue), Some(AgentAction::Rescue { .. })));
        // A variant of the discovery bootenv boots the agent too: no reboot.
        assert_eq!(command_for(&node(S::Enroll, "discovery-debug"), &Booting::Agent, EraseMode::Metadata), None);
    }
}
