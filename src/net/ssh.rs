//! SSH invocations to nodes (script jig, ssh power driver): batch mode (no
//! prompts), a connect timeout, host keys accepted on first use and kept in
//! Fulcrum's own known-hosts file (not root's), the configured user and key.

use tokio::process::Command;

use crate::config::EngineConfig;

/// `ssh ... user@host` ready for the remote command to be appended.
pub fn command(cfg: &EngineConfig, host: &str) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=accept-new"]);
    if let Some(kh) = &cfg.ssh_known_hosts {
        c.arg("-o").arg(format!("UserKnownHostsFile={}", kh.display()));
    }
    if let Some(key) = &cfg.ssh_key {
        c.arg("-i").arg(key);
    }
    c.arg(format!("{}@{host}", cfg.ssh_user));
    c
}
