//! A bootenv is given to a node only when the node can boot it: against
//! the real binary, the shipped `debian-12` and `rocky-9` bootenvs (whose
//! files no import has put there yet, and which require the node param
//! `ssh_authorized_key`) are refused through every door (set-bootenv, a
//! node created with it, a PATCH, the deploy verb, the CLI) with the
//! missing item named and nothing written; once the param and the files
//! are there they are taken, and the installer's templates carry the
//! param. Removing the param again is refused; files that disappear later
//! are shown by explain (API and CLI) as what the bootenv lacks. The
//! discovery bootenv is never refused.

use std::process::Command;

use crate::harness::{cli, curl, loopback_config, loopback_network, Server};
use serde_json::{json, Value};

const MAC: &str = "52:54:00:95:00:01";
const NODE: &str = "n1.test.example";
const KEY: &str = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIFulcrumTestKey op@site";

fn call(srv: &Server, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    curl(None, method, &srv.url(path), body.as_ref())
}

fn ok(srv: &Server, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = call(srv, method, path, body);
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

/// A refusal: 409 naming `field`, its message containing `says`.
fn refused(srv: &Server, method: &str, path: &str, body: Value, field: &str, says: &str) {
    let (code, v) = call(srv, method, path, Some(body));
    assert_eq!((code, v["detail"]["field"].as_str()), (409, Some(field)), "{method} {path}: {v}");
    let msg = v["error"].as_str().unwrap_or_default();
    assert!(msg.contains(says), "{method} {path}: `{msg}` does not say `{says}`");
}

#[test]
fn a_bootenv_a_node_cannot_boot_is_refused_with_what_is_missing() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    let files = srv.data().join("files");
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("ready", 95)));
    let node_path = format!("/api/v1/nodes/{NODE}");
    let bootenv_path = format!("{node_path}/bootenv");

    // Created with a bootenv it cannot boot: refused, no node.
    let new = json!({"name": NODE, "macs": [MAC], "bootenv": "debian-12"});
    refused(&srv, "POST", "/api/v1/nodes", new, "bootenv", "param `ssh_authorized_key` is not set");
    assert_eq!(call(&srv, "GET", &node_path, None).0, 404, "a refused create left a node");
    let with_key = json!({"name": NODE, "macs": [MAC], "bootenv": "debian-12", "params": {"ssh_authorized_key": KEY}});
    refused(
        &srv,
        "POST",
        "/api/v1/nodes",
        with_key,
        "bootenv",
        "file `debian-12/vmlinuz` is not in the files directory",
    );
    assert_eq!(call(&srv, "GET", &node_path, None).0, 404, "a refused create left a node");

    // Created on `local`; each way of giving it debian-12 is refused, and
    // the node is left as it was.
    ok(&srv, "POST", "/api/v1/nodes", Some(json!({"name": NODE, "macs": [MAC]})));
    let before = ok(&srv, "GET", &node_path, None);
    assert_eq!(before["bootenv"], "local", "{before}");
    refused(&srv, "PUT", &bootenv_path, json!({"bootenv": "debian-12"}), "bootenv", "param `ssh_authorized_key`");
    refused(&srv, "PATCH", &node_path, json!({"bootenv": "debian-12", "available": false}), "bootenv", "param");
    let (ok_cli, out) = cli(&srv, &["node", "set-bootenv", NODE, "debian-12"]);
    assert!(!ok_cli && out.contains("cannot boot bootenv `debian-12`: param `ssh_authorized_key`"), "{out}");
    assert_eq!(ok(&srv, "GET", &node_path, None), before, "a refused change was written");

    // The param, set with the CLI; now the files are what is missing, in
    // the order a boot needs them.
    let (ok_cli, out) = cli(&srv, &["node", "set-params", NODE, &format!("ssh_authorized_key={KEY}"), "disk=/dev/vda"]);
    assert!(ok_cli, "{out}");
    let n = ok(&srv, "GET", &node_path, None);
    assert_eq!(n["params"], json!({"ssh_authorized_key": KEY, "disk": "/dev/vda"}), "{n}");
    let set = json!({"bootenv": "debian-12"});
    refused(
        &srv,
        "PUT",
        &bootenv_path,
        set.clone(),
        "bootenv",
        "file `debian-12/vmlinuz` is not in the files directory",
    );
    std::fs::create_dir_all(files.join("debian-12")).unwrap();
    std::fs::write(files.join("debian-12/vmlinuz"), b"kernel").unwrap();
    refused(&srv, "PUT", &bootenv_path, set.clone(), "bootenv", "file `debian-12/initrd.gz`");
    std::fs::write(files.join("debian-12/initrd.gz"), b"initrd").unwrap();
    refused(&srv, "PUT", &bootenv_path, set.clone(), "bootenv", "file `debian-12/tree/dists`");
    std::fs::create_dir_all(files.join("debian-12/tree/dists/bookworm")).unwrap();
    let n = ok(&srv, "PUT", &bootenv_path, Some(set));
    assert_eq!(n["bootenv"], "debian-12", "{n}");

    // Its installer reads the param: the preseed fetches the key, which
    // is the node's; the shared templates are there.
    let boot = |path: &str| {
        let out = crate::harness::run(Command::new("curl").args(["-fsS", &srv.boot_url(path)]));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let preseed = boot(&format!("/boot/templates/{MAC}/preseed.cfg"));
    assert!(preseed.contains("d-i mirror/http/directory string /boot/files/debian-12/tree"), "{preseed}");
    assert!(preseed.contains(&format!("/boot/templates/{MAC}/authorized_keys")), "{preseed}");
    assert_eq!(boot(&format!("/boot/templates/{MAC}/authorized_keys")).trim(), KEY);
    assert!(
        boot(&format!("/boot/templates/{MAC}/fulcrum-alive.service")).contains(&format!("/api/v1/nodes/{NODE}/alive"))
    );

    // Taking the required param away is refused (field `params`); other
    // params can go.
    let drop_key = json!({"params": {"ssh_authorized_key": null}});
    refused(&srv, "PATCH", &node_path, drop_key, "params", "param `ssh_authorized_key` is not set");
    let n = ok(&srv, "PATCH", &node_path, Some(json!({"params": {"disk": null}})));
    assert_eq!(n["params"], json!({"ssh_authorized_key": KEY}), "{n}");
    let (code, v) = call(&srv, "PATCH", &node_path, Some(json!({"params": {"Bad-Name": "x"}})));
    assert_eq!((code, v["detail"]["field"].as_str()), (422, Some("params")), "{v}");
    // A line break in a value would start a kickstart or preseed line of
    // its own: refused, naming the param, and the node keeps its key.
    let injected = json!({"params": {"ssh_authorized_key": "ssh-ed25519 AAAA\"\nrootpw --plaintext x"}});
    let (code, v) = call(&srv, "PATCH", &node_path, Some(injected));
    assert_eq!((code, v["detail"]["field"].as_str()), (422, Some("params.ssh_authorized_key")), "{v}");
    assert_eq!(ok(&srv, "GET", &node_path, None)["params"], json!({"ssh_authorized_key": KEY}));

    // A file gone after the node was given the bootenv does not block its
    // other changes; explain names what its boot now lacks.
    std::fs::remove_file(files.join("debian-12/initrd.gz")).unwrap();
    ok(&srv, "PATCH", &node_path, Some(json!({"available": true})));
    // A rename neither (the renamed record is the same node, found by its MAC).
    let renamed = ok(&srv, "PATCH", &node_path, Some(json!({"name": "n2.test.example"})));
    assert_eq!(renamed["name"], "n2.test.example", "{renamed}");
    ok(&srv, "PATCH", "/api/v1/nodes/n2.test.example", Some(json!({"name": NODE})));
    let e = ok(&srv, "GET", &format!("/api/v1/explain/{NODE}"), None);
    assert_eq!(e["lacks"], json!(["file `debian-12/initrd.gz` is not in the files directory"]), "{e}");
    let (ok_cli, out) = cli(&srv, &["node", "explain", NODE]);
    assert!(ok_cli && out.contains("bootenv debian-12 lacks (its boot would fail):"), "{out}");
    std::fs::write(files.join("debian-12/initrd.gz"), b"initrd").unwrap();
    let e = ok(&srv, "GET", &format!("/api/v1/explain/{NODE}"), None);
    assert!(e.get("lacks").is_none(), "{e}");

    // The discovery bootenv is never refused (a stranger boots it anyway),
    // though its image is not built here.
    let n = ok(&srv, "PUT", &bootenv_path, Some(json!({"bootenv": "discovery"})));
    assert_eq!(n["bootenv"], "discovery", "{n}");
}

#[test]
fn the_deploy_verb_refuses_an_os_whose_files_are_missing_and_nothing_moves() {
    let (cfg, ports) = loopback_config();
    let srv = Server::start(&cfg, ports.http, None);
    ok(&srv, "POST", "/api/v1/networks", Some(loopback_network("deploy", 96)));
    let n = ok(&srv, "POST", "/api/v1/discover", Some(json!({"mac": "52:54:00:96:00:01"})));
    let name = n["name"].as_str().unwrap().to_string();
    let provision = format!("/api/v1/nodes/{name}/states/provision");
    for target in ["manage", "provide", "done"] {
        ok(&srv, "PUT", &provision, Some(json!({"target": target})));
    }
    ok(&srv, "PATCH", &format!("/api/v1/nodes/{name}"), Some(json!({"params": {"ssh_authorized_key": KEY}})));
    let before = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    assert_eq!((&before["provision_state"], &before["bootenv"]), (&json!("available"), &json!("local")));
    let deploy = json!({"target": "deploy", "bootenv": "rocky-9"});
    refused(&srv, "PUT", &provision, deploy.clone(), "bootenv", "file `rocky-9/vmlinuz` is not in the files directory");
    let after = ok(&srv, "GET", &format!("/api/v1/nodes/{name}"), None);
    // The boot trace is written by its keeper, after the callback it
    // records, so it may land between the two reads: not the deploy's.
    let untraced = |mut v: serde_json::Value| {
        v.as_object_mut().map(|o| o.remove("last_traced"));
        v
    };
    assert_eq!(untraced(after), untraced(before.clone()), "a refused deploy moved the node");
    // With Rocky's files (as an import leaves them) the same verb deploys.
    let files = srv.data().join("files/rocky-9");
    std::fs::create_dir_all(files.join("tree")).unwrap();
    for f in ["vmlinuz", "initrd.img", "tree/.treeinfo"] {
        std::fs::write(files.join(f), b"x").unwrap();
    }
    let n = ok(&srv, "PUT", &provision, Some(deploy));
    assert_eq!((&n["provision_state"], &n["bootenv"]), (&json!("wait call-back"), &json!("rocky-9")), "{n}");
}
