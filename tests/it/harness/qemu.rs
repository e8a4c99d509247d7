//! A QEMU guest that network-boots from a tap device inside a test's
//! network namespace: TCG only (KVM hangs guests on these machines), the
//! serial port written to a file the test reads, and a QMP socket so the
//! test can reset the machine. The QEMU process is killed by its PID on
//! drop.

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Stdio};
use std::time::{Duration, Instant};

use super::Netns;

/// Debian's (ipxe-qemu) iPXE option ROM for virtio-net, which QEMU loads
/// by default (`romfile=efi-virtio.rom` on its firmware path); the "efi-"
/// ROMs carry both the BIOS and the UEFI image. Do not pass `romfile=`
/// explicitly: with any explicit value QEMU 7.2 (Debian 12) leaves the
/// ROM out of SeaBIOS's boot list and the machine never network-boots.
pub const VIRTIO_ROM: &str = "/usr/lib/ipxe/qemu/efi-virtio.rom";

/// Debian's OVMF (package `ovmf`): UEFI firmware for q35 guests.
pub const OVMF_DIR: &str = "/usr/share/OVMF";

/// Fulcrum's config on the boot segment: every service on the bridge
/// `br0`, the loaders from Debian's ipxe package, boot files in the
/// test's dir.
pub const SERVER_CONFIG: &str = r#"
data_dir = "{dir}/data"
[http]
listen = "0.0.0.0:8080"
[dhcp]
listen4 = "0.0.0.0:67"
interfaces = ["br0"]
[tftp]
listen = "0.0.0.0:69"
root = "/usr/lib/ipxe"
[boot]
files_dir = "{dir}/files"
[power]
allow_commands = true
"#;

/// [`SERVER_CONFIG`] with `bootenv` as the discovery bootenv (a test's own,
/// whose agent listens for LLDP and polls on the test's schedule).
pub fn server_config_with_discovery(bootenv: &str) -> String {
    SERVER_CONFIG.replace("[boot]\n", &format!("[boot]\ndiscovery_bootenv = \"{bootenv}\"\n"))
}

/// Prerequisites of a QEMU test: root, the tools, and the NIC's iPXE ROM
/// (FAIL under CI when missing, skip elsewhere). `extra` names tools this
/// test needs beyond what every QEMU test does.
pub fn prerequisites(test: &str, extra: &[&str]) -> bool {
    let common =
        ["ip", "qemu-system-x86_64", "curl", "busybox", "cpio", "gzip", "flock", "dpkg", "apt-get", "apt-cache"];
    let tools: Vec<&str> = common.iter().chain(extra).copied().collect();
    if !super::prerequisites(test, true, &tools) {
        return false;
    }
    if !Path::new(VIRTIO_ROM).is_file() {
        let msg = format!("{test}: missing {VIRTIO_ROM} (Debian package ipxe-qemu)");
        assert!(!super::in_ci(), "{msg}");
        eprintln!("SKIPPED {msg}");
        return false;
    }
    true
}

/// OVMF's switches that turn its PXE boot off (HTTP boot stays on).
fn no_pxe() -> Vec<String> {
    ["IPv4PXESupport", "IPv6PXESupport"]
        .into_iter()
        .flat_map(|k| ["-fw_cfg".to_string(), format!("name=opt/org.tianocore/{k},string=n")])
        .collect()
}

/// The boot segment: a namespace with bridge `br0` = 10.77.0.1/24 (no STP,
/// no forward delay) and the persistent tap `tap0` on it for QEMU.
pub fn boot_segment(tag: &str) -> Netns {
    let ns = Netns::new(tag);
    ns.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "br0"]);
    ns.ip(&["tuntap", "add", "dev", "tap0", "mode", "tap"]);
    ns.ip(&["link", "set", "tap0", "master", "br0"]);
    ns.ip(&["link", "set", "tap0", "up"]);
    ns.ip(&["link", "set", "br0", "up"]);
    ns
}

/// Whether iPXE's console output in `serial` shows a completed download of
/// `url`: a line `URL... ok`, where iPXE may have printed progress between
/// the dots and the `ok` (`URL... 52%     ok`) when the download took more
/// than a moment, as it does on a loaded machine under TCG.
pub fn ipxe_fetched(serial: &str, url: &str) -> bool {
    let start = format!("{url}...");
    serial.lines().any(|l| {
        let l = l.trim_end();
        l.split_once(&start).is_some_and(|(_, rest)| rest.ends_with("ok") && !rest.contains(" http"))
    })
}

/// Held by the running guest: one VM at a time in the whole suite (TCG
/// on two cores is slow enough with one).
static VM_SLOT: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// The suite's one VM turn, for a test whose guests a script starts
/// (`iso/check`): held while they run.
pub fn vm_slot() -> std::sync::MutexGuard<'static, ()> {
    VM_SLOT.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// [`uefi_prerequisites`], and OVMF's Secure Boot build and variables.
pub fn secure_boot_prerequisites(test: &str) -> bool {
    if !uefi_prerequisites(test) {
        return false;
    }
    for f in ["OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"] {
        let path = Path::new(OVMF_DIR).join(f);
        if !path.is_file() {
            let msg = format!("{test}: missing {} (Debian package ovmf)", path.display());
            assert!(!super::in_ci(), "{msg}");
            eprintln!("SKIPPED {msg}");
            return false;
        }
    }
    true
}

/// [`prerequisites`], and OVMF for a UEFI guest.
pub fn uefi_prerequisites(test: &str) -> bool {
    if !prerequisites(test, &[]) {
        return false;
    }
    let code = Path::new(OVMF_DIR).join("OVMF_CODE_4M.fd");
    if !code.is_file() {
        let msg = format!("{test}: missing {} (Debian package ovmf)", code.display());
        assert!(!super::in_ci(), "{msg}");
        eprintln!("SKIPPED {msg}");
        return false;
    }
    true
}

/// A running guest.
pub struct Qemu {
    child: Option<Child>,
    /// This guest's turn; the next one starts when it is dropped.
    _slot: std::sync::MutexGuard<'static, ()>,
    /// Everything the guest wrote to its first serial port (SeaBIOS, iPXE
    /// and Linux all print there), across resets.
    pub serial: PathBuf,
    /// QEMU's own stdout and stderr.
    pub output: PathBuf,
    qmp: PathBuf,
}

impl Qemu {
    /// Starts a BIOS machine (`-machine pc`, SeaBIOS) inside `ns` that
    /// boots from the network only, with one virtio-net NIC with `mac` on
    /// the persistent tap `tap`. Its files (serial log, QEMU output, QMP
    /// socket) go to `dir`.
    pub fn netboot_bios(ns: &Netns, dir: &Path, tap: &str, mac: &str) -> Qemu {
        Self::netboot_bios_with_disk(ns, dir, tap, mac, None)
    }

    /// Starts an x64 UEFI machine (`-machine q35`, Debian's OVMF with a
    /// fresh copy of its variables) inside `ns`, with one virtio-net NIC
    /// without option ROM (`romfile=`), so that OVMF's own PXE stack
    /// network-boots it, and, given `esp` (a directory, shown to the guest
    /// as a FAT disk by QEMU's vvfat, read-only), that disk as the boot
    /// entry after the NIC's (`bootindex`).
    pub fn netboot_uefi_with_esp(ns: &Netns, dir: &Path, tap: &str, mac: &str, esp: Option<&Path>) -> Qemu {
        Self::netboot_uefi(ns, dir, tap, mac, esp, &[])
    }

    /// An x64 UEFI machine whose firmware network-boots by UEFI HTTP boot
    /// alone: OVMF's PXE is turned off through fw_cfg
    /// (`opt/org.tianocore/IPv4PXESupport` and `IPv6PXESupport` = `n`), so
    /// its first boot entry is "UEFI HTTPv4".
    pub fn netboot_uefi_http(ns: &Netns, dir: &Path, tap: &str, mac: &str) -> Qemu {
        Self::netboot_uefi(ns, dir, tap, mac, None, &no_pxe())
    }

    fn netboot_uefi(ns: &Netns, dir: &Path, tap: &str, mac: &str, esp: Option<&Path>, extra: &[String]) -> Qemu {
        let mut machine = vec!["-machine".to_string(), "q35".to_string()];
        machine.extend(ovmf(dir, "OVMF_CODE_4M.fd", "OVMF_VARS_4M.fd"));
        machine.extend_from_slice(extra);
        let mut nic = format!("virtio-net-pci,netdev=n0,mac={mac},romfile=");
        if let Some(esp) = esp {
            nic.push_str(",bootindex=1");
            machine.extend(esp_disk(esp));
        }
        Self::start(ns, dir, &machine, &nic, tap, None)
    }

    /// Starts an x64 UEFI machine with Secure Boot on: Debian's OVMF built
    /// for it (SMM, `OVMF_CODE_4M.secboot.fd`) and a fresh copy of the
    /// variables with Microsoft's keys enrolled (`OVMF_VARS_4M.ms.fd`), so
    /// the firmware runs only what those keys signed (shim). No option ROM:
    /// OVMF's own PXE stack network-boots it.
    pub fn netboot_uefi_secure_boot(ns: &Netns, dir: &Path, tap: &str, mac: &str, esp: Option<&Path>) -> Qemu {
        Self::secure_boot(ns, dir, tap, mac, esp, &[])
    }

    /// [`Qemu::netboot_uefi_secure_boot`] with PXE off: the firmware
    /// network-boots by UEFI HTTP boot only.
    pub fn netboot_uefi_http_secure_boot(ns: &Netns, dir: &Path, tap: &str, mac: &str, esp: Option<&Path>) -> Qemu {
        Self::secure_boot(ns, dir, tap, mac, esp, &no_pxe())
    }

    fn secure_boot(ns: &Netns, dir: &Path, tap: &str, mac: &str, esp: Option<&Path>, extra: &[String]) -> Qemu {
        let mut machine = vec![
            "-machine".to_string(),
            "q35,smm=on".to_string(),
            "-global".to_string(),
            "driver=cfi.pflash01,property=secure,value=on".to_string(),
        ];
        machine.extend(ovmf(dir, "OVMF_CODE_4M.secboot.fd", "OVMF_VARS_4M.ms.fd"));
        machine.extend_from_slice(extra);
        let mut nic = format!("virtio-net-pci,netdev=n0,mac={mac},romfile=");
        if let Some(esp) = esp {
            nic.push_str(",bootindex=1");
            machine.extend(esp_disk(esp));
        }
        Self::start(ns, dir, &machine, &nic, tap, None)
    }

    /// Like [`Qemu::netboot_bios`], with `disk` (a raw image) attached as
    /// a virtio disk. The network still boots first (`-boot order=n`); when
    /// iPXE gets no boot file, SeaBIOS falls through to the disk.
    pub fn netboot_bios_with_disk(ns: &Netns, dir: &Path, tap: &str, mac: &str, disk: Option<&Path>) -> Qemu {
        // `graphics=off` makes SeaBIOS (and so iPXE) print to the serial
        // port; without a display the guest's VGA output goes nowhere.
        let machine = ["-machine", "pc,graphics=off", "-boot", "order=n"].map(String::from);
        Self::start(ns, dir, &machine, &format!("virtio-net-pci,netdev=n0,mac={mac}"), tap, disk)
    }

    /// Like [`Qemu::netboot_bios`], with more of QEMU's arguments (disks,
    /// NICs, SMBIOS strings) after the boot NIC's. The boot NIC is first
    /// in the boot order (`bootindex=1`): a disk `extra` gives
    /// `bootindex=2` is where SeaBIOS goes when iPXE gets no boot file.
    pub fn netboot_bios_with(ns: &Netns, dir: &Path, tap: &str, mac: &str, extra: &[String]) -> Qemu {
        let mut machine = ["-machine", "pc,graphics=off", "-boot", "order=n"].map(String::from).to_vec();
        machine.extend_from_slice(extra);
        Self::start(ns, dir, &machine, &format!("virtio-net-pci,netdev=n0,mac={mac},bootindex=1"), tap, None)
    }

    /// How QEMU ended, once it has (the guest powered off), or `None`
    /// while it runs.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.as_mut().and_then(|c| c.try_wait().ok().flatten())
    }

    fn start(ns: &Netns, dir: &Path, machine: &[String], nic: &str, tap: &str, disk: Option<&Path>) -> Qemu {
        // A guest whose test failed poisons the slot; the next may still go.
        let slot = VM_SLOT.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let serial = dir.join("serial.log");
        let output = dir.join("qemu.log");
        let qmp = dir.join("qmp.sock");
        let out = std::fs::File::create(&output).expect("create the QEMU output file");
        let mut cmd = ns.cmd("qemu-system-x86_64");
        cmd.args(["-accel", "tcg"])
            .args(machine)
            .args(["-m", "512", "-smp", "1"])
            .args(["-nodefaults", "-no-user-config", "-display", "none", "-vga", "none"])
            .arg("-serial")
            .arg(format!("file:{}", serial.display()))
            .arg("-qmp")
            .arg(format!("unix:{},server=on,wait=off", qmp.display()))
            .arg("-netdev")
            .arg(format!("tap,id=n0,ifname={tap},script=no,downscript=no"))
            .arg("-device")
            .arg(nic);
        if let Some(disk) = disk {
            cmd.arg("-drive").arg(format!("file={},format=raw,if=virtio", disk.display()));
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().expect("dup the QEMU output file")))
            .stderr(Stdio::from(out));
        let child = cmd.spawn().expect("spawn qemu-system-x86_64");
        let mut q = Qemu { child: Some(child), _slot: slot, serial, output, qmp };
        // The QMP socket appears once QEMU has parsed its arguments.
        let start = Instant::now();
        while !q.qmp.exists() {
            q.assert_running();
            assert!(start.elapsed() < Duration::from_secs(20), "QEMU made no QMP socket in 20 s:\n{}", q.diagnostics());
            std::thread::sleep(Duration::from_millis(50));
        }
        q
    }

    /// The serial log so far, as [`console_text`].
    pub fn serial_text(&self) -> String {
        read_console(&self.serial)
    }

    /// Serial log and QEMU output, for failure messages.
    pub fn diagnostics(&self) -> String {
        let out = std::fs::read_to_string(&self.output).unwrap_or_default();
        format!("--- QEMU output ---\n{out}\n--- guest serial log ---\n{}", self.serial_text())
    }

    /// Panics (with the logs) if QEMU has exited.
    pub fn assert_running(&mut self) {
        if let Some(Ok(Some(status))) = self.child.as_mut().map(|c| c.try_wait()) {
            panic!("QEMU exited ({status}):\n{}", self.diagnostics());
        }
    }

    /// Presses the reset button (QMP `system_reset`): the guest reboots
    /// through its firmware, so it network-boots again.
    pub fn reset(&mut self) {
        self.assert_running();
        let reply = self.qmp("system_reset");
        assert!(reply.contains("\"return\""), "QMP system_reset failed: {reply}");
    }

    /// Stops the machine now (kills QEMU by its PID), e.g. to read its disk
    /// image afterwards. Dropping the guard does the same.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Runs one QMP command on a fresh connection and returns its answer
    /// (the first line holding `return` or `error`; events are skipped).
    fn qmp(&self, command: &str) -> String {
        let stream =
            UnixStream::connect(&self.qmp).unwrap_or_else(|e| panic!("connect to QMP {}: {e}", self.qmp.display()));
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("QMP read timeout");
        stream.set_write_timeout(Some(Duration::from_secs(10))).expect("QMP write timeout");
        let mut writer = stream.try_clone().expect("clone the QMP stream");
        let mut reader = BufReader::new(stream);
        let answer = |reader: &mut BufReader<UnixStream>| -> String {
            for _ in 0..100 {
                let mut line = String::new();
                match reader.read_line(&mut line) {
                    Ok(0) => panic!("QMP closed the connection"),
                    Ok(_) if line.contains("\"return\"") || line.contains("\"error\"") || line.contains("\"QMP\"") => {
                        return line;
                    }
                    Ok(_) => continue,
                    Err(e) => panic!("QMP read: {e}"),
                }
            }
            panic!("QMP gave no answer in 100 lines");
        };
        let greeting = answer(&mut reader);
        assert!(greeting.contains("\"QMP\""), "unexpected QMP greeting: {greeting}");
        writer.write_all(b"{\"execute\":\"qmp_capabilities\"}\n").expect("QMP write");
        let caps = answer(&mut reader);
        assert!(caps.contains("\"return\""), "qmp_capabilities failed: {caps}");
        writer.write_all(format!("{{\"execute\":\"{command}\"}}\n").as_bytes()).expect("QMP write");
        answer(&mut reader)
    }
}

impl Drop for Qemu {
    fn drop(&mut self) {
        // `ip netns exec` execs QEMU, so the child's PID is QEMU's own.
        self.stop();
    }
}

/// QEMU's arguments for OVMF's `code` (read-only) and a fresh copy of
/// its `vars` in `dir`, both from Debian's `ovmf`.
fn ovmf(dir: &Path, code: &str, vars: &str) -> [String; 4] {
    let copy = dir.join(vars);
    std::fs::copy(Path::new(OVMF_DIR).join(vars), &copy).expect("copy OVMF's variables");
    [
        "-drive".to_string(),
        format!("if=pflash,format=raw,unit=0,readonly=on,file={}", Path::new(OVMF_DIR).join(code).display()),
        "-drive".to_string(),
        format!("if=pflash,format=raw,unit=1,file={}", copy.display()),
    ]
}

/// QEMU's arguments for `esp` (a directory) as a read-only FAT disk
/// (vvfat), the boot entry after the NIC's.
fn esp_disk(esp: &Path) -> [String; 4] {
    [
        "-drive".to_string(),
        format!("if=none,id=esp,format=raw,readonly=on,file=fat:{}", esp.display()),
        "-device".to_string(),
        "virtio-blk-pci,drive=esp,bootindex=2".to_string(),
    ]
}

/// How long one guest boot may take under TCG.
pub const BOOT_LIMIT: Duration = Duration::from_secs(180);

/// Builds the kernel (cached in `target/qemu-assets`, fetched once) and a
/// fresh initrd with `/init` from `tests/fixtures/qemu/<init>` carrying
/// `token`, into `out`.
pub fn build_assets(out: &Path, token: &str, init: &str) {
    let cache = assets_cache();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qemu/build-assets.sh");
    let o = super::run(std::process::Command::new("sh").arg(&script).arg(&cache).arg(out).arg(token).arg(init));
    eprintln!("[qemu assets] {}", String::from_utf8_lossy(&o.stdout).trim());
}

/// The guest kernel's package, as `build-assets.sh` keeps it (fetched
/// once), for `fulcrum image build discovery --kernel-deb`.
pub fn kernel_deb() -> PathBuf {
    let cache = assets_cache();
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/qemu/build-assets.sh");
    let o = super::run(std::process::Command::new("sh").arg(&script).arg(&cache).arg("--kernel-only"));
    eprintln!("[qemu assets] {}", String::from_utf8_lossy(&o.stdout).trim());
    let deb = assets_cache().join("kernel/kernel.deb");
    assert!(deb.is_file(), "build-assets.sh kept no {}", deb.display());
    deb
}

/// Debian's signed shim and GRUB network image (packages `shim-signed`
/// and `grub-efi-amd64-signed`), fetched once with `apt-get download`
/// and unpacked (not installed: their maintainer scripts would touch the
/// host's boot loader) into `target/qemu-assets/secure-boot/`.
pub fn signed_loaders() -> (PathBuf, PathBuf) {
    static FETCHED: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _one = FETCHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    let dir = assets_cache().join("secure-boot");
    let shim = dir.join("root/usr/lib/shim/shimx64.efi.signed");
    let grub = dir.join("root/usr/lib/grub/x86_64-efi-signed/grubnetx64.efi.signed");
    if !dir.join(".complete").is_file() {
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("make the secure-boot asset dir");
        let o = super::run(std::process::Command::new("sh").current_dir(&dir).arg("-c").arg(
            "apt-get download shim-signed grub-efi-amd64-signed && for d in *.deb; do dpkg-deb -x \"$d\" root; done",
        ));
        assert!(
            o.status.success(),
            "fetching shim-signed and grub-efi-amd64-signed failed:\n{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(shim.is_file() && grub.is_file(), "the packages hold no {} or {}", shim.display(), grub.display());
        std::fs::write(dir.join(".complete"), b"").expect("mark the secure-boot assets complete");
    }
    (shim, grub)
}

/// The discovery agent, built static once per test run with the agent
/// profile (as the README says to build it for the image).
pub fn agent_binary() -> PathBuf {
    static BUILT: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let root = Path::new(env!("CARGO_MANIFEST_DIR"));
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let target = "x86_64-unknown-linux-gnu";
            let o = super::run(
                std::process::Command::new(cargo)
                    .current_dir(root)
                    .env("RUSTFLAGS", "-C target-feature=+crt-static")
                    .args([
                        "build",
                        "--locked",
                        "--quiet",
                        "--profile",
                        "agent",
                        "-p",
                        "fulcrum-agent",
                        "--target",
                        target,
                    ]),
            );
            assert!(o.status.success(), "building the agent failed: {}", String::from_utf8_lossy(&o.stderr));
            let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
            let bin = tmp.parent().unwrap_or(tmp).join(target).join("agent/fulcrum-agent");
            assert!(bin.is_file(), "no agent at {}", bin.display());
            bin
        })
        .clone()
}

/// Builds Fulcrum's discovery image (the agent's) into `out` with the
/// real command, `fulcrum image build discovery`, from the cached guest
/// kernel package and the static agent; returns what the command printed
/// and the image's manifest.
pub fn discovery_image(out: &Path) -> (String, serde_json::Value) {
    discovery_image_with(out, &[])
}

/// [`discovery_image`] with more arguments (`--json`).
pub fn discovery_image_with(out: &Path, extra: &[&str]) -> (String, serde_json::Value) {
    let (deb, agent) = (kernel_deb(), agent_binary());
    let o = super::run(
        std::process::Command::new(super::bin())
            .args(["image", "build", "discovery"])
            .args(extra)
            .arg("--out")
            .arg(out)
            .arg("--kernel-deb")
            .arg(&deb)
            .arg("--agent")
            .arg(&agent),
    );
    let manifest = std::fs::read(out.join("manifest.json")).expect("the image's manifest");
    (String::from_utf8_lossy(&o.stdout).into_owned(), serde_json::from_slice(&manifest).expect("manifest JSON"))
}

/// The banner a discovery image with this manifest prints first on its
/// console: the agent it carries, by the start of its SHA-256.
pub fn image_banner(manifest: &serde_json::Value) -> String {
    let agent = manifest["agent_sha256"].as_str().unwrap_or_default();
    format!("agent {}", agent.get(..12).unwrap_or(agent))
}

/// `target/qemu-assets`: kept between runs so that the kernel is fetched once.
pub fn assets_cache() -> PathBuf {
    let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
    tmp.parent().unwrap_or(tmp).join("qemu-assets")
}

/// Nanoseconds since the Unix epoch (unique run tokens, timestamps).
pub fn nanos_now() -> u128 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0)
}

/// Polls `f` every half second until it answers, the guest dies, or
/// `BOOT_LIMIT` passes; failures carry the guest's and the server's logs.
pub fn wait_guest<T>(vm: &mut Qemu, server: &super::Server, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        vm.assert_running();
        assert!(
            start.elapsed() < BOOT_LIMIT,
            "timed out after {BOOT_LIMIT:?} waiting for {what}\n{}\n--- server log ---\n{}",
            vm.diagnostics(),
            server.log_text()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// A serial log file as [`console_text`] (empty while it does not exist).
pub fn read_console(path: &Path) -> String {
    console_text(&std::fs::read(path).unwrap_or_default())
}

/// A serial log as the text a reader sees, without the terminal's control
/// sequences. Firmware consoles draw a screen, not a stream: SeaBIOS's
/// serial console syncs its cursor lazily and so can put cursor moves
/// between two characters of one line (measured: PXELINUX's
/// `Fulcrum: booting discovery` came out as `Fulcrum: ESC[25;09HESC[25;10H
/// booting discovery`), and OVMF's terminal adds colours and moves too.
/// Each character is still written, in order, so dropping the sequences
/// (CSI `ESC [ params final` and two- or three-byte `ESC` sequences) leaves
/// the lines as printed.
pub fn console_text(raw: &[u8]) -> String {
    let text = String::from_utf8_lossy(raw);
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        if chars.next_if_eq(&'[').is_some() {
            // Parameters and intermediates, then one final byte.
            while chars.next_if(|c| matches!(c, '\x20'..='\x3f')).is_some() {}
            chars.next_if(|c| matches!(c, '\x40'..='\x7e'));
        } else {
            while chars.next_if(|c| matches!(c, '\x20'..='\x2f')).is_some() {}
            chars.next_if(|c| matches!(c, '\x30'..='\x7e'));
        }
    }
    out
}

#[test]
fn console_text_drops_what_the_terminal_draws_with() {
    let raw = b"\x1bc\x1b[?7l\x1b[2JPXELINUX\r\nFulcrum: \x1b[25;09H\x1b[25;10Hbooting discovery\r\n\x1b[0;1miPXE\x1b[0m \x1b(B-- ok";
    assert_eq!(console_text(raw), "PXELINUX\r\nFulcrum: booting discovery\r\niPXE -- ok");
    // A sequence cut off at the end of what was written so far.
    assert_eq!(console_text(b"ok\x1b["), "ok");
}

/// What follows `prefix` on the first line that contains it.
pub fn marker(text: &str, prefix: &str) -> Option<String> {
    text.lines().find_map(|l| l.trim_end_matches('\r').split_once(prefix).map(|(_, rest)| rest.to_string()))
}

/// How many "boot script" renders for `mac` the server logged in `log`.
pub fn script_renders(log: &str, mac: &str) -> usize {
    log.lines().filter(|l| l.contains("boot script") && l.contains(mac)).count()
}
