//! Fulcrum: an all-in-one bare-metal provisioning appliance. One process is
//! the DHCP server, the TFTP and HTTP network-boot server, the REST API and
//! the orchestration engine of a cluster's admin node, and every service
//! answers from the same live in-process state.
//!
//! # Layout
//! Rooms, and the only direction their imports go (see ARCHITECTURE.md):
//! - [`types`]: values several rooms share (MAC, ranges, Global ID,
//!   secrets, power spec, naming rules); imports no other room.
//! - `config`: the TOML configuration, its defaults and validation.
//! - `net`: addressing as pure functions (RFC 4193 prefixes, MD5
//!   interface IDs, free-address search), host interfaces, ssh.
//! - `state`: the mechanism only: the store interface (redb), the single
//!   writer with group commit, snapshots, the change feed, typed record
//!   access. It names no record kind.
//! - `inventory`: networks, nodes, bootenvs: records, rules, operations.
//! - `dhcp`: leases (records and cascades), PXE decisions, the DHCPv4
//!   server.
//! - `boot`: rendering of boot scripts and templates, HTTP boot routes,
//!   TFTP.
//! - `power`: power drivers.
//! - `auth`: API tokens, access levels, the audit log.
//! - `engine`: deployments, roles, noderoles, runs; hooks; the annealer;
//!   jigs; the node commands.
//! - `explain`: what each boot service would answer a machine now, and why.
//! - `api`: the operator API (axum), wire types, error mapping, events.
//! - [`server`]: wiring, start-up and ordered shutdown.
//! - [`app`]: the `fulcrum` program: its command line and subcommands.
//! - `image`: images built on the admin node from Debian packages (the
//!   discovery image and its initramfs).
//! - `cli`: the API client subcommands, and `image build`.
//! - [`demo`]: `fulcrum demo`, and the simulated firmware tests share.
//! - `stats`: counters for `/metrics`.
//! - `log`: where the log goes (text, JSON, journald) and in what form.
#![warn(unreachable_pub, missing_docs)]

mod api;
pub mod app;
mod auth;
mod boot;
mod cli;
pub mod config;
pub mod demo;
mod dhcp;
mod distro;
mod dns;
mod engine;
mod explain;
#[cfg(any(fuzzing, test))]
pub mod fuzzing;
mod image;
mod inventory;
mod log;
mod net;
mod power;
pub mod server;
mod state;
mod stats;
pub mod types;
