//! How Fulcrum runs `ssh` to reach a node (the script jig, the ssh power
//! driver): batch mode (no prompts), a connect timeout, host keys accepted
//! on first use and kept in Fulcrum's own known-hosts file (not root's),
//! the configured user and key.

use std::path::PathBuf;

use tokio::process::Command;

/// Who and how Fulcrum logs in as.
#[derive(Debug, Clone, Default)]
pub(crate) struct SshOptions {
    pub(crate) user: String,
    pub(crate) key: Option<PathBuf>,
    pub(crate) known_hosts: Option<PathBuf>,
}

/// `ssh ... user@host`, ready for the remote command to be appended.
pub(crate) fn command(opts: &SshOptions, host: &str) -> Command {
    let mut c = Command::new("ssh");
    c.args(["-o", "BatchMode=yes", "-o", "ConnectTimeout=10", "-o", "StrictHostKeyChecking=accept-new"]);
    if let Some(kh) = &opts.known_hosts {
        c.arg("-o").arg(format!("UserKnownHostsFile={}", kh.display()));
    }
    if let Some(key) = &opts.key {
        c.arg("-i").arg(key);
    }
    c.arg(format!("{}@{host}", opts.user));
    c
}
