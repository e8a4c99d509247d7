//! The machine-facing services cannot be abused, tried from a namespace
//! of the test's own: a machine outside the served networks gets nothing
//! (HTTP boot routes, TFTP, discovery); a registered machine's discovery,
//! boot script and templates (which carry its token) are answered only at
//! its own address; and neither HTTP nor TFTP file
//! serving leaves its directory, whatever the path: `..`, `%2e%2e`,
//! doubly encoded and overlong UTF-8 dots, absolute paths, backslashes, a
//! symlink that points out, NUL bytes and 4 KiB names.

use serde_json::json;

use crate::harness::{curl, prerequisites, Netns, Server};

/// The served network 10.66.0.0/24; the client also has 10.66.1.2, on the
/// same wire (/16) but outside every served network.
struct Lab {
    client: Netns,
    _server_ns: Netns,
    srv: Server,
    _tftp_root: tempfile::TempDir,
}

const SERVED: &str = "10.66.0.2";
const OUTSIDE: &str = "10.66.1.2";
const SECRET: &str = "top-secret-contents";

fn lab() -> Lab {
    let server_ns = Netns::new("bsrv");
    let client = Netns::new("bcli");
    server_ns.ip(&["link", "add", "vsrv", "type", "veth", "peer", "name", "vcli"]);
    server_ns.ip(&["addr", "add", "10.66.0.1/16", "dev", "vsrv"]);
    server_ns.ip(&["link", "set", "vsrv", "up"]);
    server_ns.ip(&["link", "set", "vcli", "netns", &client.name]);
    client.ip(&["link", "set", "vcli", "name", "eth0"]);
    for a in [SERVED, OUTSIDE] {
        client.ip(&["addr", "add", &format!("{a}/16"), "dev", "eth0"]);
    }
    client.ip(&["link", "set", "eth0", "up"]);

    // Roots with a file, a secret beside them and a symlink pointing at it.
    let tftp_root = tempfile::tempdir().unwrap();
    let tftp_dir = tftp_root.path().join("tftp");
    std::fs::create_dir_all(&tftp_dir).unwrap();
    std::fs::write(tftp_dir.join("undionly.kpxe"), b"loader").unwrap();
    std::fs::write(tftp_root.path().join("secret"), SECRET).unwrap();
    std::os::unix::fs::symlink(tftp_root.path().join("secret"), tftp_dir.join("link-out")).unwrap();
    // Planted by someone other than root (TFTP follows a package's own
    // root-owned links out of its root).
    std::os::unix::fs::lchown(tftp_dir.join("link-out"), Some(65534), Some(65534)).unwrap();
    let config = format!(
        "data_dir = \"{{dir}}/data\"\n[http]\nlisten = \"0.0.0.0:8080\"\n[dhcp]\nenabled = false\n\
         [tftp]\nlisten = \"0.0.0.0:69\"\nroot = \"{}\"\n[boot]\nfiles_dir = \"{{dir}}/files\"\n",
        tftp_dir.display()
    );
    let srv = Server::start(&config, "10.66.0.1:8080".parse().unwrap(), Some(&server_ns));
    let files = srv.dir.path().join("files");
    std::fs::create_dir_all(files.join("discovery")).unwrap();
    std::fs::write(files.join("discovery/vmlinuz"), b"kernel").unwrap();
    Server::stage_ubuntu_files(&files);
    std::fs::write(srv.dir.path().join("secret"), SECRET).unwrap();
    std::os::unix::fs::symlink(srv.dir.path().join("secret"), files.join("link-out")).unwrap();
    std::os::unix::fs::lchown(files.join("link-out"), Some(65534), Some(65534)).unwrap();
    let net = json!({
        "name": "served", "subnet": "10.66.0.0/24", "server": "10.66.0.1",
        "static": {"start": "10.66.0.10", "end": "10.66.0.99"}, "domain": "attack.test",
    });
    let (code, v) = curl(Some(&server_ns), "POST", &srv.url("/api/v1/networks"), Some(&net));
    assert_eq!(code, 201, "{v}");
    Lab { client, _server_ns: server_ns, srv, _tftp_root: tftp_root }
}

/// `curl` from the client namespace, from `source`, the path sent as it is.
fn http(lab: &Lab, source: &str, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
    let mut cmd = lab.client.cmd("curl");
    cmd.args(["-sS", "-m", "5", "--path-as-is", "--interface", source, "-X", method, "-w", "\n%{http_code}"]);
    if let Some(b) = body {
        cmd.args(["-H", "content-type: application/json", "--data-binary", b]);
    }
    cmd.arg(format!("http://10.66.0.1:8080{path}"));
    let out = cmd.output().expect("curl");
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", "0"));
    (code.trim().parse().unwrap_or(0), body.to_string())
}

/// A raw TFTP read request for `name` (bytes as given) from `source`;
/// returns the opcode of the answer (3 DATA, 5 ERROR, 6 OACK, 0 none) and
/// its payload.
fn tftp_rrq(lab: &Lab, source: &str, name: &[u8]) -> (u16, Vec<u8>) {
    let hex: String = name.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "import socket,sys\n\
         s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); s.bind(('{source}',0)); s.settimeout(3)\n\
         s.sendto(b'\\x00\\x01'+bytes.fromhex('{hex}')+b'\\x00octet\\x00',('10.66.0.1',69))\n\
         try:\n  d,_=s.recvfrom(65536)\nexcept socket.timeout:\n  d=b'\\x00\\x00'\n\
         sys.stdout.write(d.hex())\n"
    );
    let out = lab.client.cmd("python3").args(["-c", &script]).output().expect("python3");
    let hexed = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let bytes: Vec<u8> =
        (0..hexed.len() / 2).filter_map(|i| u8::from_str_radix(&hexed[2 * i..2 * i + 2], 16).ok()).collect();
    let op = u16::from_be_bytes([*bytes.first().unwrap_or(&0), *bytes.get(1).unwrap_or(&0)]);
    (op, bytes.get(4..).map(<[u8]>::to_vec).unwrap_or_default())
}

#[test]
fn machines_outside_the_served_networks_get_nothing() {
    if !prerequisites("boot_attacks", true, &["ip", "curl", "python3"]) {
        return;
    }
    let lab = lab();
    // From the served network: everything works.
    assert_eq!(http(&lab, SERVED, "GET", "/boot/ipxe?mac=52:54:00:66:00:01", None).0, 200);
    assert_eq!(http(&lab, SERVED, "GET", "/boot/files/discovery/vmlinuz", None), (200, "kernel".into()));
    assert_eq!(tftp_rrq(&lab, SERVED, b"undionly.kpxe").0, 3);
    // From outside it: refused, counted.
    for path in [
        "/boot/ipxe?mac=52:54:00:66:00:01",
        "/boot/files/discovery/vmlinuz",
        "/boot/templates/52:54:00:66:00:01/user-data",
    ] {
        let (code, body) = http(&lab, OUTSIDE, "GET", path, None);
        assert!(code == 403 && body.contains("not on a network Fulcrum serves"), "{path}: {code} {body}");
    }
    let (code, body) = http(&lab, OUTSIDE, "POST", "/api/v1/discover", Some(r#"{"mac":"52:54:00:66:00:09"}"#));
    assert_eq!(code, 403, "{body}");
    let (op, _) = tftp_rrq(&lab, OUTSIDE, b"undionly.kpxe");
    assert_eq!(op, 5, "TFTP answered a machine outside the served networks");
    let (_, metrics) = curl(Some(&lab._server_ns), "GET", &lab.srv.url("/metrics"), None);
    let refused =
        metrics.as_str().unwrap_or("").lines().find(|l| l.starts_with("fulcrum_boot_refused_total ")).unwrap_or("");
    assert!(refused.split_whitespace().nth(1).and_then(|n| n.parse::<u64>().ok()).unwrap_or(0) >= 4, "{refused}");

    // A registered machine asks again: only from its own address.
    let (code, v) = http(&lab, SERVED, "POST", "/api/v1/discover", Some(r#"{"mac":"52:54:00:66:00:01"}"#));
    assert_eq!(code, 201, "{v}");
    let node: serde_json::Value = serde_json::from_str(&v).unwrap();
    let own = node["ipv4"].as_str().unwrap().to_string();
    let (code, v) = http(&lab, SERVED, "POST", "/api/v1/discover", Some(r#"{"mac":"52:54:00:66:00:01"}"#));
    assert!(code == 403 && v.contains("only the machine itself"), "{code} {v}");
    lab.client.ip(&["addr", "add", &format!("{own}/16"), "dev", "eth0"]);
    let (code, v) = http(&lab, &own, "POST", "/api/v1/discover", Some(r#"{"mac":"52:54:00:66:00:01"}"#));
    assert_eq!(code, 200, "{v}");
    let token = serde_json::from_str::<serde_json::Value>(&v).unwrap()["token"].as_str().unwrap().to_string();
    assert_ne!(token, node["token"].as_str().unwrap(), "registering again gives a new token");

    // Its script and templates (its token file, `node.auth`, carries its
    // token) go to it alone, not to another machine of the served network.
    let name = node["name"].as_str().unwrap();
    let put = json!({"bootenv": "ubuntu-24.04"});
    let (code, v) =
        curl(Some(&lab._server_ns), "PUT", &lab.srv.url(&format!("/api/v1/nodes/{name}/bootenv")), Some(&put));
    assert_eq!(code, 200, "{v}");
    for path in [
        "/boot/templates/52:54:00:66:00:01/user-data",
        "/boot/templates/52:54:00:66:00:01/node.auth",
        "/boot/ipxe?mac=52:54:00:66:00:01",
    ] {
        let (code, body) = http(&lab, SERVED, "GET", path, None);
        assert!(code == 403 && body.contains(name) && !body.contains(&token), "{path} from {SERVED}: {code} {body}");
        let (code, body) = http(&lab, &own, "GET", path, None);
        assert_eq!(code, 200, "{path} from the machine itself: {body}");
    }
    let (_, auth) = http(&lab, &own, "GET", "/boot/templates/52:54:00:66:00:01/node.auth", None);
    assert!(auth.contains(&token), "the installer's token file carries the node's token:\n{auth}");
}

#[test]
fn file_serving_never_leaves_its_directory() {
    if !prerequisites("boot_attacks", true, &["ip", "curl", "python3"]) {
        return;
    }
    let lab = lab();
    let long = "a".repeat(4096);
    for prefix in ["/boot/files", "/boot/loaders"] {
        for attack in [
            "/../secret",
            "/../../secret",
            "/%2e%2e/secret",
            "/%2E%2E/%2E%2E/secret",
            "/%252e%252e/secret",
            "/%c0%ae%c0%ae/secret",
            "/%c0%2e%c0%2e/secret",
            "//etc/passwd",
            "/..%5csecret",
            "/..\\secret",
            "/link-out",
            "/discovery%00/vmlinuz",
            "/a%00b",
            &format!("/{long}"),
        ] {
            let path = format!("{prefix}{attack}");
            let (code, body) = http(&lab, SERVED, "GET", &path, None);
            assert!((400..500).contains(&code), "{path}: {code}");
            assert!(!body.contains(SECRET) && !body.contains("root:"), "{path} leaked: {body}");
        }
    }
    // Templates take a MAC and a name, nothing else.
    for path in ["/boot/templates/../../secret/x", "/boot/templates/52:54:00:66:00:01/..%2f..%2fsecret"] {
        let (code, body) = http(&lab, SERVED, "GET", path, None);
        assert!((400..500).contains(&code) && !body.contains(SECRET), "{path}: {code} {body}");
    }
    // TFTP: the same attacks as raw read requests.
    let mut names: Vec<Vec<u8>> = [
        "../secret",
        "../../secret",
        "..\\secret",
        "/../secret",
        "sub/../../secret",
        "/etc/passwd",
        "link-out",
        "%2e%2e/secret",
    ]
    .iter()
    .map(|s| s.as_bytes().to_vec())
    .collect();
    names.push(b"\xc0\xae\xc0\xae/secret".to_vec());
    names.push(b"undionly.kpxe\x00../secret".to_vec());
    names.push(long.as_bytes().to_vec());
    for name in names {
        let (op, payload) = tftp_rrq(&lab, SERVED, &name);
        assert_ne!(op, 3, "TFTP sent data for {:?}", String::from_utf8_lossy(&name));
        assert!(!String::from_utf8_lossy(&payload).contains(SECRET));
    }
    // And the server is still serving.
    assert_eq!(tftp_rrq(&lab, SERVED, b"undionly.kpxe").0, 3);
    assert_eq!(http(&lab, SERVED, "GET", "/boot/files/discovery/vmlinuz", None).0, 200);
}
