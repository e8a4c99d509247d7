//! The agent's side of Fulcrum's machine routes: `POST /api/v1/discover`
//! (with every MAC), the inventory report, and the step loop's
//! `GET .../agent/next` and `POST .../agent/done`, each with the node's token.

use std::time::Duration;

use serde::Deserialize;
use serde_json::json;

use crate::actions::Action;
use crate::inventory::Report;

/// The node Fulcrum registered this machine as, and the token it speaks
/// with. The token is never printed.
#[derive(Clone)]
pub(crate) struct Node {
    pub(crate) name: String,
    /// Fulcrum made the node for this registration (201), rather than
    /// knowing the machine already (200).
    pub(crate) created: bool,
    token: String,
}

impl Node {
    /// Whether `other` is this same registration (each one gets a token
    /// of its own).
    pub(crate) fn same_registration(&self, other: &Node) -> bool {
        self.token == other.token
    }

    #[cfg(test)]
    pub(crate) fn registered(name: &str, token: &str) -> Node {
        Node { name: name.into(), created: false, token: token.into() }
    }
}

/// What went wrong talking to Fulcrum.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// Fulcrum answered, and refused.
    Refused { status: u16, body: String },
    /// No answer (the network, a timeout) or an answer that makes no sense.
    Transport(String),
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::Refused { status, body } => {
                write!(f, "HTTP {status}: {}", body.chars().take(300).collect::<String>())
            }
            ApiError::Transport(e) => f.write_str(e),
        }
    }
}

impl ApiError {
    /// Fulcrum no longer knows the node or its token (deleted, its token
    /// rotated, the node re-created): registering again mends it.
    pub(crate) fn lost_node(&self) -> bool {
        matches!(self, ApiError::Refused { status: 401 | 403 | 404, .. })
    }
}

impl From<ureq::Error> for ApiError {
    fn from(e: ureq::Error) -> Self {
        match e {
            ureq::Error::Status(status, resp) => {
                ApiError::Refused { status, body: resp.into_string().unwrap_or_default() }
            }
            ureq::Error::Transport(t) => ApiError::Transport(t.to_string()),
        }
    }
}

/// A step Fulcrum hands the agent.
#[derive(Debug)]
pub(crate) struct Command {
    pub(crate) id: String,
    pub(crate) action: Result<Action, String>,
}

/// The answer to "what next?".
pub(crate) struct Next {
    pub(crate) command: Option<Command>,
    pub(crate) poll: Option<Duration>,
}

#[derive(Deserialize)]
struct Registered {
    name: String,
    token: String,
}

/// Fulcrum's boot listener.
pub(crate) struct Api {
    base: String,
    http: ureq::Agent,
}

impl Api {
    pub(crate) fn new(base: &str) -> Api {
        let http = ureq::AgentBuilder::new()
            .timeout_connect(Duration::from_secs(5))
            .timeout(Duration::from_secs(30))
            // A new connection per request: a kept-alive one outlives the
            // address it was made from when a DHCP renewal moves the
            // machine onto its own address, and the next request on it
            // hangs until the timeout (measured: 30 s lost in the QEMU
            // test). An agent asks every few seconds; a handshake is cheap.
            .max_idle_connections(0)
            .user_agent(concat!("fulcrum-agent/", env!("CARGO_PKG_VERSION")))
            .build();
        Api { base: base.to_string(), http }
    }

    fn post(&self, node: Option<&Node>, path: &str, body: &serde_json::Value) -> Result<ureq::Response, ApiError> {
        let mut req = self.http.post(&format!("{}{path}", self.base));
        if let Some(n) = node {
            req = req.set("Authorization", &format!("Bearer {}", n.token));
        }
        Ok(req.send_json(body)?)
    }

    /// Registers (or finds) the machine by the MAC it booted from, with
    /// all its others.
    pub(crate) fn discover(&self, mac: &str, macs: &[String]) -> Result<Node, ApiError> {
        let answer = self.post(None, "/api/v1/discover", &json!({ "mac": mac, "macs": macs }))?;
        let created = answer.status() == 201;
        let r: Registered = answer.into_json().map_err(|e| ApiError::Transport(format!("discover answer: {e}")))?;
        Ok(Node { name: r.name, created, token: r.token })
    }

    pub(crate) fn report_inventory(&self, node: &Node, report: &Report) -> Result<(), ApiError> {
        let body = serde_json::to_value(report).map_err(|e| ApiError::Transport(e.to_string()))?;
        self.post(Some(node), &format!("/api/v1/nodes/{}/inventory", node.name), &body)?;
        Ok(())
    }

    /// Asks for the next step; `None` when there is nothing to do yet.
    pub(crate) fn next(&self, node: &Node) -> Result<Next, ApiError> {
        let v: serde_json::Value = self
            .http
            .get(&format!("{}/api/v1/nodes/{}/agent/next", self.base, node.name))
            .set("Authorization", &format!("Bearer {}", node.token))
            .call()?
            .into_json()
            .map_err(|e| ApiError::Transport(format!("next answer: {e}")))?;
        // At least a second: a server that says 0 must not make the agent spin.
        let poll = v.get("poll_seconds").and_then(serde_json::Value::as_u64).map(|s| Duration::from_secs(s.max(1)));
        let command = match v.get("command") {
            None | Some(serde_json::Value::Null) => None,
            Some(c) => {
                let id = c
                    .get("id")
                    .and_then(serde_json::Value::as_str)
                    .ok_or_else(|| ApiError::Transport(format!("a command without an id: {c}")))?
                    .to_string();
                // An action this agent does not know is reported back as
                // failed, not taken for another.
                // The command is not repeated: it may carry a secret (the
                // rescue password).
                let name = c.get("action").and_then(serde_json::Value::as_str).unwrap_or("?").to_string();
                let action = serde_json::from_value::<Action>(c.clone()).map_err(|e| {
                    let why = if e.is_data() { "its fields are not what this agent knows" } else { "unreadable" };
                    format!("this agent ({}) cannot run `{name}`: {why}", env!("CARGO_PKG_VERSION"))
                });
                Some(Command { id, action })
            }
        };
        Ok(Next { command, poll })
    }

    /// `url` as fetched: a path on Fulcrum when it starts with `/`.
    fn absolute(&self, url: &str) -> String {
        if url.starts_with('/') {
            format!("{}{url}", self.base)
        } else {
            url.to_string()
        }
    }

    /// A client for images: an image takes as long as it takes; a stalled
    /// server does not.
    fn downloads() -> ureq::Agent {
        ureq::AgentBuilder::new().timeout_connect(Duration::from_secs(5)).timeout_read(Duration::from_secs(60)).build()
    }

    /// Opens `url` for reading, with its length when the server says it.
    pub(crate) fn fetch(&self, url: &str) -> Result<(Box<dyn std::io::Read + Send + Sync>, Option<u64>), ApiError> {
        let resp = Self::downloads().get(&self.absolute(url)).call()?;
        let len = resp.header("Content-Length").and_then(|l| l.parse().ok());
        Ok((resp.into_reader(), len))
    }

    /// Up to `len` bytes of `url` from byte `at` (fewer where the file
    /// ends), by an HTTP Range request: a server that answers with the
    /// whole file instead is refused.
    pub(crate) fn fetch_range(&self, url: &str, at: u64, len: usize) -> Result<Vec<u8>, ApiError> {
        use std::io::Read;
        let range = format!("bytes={at}-{}", at + len.max(1) as u64 - 1);
        let resp = match Self::downloads().get(&self.absolute(url)).set("Range", &range).call() {
            // Wholly past the end: nothing there.
            Err(ureq::Error::Status(416, _)) => return Ok(Vec::new()),
            r => r?,
        };
        if resp.status() != 206 {
            return Err(ApiError::Transport(format!(
                "the server answered a Range request with HTTP {} rather than 206: it cannot serve a qcow2 image",
                resp.status()
            )));
        }
        let mut bytes = Vec::with_capacity(len);
        resp.into_reader().take(len as u64).read_to_end(&mut bytes).map_err(|e| ApiError::Transport(e.to_string()))?;
        Ok(bytes)
    }

    /// Reports how step `id` went.
    pub(crate) fn done(&self, node: &Node, id: &str, ok: bool, detail: &str) -> Result<(), ApiError> {
        let body = json!({ "command": id, "ok": ok, "detail": detail });
        self.post(Some(node), &format!("/api/v1/nodes/{}/agent/done", node.name), &body)?;
        Ok(())
    }
}
