//! The aliveness probe: an ICMP echo (up to three tries, one second each;
//! surge-ping, a datagram ICMP socket where the host allows one, else a raw
//! socket with CAP_NET_RAW), then `ssh ... true` as the configured user
//! within `timeout`.

use std::net::IpAddr;
use std::time::Duration;

use surge_ping::{Client, Config, PingIdentifier, PingSequence, ICMP};

use super::ssh::{self, SshOptions};
use crate::types::probe::ProbeResult;

/// Echo requests sent before a node is taken for silent.
const PINGS: u16 = 3;
/// How long each waits for its reply.
const PING_WAIT: Duration = Duration::from_secs(1);

/// Probes `ip`: ping first, then an SSH login that runs `true`.
pub(crate) async fn probe(ip: IpAddr, opts: &SshOptions, timeout: Duration) -> ProbeResult {
    if let Err(detail) = ping(ip).await {
        return ProbeResult::NoPing { detail };
    }
    match login(ip, opts, timeout).await {
        Ok(()) => ProbeResult::Answered,
        Err(detail) => ProbeResult::NoSsh { detail },
    }
}

async fn ping(ip: IpAddr) -> Result<(), String> {
    let config = match ip {
        IpAddr::V4(_) => Config::default(),
        IpAddr::V6(_) => Config::builder().kind(ICMP::V6).build(),
    };
    let client = Client::new(&config).map_err(|e| format!("cannot open an ICMP socket: {e}"))?;
    let mut pinger = client.pinger(ip, PingIdentifier(rand::random())).await;
    pinger.timeout(PING_WAIT);
    let mut last = String::new();
    for seq in 0..PINGS {
        match pinger.ping(PingSequence(seq), &[0; 16]).await {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    Err(format!("{PINGS} echo requests, no reply ({last})"))
}

async fn login(ip: IpAddr, opts: &SshOptions, timeout: Duration) -> Result<(), String> {
    let mut cmd = ssh::command(opts, &ip.to_string());
    cmd.arg("true").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let out = tokio::time::timeout(timeout, cmd.output())
        .await
        .map_err(|_| format!("no login within {} s", timeout.as_secs()))?
        .map_err(|e| format!("cannot run ssh: {e}"))?;
    if out.status.success() {
        return Ok(());
    }
    let stderr = String::from_utf8_lossy(&out.stderr);
    let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
    Err(format!("ssh exited with {}: {last}", out.status))
}
