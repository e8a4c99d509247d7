//! Real clients against the real binary across a real L2 segment: two
//! network namespaces the test creates (server with a bridge, client on a
//! veth into it). udhcpc and dhclient get leases and the PXE options;
//! tftp-hpa, atftp and curl fetch the loader over TFTP (with blksize and
//! tsize); curl fetches the boot script and a ranged file over HTTP.
//! Needs root; fails under CI=true when anything is missing.

use std::collections::HashMap;
use std::process::Command;

use crate::harness::{curl, prerequisites, run, Netns, Server};
use serde_json::json;

/// A server namespace with bridge br0 = 10.78.0.1/24, a client namespace
/// whose eth0 is on that bridge, and Fulcrum serving br0.
struct Lab {
    client: Netns,
    srv: Server,
    server_ns: Netns,
    tftp_root: tempfile::TempDir,
}

fn lab() -> Lab {
    let server_ns = Netns::new("srv");
    let client = Netns::new("cli");
    server_ns.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    server_ns.ip(&["addr", "add", "10.78.0.1/24", "dev", "br0"]);
    server_ns.ip(&["link", "set", "br0", "up"]);
    server_ns.ip(&["link", "add", "vsrv", "type", "veth", "peer", "name", "vcli"]);
    server_ns.ip(&["link", "set", "vsrv", "master", "br0", "up"]);
    server_ns.ip(&["link", "set", "vcli", "netns", &client.name]);
    client.ip(&["link", "set", "vcli", "name", "eth0"]);
    client.ip(&["link", "set", "eth0", "address", "52:54:00:78:00:01", "up"]);

    let tftp_root = tempfile::tempdir().unwrap();
    let loader: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 253) as u8).collect();
    std::fs::write(tftp_root.path().join("undionly.kpxe"), &loader).unwrap();
    std::fs::write(tftp_root.path().parent().unwrap().join(format!("secret-{}", std::process::id())), b"nope").unwrap();
    let config = format!(
        "data_dir = \"{{dir}}/data\"\n[http]\nlisten = \"0.0.0.0:8080\"\n[dhcp]\nlisten4 = \"0.0.0.0:67\"\ninterfaces = [\"br0\"]\n\
         [tftp]\nlisten = \"0.0.0.0:69\"\nroot = \"{}\"\n[boot]\nfiles_dir = \"{{dir}}/files\"\n",
        tftp_root.path().display()
    );
    let srv = Server::start(&config, "10.78.0.1:8080".parse().unwrap(), Some(&server_ns));
    let net = json!({
        "name": "lab", "subnet": "10.78.0.0/24", "router": "10.78.0.1", "server": "10.78.0.1",
        "static": {"start": "10.78.0.10", "end": "10.78.0.99"},
        "dynamic": {"start": "10.78.0.100", "end": "10.78.0.200"},
        "domain": "lab.test", "interface": "br0", "lease_seconds": 600,
    });
    let (code, v) = curl(Some(&server_ns), "POST", &srv.url("/api/v1/networks"), Some(&net));
    assert_eq!(code, 201, "{v}");
    Lab { client, srv, server_ns, tftp_root }
}

/// udhcpc as a BIOS PXE ROM identifies itself.
fn udhcpc(lab: &Lab, tag: &str) -> HashMap<String, String> {
    crate::harness::udhcpc(&lab.client, tag, "PXEClient:Arch:00000:UNDI:002001", "0000")
}

#[test]
fn dhcp_tftp_http_with_real_clients() {
    if !prerequisites("netns_clients", true, &["ip", "udhcpc", "dhclient", "tftp", "atftp", "curl", "dig"]) {
        return;
    }
    let lab = lab();

    // 1. Unknown PXE client: dynamic address and the BIOS loader.
    let env = udhcpc(&lab, "unknown client");
    let ip: std::net::Ipv4Addr = env["ip"].parse().unwrap();
    assert!(
        (std::net::Ipv4Addr::new(10, 78, 0, 100)..=std::net::Ipv4Addr::new(10, 78, 0, 200)).contains(&ip),
        "{env:?}"
    );
    assert_eq!(env["boot_file"], "undionly.kpxe", "{env:?}");
    assert_eq!(env["siaddr"], "10.78.0.1");
    assert_eq!(env["serverid"], "10.78.0.1");
    assert_eq!(env["router"].trim(), "10.78.0.1");
    assert_eq!(env["domain"], "lab.test");
    // Option 6: no DNS servers set on the network, so Fulcrum's own (it
    // listens on port 53 on every address by default).
    assert_eq!(env.get("dns").map(|d| d.trim()), Some("10.78.0.1"), "{env:?}");
    assert_eq!(env["lease"], "600");
    assert_eq!(env["mask"], "24");
    let (_, leases) = curl(Some(&lab.server_ns), "GET", &lab.srv.url("/api/v1/leases"), None);
    assert_eq!(leases[0]["mac"], "52:54:00:78:00:01", "{leases}");
    assert_eq!(leases[0]["ip"], ip.to_string());

    // 2. TFTP with three real clients; every copy identical to the source.
    let want = std::fs::read(lab.tftp_root.path().join("undionly.kpxe")).unwrap();
    let dl = tempfile::tempdir().unwrap();
    let got = |name: &str| std::fs::read(dl.path().join(name)).unwrap_or_default();
    run(lab
        .client
        .cmd("tftp")
        .args(["-m", "binary", "10.78.0.1", "-c", "get", "undionly.kpxe"])
        .arg(dl.path().join("hpa")));
    assert!(got("hpa") == want, "tftp-hpa copy differs ({} bytes)", got("hpa").len());
    run(lab
        .client
        .cmd("curl")
        .args(["-sS", "--tftp-blksize", "1468", "-o"])
        .arg(dl.path().join("curl"))
        .arg("tftp://10.78.0.1/undionly.kpxe"));
    assert!(got("curl") == want, "curl tftp copy differs");
    let a = run(lab
        .client
        .cmd("atftp")
        .args(["--trace", "--option", "blksize 1468", "--option", "tsize 0", "-g", "-r", "undionly.kpxe", "-l"])
        .arg(dl.path().join("atftp"))
        .arg("10.78.0.1"));
    assert!(got("atftp") == want, "atftp copy differs");
    let atftp_out = String::from_utf8_lossy(&a.stdout).to_string() + &String::from_utf8_lossy(&a.stderr);
    let oack =
        atftp_out.lines().find(|l| l.starts_with("received OACK")).unwrap_or_else(|| panic!("no OACK: {atftp_out}"));
    assert!(oack.contains(&format!("tsize: {}", want.len())) && oack.contains("blksize: 1468"), "{oack}");
    // Leaving the root is refused.
    let esc = lab
        .client
        .cmd("atftp")
        .args(["-g", "-r", &format!("../secret-{}", std::process::id()), "-l"])
        .arg(dl.path().join("esc"))
        .arg("10.78.0.1")
        .output()
        .unwrap();
    assert!(!esc.status.success() && got("esc").is_empty(), "path escape was served");
    // A root-owned symlink out of the root, as Debian's ipxe package has
    // `/usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi`, is followed.
    let outside = lab.tftp_root.path().parent().unwrap().join(format!("boot-ipxe-{}.efi", std::process::id()));
    let efi: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&outside, &efi).unwrap();
    std::os::unix::fs::symlink(&outside, lab.tftp_root.path().join("ipxe.efi")).unwrap();
    run(lab.client.cmd("curl").args(["-sS", "-o"]).arg(dl.path().join("ipxe.efi")).arg("tftp://10.78.0.1/ipxe.efi"));
    let fetched = std::fs::read(dl.path().join("ipxe.efi")).unwrap_or_default();
    let _ = std::fs::remove_file(&outside);
    assert!(fetched == efi, "ipxe.efi through its symlink: {} bytes", fetched.len());

    // 3. HTTP: the boot script for this MAC, and a ranged file.
    let files = lab.srv.dir.path().join("files/discovery");
    std::fs::create_dir_all(&files).unwrap();
    let kernel: Vec<u8> = (0..3_000_000u32).map(|i| (i % 241) as u8).collect();
    std::fs::write(files.join("vmlinuz"), &kernel).unwrap();
    let script = run(lab.client.cmd("curl").args(["-sf", "http://10.78.0.1:8080/boot/ipxe?mac=52:54:00:78:00:01"]));
    let script = String::from_utf8_lossy(&script.stdout);
    assert!(
        script.contains("booting discovery") && script.contains("http://10.78.0.1:8080/boot/files/discovery/vmlinuz"),
        "{script}"
    );
    let ranged = run(lab.client.cmd("curl").args([
        "-s",
        "-r",
        "1000000-1000099",
        "-w",
        "\\n%{http_code}",
        "http://10.78.0.1:8080/boot/files/discovery/vmlinuz",
    ]));
    let (body, code) = ranged.stdout.split_at(ranged.stdout.len() - 4);
    assert_eq!(code, b"\n206");
    assert_eq!(body, &kernel[1_000_000..1_000_100]);
    // HEAD: its length, validators and ranges; then a conditional GET
    // with its ETag is 304, and an If-Range with a stale one gets it whole.
    let url = "http://10.78.0.1:8080/boot/files/discovery/vmlinuz";
    let head = run(lab.client.cmd("curl").args(["-sSI", url]));
    let head = String::from_utf8_lossy(&head.stdout).to_ascii_lowercase();
    let value = |name: &str| {
        head.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}: ")))
            .map(|v| v.trim().to_string())
            .unwrap_or_default()
    };
    assert_eq!(value("content-length"), "3000000", "{head}");
    assert_eq!(value("accept-ranges"), "bytes", "{head}");
    assert!(!value("last-modified").is_empty(), "{head}");
    let tag = value("etag");
    assert!(tag.starts_with('"') && tag.ends_with('"'), "{head}");
    let status = |extra: &[&str]| {
        let o = run(lab
            .client
            .cmd("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code} %{size_download}"])
            .args(extra)
            .arg(url));
        String::from_utf8_lossy(&o.stdout).into_owned()
    };
    assert_eq!(status(&["-H", &format!("If-None-Match: {tag}")]), "304 0");
    assert_eq!(status(&["-r", "0-9", "-H", "If-Range: \"stale\""]), "200 3000000");
    assert_eq!(status(&["-r", "0-9", "-H", &format!("If-Range: {tag}")]), "206 10");

    // 4. Register the machine: its next lease is its static address, with its hostname.
    let (code, node) = curl(
        Some(&lab.server_ns),
        "POST",
        &lab.srv.url("/api/v1/nodes"),
        Some(&json!({"name": "web1.lab.test", "macs": ["52:54:00:78:00:01"]})),
    );
    assert_eq!(code, 201, "{node}");
    let env = udhcpc(&lab, "known node");
    assert_eq!(env["ip"], node["ipv4"].as_str().unwrap());
    assert_eq!(env["hostname"], "web1");
    // The DNS server it was handed answers for its own name.
    let dig = run(lab.client.cmd("dig").args([
        "+short",
        "+time=2",
        "+tries=2",
        &format!("@{}", env["dns"].trim()),
        "web1.lab.test",
        "A",
    ]));
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), node["ipv4"].as_str().unwrap());
    // Its bootenv is `local`: no boot file, the firmware goes to disk.
    assert!(env.get("boot_file").is_none_or(|f| f.is_empty()), "{env:?}");

    // 5. dhclient (ISC) as a plain OS client gets the same static address.
    let d = tempfile::tempdir().unwrap();
    let lf = d.path().join("leases");
    run(lab.client.cmd("ip").args(["addr", "flush", "dev", "eth0"]));
    run(lab
        .client
        .cmd("dhclient")
        .args(["-1", "-v", "-sf", "/bin/true", "-pf"])
        .arg(d.path().join("pid"))
        .arg("-lf")
        .arg(&lf)
        .arg("eth0"));
    let lease = std::fs::read_to_string(&lf).unwrap();
    assert!(lease.contains(&format!("fixed-address {};", node["ipv4"].as_str().unwrap())), "{lease}");
    assert!(lease.contains("option host-name \"web1\""), "{lease}");
    assert!(lease.contains("option domain-name-servers 10.78.0.1;"), "{lease}");
    assert!(lease.contains("option domain-name \"lab.test\";"), "{lease}");
    if let Ok(pid) = std::fs::read_to_string(d.path().join("pid")) {
        let _ = Command::new("kill").arg(pid.trim()).status();
    }

    // 6. Re-addressed through the API: the next lease and the next DNS
    // answer carry the new address.
    let (code, v) = curl(
        Some(&lab.server_ns),
        "PATCH",
        &lab.srv.url("/api/v1/nodes/web1.lab.test"),
        Some(&json!({"address": "10.78.0.42"})),
    );
    assert_eq!(code, 200, "{v}");
    let env = udhcpc(&lab, "re-addressed node");
    assert_eq!(env["ip"], "10.78.0.42", "{env:?}");
    let dig = run(lab.client.cmd("dig").args(["+short", "+time=2", "+tries=2", "@10.78.0.1", "web1.lab.test", "A"]));
    assert_eq!(String::from_utf8_lossy(&dig.stdout).trim(), "10.78.0.42");

    // 7. A network that names its own DNS servers overrides Fulcrum's.
    let (code, v) = curl(
        Some(&lab.server_ns),
        "PATCH",
        &lab.srv.url("/api/v1/networks/lab"),
        Some(&json!({"dns_servers": ["10.78.0.53", "10.78.0.54"]})),
    );
    assert_eq!(code, 200, "{v}");
    let env = udhcpc(&lab, "after the override");
    assert_eq!(env.get("dns").map(|d| d.trim()), Some("10.78.0.53 10.78.0.54"), "{env:?}");

    // 8. dhcpcd with `--duid` (as its shipped dhcpcd.conf has it) names
    //    itself with an RFC 4361 client identifier (0xff, IAID, DUID): the
    //    node still gets its static address, and the lease is the
    //    identifier's. dhcpcd's state stays in a mount namespace.
    run(lab.client.cmd("ip").args(["addr", "flush", "dev", "eth0"]));
    let o = crate::harness::dhcpcd(&lab.client, 30, "-4 --duid ll -t 20 eth0");
    let log = String::from_utf8_lossy(&o.stderr).into_owned();
    assert!(log.contains("leased 10.78.0.42"), "dhcpcd -4:\n{log}");
    let (_, leases) =
        curl(Some(&lab.server_ns), "GET", &lab.srv.url("/api/v1/leases?family=4&node=web1.lab.test"), None);
    let l = leases.as_array().and_then(|l| l.iter().find(|l| l["ip"] == "10.78.0.42")).cloned();
    let l = l.unwrap_or_else(|| panic!("no lease for web1: {leases}\n{log}"));
    assert!(l["client_id"].as_str().is_some_and(|id| id.starts_with("ff:")), "{l}\n{log}");
    assert_eq!(l["mac"], "52:54:00:78:00:01");

    // 9. Malformed datagrams are counted, never fatal.
    run(lab.client.cmd("sh").args(["-c", "printf 'garbage' > /dev/udp/10.78.0.1/67 2>/dev/null || true"]));
    let (_, health) = curl(Some(&lab.server_ns), "GET", &lab.srv.url("/healthz"), None);
    assert_eq!(health["status"], "ok");
}
