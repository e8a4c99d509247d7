//! What the aliveness probe found (OpenCrowbar's rule: a node is alive
//! when it answers ping and a root SSH login from the admin node on its
//! admin address): kept on the node, shown in its view.

use std::net::IpAddr;

use serde::{Deserialize, Serialize};

/// One probe of a node, before a jig acted on it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct AliveCheck {
    /// When it began (unix seconds).
    pub(crate) at: u64,
    /// The address probed.
    pub(crate) address: IpAddr,
    #[serde(flatten)]
    pub(crate) result: ProbeResult,
}

/// How a probe ended.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(tag = "result", rename_all = "snake_case")]
pub(crate) enum ProbeResult {
    /// It answered ping and SSH.
    Answered,
    /// No echo reply.
    NoPing { detail: String },
    /// It answered ping but not an SSH login.
    NoSsh { detail: String },
}

impl ProbeResult {
    /// Whether the node passed.
    pub(crate) fn answered(&self) -> bool {
        matches!(self, ProbeResult::Answered)
    }

    /// Why it did not pass, for logs and run records.
    pub(crate) fn why(&self) -> Option<String> {
        match self {
            ProbeResult::Answered => None,
            ProbeResult::NoPing { detail } => Some(format!("no answer to ping: {detail}")),
            ProbeResult::NoSsh { detail } => Some(format!("answers ping but not SSH: {detail}")),
        }
    }
}
