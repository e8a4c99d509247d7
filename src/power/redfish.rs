//! The Redfish power driver (DMTF Redfish over HTTP(S), basic
//! authentication): `ComputerSystem.Reset` for on / off / restart, a
//! one-time `Boot.BootSourceOverrideTarget = Pxe` before a reboot (or
//! `Pxe` / `Hdd` asked for on its own), and
//! the system's `PowerState` for status. `https://` BMCs are trusted only
//! by a pinned certificate fingerprint (they present self-signed ones).

use std::time::Duration;

use serde_json::{json, Value};

use super::PowerError;
use crate::net::tls::pinned::Pinned;
use crate::types::fingerprint::Fingerprint;
use crate::types::power::{BootDevice, PowerAction};

use crate::types::secret::Secret;

/// How long one request to the BMC may take.
const REQUEST: Duration = Duration::from_secs(30);

/// Redfish's `BootSourceOverrideTarget` for a device.
fn target(device: BootDevice) -> &'static str {
    match device {
        BootDevice::Pxe => "Pxe",
        BootDevice::Disk => "Hdd",
    }
}

/// A node's BMC, as its power spec names it.
pub(crate) struct Bmc<'a> {
    pub(crate) address: &'a str,
    pub(crate) system: Option<&'a str>,
    pub(crate) user: &'a str,
    pub(crate) password: &'a Secret,
    pub(crate) tls_fingerprint: Option<Fingerprint>,
    /// A UEFI machine: its network boot is asked for in UEFI mode.
    pub(crate) uefi: bool,
}

impl Bmc<'_> {
    fn client(&self) -> Result<reqwest::Client, PowerError> {
        // No redirects: the credentials go to this BMC and no other host.
        let builder = reqwest::Client::builder().timeout(REQUEST).redirect(reqwest::redirect::Policy::none());
        let scheme = self.address.split("://").next().unwrap_or_default().to_ascii_lowercase();
        match (scheme.as_str(), self.tls_fingerprint.is_some()) {
            ("https", _) => {}
            ("http", false) => return builder.build().map_err(PowerError::Http),
            ("http", true) => {
                return Err(PowerError::Tls("a tls_fingerprint needs an https:// address".into()));
            }
            _ => return Err(PowerError::Answer(format!("`{}` is not an http:// or https:// address", self.address))),
        }
        let pin = self.tls_fingerprint.ok_or(PowerError::Unpinned)?;
        let tls = Pinned::client_config(pin).map_err(|e| PowerError::Tls(e.to_string()))?;
        builder.use_preconfigured_tls(tls).build().map_err(PowerError::Http)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address.trim_end_matches('/'))
    }

    async fn call(
        &self,
        c: &reqwest::Client,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, PowerError> {
        let mut req = c.request(method.clone(), self.url(path)).basic_auth(self.user, Some(self.password.expose()));
        if let Some(b) = body {
            req = req.json(&b);
        }
        let resp = req.send().await.map_err(PowerError::Http)?;
        let status = resp.status();
        let text = resp.text().await.map_err(PowerError::Http)?;
        if !status.is_success() {
            let body: String = text.chars().take(300).collect();
            return Err(PowerError::Bmc { what: format!("{method} {path}"), status: status.as_u16(), body });
        }
        if text.trim().is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_str(&text).map_err(|_| PowerError::Answer(format!("{method} {path}: not JSON")))
    }

    /// The system's path: the one named, or the BMC's first.
    async fn system(&self, c: &reqwest::Client) -> Result<String, PowerError> {
        match self.system {
            Some(p) if p.starts_with('/') => Ok(p.to_string()),
            Some(id) => Ok(format!("/redfish/v1/Systems/{id}")),
            None => {
                let systems = self.call(c, reqwest::Method::GET, "/redfish/v1/Systems", None).await?;
                // A path on this BMC, never another host.
                systems["Members"][0]["@odata.id"]
                    .as_str()
                    .filter(|p| p.starts_with("/redfish/") && !p.contains("://") && !p.contains('@'))
                    .map(str::to_string)
                    .ok_or_else(|| PowerError::Answer("the BMC lists no system under /redfish/".into()))
            }
        }
    }

    async fn power_state(&self, c: &reqwest::Client, system: &str) -> Result<String, PowerError> {
        let s = self.call(c, reqwest::Method::GET, system, None).await?;
        s["PowerState"]
            .as_str()
            .map(str::to_lowercase)
            .ok_or_else(|| PowerError::Answer(format!("{system} has no PowerState")))
    }

    async fn reset(&self, c: &reqwest::Client, system: &str, kind: &str) -> Result<(), PowerError> {
        let path = format!("{system}/Actions/ComputerSystem.Reset");
        self.call(c, reqwest::Method::POST, &path, Some(json!({ "ResetType": kind }))).await.map(|_| ())
    }

    /// Sets the next boot (once) to `device`.
    async fn boot_once(&self, c: &reqwest::Client, system: &str, device: BootDevice) -> Result<(), PowerError> {
        let mut boot = json!({"BootSourceOverrideTarget": target(device), "BootSourceOverrideEnabled": "Once"});
        if self.uefi {
            boot["BootSourceOverrideMode"] = json!("UEFI");
        }
        let boot = json!({ "Boot": boot });
        self.call(c, reqwest::Method::PATCH, system, Some(boot)).await.map(|_| ())
    }

    /// Performs `action`; the answer says what the BMC did or reported
    /// (`power is on`).
    pub(crate) async fn act(&self, action: PowerAction) -> Result<String, PowerError> {
        let c = self.client()?;
        let system = self.system(&c).await?;
        match action {
            PowerAction::Status => Ok(format!("power is {}", self.power_state(&c, &system).await?)),
            PowerAction::On => self.reset(&c, &system, "On").await.map(|()| "power on".into()),
            PowerAction::Off => self.reset(&c, &system, "ForceOff").await.map(|()| "power off".into()),
            PowerAction::BootFrom(device) => {
                self.boot_once(&c, &system, device).await.map(|()| format!("next boot from {}", target(device)))
            }
            // Next boot from the network, once; then on, or a restart.
            PowerAction::Reboot => {
                self.boot_once(&c, &system, BootDevice::Pxe).await?;
                let kind = if self.power_state(&c, &system).await? == "off" { "On" } else { "ForceRestart" };
                self.reset(&c, &system, kind).await.map(|()| format!("pxe once, {kind}"))
            }
        }
    }
}
