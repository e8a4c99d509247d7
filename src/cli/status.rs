//! `fulcrum status`: the server's version, Global ID, listeners and API
//! certificate (`GET /api/v1/status`), and how this CLI verified it.

use super::client::Client;
use super::print;
use super::trust::Trust;
use crate::api::wire::Status;

/// Runs `fulcrum status`.
pub(crate) async fn status(c: &Client, json_out: bool, endpoint: &str, trust: &Trust) -> anyhow::Result<()> {
    let s: Status = c.get("/api/v1/status").await?;
    print(json_out, &s, |s| {
        let mut out = format!(
            "fulcrum {} at {endpoint}: {}\nglobal id   {}\napi         {}\nboot        {}\n",
            s.version,
            if s.writing { "running" } else { "stopped writing" },
            s.global_id,
            s.api,
            s.boot,
        );
        match &s.tls {
            Some(t) => {
                out += &format!("certificate {} ({})\nsha-256     {}\n", t.cert, t.origin, t.fingerprint);
                let how = match trust {
                    _ if !endpoint.starts_with("https://") => "not verified: the endpoint is plain http".to_string(),
                    Trust::Pinned { fingerprint, from } if *fingerprint == t.fingerprint => {
                        format!("pinned fingerprint (from {from})")
                    }
                    Trust::Pinned { from, .. } => format!("pinned from {from}, through a proxy that re-signs?"),
                    Trust::Ca(path) => format!("chain and name against {}", path.display()),
                    Trust::Nothing => "not verified".into(),
                };
                out += &format!("verified    {how}\n");
            }
            None => out += "certificate none: api.tls = false\n",
        }
        for svc in &s.services {
            out += &format!("{:<11} {}\n", svc.name, svc.listen.join(" "));
        }
        out += &format!("nodes {}, networks {}, leases {}, since {}\n", s.nodes, s.networks, s.leases, s.started_at);
        if !s.nodes_by_state.is_empty() {
            let states: Vec<String> = s.nodes_by_state.iter().map(|(k, v)| format!("{k} {v}")).collect();
            out += &format!("nodes by state: {}\n", states.join(", "));
        }
        out
    });
    Ok(())
}
