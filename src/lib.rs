//! Fulcrum: an all-in-one bare-metal provisioning appliance. One process is
//! the DHCP server, the TFTP and HTTP network-boot server, the REST API and
//! the orchestration engine of a cluster's admin node, and every service
//! answers from the same live in-process state.
//!
//! # Layout
//! - [`config`]: the TOML configuration, its defaults and validation.
//! - [`state`]: the single source of truth: redb store, in-memory world,
//!   atomic write transactions with group commit, change feed.
//! - [`net`]: MAC addresses, RFC 4193 prefixes, MD5 interface IDs, IPv4
//!   allocation, host interfaces.
//! - [`dhcp`]: PXE client classification and the DHCPv4 server.
//! - [`boot`]: shipped bootenvs, iPXE/template rendering, HTTP boot routes,
//!   TFTP.
//! - [`engine`]: writes with consequences (node registration, bootenv
//!   changes, provisioning verbs); the noderole engine will join them.
//! - [`power`]: power drivers (ssh, operator command).
//! - [`api`]: the axum router: REST v1, events, health, metrics.
//! - [`server`]: starts and stops the services.
//! - [`cli`]: the `fulcrum` client subcommands.
//! - [`demo`]: `fulcrum demo`, simulated machines over the real protocols.
//! - [`stats`]: counters for `/metrics`.

pub mod api;
pub mod boot;
pub mod cli;
pub mod config;
pub mod demo;
pub mod dhcp;
pub mod engine;
pub mod net;
pub mod power;
pub mod server;
pub mod state;
pub mod stats;
