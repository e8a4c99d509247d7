//! The API client subcommands of the `fulcrum` command: they call the
//! REST API at `--endpoint` (or `FULCRUM_ENDPOINT`) with the API's wire
//! types and print tables, or the API's JSON with `--json`.
//!
//! - [`inventory`]: nodes, networks, bootenvs, leases;
//! - [`engine`]: deployments (with `commit --wait`), roles, noderoles, runs;
//! - [`auth`]: API tokens and the audit log;
//! - [`status`]: what runs where, and the certificate the CLI verified;
//! - [`image`]: `image build discovery`, the one subcommand that builds
//!   on this machine instead of calling the API;
//! - [`raw`]: `fulcrum api`, every operation the server describes, and
//!   any call;
//! - [`progress`]: a bar on the terminal, lines in a log, while the CLI
//!   waits;
//! - [`upload`]: a large file streamed to the API with a progress bar;
//! - [`client`]: the typed HTTP client; [`trust`]: how it verifies the
//!   API's certificate; [`table`]: table rendering.

pub(crate) mod auth;
pub(crate) mod bulk;
pub(crate) mod client;
pub(crate) mod dns;
pub(crate) mod engine;
pub(crate) mod image;
pub(crate) mod inventory;
pub(crate) mod progress;
pub(crate) mod raw;
pub(crate) mod status;
pub(crate) mod table;
pub(crate) mod trust;
pub(crate) mod upload;

use serde::Serialize;

/// Prints `v` as the API's JSON, or as a table.
pub(crate) fn print<T: Serialize>(json_out: bool, v: &T, table: impl FnOnce(&T) -> String) {
    if json_out {
        println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
    } else {
        print!("{}", table(v));
    }
}
