//! Seed 000's provisioner-os-install flow, end to end, on a real machine
//! (QEMU, TCG, BIOS) that network-boots from Fulcrum, with its race gone.
//!
//! Same segment as `tests/qemu_boot.rs`: a network namespace with a bridge
//! `br0` (10.77.0.1/24) and a tap, `fulcrum serve` inside it, and QEMU on
//! the tap, here with a 16 MiB raw disk on virtio-blk. The guest goes
//! through three boots:
//!
//! 1. unknown machine: iPXE -> discovery bootenv -> Fulcrum's discovery
//!    image (built by `fulcrum image build discovery`), whose agent
//!    registers it (`POST /api/v1/discover`, alive) and waits; the
//!    `system` deployment's `fulcrum-discovered` role runs once.
//! 2. The test gives the node a power driver (`command`: a shell command
//!    that snapshots the node and its boot script as the server sees them
//!    at that moment and then drops a marker file), creates the bootenv
//!    `installer` (tests/fixtures/qemu/installer-init, a busybox initrd),
//!    a deployment `os` with `os = "installer"`, binds
//!    `provisioner-os-install` to the node and commits. The annealer runs
//!    the role; its on_active hook sets the bootenv and marks the node not
//!    alive in ONE transaction (a watcher polling the node during the
//!    commit never sees one change without the other), and only after that
//!    commit the power driver is called: its snapshot already shows
//!    bootenv `installer`, alive false and the installer's boot script.
//!    The test then presses the VM's reset button (QMP `system_reset`), so
//!    the reboot provably follows the commit (the agent, which learns of
//!    the new bootenv only from the committed state, may reboot the machine
//!    itself first: also after the commit). iPXE boots the installer;
//!    it writes a boot sector, an install marker and a first-boot config
//!    (with the node's token) to /dev/vda, calls back
//!    `POST /api/v1/nodes/NODE/installed` (with the node's token) and reboots
//!    itself (`reboot -f`).
//! 3. DHCP gives iPXE no boot file (bootenv `local`), SeaBIOS falls
//!    through to the disk, and the installed boot sector prints its line
//!    on the serial port. That "OS" cannot speak HTTP, so the test makes
//!    its first-boot callback for it (`POST /api/v1/nodes/NODE/alive` with
//!    the token the installer wrote to the disk). Then the destructive
//!    os-install noderole is run once more as `skipped` and goes ACTIVE,
//!    and `fulcrum-discovered` runs again (a second `succeeded` run, after
//!    the callback). No run happens while the node is not alive.
//!
//! Every wait is bounded (180 s per boot); QEMU (killed by PID), the
//! server, the namespace and the temp dirs go on drop. The serial log of a
//! passing run is kept in `target/qemu-assets/last-os-install-serial.log`.

use std::net::Ipv4Addr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crate::harness::qemu::{
    assets_cache, build_assets, discovery_image, image_banner, ipxe_fetched, marker, nanos_now, script_renders,
    wait_guest, Qemu,
};
use crate::harness::{curl, run, Netns, Server};
use serde_json::{json, Value};

/// The guest's NIC (not qemu_boot's, so the logs never mix them up).
const MAC: &str = "52:54:00:fc:00:02";
/// The name `/api/v1/discover` gives it on the `boot` network.
const NODE: &str = "d52-54-00-fc-00-02.qemu.test";
/// Fulcrum inside the namespace: the boot listener machines use...
const BOOT: &str = "http://10.77.0.1:8080";
/// ...and the operator API (the harness puts it on port 8443).
const OPS: &str = "https://10.77.0.1:8443";
/// From the commit to the power driver's call (a noop jig): seconds.
const REBOOT_LIMIT: Duration = Duration::from_secs(60);
/// The guest's disk.
const DISK_BYTES: u64 = 16 << 20;

#[test]
fn qemu_os_install_flow_end_to_end() {
    if !crate::harness::qemu::prerequisites("qemu_os_install", &["date"]) {
        return;
    }
    let t0 = Instant::now();
    let phase = |what: &str| eprintln!("[qemu_os_install {:>5.1}s] {what}", t0.elapsed().as_secs_f64());

    // ---- the boot segment: br0 with the server address, tap0 for QEMU ----
    let ns = crate::harness::qemu::boot_segment("qemuos");

    // ---- boot files (discovery and installer initrds), then the server ----
    let dir = tempfile::tempdir().expect("server tempdir");
    let build = format!("qemu-os-install-{}-{}", std::process::id(), nanos_now());
    let (_, manifest) = discovery_image(&dir.path().join("files/discovery"));
    build_assets(&dir.path().join("files/installer"), &build, "installer-init");
    phase("boot files ready");
    let server =
        Server::start_in(dir, crate::harness::qemu::SERVER_CONFIG, "10.77.0.1:8080".parse().expect("addr"), Some(&ns));
    let api =
        |method: &str, path: &str, body: Option<Value>| curl(Some(&ns), method, &format!("{OPS}{path}"), body.as_ref());
    let (code, body) = api(
        "POST",
        "/api/v1/networks",
        Some(json!({
            "name": "boot", "subnet": "10.77.0.0/24", "router": "10.77.0.1", "server": "10.77.0.1",
            "static": {"start": "10.77.0.10", "end": "10.77.0.99"},
            "dynamic": {"start": "10.77.0.100", "end": "10.77.0.200"},
            "domain": "qemu.test", "interface": "br0"
        })),
    );
    assert_eq!(code, 201, "create network: {body}");

    // ---- the machine: network first, then its (blank) disk ----
    let vm_dir = tempfile::tempdir().expect("vm tempdir");
    let disk = vm_dir.path().join("disk.img");
    std::fs::File::create(&disk).and_then(|f| f.set_len(DISK_BYTES)).expect("create the guest disk");
    let mut vm = Qemu::netboot_bios_with_disk(&ns, vm_dir.path(), "tap0", MAC, Some(&disk));
    let serial_log = vm.serial.clone();
    let diag = |vm: &Qemu| format!("{}\n--- server log ---\n{}", vm.diagnostics(), server.log_text());

    // ================= boot 1: discovery =================
    phase("QEMU started; waiting for boot 1 (discovery)");
    wait_guest(&mut vm, &server, "the guest to register through /api/v1/discover", || {
        let (code, node) = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
        (code == 200 && node["alive"] == true).then_some(())
    });
    let serial1 = wait_guest(&mut vm, &server, "the agent's registration on the console", || {
        let s = serial_from(&serial_log, 0);
        s.contains(&format!("fulcrum-agent: registered as {NODE} (new)")).then_some(s)
    });
    assert!(serial1.contains(&image_banner(&manifest)), "not this run's discovery image:\n{}", diag(&vm));
    assert!(serial1.contains("Fulcrum: booting discovery"), "boot 1 did not run the discovery script:\n{}", diag(&vm));

    // The system deployment's discovery role runs on the new, alive node.
    wait_guest(&mut vm, &server, "fulcrum-discovered to run on the new node", || {
        (outcomes(&ns, "fulcrum-discovered") == ["succeeded"]).then_some(())
    });
    let (_, node) = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert!(node["bootenv"] == "discovery" && node["alive"] == true, "node after boot 1: {node}");
    let static_ip: Ipv4Addr = node["ipv4"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("discovered node has no IPv4 address: {node}"));
    phase(&format!("boot 1 done: {NODE} registered at {static_ip}, fulcrum-discovered ran"));

    // ================= the os-install deployment =================
    // The power driver: runs on the admin side (in the server's namespace,
    // as the server) after the commit that asked for the reboot. It records
    // what the server answers at that moment, then drops the marker the
    // test waits for before it resets the VM.
    let power_dir = tempfile::tempdir().expect("power tempdir");
    let pd = power_dir.path().display();
    let admin = server.token();
    let cert = server.cert().display().to_string();
    let power_cmd = format!(
        "t=$(date +%s%3N); \
         curl -sS -m 5 --cacert {cert} -H 'Authorization: Bearer {admin}' -o {pd}/node.json \"{OPS}/api/v1/nodes/$FULCRUM_NODE\"; \
         curl -sS -m 5 -o {pd}/script.ipxe '{BOOT}/boot/ipxe?mac={MAC}'; \
         echo \"$t $FULCRUM_POWER_ACTION $FULCRUM_NODE $FULCRUM_NODE_IP\" > {pd}/reboot.tmp && \
         mv {pd}/reboot.tmp {pd}/reboot"
    );
    let (code, n) = api(
        "PATCH",
        &format!("/api/v1/nodes/{NODE}"),
        Some(json!({"power": {"driver": "command", "command": power_cmd}})),
    );
    assert_eq!(code, 200, "PATCH power: {n}");
    let (code, b) = api(
        "POST",
        "/api/v1/bootenvs",
        Some(json!({
            "name": "installer", "os": "test", "kernel": "discovery/vmlinuz", "initrds": ["installer/initrd.img"],
            "kernel_params": "console=tty0 console=ttyS0 fulcrum.api={{ server }} fulcrum.mac={{ mac }} \
                              fulcrum.node={{ node.name }} fulcrum.token={{ node.token }}"
        })),
    );
    assert_eq!(code, 201, "create bootenv installer: {b}");
    let (code, d) = api("POST", "/api/v1/deployments", Some(json!({"name": "os", "attribs": {"os": "installer"}})));
    assert_eq!(code, 201, "create deployment os: {d}");
    let (code, nr) = api(
        "POST",
        "/api/v1/noderoles",
        Some(json!({"deployment": "os", "role": "provisioner-os-install", "node": NODE})),
    );
    assert!(code == 201 && nr["state"] == "proposed", "bind provisioner-os-install: {code} {nr}");
    // Proposed: nothing runs, nothing changes for the machine yet.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(outcomes(&ns, "provisioner-os-install"), Vec::<String>::new(), "a proposed noderole ran");
    assert!(boot_script(&ns).contains("Fulcrum: booting discovery"), "bootenv changed before the commit");

    // Commit, with a watcher sampling the node as clients see it: the
    // bootenv change and the death must appear together.
    // The console up to the commit: one boot, the discovery image's.
    let serial_before_commit = serial_from(&serial_log, 0);
    let stop = AtomicBool::new(false);
    let taken = AtomicUsize::new(0);
    let reboot_file = power_dir.path().join("reboot");
    let (samples, commit_ms, reboot_line) = std::thread::scope(|s| {
        let watcher = s.spawn(|| {
            let mut seen: Vec<(String, bool)> = Vec::new();
            loop {
                // One last sample is taken after `stop`: it started after
                // the reboot request was seen.
                let last = stop.load(Ordering::SeqCst);
                let (code, n) = curl(Some(&ns), "GET", &format!("{OPS}/api/v1/nodes/{NODE}"), None);
                if code == 200 {
                    seen.push((n["bootenv"].as_str().unwrap_or("?").to_string(), n["alive"] == true));
                    taken.fetch_add(1, Ordering::SeqCst);
                }
                if last {
                    return seen;
                }
            }
        });
        // A "before" sample first.
        let start = Instant::now();
        while taken.load(Ordering::SeqCst) == 0 && start.elapsed() < Duration::from_secs(20) {
            std::thread::sleep(Duration::from_millis(10));
        }
        let commit_ms = now_ms();
        let (code, c) = api("POST", "/api/v1/deployments/os/commit", None);
        let line = if (200..300).contains(&code) {
            phase("deployment os committed; waiting for the power driver");
            let start = Instant::now();
            loop {
                if let Ok(line) = std::fs::read_to_string(&reboot_file) {
                    break Ok(line);
                }
                if start.elapsed() > REBOOT_LIMIT {
                    break Err(format!("no reboot request within {REBOOT_LIMIT:?} of the commit"));
                }
                std::thread::sleep(Duration::from_millis(20));
            }
        } else {
            Err(format!("commit: {code} {c}"))
        };
        stop.store(true, Ordering::SeqCst);
        (watcher.join().expect("watcher thread"), commit_ms, line)
    });
    let reboot_line = reboot_line.unwrap_or_else(|e| panic!("{e}\n{}", diag(&vm)));
    phase(&format!("power driver called: {}", reboot_line.trim()));

    // --- the moment the reboot was requested ---
    // What the power driver itself saw, from the server, when it ran.
    let fields: Vec<&str> = reboot_line.split_whitespace().collect();
    assert_eq!(
        fields.get(1..).map(|f| f.join(" ")),
        Some(format!("reboot {NODE} {static_ip}")),
        "power driver's environment: {reboot_line}"
    );
    let reboot_ms: u64 = fields[0].parse().unwrap_or_else(|_| panic!("power driver time: {reboot_line}"));
    let at_reboot: Value =
        serde_json::from_str(&std::fs::read_to_string(power_dir.path().join("node.json")).unwrap_or_default())
            .unwrap_or(Value::Null);
    assert!(
        at_reboot["bootenv"] == "installer" && at_reboot["alive"] == false,
        "the power driver ran before the server showed bootenv installer + not alive: {at_reboot}"
    );
    let script_at_reboot = std::fs::read_to_string(power_dir.path().join("script.ipxe")).unwrap_or_default();
    assert!(
        script_at_reboot.contains("Fulcrum: booting installer")
            && script_at_reboot.contains(&format!("fulcrum.node={NODE} fulcrum.token=")),
        "the power driver ran before the boot script was the installer's:\n{script_at_reboot}"
    );
    // The node's token, as the installer is handed it (deploying issued a
    // new one): what it must write to the disk and report back with.
    let token = marker(&script_at_reboot, "fulcrum.token=")
        .and_then(|t| t.split_whitespace().next().map(str::to_string))
        .unwrap_or_default();
    assert!(token.len() >= 16, "the installer's token: {token:?}");
    // And what the test sees now, before it touches the machine.
    let (_, node) = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert!(node["bootenv"] == "installer" && node["alive"] == false, "node at the reboot: {node}");
    let script = boot_script(&ns);
    assert!(script.contains("Fulcrum: booting installer"), "boot script at the reboot:\n{script}");
    assert!(script.contains(&format!("{BOOT}/boot/files/installer/initrd.img")), "installer script:\n{script}");
    // The role ran once (noop jig) and ended before the power driver ran;
    // the node's death took its noderoles back to TODO in that transaction.
    let os_runs = runs_of(&ns, "provisioner-os-install");
    assert_eq!(os_runs.len(), 1, "os-install runs: {os_runs:?}");
    assert_eq!(os_runs[0]["outcome"], "succeeded", "os-install run: {}", os_runs[0]);
    let ended = os_runs[0]["ended_ms"].as_u64().unwrap_or(u64::MAX);
    assert!(
        commit_ms <= ended && ended <= reboot_ms,
        "order: commit {commit_ms} <= os-install run end {ended} <= reboot request {reboot_ms}"
    );
    assert_eq!(noderole(&ns, "provisioner-os-install")["state"], "todo", "os-install noderole after the node died");
    assert_eq!(noderole(&ns, "fulcrum-discovered")["state"], "todo", "discovery noderole after the node died");
    assert_eq!(outcomes(&ns, "fulcrum-discovered"), ["succeeded"], "discovery must not run on a dead node");
    // One transaction: no client ever saw the bootenv change without the
    // death, or the death without the bootenv change.
    let torn: Vec<&(String, bool)> = samples
        .iter()
        .filter(|(env, alive)| (env == "installer" && *alive) || (env == "discovery" && !*alive))
        .collect();
    assert!(torn.is_empty(), "half-applied on_active seen by a client: {torn:?} (of {} samples)", samples.len());
    assert_eq!(samples.first().map(|(e, a)| (e.as_str(), *a)), Some(("discovery", true)), "first sample");
    assert_eq!(samples.last().map(|(e, a)| (e.as_str(), *a)), Some(("installer", false)), "last sample");
    assert!(
        server.log_text().lines().any(|l| l.contains("rebooted after commit") && l.contains(NODE)),
        "the server did not log the post-commit reboot:\n{}",
        server.log_text()
    );
    // Nothing rebooted the machine before the commit: the agent waited in
    // the discovery bootenv (after it, the agent may reboot it itself).
    let serial_at_reset = serial_len(&serial_log);
    let before_commit = serial_before_commit.matches("Booting from ROM").count();
    assert_eq!(before_commit, 1, "the guest rebooted before the commit");
    phase(&format!(
        "reboot requested {} ms after the commit ({} watcher samples)",
        reboot_ms - commit_ms,
        samples.len()
    ));

    // ================= boot 2: the installer =================
    let log_at_reset = server.log_text().len();
    vm.reset();
    phase("VM reset; waiting for boot 2 (installer)");
    let serial2 = wait_guest(&mut vm, &server, "the installer to finish and reboot", || {
        let s = serial_from(&serial_log, serial_at_reset);
        let failed = s.lines().find(|l| l.contains("FULCRUM-INSTALLER: FAILED")).map(str::to_string);
        assert!(failed.is_none(), "installer: {}\n--- boot 2 serial ---\n{s}", failed.unwrap_or_default());
        s.contains("FULCRUM-INSTALLER: installed; rebooting").then_some(s)
    });
    let serial2_len = serial2.find("FULCRUM-INSTALLER: installed; rebooting").unwrap_or(0);
    let boot2 = &serial2[..serial2_len];
    // iPXE's first script after the reset is already the installer's.
    assert!(
        boot2.contains("Fulcrum: booting installer") && !boot2.contains("Fulcrum: booting discovery"),
        "boot 2 did not go straight to the installer:\n{}",
        diag(&vm)
    );
    for want in [
        format!("net0: {static_ip}/255.255.255.0 gw 10.77.0.1"),
        format!("FULCRUM-INSTALLER: token={build}"),
        format!("FULCRUM-INSTALLER: api={BOOT} mac={MAC} node={NODE}"),
        "FULCRUM-INSTALLER: wrote 1536 bytes to /dev/vda".to_string(),
        format!("bound eth0 {static_ip}/"),
        "FULCRUM-INSTALLER: bootenv local: HTTP/1.1 200".to_string(),
    ] {
        assert!(boot2.contains(&want), "boot 2 lacks `{want}`:\n{}", diag(&vm));
    }
    for file in ["discovery/vmlinuz", "installer/initrd.img"] {
        let url = format!("{BOOT}/boot/files/{file}");
        assert!(ipxe_fetched(boot2, &url), "boot 2 did not download {url}:\n{}", diag(&vm));
    }
    let cmdline2 = marker(boot2, "FULCRUM-INSTALLER: cmdline=").unwrap_or_default();
    assert!(
        cmdline2.contains(&format!("fulcrum.node={NODE} fulcrum.token={token}")),
        "installer command line: {cmdline2:?}"
    );
    assert!(script_renders(&server.log_text()[log_at_reset..], MAC) >= 1, "no script fetched in boot 2");
    let (_, node) = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert!(node["bootenv"] == "local" && node["alive"] == false, "node after the installer: {node}");
    phase("boot 2 done: installer wrote the disk, set bootenv local, rebooted");

    // ================= boot 3: from the disk =================
    let serial_at_boot3 = serial_at_reset + serial2_len;
    let log_at_boot3 = server.log_text().len();
    let os_line = format!("FULCRUM-OS: booted from disk, installed for {NODE}");
    let serial3 = wait_guest(&mut vm, &server, "the installed boot sector's line on the serial port", || {
        let s = serial_from(&serial_log, serial_at_boot3);
        s.contains(&os_line).then_some(s)
    });
    // iPXE got an address and no boot file, so SeaBIOS went on to the disk.
    for want in [format!("net0: {static_ip}/255.255.255.0"), "Nothing to boot".into(), "Booting from Hard Disk".into()]
    {
        assert!(serial3.contains(&want), "boot 3 lacks `{want}`:\n{}", diag(&vm));
    }
    assert!(
        !serial3.contains("Filename:") && !serial3.contains("Fulcrum: booting"),
        "boot 3 was given a boot file:\n{}",
        diag(&vm)
    );
    assert_eq!(script_renders(&server.log_text()[log_at_boot3..], MAC), 0, "boot 3 fetched a boot script");
    phase("boot 3: SeaBIOS booted the installed disk");

    // What the installer left on the disk (synced and read back before it
    // rebooted): boot sector, marker, first-boot config with the token.
    let image = std::fs::read(&disk).expect("read the guest disk");
    let firstboot = installed(&image).unwrap_or_else(|e| panic!("disk after the install: {e}"));
    let disk_token = firstboot
        .split_whitespace()
        .find_map(|w| w.strip_prefix("token="))
        .unwrap_or_else(|| panic!("first-boot config without a token: {firstboot:?}"));
    assert_eq!(disk_token, token, "the installer's token is not the node's");
    assert!(firstboot.contains(&format!("node={NODE}")), "first-boot config: {firstboot:?}");

    // Nothing ran while the node was down.
    assert_eq!(outcomes(&ns, "provisioner-os-install"), ["succeeded"], "os-install ran while the node was down");
    assert_eq!(outcomes(&ns, "fulcrum-discovered"), ["succeeded"], "discovery ran while the node was down");

    // The installed OS's first-boot callback. The boot sector cannot speak
    // HTTP, so the test makes this call on its behalf, with the token the
    // installer wrote to the disk, as the installed system would.
    let (code, body) = report_alive(&ns, "not-the-token");
    assert_eq!(code, 403, "alive with a wrong token: {body}");
    let alive_ms = now_ms();
    let (code, body) = report_alive(&ns, disk_token);
    assert!(code == 200 && body["alive"] == true, "alive with the node's token: {code} {body}");

    // The node's roles converge again.
    for dep in ["os", "system"] {
        wait_guest(&mut vm, &server, &format!("deployment {dep} to finish annealing"), || {
            (api("GET", &format!("/api/v1/anneal?deployment={dep}"), None).0 == 200).then_some(())
        });
    }
    let os_runs = runs_of(&ns, "provisioner-os-install");
    let os_outcomes: Vec<&str> = os_runs.iter().map(|r| r["outcome"].as_str().unwrap_or("?")).collect();
    assert_eq!(os_outcomes, ["succeeded", "skipped"], "destructive role after the node came back: {os_runs:?}");
    assert!(os_runs[1]["started_ms"].as_u64().unwrap_or(0) >= alive_ms, "os-install re-ran before the callback");
    let disc_runs = runs_of(&ns, "fulcrum-discovered");
    let disc_outcomes: Vec<&str> = disc_runs.iter().map(|r| r["outcome"].as_str().unwrap_or("?")).collect();
    assert_eq!(disc_outcomes, ["succeeded", "succeeded"], "discovery roles must run again: {disc_runs:?}");
    assert!(disc_runs[1]["started_ms"].as_u64().unwrap_or(0) >= alive_ms, "discovery re-ran before the callback");
    let nr = noderole(&ns, "provisioner-os-install");
    assert!(nr["state"] == "active" && nr["run_count"] == 2, "os-install noderole at the end: {nr}");
    assert_eq!(noderole(&ns, "fulcrum-discovered")["state"], "active", "discovery noderole at the end");
    // The second activation of the destructive role did not fire its hooks
    // again: no second install, no second reboot.
    let (_, node) = api("GET", &format!("/api/v1/nodes/{NODE}"), None);
    assert!(node["bootenv"] == "local" && node["alive"] == true, "node at the end: {node}");
    assert_eq!(server.log_text().matches("rebooted after commit").count(), 1, "more than one reboot was issued");
    vm.assert_running();

    // Stop the machine; the install is on the disk image for good.
    vm.stop();
    let image = std::fs::read(&disk).expect("read the guest disk");
    installed(&image).unwrap_or_else(|e| panic!("disk after QEMU stopped: {e}"));
    phase("done: installed, local boot, alive again, os-install skipped, discovery re-ran");
    let kept = assets_cache().join("last-os-install-serial.log");
    if std::fs::copy(&serial_log, &kept).is_ok() {
        eprintln!("[qemu_os_install] guest serial log kept in {}", kept.display());
    }
}

/// Checks the three sectors the installer writes and returns the first-boot
/// config line.
fn installed(image: &[u8]) -> Result<String, String> {
    if image.len() < 1536 {
        return Err(format!("image is {} bytes", image.len()));
    }
    if image[510..512] != [0x55, 0xaa] {
        return Err(format!("sector 0 is not a boot sector: ends {:02x?}", &image[510..512]));
    }
    let sector = |i: usize| {
        let s = &image[i * 512..(i + 1) * 512];
        let end = s.iter().position(|&b| b == 0).unwrap_or(s.len());
        String::from_utf8_lossy(&s[..end]).trim_end().to_string()
    };
    let mbr = String::from_utf8_lossy(&image[..510]).into_owned();
    if !mbr.contains(&format!("FULCRUM-OS: booted from disk, installed for {NODE}")) {
        return Err("sector 0 lacks the installed system's message".into());
    }
    let marker = sector(1);
    if marker != format!("FULCRUM-INSTALLED {NODE}") {
        return Err(format!("sector 1 is {marker:?}"));
    }
    let firstboot = sector(2);
    if !firstboot.starts_with("FULCRUM-FIRSTBOOT ") {
        return Err(format!("sector 2 is {firstboot:?}"));
    }
    Ok(firstboot)
}

/// `POST /api/v1/nodes/NODE/alive` with `Authorization: Bearer token`.
fn report_alive(ns: &Netns, token: &str) -> (u16, Value) {
    let out = run(ns.cmd("curl").args([
        "-sS",
        "-m",
        "10",
        "-X",
        "POST",
        "-H",
        &format!("Authorization: Bearer {token}"),
        "-w",
        "\n%{http_code}",
        &format!("{BOOT}/api/v1/nodes/{NODE}/alive"),
    ]));
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    let (body, code) = text.rsplit_once('\n').unwrap_or(("", text.as_str()));
    let code: u16 = code.trim().parse().unwrap_or_else(|_| panic!("curl gave no status: {text}"));
    (code, serde_json::from_str(body).unwrap_or_else(|_| Value::String(body.to_string())))
}

/// The iPXE script the machine would get now.
fn boot_script(ns: &Netns) -> String {
    let (code, s) = curl(Some(ns), "GET", &format!("{BOOT}/boot/ipxe?mac={MAC}"), None);
    let s = s.as_str().unwrap_or_default().to_string();
    assert_eq!(code, 200, "boot script: {s}");
    s
}

/// The node's runs of `role`, oldest first.
fn runs_of(ns: &Netns, role: &str) -> Vec<Value> {
    let (code, runs) = curl(Some(ns), "GET", &format!("{OPS}/api/v1/runs?node={NODE}&brief=true"), None);
    assert_eq!(code, 200, "GET runs: {runs}");
    let mut mine: Vec<Value> = runs.as_array().into_iter().flatten().filter(|r| r["role"] == role).cloned().collect();
    mine.sort_by_key(|r| r["id"].as_u64().unwrap_or(0));
    mine
}

/// The outcomes of the node's runs of `role`, oldest first.
fn outcomes(ns: &Netns, role: &str) -> Vec<String> {
    runs_of(ns, role).iter().map(|r| r["outcome"].as_str().unwrap_or("?").to_string()).collect()
}

/// The node's one noderole of `role`.
fn noderole(ns: &Netns, role: &str) -> Value {
    let (code, list) = curl(Some(ns), "GET", &format!("{OPS}/api/v1/noderoles?node={NODE}&role={role}"), None);
    assert_eq!(code, 200, "GET noderoles: {list}");
    let all = list.as_array().cloned().unwrap_or_default();
    assert_eq!(all.len(), 1, "noderoles of {role} on {NODE}: {list}");
    all[0].clone()
}

fn now_ms() -> u64 {
    (nanos_now() / 1_000_000) as u64
}

/// Bytes the guest has written to its serial port so far.
fn serial_len(path: &Path) -> usize {
    std::fs::metadata(path).map(|m| m.len() as usize).unwrap_or(0)
}

/// The guest's serial output from byte `from` on.
fn serial_from(path: &Path, from: usize) -> String {
    let bytes = std::fs::read(path).unwrap_or_default();
    String::from_utf8_lossy(bytes.get(from..).unwrap_or_default()).into_owned()
}
