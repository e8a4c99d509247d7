//! An operator's own power requests (Ironic's `PUT .../states/power` and
//! `.../management/boot_device`): carried out through the node's driver
//! at once, its answer recorded as the node's `power_state`. Lifecycle
//! steps make their own power actions, after their commits; a request
//! that would switch a machine while a step or a wait uses it is refused.

use std::sync::Arc;

use super::error::EngineError;
use super::hooks::{self, NodeEvent};
use super::Engine;
use crate::inventory::node::{self, Node};
use crate::power;
use crate::state::Record;
use crate::types::field::Refuse;
use crate::types::power::{state_in, PowerAction, PowerSpec, PowerState};

/// A step or a wait is Fulcrum's (or its agent's) use of the machine:
/// switching it then would cut an erase or an image write short. `abort`
/// ends the wait first.
fn refuse_during_a_step(node: &Node, action: PowerAction) -> Result<(), EngineError> {
    if action.switches() && node.provision_state.in_progress() {
        return Err(EngineError::conflict(
            "provision_state",
            format!(
                "node `{}` is in {}: its step uses the machine; abort it or wait for it to end",
                node.name, node.provision_state
            ),
        ));
    }
    Ok(())
}

/// What the power state is after `action` succeeded, when it says.
fn after(action: PowerAction, spec: &PowerSpec, answer: &str) -> Option<PowerState> {
    match action {
        PowerAction::On => Some(PowerState::On),
        PowerAction::Off => Some(PowerState::Off),
        // A BMC switches on a machine that is off, or cycles it: on.
        PowerAction::Reboot if spec.is_bmc() => Some(PowerState::On),
        PowerAction::Status => Some(state_in(answer)),
        PowerAction::Reboot | PowerAction::BootFrom(_) => None,
    }
}

impl Engine {
    /// Does `action` to node `name` through its power driver now; the
    /// node afterwards and what the driver said.
    pub(crate) async fn power_request(
        &self,
        name: &str,
        action: PowerAction,
    ) -> Result<(Arc<Node>, String), EngineError> {
        let node = self.node_now(name)?;
        let Some(spec) = node.power.clone() else {
            return Err(EngineError::conflict("power", format!("node `{name}` has no power driver")));
        };
        self.permits_power(Some(&spec))?;
        refuse_during_a_step(&node, action)?;
        let answer = {
            let _slot = self.power_slots.acquire().await;
            // Asked again once its turn has come: a step may have begun
            // while it waited for a slot.
            let node = self.node_now(name)?;
            refuse_during_a_step(&node, action)?;
            let target = self.target(&node);
            power::act(&target, action, &self.jigs.ssh).await.map_err(|source| match source {
                power::PowerError::Unsupported => {
                    EngineError::PowerUnsupported { node: name.to_string(), action: action.word() }
                }
                source => EngineError::Power { node: name.to_string(), source },
            })?
        };
        if action.switches() {
            self.switched(name, after(action, &spec, &answer)).await?;
        } else if let Some(state) = after(action, &spec, &answer) {
            self.power_is(name, state).await;
        }
        Ok((self.node_now(name)?, answer))
    }

    /// Records that node `name` was switched (on, off or through a
    /// reboot): what ran there, an agent included, has stopped, so the
    /// node is not alive until it reports in again, and the next step
    /// boots it rather than taking the agent's fast track.
    async fn switched(&self, name: &str, state: Option<PowerState>) -> Result<(), EngineError> {
        let name = name.to_string();
        self.write(move |txn, fx| {
            if let Some(state) = state {
                node::record_power(txn, &name, state)?;
            }
            if txn.world().table::<Node>().get(&name).is_some_and(|n| n.alive) {
                hooks::set_alive(txn, &name, false, fx)?;
                hooks::node_event(txn, NodeEvent::Changed, &name, fx)?;
            }
            Ok(())
        })
        .await
    }

    /// Node `name` as the current snapshot has it.
    fn node_now(&self, name: &str) -> Result<Arc<Node>, EngineError> {
        self.state.snapshot().table::<Node>().get(name).cloned().ok_or_else(|| EngineError::not_found(Node::KIND, name))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::types::power::BootDevice;

    #[test]
    fn what_an_answer_says_of_the_power() {
        let bmc = PowerSpec::Ipmi {
            address: "192.0.2.1".into(),
            port: 623,
            user: "admin".into(),
            password: crate::types::secret::Secret::new("pw"),
        };
        let command = PowerSpec::Command { command: "true".into() };
        assert_eq!(after(PowerAction::Status, &bmc, "Chassis Power is on"), Some(PowerState::On));
        assert_eq!(after(PowerAction::Status, &bmc, "power is off"), Some(PowerState::Off));
        assert_eq!(after(PowerAction::Status, &command, "fine"), Some(PowerState::Unknown));
        assert_eq!(after(PowerAction::Reboot, &bmc, ""), Some(PowerState::On));
        assert_eq!(after(PowerAction::Reboot, &command, ""), None, "a command may not power it on");
        assert_eq!(after(PowerAction::BootFrom(BootDevice::Disk), &bmc, ""), None);
        assert_eq!(after(PowerAction::Off, &command, ""), Some(PowerState::Off));
    }
}
