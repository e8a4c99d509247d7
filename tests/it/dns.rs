//! The authoritative DNS server on loopback, asked with real clients (dig
//! and kdig, UDP and TCP): A and AAAA from live state (the AAAA's tail is
//! computed here with md5sum), PTRs for both families, SOA serials that
//! grow with every change, NXDOMAIN against NODATA and empty non-terminals,
//! operator records and their rules, truncation and the TCP retry, the
//! zone checked whole by named-checkzone from an AXFR, and a thousand
//! create/delete cycles each followed at once by a query, with no stale
//! answer.

use std::net::{Ipv6Addr, SocketAddr};
use std::process::Command;

use serde_json::json;

use crate::harness::{curl, loopback_network, prerequisites, run, InProcess};

const TOOLS: &[&str] = &["dig", "kdig", "md5sum", "named-checkzone"];

/// `dig` against the server, short output lines.
fn dig(dns: SocketAddr, args: &[&str]) -> String {
    let mut c = Command::new("dig");
    c.args(["+time=3", "+tries=1", &format!("@{}", dns.ip()), "-p", &dns.port().to_string()]).args(args);
    String::from_utf8_lossy(&run(&mut c).stdout).to_string()
}

fn short(dns: SocketAddr, args: &[&str]) -> Vec<String> {
    let mut a = vec!["+short"];
    a.extend_from_slice(args);
    dig(dns, &a).lines().map(str::to_string).filter(|l| !l.is_empty()).collect()
}

/// The `status:` of a full dig answer.
fn status(out: &str) -> String {
    out.split("status: ").nth(1).and_then(|s| s.split(',').next()).unwrap_or("none").to_string()
}

fn soa_serial(dns: SocketAddr, zone: &str) -> u32 {
    let s = short(dns, &[zone, "SOA"]);
    s.first()
        .and_then(|l| l.split_whitespace().nth(2))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no SOA for {zone}: {s:?}"))
}

fn md5_tail(name: &str) -> u64 {
    let out = run(Command::new("bash").args(["-c", &format!("printf %s {name} | md5sum")]));
    let hex = String::from_utf8_lossy(&out.stdout);
    u64::from_str_radix(&hex[16..32], 16).expect("md5sum hex")
}

fn start() -> Option<(InProcess, SocketAddr)> {
    if !prerequisites("dns", false, TOOLS) {
        return None;
    }
    let srv = InProcess::start("");
    let dns = srv.dns.expect("dns listening");
    let (code, v) = curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 61)));
    assert_eq!(code, 201, "{v}");
    Some((srv, dns))
}

#[test]
fn answers_come_from_live_state() {
    let Some((srv, dns)) = start() else { return };
    let zone = "test.example";
    let before = soa_serial(dns, zone);
    let (code, node) = curl(
        None,
        "POST",
        &srv.url("/api/v1/nodes"),
        Some(&json!({"name": "n1.test.example", "macs": ["52:54:00:61:00:01"]})),
    );
    assert_eq!(code, 201, "{node}");
    let v4 = node["ipv4"].as_str().unwrap().to_string();
    // A, over UDP with dig and over TCP with kdig.
    assert_eq!(short(dns, &["n1.test.example", "A"]), vec![v4.clone()]);
    let kdig = run(Command::new("kdig").args([
        &format!("@{}", dns.ip()),
        "-p",
        &dns.port().to_string(),
        "+tcp",
        "+short",
        "n1.test.example",
        "A",
    ]));
    assert_eq!(String::from_utf8_lossy(&kdig.stdout).trim(), v4);
    // AAAA: the network's /64 and the last 64 bits of md5(FQDN), computed here.
    let (_, net) = curl(None, "GET", &srv.url("/api/v1/networks/admin"), None);
    let prefix: Ipv6Addr = net["v6_network"].as_str().unwrap().trim_end_matches("/64").parse().unwrap();
    let want = Ipv6Addr::from((u128::from(prefix) & !u128::from(u64::MAX)) | u128::from(md5_tail("n1.test.example")));
    let got: Vec<Ipv6Addr> = short(dns, &["n1.test.example", "AAAA"]).iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(got, vec![want]);
    // PTRs for both.
    assert_eq!(short(dns, &["-x", &v4]), vec!["n1.test.example."]);
    assert_eq!(short(dns, &["-x", &want.to_string()]), vec!["n1.test.example."]);
    // The change bumped the zone's serial (and the reverse zones').
    let after = soa_serial(dns, zone);
    assert!(after > before, "serial {before} -> {after}");
    // Authoritative, NODATA vs NXDOMAIN, each with the SOA in the authority section.
    let nodata = dig(dns, &["n1.test.example", "TXT"]);
    assert_eq!(status(&nodata), "NOERROR", "{nodata}");
    assert!(nodata.contains(" aa") && nodata.contains("ANSWER: 0") && nodata.contains("AUTHORITY: 1"), "{nodata}");
    let nx = dig(dns, &["nothere.test.example", "A"]);
    assert_eq!(status(&nx), "NXDOMAIN", "{nx}");
    assert!(nx.contains("AUTHORITY: 1") && nx.contains("SOA"), "{nx}");
    // An empty non-terminal is NODATA, not NXDOMAIN.
    assert_eq!(
        curl(
            None,
            "POST",
            &srv.url("/api/v1/nodes"),
            Some(&json!({"name": "a.rack1.test.example", "macs": ["52:54:00:61:00:02"]}))
        )
        .0,
        201
    );
    assert_eq!(status(&dig(dns, &["rack1.test.example", "A"])), "NOERROR");
    // Names outside every zone: REFUSED (no forwarders configured).
    assert_eq!(status(&dig(dns, &["example.org", "A"])), "REFUSED");
    // The admin node: NS target with its address as additional data.
    let ns = dig(dns, &[zone, "NS"]);
    assert!(ns.contains("admin.test.example.") && ns.contains("127.0.0.1"), "{ns}");
    // Re-addressed: the new A and its PTR at once, the old PTR gone.
    let moved_v4 = "127.61.0.77";
    let (code, v) = curl(None, "PATCH", &srv.url("/api/v1/nodes/n1.test.example"), Some(&json!({"address": moved_v4})));
    assert_eq!(code, 200, "{v}");
    assert_eq!(short(dns, &["n1.test.example", "A"]), vec![moved_v4.to_string()]);
    assert_eq!(short(dns, &["-x", moved_v4]), vec!["n1.test.example."]);
    assert_eq!(status(&dig(dns, &["-x", &v4])), "NXDOMAIN", "the old address's PTR");
    let v4 = moved_v4.to_string();
    // Renamed: the new name answers at once, with the AAAA of its own md5
    // tail, and both PTRs point at it; the old name is gone.
    let (code, v) =
        curl(None, "PATCH", &srv.url("/api/v1/nodes/n1.test.example"), Some(&json!({"name": "r1.test.example"})));
    assert_eq!(code, 200, "{v}");
    assert_eq!(short(dns, &["r1.test.example", "A"]), vec![v4.clone()]);
    let renamed =
        Ipv6Addr::from((u128::from(prefix) & !u128::from(u64::MAX)) | u128::from(md5_tail("r1.test.example")));
    let got: Vec<Ipv6Addr> = short(dns, &["r1.test.example", "AAAA"]).iter().map(|s| s.parse().unwrap()).collect();
    assert_eq!(got, vec![renamed]);
    assert_eq!(short(dns, &["-x", &v4]), vec!["r1.test.example."]);
    assert_eq!(short(dns, &["-x", &renamed.to_string()]), vec!["r1.test.example."]);
    assert_eq!(status(&dig(dns, &["-x", &want.to_string()])), "NXDOMAIN", "the old name's v6 PTR");
    assert_eq!(status(&dig(dns, &["n1.test.example", "A"])), "NXDOMAIN");
    // Deleted: gone from the very next answer.
    assert_eq!(curl(None, "DELETE", &srv.url("/api/v1/nodes/r1.test.example"), None).0, 204);
    assert_eq!(status(&dig(dns, &["r1.test.example", "A"])), "NXDOMAIN");
    assert_eq!(status(&dig(dns, &["-x", &v4])), "NXDOMAIN");
    assert!(soa_serial(dns, zone) > after);
    // What `fulcrum dns show` prints comes from the same place.
    let (_, show) = curl(None, "GET", &srv.url("/api/v1/dns/answer?name=a.rack1.test.example&type=A"), None);
    assert_eq!(show["rcode"], "No Error", "{show}");
    assert_eq!(show["answer"].as_array().map(Vec::len), Some(1), "{show}");
}

/// `fulcrum_dns_cached_total`: answers sent from a UDP loop's answer cache.
fn cached_answers(srv: &InProcess) -> u64 {
    let (_, m) = curl(None, "GET", &srv.url("/metrics"), None);
    crate::harness::metric(m.as_str().unwrap_or_default(), "fulcrum_dns_cached_total ")
}

#[test]
fn repeated_questions_come_from_the_cache_and_a_change_empties_it() {
    let Some((srv, dns)) = start() else { return };
    let name = "cached.test.example";
    let (code, node) =
        curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&json!({"name": name, "macs": ["52:54:00:61:00:09"]})));
    assert_eq!(code, 201, "{node}");
    let v4 = node["ipv4"].as_str().unwrap().to_string();
    let kdig = |args: &[&str]| {
        let mut c = Command::new("kdig");
        c.args([&format!("@{}", dns.ip()), "-p", &dns.port().to_string(), "+short"]).args(args);
        String::from_utf8_lossy(&run(&mut c).stdout).trim().to_string()
    };
    // dig sends EDNS with a cookie, kdig plain queries: each of the (at
    // most four) UDP loops answers them from its cache after its first time.
    let before = cached_answers(&srv);
    for _ in 0..8 {
        assert_eq!(short(dns, &[name, "A"]), vec![v4.clone()]);
        assert_eq!(kdig(&[name, "A"]), v4);
    }
    let hits = cached_answers(&srv) - before;
    assert!(hits >= 8, "{hits} answers from the cache for 16 repeated questions");
    // A write that changes no answer (a deployment) leaves the cache warm.
    // From one source port every query reaches the same UDP loop
    // (SO_REUSEPORT hashes the addresses), so after the first query every
    // one is a hit, and an emptied cache would show as one miss.
    let from = format!("127.0.0.1#{}", crate::harness::free_port());
    let ask = || assert_eq!(short(dns, &["-b", &from, name, "A"]), vec![v4.clone()]);
    ask();
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/deployments"), Some(&json!({"name": "unrelated"}))).0, 201);
    let before = cached_answers(&srv);
    for _ in 0..4 {
        ask();
    }
    assert_eq!(cached_answers(&srv) - before, 4, "all from the cache after a write that touched no DNS table");
    // A node's change empties it: the first answer after it is built again.
    let (code, v) = curl(None, "PATCH", &srv.url(&format!("/api/v1/nodes/{name}")), Some(&json!({"available": false})));
    assert_eq!(code, 200, "{v}");
    let before = cached_answers(&srv);
    for _ in 0..4 {
        ask();
    }
    assert_eq!(cached_answers(&srv) - before, 3, "the first answer after a node change is not from the cache");
    // A change through the API to a name whose answer is cached: the very
    // next answer has it.
    let add = |body: serde_json::Value| curl(None, "POST", &srv.url("/api/v1/dns/records"), Some(&body));
    let vip = "vip.test.example";
    assert_eq!(add(json!({"name": vip, "type": "A", "address": "127.61.0.7"})).0, 201);
    for _ in 0..2 {
        assert_eq!(short(dns, &[vip, "A"]), vec!["127.61.0.7"]);
        assert_eq!(kdig(&[vip, "A"]), "127.61.0.7");
    }
    assert_eq!(add(json!({"name": vip, "type": "A", "address": "127.61.0.8"})).0, 201);
    let mut both = short(dns, &[vip, "A"]);
    both.sort();
    assert_eq!(both, vec!["127.61.0.7", "127.61.0.8"]);
    assert_eq!(kdig(&[vip, "A"]).lines().count(), 2);
    assert_eq!(curl(None, "DELETE", &srv.url(&format!("/api/v1/nodes/{name}")), None).0, 204);
    assert_eq!(status(&dig(dns, &[name, "A"])), "NXDOMAIN");
    assert_eq!(kdig(&[name, "A"]), "");
    // The message id is the asker's, whatever the cached answer's was: dig
    // checks it and would report a mismatch rather than an answer.
    assert_eq!(status(&dig(dns, &[name, "A"])), "NXDOMAIN");
}

#[test]
fn operator_records_follow_their_rules_and_answer_at_once() {
    let Some((srv, dns)) = start() else { return };
    let add = |body: serde_json::Value| curl(None, "POST", &srv.url("/api/v1/dns/records"), Some(&body));
    let (code, vip) = add(json!({"name": "vip.test.example", "type": "A", "address": "127.61.0.250"}));
    assert_eq!(code, 201, "{vip}");
    assert_eq!(short(dns, &["vip.test.example", "A"]), vec!["127.61.0.250"]);
    assert_eq!(add(json!({"name": "www.test.example", "type": "CNAME", "target": "vip.test.example"})).0, 201);
    // The alias is followed inside the zone.
    assert_eq!(short(dns, &["www.test.example", "A"]), vec!["vip.test.example.", "127.61.0.250"]);
    assert_eq!(add(json!({"name": "_http._tcp.test.example", "type": "SRV", "priority": 0, "weight": 5, "port": 80, "target": "vip.test.example"})).0, 201);
    let srv_ans = dig(dns, &["_http._tcp.test.example", "SRV"]);
    assert!(srv_ans.contains("0 5 80 vip.test.example.") && srv_ans.contains("ADDITIONAL: 2"), "{srv_ans}");
    assert_eq!(status(&dig(dns, &["_tcp.test.example", "A"])), "NOERROR", "an empty non-terminal");
    assert_eq!(
        add(json!({"name": "test.example", "type": "MX", "preference": 10, "exchange": "vip.test.example"})).0,
        201
    );
    assert_eq!(short(dns, &["test.example", "MX"]), vec!["10 vip.test.example."]);
    // The rules, each naming its field.
    let (code, e) = add(json!({"name": "www.test.example", "type": "A", "address": "127.61.0.9"}));
    assert!(code == 409 && e["detail"]["field"] == "type", "CNAME beside other data: {code} {e}");
    let (code, e) = add(json!({"name": "vip.test.example", "type": "CNAME", "target": "x.test.example"}));
    assert!(code == 409 && e["detail"]["field"] == "type", "a CNAME beside an A: {code} {e}");
    let (code, e) = add(json!({"name": "vip.elsewhere.org", "type": "A", "address": "10.0.0.1"}));
    assert!(code == 422 && e["detail"]["field"] == "name", "outside the zones: {code} {e}");
    let (code, e) = add(json!({"name": "vip.test.example", "type": "A", "address": "127.61.0.250"}));
    assert!(code == 409 && e["detail"]["field"] == "data", "the same record twice: {code} {e}");
    let (code, e) = add(json!({"name": "bad name.test.example", "type": "A", "address": "127.61.0.1"}));
    assert!(code == 422 && e["detail"]["field"] == "name", "{code} {e}");
    let (code, _) = add(json!({"name": "v.test.example", "type": "A", "address": "not-an-ip"}));
    assert_eq!(code, 400);
    assert_eq!(
        curl(
            None,
            "POST",
            &srv.url("/api/v1/nodes"),
            Some(&json!({"name": "n.test.example", "macs": ["52:54:00:61:01:01"]}))
        )
        .0,
        201
    );
    let (code, e) = add(json!({"name": "n.test.example", "type": "TXT", "text": ["x"]}));
    assert!(code == 409 && e["detail"]["field"] == "name", "a node's name: {code} {e}");
    // Deleted by id: gone from the next answer.
    let id = vip["id"].as_str().unwrap();
    assert_eq!(curl(None, "DELETE", &srv.url(&format!("/api/v1/dns/records/{id}")), None).0, 204);
    assert_eq!(status(&dig(dns, &["vip.test.example", "A"])), "NXDOMAIN");
}

#[test]
fn a_large_answer_is_truncated_over_udp_and_whole_over_tcp() {
    let Some((srv, dns)) = start() else { return };
    for i in 0..40 {
        let text = format!("record {i:02} {}", "x".repeat(80));
        let (code, v) = curl(
            None,
            "POST",
            &srv.url("/api/v1/dns/records"),
            Some(&json!({"name": "big.test.example", "type": "TXT", "text": [text]})),
        );
        assert_eq!(code, 201, "{v}");
    }
    // EDNS 1232 and no retry: TC set.
    let udp = dig(dns, &["+ignore", "+bufsize=1232", "big.test.example", "TXT"]);
    assert!(udp.contains(" tc"), "{udp}");
    // Without EDNS the limit is 512.
    let plain = dig(dns, &["+ignore", "+noedns", "big.test.example", "TXT"]);
    assert!(plain.contains(" tc"), "{plain}");
    // dig retries over TCP by itself and gets all 40.
    assert_eq!(short(dns, &["big.test.example", "TXT"]).len(), 40);
    // A client offering 65000 bytes still gets at most 1232 (unfragmented) over UDP.
    let big = dig(dns, &["+ignore", "+bufsize=65000", "big.test.example", "TXT"]);
    assert!(big.contains(" tc") && big.contains("udp: 1232"), "{big}");
    // A small answer fits a 512-byte client whole.
    let small = dig(dns, &["+bufsize=512", "+ignore", "test.example", "SOA"]);
    assert!(!small.contains(" tc") && small.contains("ANSWER: 1"), "{small}");
}

#[test]
fn an_axfr_of_every_zone_verifies() {
    let Some((srv, dns)) = start() else { return };
    for i in 0..20 {
        let body = json!({"name": format!("node{i}.test.example"), "macs": [format!("52:54:00:61:02:{i:02x}")]});
        assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&body)).0, 201);
    }
    assert_eq!(
        curl(
            None,
            "POST",
            &srv.url("/api/v1/dns/records"),
            Some(&json!({"name": "www.test.example", "type": "CNAME", "target": "node1.test.example"}))
        )
        .0,
        201
    );
    let (_, zones) = curl(None, "GET", &srv.url("/api/v1/dns/zones"), None);
    let zones: Vec<String> =
        zones.as_array().unwrap().iter().map(|z| z["zone"].as_str().unwrap().to_string()).collect();
    assert_eq!(zones.len(), 3, "forward, in-addr.arpa, ip6.arpa: {zones:?}");
    let dir = tempfile::tempdir().unwrap();
    for zone in zones {
        let axfr = dig(dns, &["+onesoa", "+nocmd", "+nostats", "+nocomments", &zone, "AXFR"]);
        let records = axfr.lines().filter(|l| !l.is_empty() && !l.starts_with(';')).count();
        assert!(records >= 2 + 20, "{zone}: {axfr}");
        let file = dir.path().join(format!("{zone}.zone"));
        std::fs::write(&file, &axfr).unwrap();
        // Full checks: names, glue, CNAMEs beside other data, SRV and MX targets.
        let v = run(Command::new("named-checkzone")
            .args(["-i", "full", "-k", "fail", "-m", "fail", "-M", "fail", "-S", "fail", &zone])
            .arg(&file));
        assert!(
            v.status.success(),
            "{zone}: {}{}\n{axfr}",
            String::from_utf8_lossy(&v.stdout),
            String::from_utf8_lossy(&v.stderr)
        );
    }
    // An IXFR from the current serial is the one SOA.
    let serial = soa_serial(dns, "test.example");
    let ixfr = dig(dns, &["+nocmd", "+nostats", "+nocomments", "test.example", &format!("IXFR={serial}")]);
    assert_eq!(ixfr.lines().filter(|l| l.contains("SOA")).count(), 1, "{ixfr}");
}

#[test]
fn a_thousand_create_rename_delete_cycles_each_seen_by_the_very_next_query() {
    let Some((srv, dns)) = start() else { return };
    // The API over one kept-alive connection, so the loop is the server's pace.
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let client = crate::harness::trusting_client(&srv.cert());
    let token = srv.token();
    let api = |method: reqwest::Method, path: String, body: Option<serde_json::Value>| {
        rt.block_on(async {
            let mut r = client.request(method, srv.url(&path)).bearer_auth(&token);
            if let Some(b) = body {
                r = r.json(&b);
            }
            let resp = r.send().await.expect("api");
            let code = resp.status().as_u16();
            (code, resp.json::<serde_json::Value>().await.unwrap_or_default())
        })
    };
    let mut stale = Vec::new();
    for i in 0..1000u32 {
        let name = format!("race{}.test.example", i % 7);
        let body = json!({"name": name, "macs": [format!("52:54:00:62:{:02x}:{:02x}", i / 256, i % 256)]});
        let (code, node) = api(reqwest::Method::POST, "/api/v1/nodes".into(), Some(body));
        assert_eq!(code, 201, "{node}");
        let v4 = vec![node["ipv4"].as_str().unwrap().to_string()];
        let got = short(dns, &[&name, "A"]);
        if got != v4 {
            stale.push(format!("{i}: after create {got:?}"));
        }
        let moved = format!("moved{}.test.example", i % 7);
        let (code, v) = api(reqwest::Method::PATCH, format!("/api/v1/nodes/{name}"), Some(json!({"name": moved})));
        assert_eq!(code, 200, "{v}");
        let got = short(dns, &[&moved, "A"]);
        if got != v4 {
            stale.push(format!("{i}: new name after rename {got:?}"));
        }
        let old = dig(dns, &[&name, "A"]);
        if status(&old) != "NXDOMAIN" {
            stale.push(format!("{i}: old name after rename {}: {old}", status(&old)));
        }
        assert_eq!(api(reqwest::Method::DELETE, format!("/api/v1/nodes/{moved}"), None).0, 204);
        let gone = dig(dns, &[&moved, "A"]);
        if status(&gone) != "NXDOMAIN" {
            stale.push(format!("{i}: after delete {}", status(&gone)));
        }
    }
    assert!(stale.is_empty(), "{} stale answers: {:?}", stale.len(), &stale[..stale.len().min(10)]);
}

#[test]
fn an_ixfr_sends_only_what_changed() {
    if !prerequisites("dns ixfr", false, TOOLS) {
        return;
    }
    // A secondary configured (the journal is kept for secondaries); nothing
    // listens on the discard port, so its NOTIFYs go unanswered.
    let srv = InProcess::start(&format!(
        "[dns]\nlisten = [\"127.0.0.1:{}\"]\nsecondaries = [\"127.0.0.1:9\"]\n",
        crate::harness::free_port()
    ));
    let dns = srv.dns.expect("dns listening");
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("admin", 62))).0, 201);
    for i in 0..5 {
        let body = json!({"name": format!("old{i}.test.example"), "macs": [format!("52:54:00:62:10:{i:02x}")]});
        assert_eq!(curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&body)).0, 201);
    }
    // Let the journal take the zone as it is now (bounded; a miss only means a whole-zone answer below).
    std::thread::sleep(std::time::Duration::from_millis(500));
    let s0 = soa_serial(dns, "test.example");
    let body = json!({"name": "new.test.example", "macs": ["52:54:00:62:10:ff"]});
    let (code, node) = curl(None, "POST", &srv.url("/api/v1/nodes"), Some(&body));
    assert_eq!(code, 201, "{node}");
    let s1 = soa_serial(dns, "test.example");
    assert!(s1 > s0);
    let ixfr = crate::harness::wait_for(std::time::Duration::from_secs(10), "an incremental IXFR", || {
        let out = dig(dns, &["+nocmd", "+nostats", "+nocomments", "test.example", &format!("IXFR={s0}")]);
        (out.lines().filter(|l| l.contains("\tSOA\t")).count() == 4).then_some(out)
    });
    let lines: Vec<&str> = ixfr.lines().filter(|l| !l.is_empty() && !l.starts_with(';')).collect();
    // SOA s1, SOA s0, (nothing removed), SOA s1, the new node's A and AAAA, SOA s1.
    assert_eq!(lines.len(), 6, "{ixfr}");
    assert!(lines[1].contains(&format!(" {s0} ")) && lines[2].contains(&format!(" {s1} ")), "{ixfr}");
    assert!(lines[3].starts_with("new.test.example.") && lines[4].starts_with("new.test.example."), "{ixfr}");
    assert!(!ixfr.contains("old0.test.example"), "only the change: {ixfr}");
    // From a serial the journal never saw: the whole zone.
    let full = dig(dns, &["+nocmd", "+nostats", "+nocomments", "test.example", &format!("IXFR={}", s0 - 100_000)]);
    assert!(full.contains("old0.test.example.") && full.contains("new.test.example."), "{full}");
}
