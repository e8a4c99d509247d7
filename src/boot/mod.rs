//! Network boot: the boot environments shipped with the binary, rendering
//! of iPXE scripts and unattended-install templates from live state, the
//! HTTP boot routes, and the TFTP server for first-stage loaders.

pub mod bootenvs;
pub mod http;
pub mod render;
pub mod tftp;
