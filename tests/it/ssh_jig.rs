//! The script jig over SSH: Fulcrum in one network namespace, a "node" in
//! another running a real sshd (key authentication, its own config), the
//! role's script executed there as root with the run's input on stdin and
//! in `$FULCRUM_INPUT_FILE`, attributes in the environment, and its JSON
//! output merged into the noderole's wall data. Then the aliveness probe
//! before each jig: with sshd stopped (no SSH) and with the node's address
//! gone (no ping) the node is marked dead and its jig does not run; back,
//! it does.

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
    let start_sshd = || {
        let sshd =
            Spawned(nodens.cmd("/usr/sbin/sshd").args(["-D", "-e", "-f"]).arg(k("sshd_config")).spawn().expect("sshd"));
        wait_for(Duration::from_secs(10), "sshd listening", || {
            admin.cmd("bash").args(["-c", "exec 3<>/dev/tcp/10.79.0.10/22"]).status().ok().filter(|s| s.success())
        });
        sshd
    };
    let sshd = start_sshd();

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
    for target in ["manage", "adopt"] {
        api("PUT", "/api/v1/nodes/box.ssh.test/states/provision", Some(json!({"target": target})));
    }
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
    let node = api("GET", "/api/v1/nodes/box.ssh.test", None);
    assert_eq!(node["alive_check"]["result"], "answered", "{node}");
    assert_eq!(node["alive_check"]["address"], "10.79.0.10");

    // The aliveness probe (seed 001): before each jig that acts on the
    // node. sshd stops: the node still answers ping, not SSH.
    drop(sshd);
    let marker_path = keys.path().join("second-ran");
    let marker = marker_path.to_str().unwrap();
    api(
        "POST",
        "/api/v1/roles",
        Some(json!({"name": "second", "jig": "script", "script": format!("touch {marker}"), "timeout_seconds": 30})),
    );
    // The node reports alive just before the run (CI caught a write in the
    // same second as the probe keeping a dead node alive: 61 probes in a
    // second, never marked dead).
    api("PATCH", "/api/v1/nodes/box.ssh.test", Some(json!({"alive": true})));
    let second =
        api("POST", "/api/v1/noderoles", Some(json!({"deployment": "d", "role": "second", "node": "box.ssh.test"})));
    let node = wait_for(Duration::from_secs(60), "the probe marks the node dead", || {
        let v = api("GET", "/api/v1/nodes/box.ssh.test", None);
        (v["alive"] == false).then_some(v)
    });
    assert_eq!(node["alive_check"]["result"], "no_ssh", "{node}");
    let runs = api("GET", &format!("/api/v1/runs?noderole={}", second["id"]), None);
    assert_eq!(runs[0]["outcome"], "unreachable", "{runs}");
    assert!(runs[0]["log"].as_str().unwrap().contains("answers ping but not SSH"), "{runs}");
    assert_eq!(api("GET", &format!("/api/v1/noderoles/{}", second["id"]), None)["state"], "todo");
    assert!(!std::path::Path::new(marker).exists(), "the jig ran on a node that failed the probe");
    // Not alive, it gets no run meanwhile.
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(api("GET", &format!("/api/v1/runs?noderole={}", second["id"]), None).as_array().unwrap().len(), 1);
    // Its address gone, it does not even answer ping.
    nodens.ip(&["addr", "del", "10.79.0.10/24", "dev", "v-node"]);
    api("PATCH", "/api/v1/nodes/box.ssh.test", Some(json!({"alive": true})));
    let node = wait_for(Duration::from_secs(60), "dead again", || {
        let v = api("GET", "/api/v1/nodes/box.ssh.test", None);
        (v["alive"] == false).then_some(v)
    });
    assert_eq!(node["alive_check"]["result"], "no_ping", "{node}");
    // Back, with sshd: the run goes through.
    nodens.ip(&["addr", "add", "10.79.0.10/24", "dev", "v-node"]);
    let _sshd = start_sshd();
    api("PATCH", "/api/v1/nodes/box.ssh.test", Some(json!({"alive": true})));
    let done = wait_for(Duration::from_secs(60), "second run", || {
        let v = api("GET", &format!("/api/v1/noderoles/{}", second["id"]), None);
        (v["state"] == "active").then_some(v)
    });
    let runs = api("GET", &format!("/api/v1/runs?noderole={}", second["id"]), None);
    let mut outcomes: Vec<(u64, String)> = runs
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["id"].as_u64().unwrap(), r["outcome"].as_str().unwrap().to_string()))
        .collect();
    outcomes.sort();
    let outcomes: Vec<&str> = outcomes.iter().map(|(_, o)| o.as_str()).collect();
    assert_eq!((outcomes.first(), outcomes.last()), (Some(&"unreachable"), Some(&"succeeded")), "{done}");
    // The node's death sent its other noderole back too; whichever was
    // claimed while the node had no address recorded the ping failure.
    let all = api("GET", "/api/v1/runs?deployment=d", None);
    assert!(
        all.as_array()
            .unwrap()
            .iter()
            .any(|r| r["outcome"] == "unreachable" && r["log"].as_str().unwrap_or("").contains("no answer to ping")),
        "{all}"
    );
    assert_eq!(api("GET", &format!("/api/v1/noderoles/{}", nr["id"]), None)["state"], "active");
    assert!(std::path::Path::new(marker).exists(), "the second role's script did not run");
    assert_eq!(api("GET", "/api/v1/nodes/box.ssh.test", None)["alive_check"]["result"], "answered");
}
