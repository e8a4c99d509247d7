//! The discovery image as Fulcrum ships it: `fulcrum image build
//! discovery` makes it from Debian packages (the cached cloud kernel .deb,
//! busybox-static, the static agent built from `agent/`), twice, to the
//! same bytes; a QEMU machine network-boots it and the agent does the
//! machine's side of the lifecycle:
//!
//! 1. it registers with both its MACs and reports its inventory: the
//!    SMBIOS identity QEMU was given, a virtio disk's serial and by-path, a
//!    SCSI disk's serial and WWN, both NICs with link, driver and the LLDP
//!    neighbour the test announces on the bridge;
//! 2. `manage`, then `inspect`: the agent, still running (no power
//!    driver: Ironic's fast track), is handed `inspect`, reports again,
//!    and the node is `manageable`;
//! 3. `provide`: it is handed an erase of the disks' metadata, clears the
//!    partition table and the ends of the disk and of its partition (the
//!    test reads the disk images afterwards: the middle is untouched),
//!    and the node is `available`;
//! 4. `deploy` of an `image` bootenv: it is handed the image, writes it
//!    to the smallest disk it fits on (checked against the disk image),
//!    the node is `active`, and it reboots the machine into its disk;
//! 5. `rescue` with a password, with a power driver that presses the
//!    machine's reset button over QMP: the agent is the rescue system, and
//!    the test logs in as root on the second serial port and runs a
//!    command;
//! 6. `undeploy` from rescue, with the same power driver: Fulcrum resets
//!    the machine (the rescue system is never left to clean), it
//!    network-boots a fresh agent, which cleans it (the image's start is gone), and, since that driver can
//!    turn it on again, it is handed `poweroff` (QEMU exits).
//!
//! Every wait is bounded; QEMU, the LLDP sender, the server and the
//! namespace are torn down on drop.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::harness::qemu::{discovery_image, server_config_with_discovery, wait_guest, Qemu};
use crate::harness::{curl, Netns, Server, Spawned};
use serde_json::{json, Value};

/// The test's discovery bootenv.
const DISCOVERY: &str = "agent-test";

const MAC: &str = "52:54:00:fc:0a:01";
const MAC2: &str = "52:54:00:fc:0a:02";
const NODE: &str = "d52-54-00-fc-0a-01.agent.test";
const BOOT: &str = "http://10.77.0.1:8080";
const OPS: &str = "https://10.77.0.1:8443";
const UUID: &str = "6a1f3c2e-4b5d-4e6f-8a7b-0c1d2e3f4a5b";
pub(crate) const MIB: usize = 1 << 20;

pub(crate) fn sha256(path: &Path) -> String {
    let o = crate::harness::run(std::process::Command::new("sha256sum").arg(path));
    String::from_utf8_lossy(&o.stdout).split_whitespace().next().unwrap_or_default().to_string()
}

/// A 64 MiB disk with an MBR partition table (one partition, 1 MiB to
/// 33 MiB) and 0x5a everywhere an erase must clear and in the middle,
/// where it must not.
pub(crate) fn disk_a(path: &Path) {
    let mut d = vec![0u8; 64 * MIB];
    for (start, len) in [(0, 2 * MIB), (8 * MIB, MIB), (32 * MIB, MIB), (63 * MIB, MIB)] {
        d[start..start + len].fill(0x5a);
    }
    // The four entries (unused ones zero: the kernel rejects a table with
    // junk in them), then the one partition.
    d[446..510].fill(0);
    d[446 + 4] = 0x83;
    d[446 + 8..446 + 12].copy_from_slice(&2048u32.to_le_bytes());
    d[446 + 12..446 + 16].copy_from_slice(&65536u32.to_le_bytes());
    d[510] = 0x55;
    d[511] = 0xaa;
    std::fs::write(path, d).expect("write disk A");
}

/// Whether every byte of MiB `n` of the image is `b`.
pub(crate) fn mib_is(image: &[u8], n: usize, b: u8) -> bool {
    image[n * MIB..(n + 1) * MIB].iter().all(|x| *x == b)
}

/// An LLDP frame from switch `leaf-test`, port `Ethernet1/7`.
const LLDP_SENDER: &str = r#"
import socket, struct, sys, time
def tlv(t, v):
    return struct.pack("!H", (t << 9) | len(v)) + v
frame = (bytes.fromhex("0180c200000e") + bytes.fromhex("020000aa0001") + b"\x88\xcc"
    + tlv(1, b"\x04" + bytes.fromhex("02aabbccdd01")) + tlv(2, b"\x05Ethernet1/7") + tlv(3, b"\x00\x78")
    + tlv(4, b"rack 9 port 7") + tlv(5, b"leaf-test") + tlv(0, b""))
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((sys.argv[1], 0))
for _ in range(int(sys.argv[2])):
    s.send(frame)
    time.sleep(1)
"#;

fn api(ns: &Netns, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(Some(ns), method, &format!("{OPS}{path}"), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

fn node(ns: &Netns) -> Value {
    curl(Some(ns), "GET", &format!("{OPS}/api/v1/nodes/{NODE}"), None).1
}

fn verb(ns: &Netns, target: &str) -> Value {
    api(ns, "PUT", &format!("/api/v1/nodes/{NODE}/states/provision"), Some(json!({"target": target})))
}

#[test]
fn the_discovery_image_inspects_cleans_deploys_an_image_and_powers_off_a_machine() {
    if !crate::harness::qemu::prerequisites("agent_image", &["python3", "sha256sum", "depmod", "dpkg-deb"]) {
        return;
    }
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("[agent_image {:>5.1}s] {what}", t0.elapsed().as_secs_f64());

    // ---- the image, twice: the same bytes ----
    let dir = tempfile::tempdir().expect("server tempdir");
    let out = dir.path().join("files/discovery");
    let again = tempfile::tempdir().expect("second image dir");
    let (said, _) = discovery_image(&out);
    // With --json it prints the manifest it wrote.
    let (printed, written) = crate::harness::qemu::discovery_image_with(again.path(), &["--json"]);
    let printed: Value =
        serde_json::from_str(&printed).unwrap_or_else(|e| panic!("--json printed no JSON ({e}): {printed}"));
    assert_eq!(printed, written);
    phase(&format!("image built twice:\n{said}"));
    for f in ["vmlinuz", "initrd.img"] {
        assert_eq!(sha256(&out.join(f)), sha256(&again.path().join(f)), "{f} differs between two builds");
    }
    let manifest: Value =
        serde_json::from_slice(&std::fs::read(out.join("manifest.json")).expect("manifest")).expect("manifest JSON");
    for d in ["virtio_net", "virtio_blk", "virtio_scsi", "sd_mod"] {
        assert!(manifest["drivers"].to_string().contains(d), "{d} not in the image: {manifest}");
    }
    assert_eq!(manifest["initrd_sha256"].as_str(), Some(sha256(&out.join("initrd.img")).as_str()));

    // ---- the segment, the server, the network and the agent's bootenv ----
    let ns = crate::harness::qemu::boot_segment("agent");
    ns.ip(&["tuntap", "add", "dev", "tap1", "mode", "tap"]);
    ns.ip(&["link", "set", "tap1", "master", "br0"]);
    ns.ip(&["link", "set", "tap1", "up"]);
    let http: SocketAddr = "10.77.0.1:8080".parse().expect("addr");
    let server = Server::start_in(dir, &server_config_with_discovery(DISCOVERY), http, Some(&ns));
    api(
        &ns,
        "POST",
        "/api/v1/networks",
        Some(json!({
            "name": "boot", "subnet": "10.77.0.0/24", "router": "10.77.0.1", "server": "10.77.0.1",
            "static": {"start": "10.77.0.10", "end": "10.77.0.99"},
            "dynamic": {"start": "10.77.0.100", "end": "10.77.0.200"},
            "domain": "agent.test", "interface": "br0", "unknown_clients": "discovery", "lease_seconds": 60
        })),
    );
    api(
        &ns,
        "POST",
        "/api/v1/bootenvs",
        Some(json!({
            "name": DISCOVERY, "os": "discovery", "kernel": "discovery/vmlinuz", "initrds": ["discovery/initrd.img"],
            "kernel_params": "console=ttyS0 fulcrum.api={{ server }} fulcrum.mac={{ mac }} fulcrum.lldp=4 fulcrum.poll=1"
        })),
    );
    let (code, script) = curl(Some(&ns), "GET", &format!("{BOOT}/boot/ipxe?mac={MAC}"), None);
    assert!(code == 200 && script.as_str().is_some_and(|s| s.contains("fulcrum.lldp=4")), "{code} {script}");
    // The switch: LLDP every second on the bridge, for at most 10 minutes.
    let _lldp = Spawned(ns.cmd("python3").args(["-c", LLDP_SENDER, "br0", "600"]).spawn().expect("LLDP sender"));

    // ---- the machine ----
    let vm_dir = tempfile::tempdir().expect("vm tempdir");
    let (a, b) = (vm_dir.path().join("a.img"), vm_dir.path().join("b.img"));
    disk_a(&a);
    let mut bdata = vec![0u8; 16 * MIB];
    bdata[..MIB].fill(0x5a);
    std::fs::write(&b, bdata).expect("write disk B");
    let extra: Vec<String> = [
        "-uuid".to_string(),
        UUID.to_string(),
        "-smbios".into(),
        "type=1,manufacturer=Fulcrum Labs,product=Test Rig,serial=RIG-0042".into(),
        "-netdev".into(),
        "tap,id=n1,ifname=tap1,script=no,downscript=no".into(),
        "-device".into(),
        format!("virtio-net-pci,netdev=n1,mac={MAC2},romfile="),
        "-drive".into(),
        format!("file={},format=raw,if=none,id=da", a.display()),
        "-device".into(),
        "virtio-blk-pci,drive=da,serial=DISK-A-0001".into(),
        "-device".into(),
        "virtio-scsi-pci,id=scsi0".into(),
        "-drive".into(),
        format!("file={},format=raw,if=none,id=db", b.display()),
        "-device".into(),
        "scsi-hd,drive=db,bus=scsi0.0,serial=SCSI-B-0002,wwn=0x5000c50015ea71ac".into(),
        // A second serial port (ttyS1, where a BMC's serial-over-LAN
        // usually is), on a socket the test types into.
        "-chardev".into(),
        format!("socket,id=s1,path={},server=on,wait=off", vm_dir.path().join("ttyS1.sock").display()),
        "-device".into(),
        "isa-serial,chardev=s1".into(),
    ]
    .to_vec();
    let mut vm = Qemu::netboot_bios_with(&ns, vm_dir.path(), "tap0", MAC, &extra);
    phase("QEMU started; waiting for the agent's inventory");

    // ---- 1: registration and inventory ----
    let inv = wait_guest(&mut vm, &server, "the agent's inventory report", || {
        let (code, v) = curl(Some(&ns), "GET", &format!("{OPS}/api/v1/nodes/{NODE}/inventory"), None);
        (code == 200).then_some(v)
    });
    phase("inventory reported");
    let facts = &inv["facts"];
    let n = node(&ns);
    for m in [MAC, MAC2] {
        assert!(n["macs"].to_string().contains(m), "node lacks {m}: {n}");
    }
    assert_eq!(n["alive"], true, "{n}");
    assert_eq!(facts["system"]["uuid"], UUID, "{facts}");
    assert_eq!(facts["system"]["vendor"], "Fulcrum Labs", "{facts}");
    assert_eq!(facts["system"]["product"], "Test Rig", "{facts}");
    assert_eq!(facts["system"]["serial"], "RIG-0042", "{facts}");
    assert_eq!(facts["boot"]["mac"], MAC);
    assert_eq!(facts["boot"]["firmware"], "bios");
    assert_eq!(facts["memory"]["total_bytes"].as_u64().map(|m| m > 256 << 20), Some(true), "{facts}");
    assert!(facts["cpus"]["count"].as_u64() >= Some(1), "{facts}");
    let disks = facts["disks"].as_array().unwrap_or_else(|| panic!("no disks: {facts}"));
    let disk = |serial: &str| {
        disks.iter().find(|d| d["serial"] == serial).unwrap_or_else(|| panic!("no disk {serial}: {facts}")).clone()
    };
    let (va, sb) = (disk("DISK-A-0001"), disk("SCSI-B-0002"));
    assert_eq!(va["size_bytes"], 64 * MIB);
    assert!(va["by_path"].as_str().is_some_and(|p| p.starts_with("pci-0000:00:")), "{va}");
    assert_eq!(sb["size_bytes"], 16 * MIB);
    assert_eq!(sb["wwn"], "naa.5000c50015ea71ac", "{sb}");
    assert!(sb["by_path"].as_str().is_some_and(|p| p.contains("-scsi-0:0:0:0")), "{sb}");
    let nics = facts["nics"].as_array().unwrap_or_else(|| panic!("no NICs: {facts}"));
    assert_eq!(nics.len(), 2, "{facts}");
    for nic in nics {
        assert_eq!(nic["link"], "up", "{nic}");
        assert_eq!(nic["driver"], "virtio_net", "{nic}");
        assert_eq!(nic["lldp"]["system_name"], "leaf-test", "{nic}");
        assert_eq!(nic["lldp"]["port_id"], "Ethernet1/7", "{nic}");
        assert_eq!(nic["lldp"]["chassis_id"], "02:aa:bb:cc:dd:01", "{nic}");
    }
    let first_report = inv["reported_at"].as_u64().unwrap_or_default();

    // ---- 2: manage, inspect: the running agent reports again ----
    verb(&ns, "manage");
    std::thread::sleep(Duration::from_millis(1100));
    assert_eq!(verb(&ns, "inspect")["provision_state"], "inspect wait");
    let n = wait_guest(&mut vm, &server, "inspection to end", || {
        let n = node(&ns);
        (n["provision_state"] != "inspect wait").then_some(n)
    });
    assert_eq!((&n["provision_state"], &n["bootenv"]), (&json!("manageable"), &json!("local")), "{n}");
    let inv = api(&ns, "GET", &format!("/api/v1/nodes/{NODE}/inventory"), None);
    assert!(inv["reported_at"].as_u64() > Some(first_report), "no new report: {inv}");
    phase("inspected");

    // ---- 3: provide: the disks' metadata erased ----
    assert_eq!(verb(&ns, "provide")["provision_state"], "clean wait");
    let n = wait_guest(&mut vm, &server, "cleaning to end", || {
        let n = node(&ns);
        (n["provision_state"] != "clean wait").then_some(n)
    });
    assert_eq!(n["provision_state"], "available", "{n}\n{}", vm.serial_text());
    phase("cleaned");
    let image = std::fs::read(&a).expect("read disk A");
    for (mib, what) in
        [(0, "the partition table"), (1, "the partition's start"), (32, "the partition's end"), (63, "the disk's end")]
    {
        assert!(mib_is(&image, mib, 0), "{what} (MiB {mib}) was not erased:\n{}", vm.serial_text());
    }
    assert!(mib_is(&image, 8, 0x5a), "a metadata erase touched the middle of the partition");
    let image = std::fs::read(&b).expect("read disk B");
    assert!(mib_is(&image, 0, 0), "disk B's start was not erased");
    // The agent's address outlives its lease (60 s, renewed at T1 =
    // 30 s): udhcpc stays behind to renew it, and the renewal moves the
    // machine onto the node's own address, which the registration gave it.
    let own = node(&ns)["ipv4"].as_str().unwrap_or_else(|| panic!("no static address")).to_string();
    let serial_log = vm.serial.clone();
    let renewed = wait_guest(&mut vm, &server, "the agent's DHCP renewal", || {
        let s = crate::harness::qemu::read_console(&serial_log);
        let events: Vec<&str> = s
            .lines()
            .filter(|l| l.starts_with("fulcrum-image: bound ") || l.starts_with("fulcrum-image: renew "))
            .collect();
        let on_own = |l: &&str| l.contains(&format!(" {own}/")) || l.contains(&format!(" {own} "));
        events.iter().any(on_own).then(|| events.join("\n"))
    });
    phase(&format!("lease renewed:\n{renewed}"));

    // ---- 4: deploy an image bootenv: the running agent writes it ----
    let image: Vec<u8> = (0..8 * MIB).map(|i| (i % 253) as u8).collect();
    let files = server_files(&server);
    std::fs::create_dir_all(files.join("images")).expect("images dir");
    std::fs::write(files.join("images/os.img"), &image).expect("write the image");
    let sum = sha256(&files.join("images/os.img"));
    let env = json!({"name": "os-image", "kind": "image", "image": {"path": "images/os.img", "sha256": sum}});
    api(&ns, "POST", "/api/v1/bootenvs", Some(env));
    let body = json!({"target": "deploy", "bootenv": "os-image"});
    let n = api(&ns, "PUT", &format!("/api/v1/nodes/{NODE}/states/provision"), Some(body));
    assert_eq!(n["provision_state"], "wait call-back", "{n}");
    let n = wait_guest(&mut vm, &server, "the image write to end", || {
        let n = node(&ns);
        (n["provision_state"] != "wait call-back").then_some(n)
    });
    assert_eq!((&n["provision_state"], &n["bootenv"]), (&json!("active"), &json!("local")), "{n}");
    let serial_log = vm.serial.clone();
    wait_guest(&mut vm, &server, "the agent to reboot the deployed machine", || {
        let s = crate::harness::qemu::read_console(&serial_log);
        s.contains("step reboot-").then_some(())
    });
    phase("image written; rebooting into it");
    let written = std::fs::read(&b).expect("read disk B");
    assert!(written[..image.len()] == image[..], "disk B (the smallest that fits) does not hold the image");
    assert!(mib_is(&std::fs::read(&a).expect("read disk A"), 8, 0x5a), "the image went to disk A too");

    // ---- 5: rescue, with a power driver that resets the machine (QMP
    // system_reset): the agent is the rescue system, and root logs in on
    // the second serial port with the rescue password ----
    let qmp = vm_dir.path().join("qmp.sock");
    let script = vm_dir.path().join("reset.py");
    std::fs::write(&script, QMP_RESET).expect("write the reset script");
    let reset = format!("python3 {} {}", script.display(), qmp.display());
    api(
        &ns,
        "PATCH",
        &format!("/api/v1/nodes/{NODE}"),
        Some(json!({"power": {"driver": "command", "command": reset}})),
    );
    let body = json!({"target": "rescue", "rescue_password": RESCUE_PASSWORD});
    let n = api(&ns, "PUT", &format!("/api/v1/nodes/{NODE}/states/provision"), Some(body));
    assert_eq!(n["provision_state"], "rescue wait", "{n}");
    wait_guest(&mut vm, &server, "the rescue system", || (node(&ns)["provision_state"] == "rescue").then_some(()));
    let said = console_login(&vm_dir.path().join("ttyS1.sock"), RESCUE_PASSWORD);
    assert!(said.contains("RESCUE-42"), "the rescue shell did not run the command:\n{said}");
    assert!(!vm.serial_text().contains(RESCUE_PASSWORD), "the rescue password is on the console");
    phase("rescued: root logged in on ttyS1");

    // ---- 6: undeploy, from rescue: Fulcrum resets the machine (the
    // rescue system, its root login open, is not left to clean), a fresh
    // agent cleans it, then powers it off ----
    let serial_at_undeploy = vm.serial_text().len();
    let n = verb(&ns, "undeploy");
    assert_eq!(n["provision_state"], "clean wait", "{n}");
    assert_ne!(n["awaiting_boot"], Value::Null, "the rescue system was left to clean: {n}");
    let n = wait_guest(&mut vm, &server, "the clean after undeploy", || {
        let n = node(&ns);
        (n["provision_state"] != "clean wait").then_some(n)
    });
    assert_eq!(n["provision_state"], "available", "{n}\n{}", vm.serial_text());
    let since = vm.serial_text().get(serial_at_undeploy..).unwrap_or_default().to_string();
    let registered = since.find("fulcrum-agent: registered as").unwrap_or(usize::MAX);
    assert!(
        since.find("step erase-").is_some_and(|erase| registered < erase),
        "the clean did not wait for a fresh agent:\n{since}"
    );
    let start = Instant::now();
    let status = loop {
        if let Some(s) = vm.exited() {
            break s;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "the machine did not power off:\n{}", vm.diagnostics());
        std::thread::sleep(Duration::from_millis(500));
    };
    phase(&format!("undeployed, cleaned and powered off ({status})"));
    assert!(mib_is(&std::fs::read(&b).expect("read disk B"), 0, 0), "the image's start was not erased");
    let n = node(&ns);
    assert_eq!(n["alive"], false, "a machine that powered off is not alive: {n}");
    let serial = vm.serial_text();
    for want in [
        "fulcrum-agent: registered as",
        "step erase-",
        "step write_image-",
        "step reboot-",
        "step poweroff-",
        "reboot: Power down",
    ] {
        assert!(serial.contains(want), "the console lacks `{want}`:\n{serial}");
    }
}

/// The server's files directory.
pub(crate) fn server_files(server: &Server) -> std::path::PathBuf {
    server.data().parent().expect("the data dir's parent").join("files")
}

/// Root's password in the rescue system.
const RESCUE_PASSWORD: &str = "rescue-me-now-42";

/// Logs in as root on the console socket `sock` with `password`, runs a
/// command and returns everything the console said (bounded: 90 s).
fn console_login(sock: &Path, password: &str) -> String {
    use std::io::{Read, Write};
    let mut said = String::new();
    let mut console = std::os::unix::net::UnixStream::connect(sock).expect("connect to the console socket");
    console.set_read_timeout(Some(Duration::from_millis(500))).expect("read timeout");
    let start = Instant::now();
    let mut sent = 0;
    let steps: [(&str, String); 4] = [
        ("login:", "root\r".into()),
        ("assword:", format!("{password}\r")),
        ("#", "echo RESCUE-$((6*7))\r".into()),
        ("RESCUE-42", String::new()),
    ];
    let mut buf = [0u8; 4096];
    // Where the answer to the last thing typed starts.
    let mut mark = 0;
    while sent < steps.len() && start.elapsed() < Duration::from_secs(90) {
        // A getty that started before anyone looked prompted already:
        // Enter makes it ask again.
        if sent == 0 && said.is_empty() {
            let _ = console.write_all(b"\r");
        }
        if let Ok(n) = console.read(&mut buf) {
            said.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        let (want, reply) = &steps[sent];
        if said.get(mark..).is_some_and(|s| s.contains(want)) {
            let _ = console.write_all(reply.as_bytes());
            mark = said.len();
            sent += 1;
        }
    }
    said
}

/// A power "driver" for the test machine: presses its reset button over
/// QMP (the socket is the script's argument).
const QMP_RESET: &str = r#"
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.settimeout(10)
s.connect(sys.argv[1])
s.recv(4096)
s.sendall(b'{"execute": "qmp_capabilities"}\n')
s.recv(4096)
s.sendall(b'{"execute": "system_reset"}\n')
s.recv(4096)
"#;
