//! Network boot: rendering of iPXE scripts and unattended-install
//! templates from live state ([`render`]), the HTTP boot routes
//! ([`http`]), and the TFTP server for first-stage loaders ([`tftp`]).

pub(crate) mod http;
pub(crate) mod render;
pub(crate) mod tftp;
