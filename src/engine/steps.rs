//! What Fulcrum does when a node enters a lifecycle step (Ironic's
//! conductor, in one transaction with the verb): the bootenv the machine
//! must boot, a reboot after the commit (when the node has a power
//! driver), and the hand-over to the wait state in which the machine does
//! the work and reports back. A step that ends in a stable state leaves the
//! node booting from its disk.
//!
//! - inspect: the discovery image (the agent), then `inspect wait` until
//!   its inventory report;
//! - provide, and undeploy after `deleting`: the discovery image, then
//!   `clean wait` until the clean is reported done;
//! - deploy, rebuild: the bootenv to install (given with the verb, or the
//!   node's own when it is neither `local` nor the discovery image), its
//!   old SSH host key forgotten, then `wait call-back` until the
//!   installer's `installed` report;
//! - rescue: the discovery image as the rescue system, then `rescue wait`;
//!   unrescue: back to the disk;
//! - adopt: nothing is touched; the node is `active` at once.
//!
//! Verifying: an IPMI node's BMC is asked for its power status after the
//! commit, and the answer ends the step (manageable, or back to enroll
//! with the BMC's refusal as `last_error`); other nodes are manageable at
//! once.

use std::sync::Arc;

use super::error::EngineError;
use super::hooks::{Effect, Effects};
use crate::inventory::lifecycle::{ProvisionState, Verb};
use crate::inventory::node::{self, BootPhase, Node};
use crate::state::Txn;
use crate::types::field::Refuse;
use crate::types::power::PowerSpec;

/// The bootenv of a node that boots from its disk (shipped).
pub(crate) const LOCAL_BOOTENV: &str = "local";

/// The bootenvs a step may need, and how many machines may be in early
/// boot at once.
pub(crate) struct Bootenvs {
    /// The agent's image: inspection, cleaning, rescue.
    pub(crate) agent: String,
    /// What deploy or rebuild installs, when the verb names it.
    pub(crate) deploy: Option<String>,
    /// `power.early_boot_max`.
    pub(crate) early_boot_max: usize,
}

fn get(txn: &Txn<'_>, name: &str) -> Result<Arc<Node>, EngineError> {
    txn.world().table::<Node>().get(name).cloned().ok_or_else(|| EngineError::not_found("node", name))
}

/// Applies `verb` (an operator's, or a report) and carries out the step it
/// starts, all in the caller's transaction.
pub(crate) fn apply(
    txn: &mut Txn<'_>,
    name: &str,
    verb: Verb,
    envs: &Bootenvs,
    fx: &mut Effects,
) -> Result<Arc<Node>, EngineError> {
    let before = get(txn, name)?;
    if before.protected && verb.reboots_into_another_bootenv() {
        return Err(EngineError::conflict(
            "protected",
            format!("node `{name}` is protected: {verb} would reboot it into another bootenv (unprotect it first)"),
        ));
    }
    // What deploy installs is settled before anything moves.
    let install = match (verb, before.provision_state.apply(verb)) {
        (Verb::Deploy | Verb::Rebuild, Ok(ProvisionState::Deploying)) => Some(install_bootenv(&before, envs)?),
        _ => None,
    };
    let node = node::provision(txn, name, verb)?;
    let after = carry_out(txn, &node, before.provision_state, install, envs, fx)?;
    // A node whose step ended (done, an abort, a failure) waits for no boot
    // any more, unless the step's own reboot is on its way (unrescue).
    if !after.provision_state.in_progress()
        && after.awaiting_boot.is_some()
        && node.provision_state != ProvisionState::Unrescuing
    {
        node::stop_awaiting(txn, name)?;
        return get(txn, name);
    }
    Ok(after)
}

fn install_bootenv(node: &Node, envs: &Bootenvs) -> Result<String, EngineError> {
    if let Some(b) = &envs.deploy {
        return Ok(b.clone());
    }
    if node.bootenv != LOCAL_BOOTENV && node.bootenv != envs.agent {
        return Ok(node.bootenv.clone());
    }
    Err(EngineError::invalid(
        "bootenv",
        format!("name the bootenv to deploy (the node's own is `{}`, which installs nothing)", node.bootenv),
    ))
}

/// Whether a step may leave a running agent where it is.
#[derive(Clone, Copy, PartialEq, Eq)]
enum FastTrack {
    /// The agent already running on the machine can take the step
    /// (inspect, clean, an image write): Ironic's fast track.
    Allowed,
    /// The step needs the machine to boot (rescue ends at the agent's
    /// registration; an installer is not the agent).
    No,
}

/// Sets what the machine boots and, with a power driver, reboots it after
/// the commit and waits for its firmware's DHCP request (the watchdog
/// repeats the action once, then fails the step). With `early_boot_max`
/// nodes already in early boot, it waits its turn instead (`queued`): the
/// watchdog powers it when one of them has fetched its kernel. A machine
/// alive in the agent, going to a bootenv that boots the agent, is not
/// rebooted when the step allows: the agent asks for its step itself.
fn boot(
    txn: &mut Txn<'_>,
    node: &Node,
    bootenv: &str,
    envs: &Bootenvs,
    fast: FastTrack,
    fx: &mut Effects,
) -> Result<(), EngineError> {
    use super::agent::{booting_env, Booting};
    let boots_agent = booting_env(txn.world(), bootenv, &envs.agent) != Booting::Other;
    let stays = fast == FastTrack::Allowed && node.alive && node.in_agent && boots_agent;
    node::set_bootenv(txn, &node.name, bootenv.to_string())?;
    // A protected node is never rebooted by Fulcrum.
    if node.power.is_none() || node.protected || stays {
        return Ok(());
    }
    // To be rebooted (now or when its turn comes): whatever runs there,
    // the agent included, is going.
    node::set_in_agent(txn, &node.name, false)?;
    // Only a lease Fulcrum commits confirms a boot: on a proxy network (or
    // none) the reboot is not awaited, so never repeated or failed.
    let confirmable =
        node.network_in(txn.world()).is_some_and(|n| n.dhcp != crate::inventory::network::DhcpMode::Proxy);
    // A boot from the disk fetches no kernel: it never waits for a slot.
    let paced = bootenv != LOCAL_BOOTENV;
    if confirmable && paced && node::in_early_boot(txn.world()) >= envs.early_boot_max {
        node::expect_boot(txn, &node.name, 0, BootPhase::Queued)?;
        fx.push(Effect::Pace);
        return Ok(());
    }
    fx.push(Effect::Reboot { node: node.name.clone() });
    if confirmable {
        node::expect_boot(txn, &node.name, 1, BootPhase::Powered)?;
    }
    Ok(())
}

fn carry_out(
    txn: &mut Txn<'_>,
    node: &Node,
    from: ProvisionState,
    install: Option<String>,
    envs: &Bootenvs,
    fx: &mut Effects,
) -> Result<Arc<Node>, EngineError> {
    use ProvisionState as S;
    let name = node.name.as_str();
    match node.provision_state {
        // A BMC's credentials are checked against it, after the commit;
        // other drivers' (and no driver) are accepted as they are.
        S::Verifying if node.power.as_ref().is_some_and(PowerSpec::is_bmc) => {
            fx.push(Effect::Verify { node: name.to_string() });
        }
        S::Verifying => {
            node::provision(txn, name, Verb::Done)?;
        }
        S::Inspecting | S::Cleaning => {
            boot(txn, node, &envs.agent, envs, FastTrack::Allowed, fx)?;
            node::provision(txn, name, Verb::Wait)?;
        }
        S::Rescuing => {
            boot(txn, node, &envs.agent, envs, FastTrack::No, fx)?;
            node::provision(txn, name, Verb::Wait)?;
        }
        S::Deploying => {
            let bootenv = install.unwrap_or_else(|| node.bootenv.clone());
            boot(txn, node, &bootenv, envs, FastTrack::Allowed, fx)?;
            fx.push(Effect::ForgetHostKey { node: name.to_string() });
            node::provision(txn, name, Verb::Wait)?;
        }
        S::Deleting => {
            node::provision(txn, name, Verb::Done)?;
            let cleaning = get(txn, name)?;
            boot(txn, &cleaning, &envs.agent, envs, FastTrack::Allowed, fx)?;
            node::provision(txn, name, Verb::Wait)?;
        }
        S::Unrescuing => {
            boot(txn, node, LOCAL_BOOTENV, envs, FastTrack::No, fx)?;
            node::provision(txn, name, Verb::Done)?;
        }
        S::Adopting => {
            node::provision(txn, name, Verb::Done)?;
        }
        // A step that ended well: the machine boots from its disk.
        S::Manageable | S::Available | S::Active if from.in_progress() && node.bootenv != LOCAL_BOOTENV => {
            node::set_bootenv(txn, name, LOCAL_BOOTENV.to_string())?;
        }
        _ => {}
    }
    get(txn, name)
}

/// The node's step or wait failed (the watchdog, or a stop that cut a step
/// short): it goes to the failed state with `reason`, and boots from its
/// disk, so that a machine rebooting meanwhile does not run half an
/// install, clean or rescue again.
pub(crate) fn fail(txn: &mut Txn<'_>, name: &str, reason: String) -> Result<Arc<Node>, EngineError> {
    let node = node::fail_step(txn, name, reason)?;
    if node.awaiting_boot.is_some() {
        node::stop_awaiting(txn, name)?;
    }
    if node.bootenv != LOCAL_BOOTENV {
        node::set_bootenv(txn, name, LOCAL_BOOTENV.to_string())?;
    }
    get(txn, name)
}
