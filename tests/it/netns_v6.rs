//! IPv6 with real clients across a real L2 segment: Fulcrum's router
//! advertisements seen by rdisc6 (ndisc6), a known node's DHCPv6 lease by
//! ISC dhclient -6 (the address the API shows, its DUID recorded, the
//! lease in the store, released on `-r`), and an unknown client by
//! dhcpcd, which must pick up the RA and run DHCPv6 on its own. Relayed
//! clients are in [`crate::netns_relay`]. Needs root; fails under CI=true
//! when anything is missing.

use std::net::Ipv6Addr;
use std::process::Command;
use std::time::Duration;

use crate::harness::{curl, metric, prerequisites, run, wait_for, Netns, Server};
use serde_json::{json, Value};

const NODE_MAC: &str = "52:54:00:76:00:01";
const STRANGER_MAC: &str = "52:54:00:76:00:02";

/// A server namespace with bridge br0 (10.76.0.1/24 and the first address
/// of the network's `auto` /64), a client namespace on a veth into it,
/// and Fulcrum serving br0 with DNS on IPv6 too.
struct Lab {
    client: Netns,
    /// A second machine on the bridge, unknown to Fulcrum.
    stranger: Netns,
    srv: Server,
    server_ns: Netns,
    prefix: Ipv6Addr,
}

impl Lab {
    fn api(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, Value) {
        curl(Some(&self.server_ns), method, &self.srv.url(path), body)
    }

    fn server6(&self) -> Ipv6Addr {
        Ipv6Addr::from(u128::from(self.prefix) | 1)
    }
}

/// No duplicate address detection in a namespace: addresses are usable at once.
pub(crate) fn no_dad(ns: &Netns) {
    for key in ["net.ipv6.conf.all.accept_dad=0", "net.ipv6.conf.default.accept_dad=0"] {
        run(ns.cmd("sysctl").args(["-qw", key]));
    }
}

fn lab() -> Lab {
    let server_ns = Netns::new("srv6");
    let client = Netns::new("cli6");
    let stranger = Netns::new("str6");
    // No kernel sends router solicitations of its own: the clients that
    // want an RA (rdisc6, dhcpcd) send theirs, and the crafted-message
    // test counts exactly the ones it sends.
    for ns in [&server_ns, &client, &stranger] {
        for key in ["net.ipv6.conf.all.router_solicitations=0", "net.ipv6.conf.default.router_solicitations=0"] {
            run(ns.cmd("sysctl").args(["-qw", key]));
        }
    }
    no_dad(&server_ns);
    server_ns.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    server_ns.ip(&["addr", "add", "10.76.0.1/24", "dev", "br0"]);
    server_ns.ip(&["link", "set", "br0", "up"]);
    for (ns, mac, port) in [(&client, NODE_MAC, "vsrv"), (&stranger, STRANGER_MAC, "vsrv2")] {
        no_dad(ns);
        server_ns.ip(&["link", "add", port, "type", "veth", "peer", "name", "vpeer"]);
        server_ns.ip(&["link", "set", port, "master", "br0", "up"]);
        server_ns.ip(&["link", "set", "vpeer", "netns", &ns.name]);
        ns.ip(&["link", "set", "vpeer", "name", "eth0"]);
        ns.ip(&["link", "set", "eth0", "address", mac, "up"]);
    }
    let config = "data_dir = \"{dir}/data\"\n[http]\nlisten = \"[::]:8080\"\n[dhcp]\nlisten4 = \"0.0.0.0:67\"\n\
                  interfaces = [\"br0\"]\nra_interval = 4\n[dns]\nlisten = [\"[::]:53\"]\n[tftp]\nlisten = \"0.0.0.0:69\"\n\
                  root = \"{dir}\"\n[boot]\nfiles_dir = \"{dir}/files\"\n";
    let srv = Server::start(config, "10.76.0.1:8080".parse().unwrap(), Some(&server_ns));
    let net = json!({
        "name": "lab6", "subnet": "10.76.0.0/24", "server": "10.76.0.1",
        "static": {"start": "10.76.0.10", "end": "10.76.0.99"},
        "dynamic": {"start": "10.76.0.100", "end": "10.76.0.200"},
        "domain": "lab6.test", "interface": "br0", "v6prefix": "auto",
    });
    let (code, v) = curl(Some(&server_ns), "POST", &srv.url("/api/v1/networks"), Some(&net));
    assert_eq!(code, 201, "{v}");
    assert_eq!(v["ra"], "on", "{v}");
    let prefix: Ipv6Addr = v["v6_network"].as_str().unwrap().trim_end_matches("/64").parse().unwrap();
    assert_eq!(prefix.segments()[0] >> 8, 0xfd, "an RFC 4193 prefix: {prefix}");
    let lab = Lab { client, stranger, srv, server_ns, prefix };
    lab.server_ns.ip(&["addr", "add", &format!("{}/64", lab.server6()), "dev", "br0"]);
    lab
}

/// What rdisc6 printed for the first advertisement it got.
fn rdisc6(lab: &Lab) -> String {
    let o = run(lab.client.cmd("rdisc6").args(["-1", "-r", "5", "-w", "2000", "eth0"]));
    String::from_utf8_lossy(&o.stdout).into_owned()
}

/// The value of rdisc6's `key : value` line.
fn field<'a>(out: &'a str, key: &str) -> Option<&'a str> {
    out.lines().find(|l| l.trim_start().starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim())
}

/// Runs dhclient -6 once; returns the variables its script saw on BOUND6.
pub(crate) fn dhclient6(ns: &Netns, srv: &Server, dir: &std::path::Path) -> std::collections::HashMap<String, String> {
    let out = dir.join("env");
    let script = dir.join("script.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\ncase \"$reason\" in BOUND6|RENEW6|REBIND6) env > {}; \
             ip -6 addr replace \"$new_ip6_address/64\" dev \"$interface\";; esac\nexit 0\n",
            out.display()
        ),
    )
    .unwrap();
    run(Command::new("chmod").arg("+x").arg(&script));
    let _ = std::fs::remove_file(&out);
    let o = ns
        .cmd("timeout")
        .args(["30", "dhclient", "-6", "-1", "-v", "-sf"])
        .arg(&script)
        .arg("-pf")
        .arg(dir.join("pid"))
        .arg("-lf")
        .arg(dir.join("leases"))
        .arg("eth0")
        .output()
        .unwrap();
    if let Ok(pid) = std::fs::read_to_string(dir.join("pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }
    let text = std::fs::read_to_string(&out).unwrap_or_else(|_| {
        panic!("dhclient -6 bound nothing:\n{}\n{}", String::from_utf8_lossy(&o.stderr), srv.log_text())
    });
    text.lines().filter_map(|l| l.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn leases6(lab: &Lab) -> Vec<Value> {
    let (code, v) = lab.api("GET", "/api/v1/leases?family=6", None);
    assert_eq!(code, 200, "{v}");
    v.as_array().cloned().unwrap_or_default()
}

#[test]
fn router_advertisements_and_dhcpv6_with_real_clients() {
    if !prerequisites("netns_v6", true, &["ip", "sysctl", "rdisc6", "dhclient", "dhcpcd", "unshare", "dig"]) {
        return;
    }
    let lab = lab();

    // 1. The RA: M and O set, not a default router, the /64 on-link but
    //    not autonomous, the MTU, and Fulcrum's DNS (RDNSS).
    let ra = rdisc6(&lab);
    assert_eq!(field(&ra, "Stateful address conf."), Some("Yes"), "{ra}");
    assert_eq!(field(&ra, "Stateful other conf."), Some("Yes"), "{ra}");
    assert!(field(&ra, "Router lifetime").is_some_and(|v| v.starts_with("0 ")), "{ra}");
    assert_eq!(field(&ra, "Prefix"), Some(format!("{}/64", lab.prefix).as_str()), "{ra}");
    assert_eq!(field(&ra, "On-link"), Some("Yes"), "{ra}");
    assert_eq!(field(&ra, "Autonomous address conf."), Some("No"), "{ra}");
    assert!(field(&ra, "MTU").is_some_and(|v| v.starts_with("1500")), "{ra}");
    assert_eq!(field(&ra, "Recursive DNS server"), Some(lab.server6().to_string().as_str()), "{ra}");
    assert_eq!(field(&ra, "DNS search list"), Some("lab6.test"), "{ra}");

    // 2. A known node: dhclient -6 gets exactly the address the API shows.
    let (code, node) =
        lab.api("POST", "/api/v1/nodes", Some(&json!({"name": "n1.lab6.test", "macs": [NODE_MAC], "network": "lab6"})));
    assert_eq!(code, 201, "{node}");
    let want: Ipv6Addr = node["ipv6"].as_str().unwrap().parse().unwrap();
    let d = tempfile::tempdir().unwrap();
    let env = dhclient6(&lab.client, &lab.srv, d.path());
    assert_eq!(env.get("new_ip6_address").map(String::as_str), Some(want.to_string().as_str()), "{env:?}");
    assert_eq!(
        env.get("new_dhcp6_name_servers").map(|s| s.trim()),
        Some(lab.server6().to_string().as_str()),
        "{env:?}"
    );
    assert_eq!(env.get("new_dhcp6_domain_search").map(|s| s.trim()), Some("lab6.test."), "{env:?}");
    // The lease was in the store before the REPLY; the node has the DUID.
    let leases = leases6(&lab);
    let held: Vec<&Value> = leases.iter().filter(|l| l["ip"] == want.to_string()).collect();
    assert_eq!(held.len(), 1, "{leases:?}");
    assert_eq!(held[0]["node"], "n1.lab6.test");
    assert_eq!(held[0]["state"], "active");
    let (_, node) = lab.api("GET", "/api/v1/nodes/n1.lab6.test", None);
    assert_eq!(node["duids"].as_array().map(Vec::len), Some(1), "{node}");
    assert_eq!(node["duids"][0], held[0]["duid"]);
    // dhclient's default DUID is a DUID-LLT of the interface's MAC.
    assert!(node["duids"][0].as_str().unwrap().ends_with(NODE_MAC), "{node}");
    // Its boot trace has the exchange: SOLICIT, then REQUEST and the REPLY with its address.
    let trace = wait_for(Duration::from_secs(10), "the DHCPv6 exchange in the node's trace", || {
        let (_, t) = lab.api("GET", "/api/v1/nodes/n1.lab6.test/trace", None);
        let replied = t["events"].as_array().is_some_and(|ev| {
            ev.iter().any(|e| {
                e["service"] == "dhcp6"
                    && e["request"].as_str().is_some_and(|r| r.starts_with("REQUEST"))
                    && e["answer"].as_str().is_some_and(|a| a.contains(&want.to_string()))
            })
        });
        replied.then_some(t)
    });
    assert!(trace.to_string().contains("SOLICIT from a plain DHCP client"), "{trace}");
    // Explain says the same over DHCPv6: the address the client got, and
    // per firmware the boot URL (iPXE its script's, on the ULA; UEFI HTTP
    // boot an http:// loader; BIOS PXE none: it has no IPv6 path).
    // Its bootenv is local: over DHCPv6 that is an address and no boot file.
    let (code, local) = lab.api("GET", "/api/v1/explain/n1.lab6.test", None);
    assert_eq!(code, 200, "{local}");
    let v6_local = local["answers_v6"].as_array().cloned().unwrap_or_default();
    assert_eq!(v6_local.len(), 4, "{local}");
    assert!(v6_local.iter().all(|a| a["boot_url"].is_null() && a["address"] == want.to_string()), "{local}");
    let (code, v) = lab.api("PUT", "/api/v1/nodes/n1.lab6.test/bootenv", Some(&json!({"bootenv": "discovery"})));
    assert_eq!(code, 200, "{v}");
    let (_, explained) = lab.api("GET", "/api/v1/explain/n1.lab6.test", None);
    let v6 = |fw: &str| {
        explained["answers_v6"]
            .as_array()
            .and_then(|a| a.iter().find(|x| x["firmware"] == fw))
            .cloned()
            .unwrap_or_else(|| panic!("no {fw} DHCPv6 answer: {explained}"))
    };
    let base = format!("http://[{}]", lab.server6());
    let ipxe = v6("ipxe");
    assert_eq!(ipxe["address"], want.to_string(), "{explained}");
    let url = |a: &Value| a["boot_url"].as_str().unwrap_or_default().to_string();
    assert!(url(&ipxe).starts_with(&base) && url(&ipxe).contains(&format!("/boot/ipxe?mac={NODE_MAC}")), "{ipxe}");
    let http = v6("uefi-x64-http");
    assert!(url(&http).starts_with(&base) && url(&http).contains("/boot/loaders/"), "{http}");
    assert!(v6("bios")["boot_url"].is_null(), "{explained}");
    let (code, v) = lab.api("PUT", "/api/v1/nodes/n1.lab6.test/bootenv", Some(&json!({"bootenv": "local"})));
    assert_eq!(code, 200, "{v}");
    // DNS over IPv6 answers the node's AAAA with the same address.
    let dig = run(lab.client.cmd("dig").args([
        "+short",
        "+time=2",
        "+tries=2",
        &format!("@{}", lab.server6()),
        "n1.lab6.test",
        "AAAA",
    ]));
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), want.to_string());

    // 3. RELEASE: the lease is gone.
    let o = lab
        .client
        .cmd("timeout")
        .args(["20", "dhclient", "-6", "-r", "-v", "-sf", "/bin/true", "-pf"])
        .arg(d.path().join("pid"))
        .arg("-lf")
        .arg(d.path().join("leases"))
        .arg("eth0")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    wait_for(Duration::from_secs(5), "the released lease to go", || {
        (!leases6(&lab).iter().any(|l| l["ip"] == want.to_string())).then_some(())
    });

    // 4. An unknown machine running dhcpcd: it takes the RA's M flag and
    //    runs DHCPv6 by itself; it gets a dynamic address in the /64.
    //    dhcpcd's state stays in a mount namespace of its own.
    let o = crate::harness::dhcpcd(&lab.stranger, 15, "-6 -t 30 eth0");
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    let addrs =
        String::from_utf8_lossy(&run(lab.stranger.cmd("ip").args(["-6", "addr", "show", "dev", "eth0"])).stdout)
            .into_owned();
    let stranger =
        leases6(&lab).into_iter().find(|l| l["node"].is_null() && l["state"] == "active").unwrap_or_else(|| {
            let (_, m) = lab.api("GET", "/metrics", None);
            let m =
                m.as_str().unwrap_or_default().lines().filter(|l| l.contains("dhcp6")).collect::<Vec<_>>().join("\n");
            panic!("no lease for dhcpcd:\n{log}\n{addrs}\n{m}")
        });
    let got: Ipv6Addr = stranger["ip"].as_str().unwrap().parse().unwrap();
    assert_eq!(u128::from(got) >> 64, u128::from(lab.prefix) >> 64, "{got}");
    assert_eq!(got.segments()[4], 0xffff, "a dynamic interface ID: {got}");
    assert!(log.contains(&got.to_string()), "dhcpcd took {got}:\n{log}");

    // 5. Counted: the RAs, the solicitations, the answers.
    let (_, metrics) = lab.api("GET", "/metrics", None);
    let text = metrics.as_str().map(str::to_string).unwrap_or_else(|| metrics.to_string());
    for counter in [
        "fulcrum_ra_sent_total",
        "fulcrum_ra_solicits_total",
        "fulcrum_dhcp6_replies_total{type=\"advertise\"",
        "fulcrum_dhcp6_replies_total{type=\"reply\"",
        "fulcrum_dhcp6_requests_total{type=\"solicit\"",
    ] {
        assert!(crate::harness::metric(&text, counter) > 0, "{counter}:\n{text}");
    }
}

/// RFC 8415 16 and 18.4, and RFC 4861 6.1.1, with crafted messages (a
/// Python client, `tests/fixtures/dhcp6/craft.py`, since real clients
/// never send them): a SOLICIT sent to the server's unicast address is
/// discarded while the same SOLICIT multicast is answered; a unicast
/// REQUEST gets UseMulticast; a REQUEST for an address off the link gets
/// NotOnLink; on a network that is not authoritative a stranger's RENEW
/// gets NoBinding and its REBIND no answer; a router solicitation that
/// arrives with a hop limit below 255 (it crossed a router) is ignored
/// and counted, one with 255 is answered.
#[test]
fn what_clients_must_multicast_and_solicitations_off_the_link_are_refused() {
    if !prerequisites("netns_v6 crafted", true, &["ip", "sysctl", "python3"]) {
        return;
    }
    let lab = lab();
    let craft = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/dhcp6/craft.py");
    let client_addr = Ipv6Addr::from(u128::from(lab.prefix) | 0x50);
    lab.client.ip(&["-6", "addr", "add", &format!("{client_addr}/64"), "dev", "eth0"]);
    let send = |args: &[&str]| {
        let o = run(lab.client.cmd("python3").arg(craft).args(args));
        String::from_utf8_lossy(&o.stdout).trim().to_string()
    };
    let metrics = || {
        let (_, m) = lab.api("GET", "/metrics", None);
        m.as_str().map(str::to_string).unwrap_or_else(|| m.to_string())
    };
    let server = lab.server6().to_string();
    wait_for(Duration::from_secs(10), "the multicast SOLICIT's ADVERTISE", || {
        let got = send(&["dhcp6", "ff02::1:2", "solicit"]);
        got.starts_with("type=2 ").then_some(())
    });
    let got = send(&["dhcp6", &server, "solicit"]);
    assert_eq!(got, "none", "a unicast SOLICIT was answered:\n{}", lab.srv.log_text());
    let dropped = metric(&metrics(), "fulcrum_dhcp6_dropped_total{reason=\"unicast\"}");
    assert!(dropped >= 1, "not counted:\n{}", metrics());
    let adv = send(&["dhcp6", "ff02::1:2", "solicit"]);
    let duid = adv.split("server=").nth(1).and_then(|r| r.split_whitespace().next()).unwrap_or_default().to_string();
    assert!(adv.starts_with("type=2 ") && !duid.is_empty(), "{adv}");
    // UseMulticast is status 5; the REPLY (7) names the server, and
    // nothing is bound.
    let leases = leases6(&lab).len();
    let reply = send(&["dhcp6", &server, "request", &duid]);
    assert_eq!(reply, format!("type=7 status=5 server={duid} ia_status=-1"), "{}", lab.srv.log_text());
    assert_eq!(leases6(&lab).len(), leases, "a unicast REQUEST bound a lease: {:?}", leases6(&lab));
    // A REQUEST (multicast) for an address off this link: NotOnLink (4)
    // in its IA, nothing bound.
    let reply = send(&["dhcp6", "ff02::1:2", "request", &duid, "fd00:dead::5"]);
    assert_eq!(reply, format!("type=7 status=-1 server={duid} ia_status=4"), "{}", lab.srv.log_text());
    assert_eq!(leases6(&lab).len(), leases, "an off-link REQUEST bound a lease: {:?}", leases6(&lab));
    // Not authoritative: this stranger holds no lease here, so its RENEW
    // gets NoBinding (3) in its IA and its REBIND no answer; authoritative
    // again, the same REBIND is answered with the address.
    let on_link = Ipv6Addr::from(u128::from(lab.prefix) | 0x77).to_string();
    let authoritative = |on: bool| {
        let (code, v) = lab.api("PATCH", "/api/v1/networks/lab6", Some(&json!({"authoritative": on})));
        assert_eq!(code, 200, "{v}");
    };
    authoritative(false);
    let renew = send(&["dhcp6", "ff02::1:2", "renew", &duid, &on_link]);
    assert_eq!(renew, format!("type=7 status=-1 server={duid} ia_status=3"), "{}", lab.srv.log_text());
    assert_eq!(send(&["dhcp6", "ff02::1:2", "rebind", "", &on_link]), "none");
    assert_eq!(leases6(&lab).len(), leases, "nothing bound while not authoritative");
    authoritative(true);
    let rebind = send(&["dhcp6", "ff02::1:2", "rebind", "", &on_link]);
    assert!(rebind.starts_with(&format!("type=7 status=-1 server={duid}")), "authoritative: {rebind}");
    assert_eq!(leases6(&lab).len(), leases + 1, "the REBIND bound its address");

    // Router solicitations: one that crossed a router is not answered.
    let solicits = |m: &str| metric(m, "fulcrum_ra_solicits_total");
    let before = solicits(&metrics());
    send(&["rs", "64"]);
    wait_for(Duration::from_secs(5), "the hop-limit drop to be counted", || {
        (metric(&metrics(), "fulcrum_ra_dropped_total{reason=\"hop_limit\"}") == 1).then_some(())
    });
    assert_eq!(solicits(&metrics()), before, "a solicitation with hop limit 64 was taken");
    send(&["rs", "255"]);
    wait_for(Duration::from_secs(5), "the hop-limit-255 solicitation to be counted", || {
        (solicits(&metrics()) == before + 1).then_some(())
    });
}
