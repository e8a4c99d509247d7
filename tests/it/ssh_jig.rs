//! The script jig over SSH: Fulcrum in one network namespace, a "node" in
//! another running a real sshd (key authentication, its own config), the
//! role's script executed there as root with the run's input on stdin and
//! in `$FULCRUM_INPUT_FILE`, attributes in the environment, and its JSON
//! output merged into the noderole's wall data.

use std::process::Command;
use std::time::Duration;

use crate::harness::{curl, prerequisites, run, wait_for, Netns, Server, Spawned};
use serde_json::{json, Value};

#[test]
fn script_jig_runs_on_the_node_over_ssh() {
    if !prerequisites("ssh_jig", true, &["ip", "curl", "ssh", "ssh-keygen", "sshd"]) {
        return;
    }
    let admin = Netns::new("adm");
    let nodens = Netns::new("node");
    admin.ip(&["link", "add", "v-adm", "type", "veth", "peer", "name", "v-node"]);
    admin.ip(&["link", "set", "v-node", "netns", &nodens.name]);
    admin.ip(&["addr", "add", "10.79.0.1/24", "dev", "v-adm"]);
    admin.ip(&["link", "set", "v-adm", "up"]);
    nodens.ip(&["addr", "add", "10.79.0.10/24", "dev", "v-node"]);
    nodens.ip(&["link", "set", "v-node", "up"]);

    let keys = tempfile::tempdir().unwrap();
    let k = |n: &str| keys.path().join(n);
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(k("client")));
    run(Command::new("ssh-keygen").args(["-q", "-t", "ed25519", "-N", "", "-f"]).arg(k("host")));
    std::fs::copy(k("client.pub"), k("authorized_keys")).unwrap();
    std::fs::create_dir_all("/run/sshd").unwrap();
    let sshd_config = format!(
        "ListenAddress 10.79.0.10\nPort 22\nHostKey {host}\nAuthorizedKeysFile {ak}\nPermitRootLogin prohibit-password\n\
         PasswordAuthentication no\nKbdInteractiveAuthentication no\nUsePAM no\nStrictModes no\nPidFile {pid}\n",
        host = k("host").display(),
        ak = k("authorized_keys").display(),
        pid = k("sshd.pid").display()
    );
    std::fs::write(k("sshd_config"), sshd_config).unwrap();
    let _sshd =
        Spawned(nodens.cmd("/usr/sbin/sshd").args(["-D", "-e", "-f"]).arg(k("sshd_config")).spawn().expect("sshd"));
    wait_for(Duration::from_secs(10), "sshd listening", || {
        admin.cmd("bash").args(["-c", "exec 3<>/dev/tcp/10.79.0.10/22"]).status().ok().filter(|s| s.success())
    });

    let config = format!(
        "data_dir = \"{{dir}}/data\"\n[http]\nlisten = \"10.79.0.1:8080\"\n[dhcp]\nenabled = false\n[tftp]\nenabled = false\n\
         [engine]\nssh_user = \"root\"\nssh_key = \"{}\"\n",
        k("client").display()
    );
    let srv = Server::start(&config, "10.79.0.1:8080".parse().unwrap(), Some(&admin));
    let api = |m: &str, p: &str, b: Option<Value>| {
        let (code, v) = curl(Some(&admin), m, &srv.url(p), b.as_ref());
        assert!((200..300).contains(&code), "{m} {p}: {code} {v}");
        v
    };
    api(
        "POST",
        "/api/v1/networks",
        Some(json!({
            "name": "adm", "subnet": "10.79.0.0/24", "server": "10.79.0.1",
            "static": {"start": "10.79.0.10", "end": "10.79.0.50"}, "domain": "ssh.test"
        })),
    );
    let node = api("POST", "/api/v1/nodes", Some(json!({"name": "box.ssh.test", "macs": ["52:54:00:79:00:10"]})));
    assert_eq!(node["ipv4"], "10.79.0.10");
    api("PATCH", "/api/v1/nodes/box.ssh.test", Some(json!({"alive": true})));
    // The script proves where it runs (the node's own address), reads its
    // input from stdin and from the file, and reports wall data.
    let script = r#"set -e
input=$(cat)
echo "$input" | grep -q '"greeting":"hello"'
grep -q '"role":"remote"' "$FULCRUM_INPUT_FILE"
addr=$(ip -4 -o addr show dev v-node | awk '{print $4}')
echo "running on $addr as $(id -un), greeting $FULCRUM_ATTR_GREETING"
echo "{\"seen_address\": \"$addr\", \"user\": \"$(id -un)\"}"
"#;
    api(
        "POST",
        "/api/v1/roles",
        Some(
            json!({"name": "remote", "jig": "script", "script": script, "timeout_seconds": 30, "attribs": {"greeting": "hello"}}),
        ),
    );
    api("POST", "/api/v1/deployments", Some(json!({"name": "d"})));
    let nr =
        api("POST", "/api/v1/noderoles", Some(json!({"deployment": "d", "role": "remote", "node": "box.ssh.test"})));
    api("POST", "/api/v1/deployments/d/commit", None);
    let done = wait_for(Duration::from_secs(60), "remote run", || {
        let v = api("GET", &format!("/api/v1/noderoles/{}", nr["id"]), None);
        matches!(v["state"].as_str(), Some("active" | "error")).then_some(v)
    });
    let runs = api("GET", &format!("/api/v1/runs?noderole={}", nr["id"]), None);
    assert_eq!(done["state"], "active", "{done}\n{runs}");
    let log = runs[0]["log"].as_str().unwrap();
    assert!(log.contains("running on 10.79.0.10/24 as root, greeting hello"), "{log}");
    assert_eq!(done["wall"]["seen_address"], "10.79.0.10/24");
    assert_eq!(done["wall"]["user"], "root");
    // Host keys go to Fulcrum's own known-hosts file.
    let kh = std::fs::read_to_string(srv.dir.path().join("data/ssh_known_hosts")).unwrap_or_default();
    let host_key = std::fs::read_to_string(k("host.pub")).unwrap();
    let key_material = host_key.split_whitespace().nth(1).unwrap();
    assert!(kh.contains(key_material), "known hosts lacks the node's host key: {kh}");
}
