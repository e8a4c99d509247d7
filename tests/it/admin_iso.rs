//! The admin-node boot ISO end to end (issue 12, item 1): `iso/build`
//! makes the hybrid ISO from the package `packaging/build-deb` makes of
//! the binary under test, with the discovery image; `iso/check --mode
//! install` boots it in QEMU (TCG, in a namespace of its own, every wait
//! bounded) with a seed disk that says to install to a virtio disk, boots
//! the installed admin node from that disk, waits for its `/healthz`,
//! PXE-boots a second VM on the same bridge from it to the discovery image
//! (a lease, the boot script, the machine registered as a node), then
//! powers the admin node off and boots it once more (setup does not run
//! again; the network and the node are still there). The Debian base is
//! debootstrapped once and cached in `target/qemu-assets`. The live
//! (run-from-ISO) and console (interactive setup) modes are run on demand
//! by `sudo iso/check --mode all`. Fails under CI=true when anything is
//! missing.

use std::path::PathBuf;
use std::process::Command;
use std::time::Instant;

use crate::harness::qemu;

#[test]
fn the_admin_iso_installs_an_admin_node_that_boots_a_machine() {
    if !qemu::prerequisites("admin_iso", &["debootstrap", "dpkg-deb", "chroot", "strip", "objdump", "timeout"]) {
        return;
    }
    let top = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let work = tempfile::tempdir().expect("work dir");
    let built = crate::harness::run(
        Command::new(top.join("packaging/build-deb"))
            .args(["--bin", crate::harness::bin(), "--out"])
            .arg(work.path().join("deb")),
    );
    let deb = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    let agent = qemu::agent_binary();
    // The ISO first, while other tests may run their VMs; then this
    // test's VMs in the suite's one VM turn.
    let iso = work.path().join("fulcrum-admin.iso");
    let started = Instant::now();
    let build = Command::new("timeout")
        .arg("900")
        .arg(top.join("iso/build"))
        .arg("--deb")
        .arg(&deb)
        .arg("--agent")
        .arg(&agent)
        .arg("--out")
        .arg(&iso)
        .arg("--cache")
        .arg(qemu::assets_cache())
        .output()
        .expect("iso/build");
    let said = format!("{}{}", String::from_utf8_lossy(&build.stdout), String::from_utf8_lossy(&build.stderr));
    assert!(build.status.success() && iso.is_file(), "iso/build failed:\n{said}");
    eprintln!("admin_iso: iso/build took {:.0?}", started.elapsed());
    let _turn = qemu::vm_slot();
    let started = Instant::now();
    let out = Command::new("timeout")
        .arg("1200")
        .arg(top.join("iso/check"))
        .arg("--iso")
        .arg(&iso)
        .args(["--mode", "install", "--workdir"])
        .arg(work.path().join("check"))
        // Its own limits, inside the test's: a slow step says which it was.
        .env("INSTALL_LIMIT", "600")
        .env("BOOT_LIMIT", "420")
        .output()
        .expect("iso/check");
    let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    eprintln!("admin_iso: iso/check took {:.0?}:\n{said}", started.elapsed());
    let serial = |name: &str| std::fs::read_to_string(work.path().join("check").join(name)).unwrap_or_default();
    assert!(
        out.status.success(),
        "iso/check failed:\n{said}\n--- admin serial (tail) ---\n{}\n--- PXE VM serial (tail) ---\n{}",
        tail(&serial("installed-admin-serial.log"), 60),
        tail(&serial("installed-pxe-serial.log"), 40)
    );
    for must in ["installed: VM start to /healthz", "PXE VM start to registered (discovery)", "PASSED"] {
        assert!(said.contains(must), "iso/check did not report `{must}`:\n{said}");
    }
}

fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
