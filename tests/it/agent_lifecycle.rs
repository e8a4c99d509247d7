//! A machine's whole life, hands off (issue 10, item 8): a QEMU machine,
//! powered off, whose BMC drives the VM through QMP, as virtualbmc and
//! sushy-tools' libvirt driver drive a libvirt domain: an IPMI one
//! (pyghmi's BMC server, `tests/fixtures/ipmi/qemu_bmc.py`; Fulcrum's
//! client is ipmitool) in one test, a Redfish one (sushy-tools' emulator
//! with a QMP systems driver, `tests/fixtures/redfish/qemu_redfish.py`;
//! Fulcrum's client is its own) in the other. Nobody touches the VM but
//! its BMC and the agent:
//!
//! 1. `POST /api/v1/nodes/import` of an instackenv.json entry with
//!    `pm_type` `ipmi` or `redfish`: `manage` asks the BMC and the node is
//!    `manageable`;
//! 2. `inspect`: Fulcrum sets the next boot to PXE and switches the
//!    machine on through its BMC; Fulcrum is restarted while the node is
//!    in `inspect wait`, and the wait resumes: the agent (the discovery
//!    image Fulcrum built) reports an inventory with the VM's disk serial
//!    and MAC, the node is `manageable`, and the agent powers the machine
//!    off (the BMC then says it is off);
//! 3. `provide`: switched on, cleaned (the partition table is gone),
//!    `available`, off again;
//! 4. `deploy` of an `image` bootenv: switched on, the agent writes the
//!    image (a BIOS boot sector; raw in the IPMI test, and in the Redfish
//!    test a compressed qcow2 made by `qemu-img`, whose zero clusters the
//!    agent must write as zeros) to the smallest disk, the node is
//!    `active` on `local`, the agent reboots the machine, and SeaBIOS,
//!    given no boot file, boots the disk, whose boot sector prints its
//!    line on the serial port; the installed system reports alive (the
//!    test makes the call on the boot sector's behalf: it has no network);
//! 5. `undeploy`: the BMC cycles the running machine, the agent cleans it
//!    (the image's start is gone), the node is `available`, and the agent
//!    powers it off.
//!
//! The BMC's log shows each power command, each after the next boot was
//! set to the network.

use std::net::SocketAddr;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::agent_image::{disk_a, mib_is, server_files, sha256, MIB};
use crate::harness::qemu::{discovery_image, server_config_with_discovery, wait_guest, Qemu};
use crate::harness::{curl, Netns, Server, Spawned};
use serde_json::{json, Value};

/// The test's discovery bootenv.
const DISCOVERY: &str = "agent-life";

const MAC: &str = "52:54:00:fc:0b:01";
const NODE: &str = "rig1.life.test";
const OPS: &str = "https://10.77.0.1:8443";
const BMC_PORT: &str = "6230";
const BMC_PASSWORD: &str = "rig1-bmc-pw";
/// The Redfish BMC's system.
const SYSTEM: &str = "8e4c1f6a-2b3d-4c5e-9f70-a1b2c3d4e5f6";

/// A BIOS boot sector (16-bit, loaded at 0x7c00) that prints its message
/// on COM1 and halts: cli; xor ax,ax; mov ds,ax; cld; mov si,0x7c17;
/// mov dx,0x3f8; loop: lodsb; test al,al; jz done; out dx,al; jmp loop;
/// done: hlt; jmp done. The message follows at 0x17.
const BOOT_CODE: [u8; 23] = [
    0o372, 0o061, 0o300, 0o216, 0o330, 0o374, 0o276, 0o027, 0o174, 0o272, 0o370, 0o003, 0o254, 0o204, 0o300, 0o164,
    0o003, 0o356, 0o353, 0o370, 0o364, 0o353, 0o375,
];
const OS_LINE: &str = "FULCRUM-OS: the image booted from its disk";

fn api(ns: &Netns, method: &str, path: &str, body: Option<Value>) -> Value {
    let (code, v) = curl(Some(ns), method, &format!("{OPS}{path}"), body.as_ref());
    assert!((200..300).contains(&code), "{method} {path}: {code} {v}");
    v
}

fn node(ns: &Netns) -> Value {
    curl(Some(ns), "GET", &format!("{OPS}/api/v1/nodes/{NODE}"), None).1
}

fn verb(ns: &Netns, target: &str, bootenv: Option<&str>) -> Value {
    let mut body = json!({"target": target});
    if let Some(b) = bootenv {
        body["bootenv"] = json!(b);
    }
    api(ns, "PUT", &format!("/api/v1/nodes/{NODE}/states/provision"), Some(body))
}

/// The kind of BMC the machine has.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Bmc {
    Ipmi,
    Redfish,
}

impl Bmc {
    fn name(self) -> &'static str {
        match self {
            Bmc::Ipmi => "ipmi",
            Bmc::Redfish => "redfish",
        }
    }

    /// Starts the BMC for the VM whose QMP socket is `qmp`, logging to `log`.
    fn start(self, ns: &Netns, dir: &Path, qmp: &Path, log: &Path, pydeps: &Path) -> Spawned {
        let mut cmd = ns.cmd("python3");
        match self {
            Bmc::Ipmi => {
                cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/ipmi/qemu_bmc.py"))
                    .args(["10.77.0.1", BMC_PORT, "admin", BMC_PASSWORD])
                    .arg(log)
                    .arg(qmp);
            }
            Bmc::Redfish => {
                let hash = crate::harness::run(
                    std::process::Command::new("python3")
                        .args([
                            "-c",
                            &format!(
                                "import bcrypt; print('admin:' + bcrypt.hashpw(b'{BMC_PASSWORD}', bcrypt.gensalt()).decode())"
                            ),
                        ])
                        .env("PYTHONPATH", pydeps),
                );
                let htpasswd = dir.join("htpasswd");
                std::fs::write(&htpasswd, &hash.stdout).expect("htpasswd");
                let conf = dir.join("emulator.conf");
                std::fs::write(
                    &conf,
                    format!(
                        "SUSHY_EMULATOR_AUTH_FILE = '{}'\nSUSHY_EMULATOR_FAKE_DRIVER = True\n\
                         SUSHY_EMULATOR_STATE_DIR = '{}'\nSUSHY_EMULATOR_FAKE_SYSTEMS = [{{'uuid': '{SYSTEM}', \
                         'name': 'rig1', 'power_state': 'Off', 'nics': [{{'mac': '{MAC}'}}]}}]\n",
                        htpasswd.display(),
                        dir.join("redfish-state").display()
                    ),
                )
                .expect("emulator config");
                cmd.arg(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/redfish/qemu_redfish.py"))
                    .arg(log)
                    .arg(qmp)
                    .args(["--fake", "-i", "10.77.0.1", "-p", BMC_PORT, "--config"])
                    .arg(&conf)
                    .stdout(std::process::Stdio::null())
                    .stderr(std::process::Stdio::null());
            }
        }
        Spawned(cmd.env("PYTHONPATH", pydeps).spawn().expect("the BMC"))
    }

    /// What the BMC says of the machine's power (`on`, `off`; empty while
    /// it does not answer), asked as an operator would: ipmitool, or curl.
    fn power(self, ns: &Netns) -> String {
        match self {
            Bmc::Ipmi => {
                let o = ns
                    .cmd("ipmitool")
                    .args(["-I", "lanplus", "-H", "10.77.0.1", "-p", BMC_PORT, "-U", "admin", "-E"])
                    .args(["chassis", "power", "status"])
                    .env("IPMI_PASSWORD", BMC_PASSWORD)
                    .output()
                    .expect("ipmitool");
                let said = String::from_utf8_lossy(&o.stdout).trim().to_string();
                said.strip_prefix("Chassis Power is ").unwrap_or_default().to_string()
            }
            Bmc::Redfish => {
                let o = ns
                    .cmd("curl")
                    .args(["-sf", "-m", "10", "-u", &format!("admin:{BMC_PASSWORD}")])
                    .arg(format!("http://10.77.0.1:{BMC_PORT}/redfish/v1/Systems/{SYSTEM}"))
                    .output()
                    .expect("curl");
                let v: Value = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
                v["PowerState"].as_str().unwrap_or_default().to_lowercase()
            }
        }
    }

    /// Its instackenv.json entry's power part.
    fn entry(self) -> Value {
        match self {
            Bmc::Ipmi => json!({"pm_type": "ipmi", "pm_addr": "10.77.0.1", "pm_port": 6230,
                                "pm_user": "admin", "pm_password": BMC_PASSWORD}),
            Bmc::Redfish => json!({"pm_type": "redfish", "pm_addr": format!("http://10.77.0.1:{BMC_PORT}"),
                                   "pm_system_id": SYSTEM, "pm_user": "admin", "pm_password": BMC_PASSWORD}),
        }
    }

    /// What its log says for Fulcrum's three switch-ons (inspect, provide,
    /// deploy), the operator's requests (next boot from disk, off, on) and
    /// the restart of the running machine (undeploy).
    fn expected_log(self) -> Vec<&'static str> {
        let (pxe, disk, on, off, restart) = match self {
            Bmc::Ipmi => ("bootdev network", "bootdev hd", "power on", "power off", "power cycle"),
            Bmc::Redfish => ("bootdev Pxe", "bootdev Hdd", "power On", "power ForceOff", "power ForceRestart"),
        };
        vec![pxe, on, pxe, on, pxe, on, disk, off, on, pxe, restart]
    }
}

/// A raw disk image: the boot sector, the rest of the first MiB a
/// pattern, the second MiB zeros (where disk B holds 0x5a that cleaning
/// leaves: a qcow2 file holds no cluster for it).
fn os_image() -> Vec<u8> {
    let mut image: Vec<u8> = (0..2 * MIB).map(|i| if i < MIB { (i % 251) as u8 } else { 0 }).collect();
    image[..512].fill(0);
    image[..BOOT_CODE.len()].copy_from_slice(&BOOT_CODE);
    let line = format!("{OS_LINE}\r\n");
    image[0x17..0x17 + line.len()].copy_from_slice(line.as_bytes());
    image[510..512].copy_from_slice(&[0x55, 0xaa]);
    image
}

#[test]
fn an_imported_machine_lives_its_whole_life_through_its_ipmi_bmc_and_the_agent() {
    life(Bmc::Ipmi);
}

#[test]
fn an_imported_machine_lives_its_whole_life_through_its_redfish_bmc_and_the_agent() {
    life(Bmc::Redfish);
}

fn life(kind: Bmc) {
    let test = format!("agent_lifecycle {}", kind.name());
    if !crate::harness::qemu::prerequisites(&test, &["python3", "sha256sum", "depmod", "ipmitool", "curl", "qemu-img"])
    {
        return;
    }
    let module = if kind == Bmc::Ipmi { "pyghmi" } else { "sushy_tools" };
    let Some(pydeps) = crate::harness::python_deps(&test, module) else {
        return;
    };
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("[{test} {:>5.1}s] {what}", t0.elapsed().as_secs_f64());

    // ---- the image, the server, the network, the agent's bootenv ----
    let dir = tempfile::tempdir().expect("server tempdir");
    discovery_image(&dir.path().join("files/discovery"));
    let image = os_image();
    std::fs::create_dir_all(dir.path().join("files/images")).expect("images dir");
    std::fs::write(dir.path().join("files/images/os.img"), &image).expect("write the image");
    let ns = crate::harness::qemu::boot_segment("alife");
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
            "domain": "life.test", "interface": "br0", "unknown_clients": "discovery"
        })),
    );
    api(
        &ns,
        "POST",
        "/api/v1/bootenvs",
        Some(json!({
            "name": DISCOVERY, "os": "discovery", "kernel": "discovery/vmlinuz", "initrds": ["discovery/initrd.img"],
            "kernel_params": "console=ttyS0 fulcrum.api={{ server }} fulcrum.mac={{ mac }} fulcrum.lldp=1 fulcrum.poll=1"
        })),
    );
    // The Redfish machine gets the same disk as a compressed qcow2 file.
    let (file, format) = match kind {
        Bmc::Ipmi => ("images/os.img", "raw"),
        Bmc::Redfish => {
            let files = server_files(&server);
            crate::harness::run(
                std::process::Command::new("qemu-img")
                    .args(["convert", "-c", "-f", "raw", "-O", "qcow2"])
                    .args([files.join("images/os.img"), files.join("images/os.qcow2")]),
            );
            ("images/os.qcow2", "qcow2")
        }
    };
    let sum = sha256(&server_files(&server).join(file));
    let env = json!({"name": "os-image", "kind": "image", "image": {"path": file, "sha256": sum, "format": format}});
    api(&ns, "POST", "/api/v1/bootenvs", Some(env));

    // ---- the machine, off (-S), and its BMC ----
    let vm_dir = tempfile::tempdir().expect("vm tempdir");
    let (a, b) = (vm_dir.path().join("a.img"), vm_dir.path().join("b.img"));
    disk_a(&a);
    std::fs::write(&b, vec![0x5a; 16 * MIB]).expect("write disk B");
    let extra: Vec<String> = [
        "-S",
        "-no-shutdown",
        "-drive",
        &format!("file={},format=raw,if=none,id=da", a.display()),
        "-device",
        "virtio-blk-pci,drive=da,serial=DISK-A-0001,bootindex=3",
        "-drive",
        &format!("file={},format=raw,if=none,id=db", b.display()),
        "-device",
        "virtio-blk-pci,drive=db,serial=DISK-B-0002,bootindex=2",
    ]
    .map(String::from)
    .to_vec();
    let mut vm = Qemu::netboot_bios_with(&ns, vm_dir.path(), "tap0", MAC, &extra);
    let log = vm_dir.path().join("bmc.log");
    std::fs::write(&log, "").expect("BMC log");
    let _bmc = kind.start(&ns, vm_dir.path(), &vm_dir.path().join("qmp.sock"), &log, &pydeps);
    crate::harness::wait_for(Duration::from_secs(30), "the BMC answering", || {
        (!kind.power(&ns).is_empty()).then_some(())
    });
    assert_eq!(kind.power(&ns), "off", "the machine starts off");
    let bmc_log = || std::fs::read_to_string(&log).unwrap_or_default();
    let powered_off = |vm: &mut Qemu, server: &Server, what: &str| {
        wait_guest(vm, server, what, || (kind.power(&ns) == "off").then_some(()));
    };
    phase("machine off, BMC up");

    // ---- 1: import, manage (the BMC is asked) ----
    let mut entry = json!({"name": "rig1", "mac": [MAC], "arch": "x86_64", "cpu": 1, "memory": 512, "disk": 1});
    if let (Some(e), Some(p)) = (entry.as_object_mut(), kind.entry().as_object()) {
        e.extend(p.clone());
    }
    api(&ns, "POST", "/api/v1/nodes/import", Some(json!({"nodes": [entry], "network": "boot"})));
    let n = wait_guest(&mut vm, &server, "verifying", || {
        let n = node(&ns);
        (n["provision_state"] != "verifying").then_some(n)
    });
    assert_eq!(n["provision_state"], "manageable", "{n}");
    assert_eq!(n["power"]["password"], "<redacted>", "{n}");

    // ---- 2: inspect, with a restart of Fulcrum in inspect wait ----
    assert_eq!(verb(&ns, "inspect", None)["provision_state"], "inspect wait");
    // The restart comes once the machine has its kernel and initrd (its
    // early boot over, which the node shows): Linux boots for seconds
    // before the agent asks anything, and the agent asks again anyway.
    wait_guest(&mut vm, &server, "the machine to fetch the discovery image", || {
        let n = node(&ns);
        (bmc_log().to_lowercase().contains("power on") && n["awaiting_boot"].is_null()).then_some(())
    });
    let (_, dir) = server.stop();
    let server = Server::start_in(dir, &server_config_with_discovery(DISCOVERY), http, Some(&ns));
    assert_eq!(node(&ns)["provision_state"], "inspect wait", "the wait did not resume after the restart");
    phase("inspect: machine on, Fulcrum restarted in inspect wait");
    let n = wait_guest(&mut vm, &server, "inspection to end", || {
        let n = node(&ns);
        (n["provision_state"] != "inspect wait").then_some(n)
    });
    assert_eq!((&n["provision_state"], &n["bootenv"]), (&json!("manageable"), &json!("local")), "{n}");
    let facts = api(&ns, "GET", &format!("/api/v1/nodes/{NODE}/inventory"), None)["facts"].clone();
    assert!(facts["disks"].to_string().contains("DISK-A-0001"), "the inventory lacks the disk serial: {facts}");
    assert_eq!(facts["boot"]["mac"], MAC, "{facts}");
    assert_eq!(facts["nics"][0]["mac"], MAC, "{facts}");
    powered_off(&mut vm, &server, "the agent to power the inspected machine off");
    phase("inspected; the agent powered the machine off");

    // ---- 3: provide: cleaned ----
    assert_eq!(verb(&ns, "provide", None)["provision_state"], "clean wait");
    let n = wait_guest(&mut vm, &server, "cleaning to end", || {
        let n = node(&ns);
        (n["provision_state"] != "clean wait").then_some(n)
    });
    assert_eq!(n["provision_state"], "available", "{n}\n{}", vm.serial_text());
    assert!(mib_is(&std::fs::read(&a).expect("read disk A"), 0, 0), "disk A's partition table was not erased");
    powered_off(&mut vm, &server, "the agent to power the cleaned machine off");
    phase("cleaned; off again");

    // ---- 4: deploy the image; the disk boots ----
    let serial_at_deploy = vm.serial_text().len();
    assert_eq!(verb(&ns, "deploy", Some("os-image"))["provision_state"], "wait call-back");
    let n = wait_guest(&mut vm, &server, "the image write", || {
        let n = node(&ns);
        (n["provision_state"] != "wait call-back").then_some(n)
    });
    assert_eq!((&n["provision_state"], &n["bootenv"]), (&json!("active"), &json!("local")), "{n}");
    let serial_log = vm.serial.clone();
    wait_guest(&mut vm, &server, "the installed disk to boot", || {
        let s = crate::harness::qemu::read_console(&serial_log);
        s.get(serial_at_deploy..).is_some_and(|s| s.contains(OS_LINE)).then_some(())
    });
    let written = std::fs::read(&b).expect("read disk B");
    assert!(written[..image.len()] == image[..], "disk B (the smallest that fits) does not hold the image");
    let (code, v) = curl(Some(&ns), "POST", &format!("{OPS}/api/v1/nodes/{NODE}/alive"), None);
    assert!(code == 200 && v["alive"] == true, "{code} {v}");
    assert_eq!(kind.power(&ns), "on");
    phase("deployed: the image booted from disk B");

    // ---- the operator's own power requests, through the same BMC ----
    let power = |body: Value, what: &str| api(&ns, "PUT", &format!("/api/v1/nodes/{NODE}/{what}"), Some(body));
    let a = power(json!({"target": "status"}), "states/power");
    assert!(a["driver_said"].as_str().is_some_and(|s| s.to_lowercase().contains("is on")), "{a}");
    assert_eq!(a["power_state"], "on", "{a}");
    power(json!({"boot_device": "disk"}), "management/boot_device");
    let a = power(json!({"target": "power off"}), "states/power");
    assert_eq!(a["power_state"], "off", "{a}");
    assert_eq!(kind.power(&ns), "off", "the BMC did not switch it off");
    let serial_at_on = vm.serial_text().len();
    let a = power(json!({"target": "power on"}), "states/power");
    assert_eq!(a["power_state"], "on", "{a}");
    wait_guest(&mut vm, &server, "the disk to boot again after power on", || {
        let s = crate::harness::qemu::read_console(&serial_log);
        s.get(serial_at_on..).is_some_and(|s| s.contains(OS_LINE)).then_some(())
    });
    // (The VM's boot order is fixed, network first: the disk boots through
    // the `local` answer; the BMC's log shows it was told `disk`.)
    phase("operator: status, next boot from disk, off, on: the disk booted again");

    // ---- 5: undeploy: the BMC cycles it, the agent cleans it ----
    assert_eq!(verb(&ns, "undeploy", None)["provision_state"], "clean wait");
    let n = wait_guest(&mut vm, &server, "the clean after undeploy", || {
        let n = node(&ns);
        (n["provision_state"] != "clean wait").then_some(n)
    });
    assert_eq!(n["provision_state"], "available", "{n}\n{}", vm.serial_text());
    assert!(mib_is(&std::fs::read(&b).expect("read disk B"), 0, 0), "the image's start was not erased");
    powered_off(&mut vm, &server, "the agent to power the machine off after undeploy");
    phase("undeployed, cleaned, off");

    // Each power action went through the BMC: Fulcrum's after setting the
    // next boot to the network (on for inspect, provide and deploy, a cycle
    // of the running machine for undeploy), and the operator's.
    let actions: Vec<String> = bmc_log().lines().map(str::to_string).collect();
    assert_eq!(actions, kind.expected_log(), "the BMC's log");
    let serial = vm.serial_text();
    for want in ["step erase-", "step write_image-", "step reboot-", "step poweroff-"] {
        assert!(serial.contains(want), "the console lacks `{want}`");
    }
    if kind == Bmc::Redfish {
        assert!(serial.contains("-byte qcow2 image to "), "the agent did not write the image as qcow2:\n{serial}");
    }
}
