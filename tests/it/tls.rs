//! The operator API speaks HTTPS, and clients verify it: the self-signed
//! certificate made at first start (key 0600, fingerprint printed, kept
//! across restarts), an operator's own pair, refusals that name the file,
//! the CLI's three ways to trust (pinned fingerprint, CA file, the local
//! certificate) and its refusal of a wrong pin or of nothing; the boot
//! routes on their own plain-HTTP listener with the machines' routes and
//! nothing of the operator's; clients that never finish a handshake hold
//! up nobody.

use std::io::Write;
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use crate::harness::{bin, curl, curl_as, loopback_config, loopback_network, Server};

/// `openssl x509 -fingerprint -sha256` of a PEM certificate: the
/// fingerprint as a tool other than Fulcrum computes it.
fn openssl_fingerprint(pem: &Path) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(pem)
        .output()
        .expect("run openssl (CI installs it)");
    assert!(out.status.success(), "openssl: {}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    text.trim().rsplit('=').next().expect("fingerprint").to_string()
}

fn cli(srv: &Server, args: &[&str]) -> Output {
    Command::new(bin())
        .env("FULCRUM_ENDPOINT", srv.url(""))
        .env("FULCRUM_TOKEN", srv.token())
        .env("FULCRUM_SERVER_CERT", "/nonexistent/cert.pem")
        .args(args)
        .output()
        .expect("run fulcrum")
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

/// `curl` straight, with `args`: its exit code and output.
fn raw_curl(args: &[&str]) -> (i32, String) {
    let out = Command::new("curl").args(["-sS", "-m", "5"]).args(args).output().expect("curl");
    (out.status.code().unwrap_or(-1), text(&out))
}

#[test]
fn the_api_is_https_with_a_self_signed_certificate_clients_verify() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let cert = srv.cert();
    let key = srv.dir.path().join("data/tls/key.pem");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600, "the key is private");
    let fp = openssl_fingerprint(&cert);
    assert!(
        srv.log_text().contains(&format!("SHA-256 fingerprint {fp}")),
        "first start prints it:\n{}",
        srv.log_text()
    );

    // curl: refused without trust, served with the certificate as CA.
    let status = srv.url("/api/v1/status");
    let (code, out) = raw_curl(&[&status]);
    assert_eq!(code, 60, "an unverified certificate must be refused: {out}");
    let (code, v) = curl(None, "GET", &status, None);
    assert_eq!(code, 200, "{v}");
    assert_eq!(v["tls"]["fingerprint"], fp.as_str());
    assert_eq!(v["tls"]["origin"], "self-signed");
    assert_eq!(v["api"], format!("https://{}", ports.api));
    assert_eq!(v["boot"], format!("http://{}", ports.http));
    // Plain HTTP on the TLS port gets no HTTP answer.
    let (code, out) =
        raw_curl(&["-o", "/dev/null", "-w", "%{http_code}", &format!("http://{}/api/v1/status", ports.api)]);
    assert!(code != 0 || out.trim() == "400", "plain HTTP on the API port: {code} {out}");

    // The CLI: a pinned fingerprint, a CA file, the local certificate.
    let pinned = cli(&srv, &["--tls-fingerprint", &fp, "status"]);
    let out = text(&pinned);
    assert!(pinned.status.success(), "{out}");
    assert!(out.contains(&fp) && out.contains("pinned fingerprint (from --tls-fingerprint)"), "{out}");
    // The other services and where they listen (loopback config: all on).
    for (svc, addr) in [("dhcp4", ports.dhcp), ("tftp", ports.tftp), ("dns", ports.dns)] {
        assert!(out.lines().any(|l| l.starts_with(svc) && l.contains(&addr.to_string())), "{svc} {addr}: {out}");
    }
    let lower = cli(&srv, &["--tls-fingerprint", &fp.replace(':', "").to_lowercase(), "node", "list"]);
    assert!(lower.status.success(), "{}", text(&lower));
    let ca = cli(&srv, &["--cacert", cert.to_str().unwrap(), "status"]);
    assert!(ca.status.success() && text(&ca).contains("chain and name against"), "{}", text(&ca));
    let local = Command::new(bin())
        .args(["--endpoint", &srv.url(""), "--token", &srv.token(), "--server-cert", cert.to_str().unwrap(), "status"])
        .output()
        .unwrap();
    assert!(local.status.success() && text(&local).contains(&format!("(from {})", cert.display())), "{}", text(&local));

    // A wrong pin: refused, both fingerprints named; nothing: refused, with how to fix it.
    let wrong = "00:".repeat(31) + "00";
    let bad = cli(&srv, &["--tls-fingerprint", &wrong, "node", "list"]);
    let out = text(&bad);
    assert!(!bad.status.success() && out.contains(&fp) && out.contains(&wrong), "{out}");
    let none = cli(&srv, &["node", "list"]);
    let out = text(&none);
    assert!(!none.status.success() && out.contains("cannot verify") && out.contains("--tls-fingerprint"), "{out}");
    let typo = cli(&srv, &["--tls-fingerprint", "AB:CD", "status"]);
    assert!(!typo.status.success() && text(&typo).contains("64 hex digits"), "{}", text(&typo));

    // A restart keeps the certificate and prints no first-start message.
    let (_, dir) = srv.stop();
    let srv = Server::start_in(dir, &cfg, ports.http, None);
    assert_eq!(openssl_fingerprint(&srv.cert()), fp);
    assert!(!srv.log_text().contains("self-signed API certificate was written"), "{}", srv.log_text());
}

#[test]
fn boot_routes_and_operator_routes_have_their_own_listeners() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    assert_eq!(curl(None, "POST", &srv.url("/api/v1/networks"), Some(&loopback_network("split", 64))).0, 201);
    let boot = |p: &str| srv.boot_url(p);
    let api = |p: &str| format!("https://{}{p}", ports.api);
    // The boot listener: boot routes and the machines' own routes only.
    assert_eq!(curl(None, "GET", &boot("/healthz"), None).0, 200);
    assert_eq!(curl(None, "GET", &boot("/boot/ipxe?mac=52:54:00:64:00:01"), None).0, 200);
    let (code, found) =
        curl_as(None, None, "POST", &boot("/api/v1/discover"), Some(&serde_json::json!({"mac": "52:54:00:64:00:01"})));
    assert_eq!(code, 201, "{found}");
    let node = found["name"].as_str().unwrap().to_string();
    let machine = found["token"].as_str().unwrap().to_string();
    assert_eq!(curl_as(None, Some(&machine), "POST", &boot(&format!("/api/v1/nodes/{node}/alive")), None).0, 200);
    for path in ["/api/v1/nodes", "/api/v1/tokens", "/api/v1/status", "/metrics", "/api/v1/audit", "/api/v1/events"] {
        let (code, v) = curl(None, "GET", &boot(path), None);
        assert_eq!(code, 404, "{path} on the boot listener: {v}");
    }
    assert_eq!(curl(None, "POST", &boot("/api/v1/roles"), Some(&serde_json::json!({"name": "x"}))).0, 404);
    // The API listener: the operator's routes and the machines' reports, no boot files.
    assert_eq!(curl(None, "GET", &api("/api/v1/nodes"), None).0, 200);
    assert_eq!(curl(None, "GET", &api("/metrics"), None).0, 200);
    assert_eq!(curl_as(None, Some(&machine), "POST", &api(&format!("/api/v1/nodes/{node}/alive")), None).0, 200);
    assert_eq!(curl(None, "GET", &api("/boot/ipxe?mac=52:54:00:64:00:01"), None).0, 404);
}

#[test]
fn clients_that_never_finish_a_handshake_hold_up_nobody() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    // Connections that say nothing, and one that sends half a ClientHello.
    let mut idle: Vec<TcpStream> = (0..40).map(|_| TcpStream::connect(ports.api).expect("connect")).collect();
    let mut half = TcpStream::connect(ports.api).expect("connect");
    half.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).expect("write");
    idle.push(half);
    let start = Instant::now();
    let (code, v) = curl(None, "GET", &srv.url("/api/v1/status"), None);
    assert_eq!(code, 200, "the API must answer while {} handshakes hang: {v}", idle.len());
    println!("answered in {:?} with {} connections stuck in their handshakes", start.elapsed(), idle.len());
    drop(idle);
}

/// Starts `fulcrum serve` on `config` and expects it to stop at start-up;
/// returns what it printed.
fn refused_start(config: &str) -> String {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fulcrum.toml");
    std::fs::write(&path, config.replace("{dir}", &dir.path().display().to_string())).unwrap();
    let mut child = Command::new(bin())
        .args(["serve", "--config"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn");
    let start = Instant::now();
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            let _ = child.wait();
            panic!("fulcrum started although it should have refused:\n{config}");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    assert!(!out.status.success());
    text(&out)
}

#[test]
fn an_operators_own_certificate_is_used_and_bad_pairs_are_refused_by_name() {
    // A site CA, and server certificates it signed, as an operator has them.
    let certs = tempfile::tempdir().unwrap();
    let d = certs.path();
    let openssl = |args: &[&str]| {
        let out = Command::new("openssl").args(args).current_dir(d).output().expect("openssl");
        assert!(out.status.success(), "openssl {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    };
    let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
    openssl(
        &[&["req", "-x509"][..], &ec, &["-days", "30", "-subj", "/CN=Site CA", "-keyout", "ca.key", "-out", "ca.crt"]]
            .concat(),
    );
    std::fs::write(d.join("leaf.ext"), "basicConstraints=CA:FALSE\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n")
        .unwrap();
    let make = |name: &str| {
        let (key, csr, crt) = (format!("{name}.key"), format!("{name}.csr"), format!("{name}.crt"));
        openssl(&[&["req", "-new"][..], &ec, &["-subj", "/CN=fulcrum.test", "-keyout", &key, "-out", &csr]].concat());
        openssl(
            &["x509", "-req", "-in", &csr, "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-days", "30"]
                .into_iter()
                .chain(["-extfile", "leaf.ext", "-out", &crt])
                .collect::<Vec<_>>(),
        );
        (d.join(crt), d.join(key))
    };
    let (cert, key) = make("mine");
    let (_, other_key) = make("other");
    let ca = d.join("ca.crt");
    let (cfg, ports) = loopback_config();
    let with = |c: &Path, k: &Path| cfg.replace("[api]\n", &format!("[api]\ncert = {:?}\nkey = {:?}\n", c, k));

    let srv = Server::start(&with(&cert, &key), ports.http, None);
    assert!(!srv.cert().exists(), "no self-signed pair is made when one is configured");
    let out = Command::new(bin())
        .args([
            "--endpoint",
            &srv.url(""),
            "--token",
            &srv.token(),
            "--cacert",
            ca.to_str().unwrap(),
            "status",
            "--json",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["tls"]["origin"], "configured");
    assert_eq!(v["tls"]["fingerprint"], openssl_fingerprint(&cert).as_str());
    drop(srv);

    let out = refused_start(&with(&cert, &other_key));
    assert!(out.contains("mine.crt") && out.contains("other.key"), "a key of another pair: {out}");
    let out = refused_start(&with(&cert, Path::new("/nonexistent/api.key")));
    assert!(out.contains("/nonexistent/api.key"), "{out}");
    let out = refused_start(&cfg.replace("[api]\n", &format!("[api]\ncert = {cert:?}\n")));
    assert!(out.contains("api.key"), "{out}");
    let out = refused_start(&with(&key, &key));
    assert!(out.contains("mine.key: no PEM certificate"), "{out}");

    // Half a self-signed pair: named, not silently replaced.
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let (_, dir) = srv.stop();
    let key = dir.path().join("data/tls/key.pem");
    std::fs::remove_file(&key).unwrap();
    let path = dir.path().join("fulcrum.toml");
    std::fs::write(&path, cfg.replace("{dir}", &dir.path().display().to_string())).unwrap();
    let out = Command::new(bin()).args(["serve", "--config"]).arg(&path).output().unwrap();
    let out = text(&out);
    assert!(out.contains("cert.pem exists but") && out.contains("key.pem does not"), "{out}");
}

#[test]
fn tls_can_be_turned_off_for_a_local_proxy() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg.replace("[api]\n", "[api]\ntls = false\n"), ports.http, None);
    let url = format!("http://{}/api/v1/status", ports.api);
    let (code, v) = curl_as(None, Some(&srv.token()), "GET", &url, None);
    assert_eq!(code, 200, "{v}");
    assert!(v["tls"].is_null() && v["api"] == format!("http://{}", ports.api), "{v}");
    assert!(srv.log_text().contains("api.tls = false"), "the plain API is warned about");
    let _: SocketAddr = ports.api;
}
