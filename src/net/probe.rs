//! The aliveness probe: an ICMP echo (up to three tries, one second each;
//! surge-ping, a datagram ICMP socket where the host allows one, else a raw
//! socket with CAP_NET_RAW), then `ssh ... true` as the configured user
//! within `timeout`. A node that does not answer is reported as such; a
//! failure on Fulcrum's side (no ICMP socket, no `ssh` program, a host key
//! that no longer matches) is an error, not a verdict on the node.

use std::net::IpAddr;
use std::time::Duration;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};

use super::ssh::{self, SshOptions};
use crate::types::probe::ProbeResult;

/// Echo requests sent before a node is taken for silent.
const PINGS: u16 = 3;
/// How long each waits for its reply.
const PING_WAIT: Duration = Duration::from_secs(1);
/// What ssh prints when the node's host key is not the one it knows.
const HOST_KEY_CHANGED: [&str; 2] = ["REMOTE HOST IDENTIFICATION HAS CHANGED", "Host key verification failed"];

/// Why the probe could not judge the node.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ProbeError {
    #[error("cannot open an ICMP socket (Fulcrum needs CAP_NET_RAW, or net.ipv4.ping_group_range): {0}")]
    Socket(#[source] std::io::Error),
    #[error("cannot run ssh: {0}")]
    Ssh(#[source] std::io::Error),
    #[error(
        "the node's SSH host key is not the one Fulcrum knows (was it reinstalled? `ssh-keygen -R {address} -f \
         <engine.ssh_known_hosts>` forgets it): {detail}"
    )]
    HostKey { address: IpAddr, detail: String },
}

/// Probes `ip`: ping first, then an SSH login that runs `true`.
pub(crate) async fn probe(ip: IpAddr, opts: &SshOptions, timeout: Duration) -> Result<ProbeResult, ProbeError> {
    if let Err(detail) = ping(ip).await? {
        return Ok(ProbeResult::NoPing { detail });
    }
    Ok(match login(ip, opts, timeout).await? {
        Ok(()) => ProbeResult::Answered,
        Err(detail) => ProbeResult::NoSsh { detail },
    })
}

/// `Ok(Err(why))`: no reply.
async fn ping(ip: IpAddr) -> Result<Result<(), String>, ProbeError> {
    let config = match ip {
        IpAddr::V4(_) => Config::default(),
        IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
    };
    let client = Client::new(&config).map_err(ProbeError::Socket)?;
    let mut pinger = client.pinger(ip, PingIdentifier(rand::random())).await;
    pinger.timeout(PING_WAIT);
    let mut last = String::new();
    for seq in 0..PINGS {
        match pinger.ping(PingSequence(seq), &[0; 16]).await {
            Ok(_) => return Ok(Ok(())),
            Err(e) => last = e.to_string(),
        }
    }
    Ok(Err(format!("{PINGS} echo requests, no reply ({last})")))
}

/// `Ok(Err(why))`: no login.
async fn login(ip: IpAddr, opts: &SshOptions, timeout: Duration) -> Result<Result<(), String>, ProbeError> {
    let mut cmd = ssh::command(opts, &ip.to_string());
    cmd.arg("true").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = match tokio::time::timeout(timeout, cmd.output()).await {
        Err(_) => return Ok(Err(format!("no login within {} s", timeout.as_secs()))),
        Ok(r) => r.map_err(ProbeError::Ssh)?,
    };
    if out.status.success() {
        return Ok(Ok(()));
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim().to_string();
    if HOST_KEY_CHANGED.iter().any(|m| stderr.contains(m)) {
        return Err(ProbeError::HostKey { address: ip, detail: last });
    }
    Ok(Err(format!("ssh exited with {}: {last}", out.status)))
}

/// Forgets `ip`'s host key in `known_hosts` (a node reinstalled gets a new
/// one); a file or entry that is not there is fine.
pub(crate) async fn forget_host_key(known_hosts: &std::path::Path, ip: IpAddr) -> std::io::Result<()> {
    if !known_hosts.exists() {
        return Ok(());
    }
    let out = tokio::process::Command::new("ssh-keygen")
        .arg("-R")
        .arg(ip.to_string())
        .arg("-f")
        .arg(known_hosts)
        .stdin(std::process::Stdio::null())
        .output()
        .await?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(String::from_utf8_lossy(&out.stderr).trim().to_string()))
    }
}
