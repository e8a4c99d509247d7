//! Value types several rooms share, and the validation rules for them. A
//! leaf: nothing here imports another room of the crate.
//!
//! - [`mac`]: Ethernet addresses in every spelling clients use;
//! - [`range`]: inclusive IPv4 ranges;
//! - [`global_id`]: the cluster's RFC 4193 Global ID;
//! - [`names`]: the one set of rules for record names, FQDNs, DNS domains
//!   and interface names;
//! - [`secret`]: a string that never prints or serializes its value;
//! - [`power`]: how a node's power is controlled;
//! - [`field`]: an error that names the field at fault, and refusals;
//! - [`report`]: an error with its causes, for logs and answers;
//! - [`time`]: wall-clock seconds and milliseconds;
//! - [`fingerprint`]: a certificate's SHA-256 fingerprint, as operators pin it;
//! - [`hex`]: bytes as colon-separated hex pairs;
//! - [`port`]: a switch port as a DHCP relay agent names it;
//! - [`probe`]: what an aliveness probe of a node found;
//! - [`agent`]: the commands the discovery agent is handed;
//! - [`schema`]: OpenAPI schemas of the string-valued types.

pub mod agent;
pub(crate) mod field;
pub mod fingerprint;
pub(crate) mod global_id;
pub(crate) mod hex;
pub mod mac;
pub(crate) mod names;
pub(crate) mod port;
pub(crate) mod power;
pub(crate) mod probe;
pub(crate) mod range;
pub(crate) mod report;
pub(crate) mod schema;
pub(crate) mod secret;
pub(crate) mod time;

#[cfg(test)]
mod tests;
