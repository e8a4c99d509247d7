//! Fulcrum's integration tests, linked into one test binary (the suite
//! links once, however many modules it grows). Each module tests one
//! surface against the real binary, or against a server started in this
//! process, with real clients where they exist:
//!
//! - [`architecture`]: the code imports only what ARCHITECTURE.md draws;
//! - [`agent_image`]: the discovery image built by `fulcrum image build`,
//!   network-booted in QEMU: inventory, inspection, cleaning, an image
//!   write, power off;
//! - [`agent_lifecycle`]: an imported machine's whole life through its
//!   IPMI BMC (driving QEMU over QMP) and the agent, with a restart;
//! - [`admin_iso`]: the admin-node boot ISO installed in QEMU, booting a
//!   second machine to the discovery image;
//! - [`openapi`]: the API's description against the live server, fuzzed
//!   by schemathesis;
//! - [`api`]: the REST contract with curl (errors name the field, nothing
//!   half-written, derived addresses, boot scripts, events, SIGTERM);
//! - [`boot_attacks`]: the machine-facing services attacked from a namespace;
//! - [`bulk`]: instackenv import, guarded bulk verbs, protected nodes;
//! - [`cli`]: the client subcommands;
//! - [`durability`]: `kill -9` under DHCP load;
//! - [`crash`]: `kill -9` at random moments under DHCP load, API writes and
//!   annealing, and what must survive each;
//! - [`faults`]: a full disk, a read-only or missing data dir;
//! - [`dhcp_flood`]: one MAC floods, the others are still served;
//! - [`hostile_packets`]: garbage from the fuzz corpora at the real sockets;
//! - [`tls`]: the HTTPS API, its certificate, and how the CLI verifies it;
//! - [`shutdown`]: SIGTERM under DHCP load and runs in flight, then an
//!   immediate restart that finds every acknowledged lease and run;
//! - [`secrets`]: no node token in the event stream, the logs or a view;
//! - [`race`]: a bootenv change is in the very next answer, 1000 times;
//! - [`engine`]: the noderole engine (seed 004, ERROR ripple, crash rule);
//! - [`install_callbacks`]: the shipped Ubuntu install's alive unit, run
//!   as its installer and installed system would;
//! - [`lifecycle`]: the lifecycle watchdog (a hung install fails, across
//!   a restart);
//! - [`os_install_scale`]: the os-install flow for 50 simulated nodes;
//! - [`netns_clients`]: udhcpc, dhclient, tftp-hpa, atftp, curl in
//!   namespaces;
//! - [`netns_v6`]: rdisc6, dhclient -6 and dhcpcd against the router
//!   advertisements and the DHCPv6 server;
//! - [`netns_relay`]: clients behind ISC dhcrelay -6 and -4 (option 82);
//! - [`proxy_dhcp`]: proxy networks and the PXE boot server, on loopback;
//! - [`power_pacing`]: paced power-on, one machine in early boot at a time;
//! - [`power_ipmi`], [`power_redfish`]: the IPMI and Redfish power drivers
//!   against emulated BMCs (pyghmi, sushy-tools);
//! - [`perfdhcp`]: 50,000 perfdhcp clients per family, no address twice;
//! - [`ssh_jig`]: the script jig against a real sshd in a namespace;
//! - [`qemu_boot`], [`qemu_os_install`]: real VMs network-booting;
//! - [`systemd_unit`]: the unit passes `systemd-analyze verify`;
//! - [`trust`]: tokens, access levels, machine tokens, admin-only features
//!   and the audit log, attacked.

mod harness;

mod admin_iso;
mod agent_image;
mod agent_lifecycle;
mod api;
mod architecture;
mod boot_attacks;
mod bootenv_readiness;
mod bulk;
mod cli;
mod crash;
mod deb_package;
mod dhcp_flood;
mod dns;
mod dns_lab;
mod durability;
mod engine;
mod explain;
mod faults;
mod hostile_packets;
mod install_callbacks;
mod iso_import;
mod lifecycle;
mod logs;
mod metrics;
mod netns_clients;
mod netns_relay;
mod netns_v6;
mod openapi;
mod os_install_scale;
mod perfdhcp;
mod power_ipmi;
mod power_pacing;
mod power_redfish;
mod proxy_dhcp;
mod qemu_boot;
mod qemu_os_install;
mod race;
mod secrets;
mod shutdown;
mod ssh_jig;
mod systemd_unit;
mod tls;
mod trust;
mod web_ui;
