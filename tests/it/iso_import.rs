//! `fulcrum bootenv import` against a live server, on ISOs the test builds
//! with xorriso (Rock Ridge and Joliet, as the distributions' are) laid
//! out as Ubuntu live-server, Rocky and Debian images: uploaded with the
//! CLI or read on the server, detected, their boot files copied with the
//! SHA-256 recorded and served over HTTP, the bootenv created (or the
//! shipped one pointed at the files) and its script naming them; then a
//! truncated image, random bytes, an unknown layout and an image missing
//! its initrd, each refused with the reason and leaving nothing behind.

use std::path::Path;
use std::process::Command;

use crate::harness::{cli, curl, loopback, prerequisites, run};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Builds an ISO of `files` (path, bytes) named `volume` at `out`.
fn iso(out: &Path, volume: &str, files: &[(&str, Vec<u8>)]) {
    let tree = tempfile::tempdir().unwrap();
    for (path, bytes) in files {
        let p = tree.path().join(path);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, bytes).unwrap();
    }
    run(Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", volume, "-o"])
        .arg(out)
        .arg(tree.path()));
}

fn blob(seed: u32, len: usize) -> Vec<u8> {
    (0..len as u32).map(|i| (i.wrapping_mul(2654435761).wrapping_add(seed) >> 13) as u8).collect()
}

fn sha(bytes: &[u8]) -> String {
    Sha256::digest(bytes).iter().map(|b| format!("{b:02x}")).collect()
}

/// The CLI against `srv`; its output, or the error it printed.
#[test]
fn install_isos_become_bootenvs_and_bad_ones_leave_nothing() {
    if !prerequisites("iso_import", false, &["xorriso", "curl"]) {
        return;
    }
    let (srv, ports) = loopback();
    let files = srv.dir.path().join("data/files");
    let isos = tempfile::tempdir().unwrap();
    let api = |m: &str, p: &str, b: Option<Value>| curl(None, m, &srv.url(p), b.as_ref());

    // Ubuntu live-server, uploaded by the CLI: the shipped bootenv of that
    // name now boots it (its command line names the ISO by this file name).
    let (kernel, initrd) = (blob(1, 300_000), blob(2, 700_000));
    let ubuntu = isos.path().join("ubuntu-24.04-live-server-amd64.iso");
    iso(
        &ubuntu,
        "Ubuntu-Server 24.04.1 LTS amd64",
        &[
            (".disk/info", b"Ubuntu-Server 24.04.1 LTS \"Noble Numbat\" - Release amd64 (20240827)\n".to_vec()),
            ("casper/vmlinuz", kernel.clone()),
            ("casper/initrd", initrd.clone()),
            ("casper/ubuntu-server-minimal.squashfs", blob(3, 50_000)),
        ],
    );
    let (ok, out) = cli(&srv, &["--json", "bootenv", "import", ubuntu.to_str().unwrap()]);
    assert!(ok, "{out}");
    let report: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
    assert_eq!(report["bootenv"], "ubuntu-24.04", "{report}");
    assert_eq!(report["created"], false, "the shipped bootenv is updated, not made again: {report}");
    assert_eq!(report["distro"]["family"], "ubuntu");
    assert_eq!(report["distro"]["version"], "24.04.1");
    let sums: Vec<(String, String)> = report["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["path"].as_str().unwrap().to_string(), f["sha256"].as_str().unwrap().to_string()))
        .collect();
    let iso_bytes = std::fs::read(&ubuntu).unwrap();
    assert_eq!(
        sums,
        [
            ("vmlinuz".to_string(), sha(&kernel)),
            ("initrd".to_string(), sha(&initrd)),
            ("ubuntu-24.04-live-server-amd64.iso".to_string(), sha(&iso_bytes)),
        ]
    );
    let dir = files.join("ubuntu-24.04");
    assert_eq!(std::fs::read(dir.join("vmlinuz")).unwrap(), kernel);
    let manifest: Value = serde_json::from_slice(&std::fs::read(dir.join("import.json")).unwrap()).unwrap();
    assert_eq!(manifest["files"], report["files"]);
    // Served as the machines will fetch it.
    let served =
        run(Command::new("curl").args(["-sf", &format!("http://{}/boot/files/ubuntu-24.04/vmlinuz", ports.http)]));
    assert!(served.stdout == kernel, "the kernel over HTTP differs ({} bytes)", served.stdout.len());
    let (_, env) = api("GET", "/api/v1/bootenvs/ubuntu-24.04", None);
    assert_eq!(
        (env["kernel"].as_str(), env["initrds"][0].as_str()),
        (Some("ubuntu-24.04/vmlinuz"), Some("ubuntu-24.04/initrd"))
    );
    assert!(env["kernel_params"].as_str().unwrap().contains("autoinstall"), "the shipped command line was kept: {env}");

    // Rocky, read where it is on the server: a new bootenv with the tree.
    let rocky = isos.path().join("Rocky-9.4-x86_64-minimal.iso");
    let repomd = b"<repomd/>".to_vec();
    iso(
        &rocky,
        "Rocky-9-4-x86_64-dvd",
        &[
            (
                ".treeinfo",
                b"[header]\ntype = productmd.treeinfo\n[general]\nfamily = Rocky Linux\nversion = 9.4\n".to_vec(),
            ),
            ("images/pxeboot/vmlinuz", blob(4, 200_000)),
            ("images/pxeboot/initrd.img", blob(5, 400_000)),
            ("BaseOS/repodata/repomd.xml", repomd.clone()),
            ("BaseOS/Packages/b/bash-5.1.8-9.el9.x86_64.rpm", blob(6, 90_000)),
        ],
    );
    let (ok, out) = cli(&srv, &["bootenv", "import", "--on-server", rocky.to_str().unwrap()]);
    // The shipped rocky-9 bootenv now boots the imported files.
    assert!(ok && out.contains("bootenv rocky-9 updated: Rocky Linux 9.4"), "{out}");
    assert!(out.contains("rocky-9/tree/: 5 files"), "{out}");
    assert_eq!(std::fs::read(files.join("rocky-9/tree/BaseOS/repodata/repomd.xml")).unwrap(), repomd);
    let (_, env) = api("GET", "/api/v1/bootenvs/rocky-9", None);
    assert_eq!(env["kernel"], "rocky-9/vmlinuz", "{env}");
    assert!(env["kernel_params"].as_str().unwrap().contains("inst.repo={{ files }}/rocky-9/tree"), "{env}");
    assert!(env["templates"]["ks.cfg"].as_str().unwrap().contains("url --url={{ files }}/rocky-9/tree"), "{env}");
    // A node on it gets a script naming the imported kernel.
    api("POST", "/api/v1/networks", Some(crate::harness::loopback_network("iso", 93)));
    let (code, node) = api(
        "POST",
        "/api/v1/nodes",
        Some(
            json!({"name": "r1.test.example", "macs": ["52:54:00:93:00:01"], "bootenv": "rocky-9", "params": {"ssh_authorized_key": "ssh-ed25519 AAAA op@site"}}),
        ),
    );
    assert_eq!(code, 201, "{node}");
    let script =
        run(Command::new("curl").args(["-sf", &format!("http://{}/boot/ipxe?mac=52:54:00:93:00:01", ports.http)]));
    let script = String::from_utf8_lossy(&script.stdout);
    assert!(script.contains("/boot/files/rocky-9/vmlinuz") && script.contains("inst.repo="), "{script}");

    // Debian, under a name of the operator's choosing, through the API.
    let debian = isos.path().join("debian-12.5.0-amd64-netinst.iso");
    iso(
        &debian,
        "Debian 12.5.0 amd64 n",
        &[
            (".disk/info", b"Debian GNU/Linux 12.5.0 \"Bookworm\" - Official amd64 NETINST with firmware".to_vec()),
            ("install.amd/vmlinuz", blob(7, 100_000)),
            ("install.amd/initrd.gz", blob(8, 150_000)),
            ("dists/bookworm/Release", b"Suite: stable\n".to_vec()),
        ],
    );
    let (code, report) =
        api("POST", "/api/v1/bootenvs/import", Some(json!({"path": debian.to_str().unwrap(), "name": "deb12"})));
    assert_eq!(
        (code, report["bootenv"].as_str(), report["created"].as_bool()),
        (201, Some("deb12"), Some(true)),
        "{report}"
    );
    assert!(files.join("deb12/tree/dists/bookworm/Release").is_file());

    // Bad images: refused with the reason, nothing imported, nothing left.
    let truncated = isos.path().join("truncated.iso");
    std::fs::write(&truncated, &iso_bytes[..20_000]).unwrap();
    let random = isos.path().join("random.iso");
    std::fs::write(&random, blob(9, 600_000)).unwrap();
    let unknown = isos.path().join("unknown.iso");
    iso(&unknown, "DATA", &[("README", b"hello".to_vec())]);
    let no_initrd = isos.path().join("no-initrd.iso");
    iso(
        &no_initrd,
        "Ubuntu",
        &[(".disk/info", b"Ubuntu-Server 22.04 LTS\n".to_vec()), ("casper/vmlinuz", blob(10, 1000))],
    );
    let before: Vec<String> = {
        let mut v: Vec<String> =
            std::fs::read_dir(&files).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
        v.sort();
        v
    };
    let (_, envs_before) = api("GET", "/api/v1/bootenvs", None);
    for (file, says) in [
        (&truncated, "malformed"),
        (&random, "not an ISO 9660 image"),
        (&unknown, "not a distribution Fulcrum knows"),
        (&no_initrd, "has no `casper/initrd`"),
    ] {
        let (ok, out) = cli(&srv, &["bootenv", "import", file.to_str().unwrap()]);
        assert!(!ok && out.contains(says), "{}: {out}", file.display());
        let (code, v) = api("POST", "/api/v1/bootenvs/import", Some(json!({"path": file.to_str().unwrap()})));
        assert_eq!((code, v["detail"]["field"].as_str()), (422, Some("iso")), "{}: {v}", file.display());
    }
    let (code, v) = api("POST", "/api/v1/bootenvs/import", Some(json!({"path": "/nonexistent/x.iso"})));
    assert_eq!((code, v["detail"]["field"].as_str()), (422, Some("path")), "{v}");
    let (code, v) =
        api("POST", "/api/v1/bootenvs/import", Some(json!({"path": rocky.to_str().unwrap(), "name": "../x"})));
    assert_eq!((code, v["detail"]["field"].as_str()), (422, Some("name")), "{v}");
    let mut after: Vec<String> =
        std::fs::read_dir(&files).unwrap().map(|e| e.unwrap().file_name().to_string_lossy().into_owned()).collect();
    after.sort();
    assert_eq!(after, before, "a refused import left something in the files directory");
    assert_eq!(api("GET", "/api/v1/bootenvs", None).1, envs_before, "a refused import changed the bootenvs");

    // Importing again replaces the files whole.
    let newer = blob(11, 310_000);
    iso(
        &ubuntu,
        "Ubuntu-Server 24.04.2 LTS amd64",
        &[
            (".disk/info", b"Ubuntu-Server 24.04.2 LTS \"Noble Numbat\" - Release amd64\n".to_vec()),
            ("casper/vmlinuz", newer.clone()),
            ("casper/initrd", initrd.clone()),
        ],
    );
    let (ok, out) = cli(&srv, &["bootenv", "import", ubuntu.to_str().unwrap()]);
    assert!(ok && out.contains("bootenv ubuntu-24.04 updated"), "{out}");
    assert_eq!(std::fs::read(dir.join("vmlinuz")).unwrap(), newer);
    assert!(!dir.join("casper").exists());
}
