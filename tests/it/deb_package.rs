//! The Debian package (`packaging/build-deb`), installed with dpkg into a
//! Debian 12 chroot made by debootstrap: its files, the conffile (kept
//! when the operator changed it), the system user, the unit enabled and
//! passing `systemd-analyze verify` against the chroot, the shipped config
//! accepted by `fulcrum check-config`; then removal (the conffile stays,
//! the unit is masked) and purge (nothing of Fulcrum left: files, state,
//! user, group, enablement). The chroot's base is debootstrapped once
//! (from deb.debian.org) and kept as a tarball beside the QEMU assets.
//! Needs root; fails under CI=true when anything is missing.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::{prerequisites, run};

/// Debian 12 minbase with what the package depends on and systemd (for
/// `systemd-analyze verify --root`), as a tarball made once.
fn debian_base() -> PathBuf {
    let cache = crate::harness::qemu::assets_cache();
    std::fs::create_dir_all(&cache).expect("assets cache");
    let tarball = cache.join("debian12-minbase-fulcrum-deps.tar");
    if tarball.exists() {
        return tarball;
    }
    let dir = tempfile::tempdir_in(&cache).expect("debootstrap dir");
    let root = dir.path().join("root");
    let out = Command::new("debootstrap")
        .args(["--variant=minbase", "--include=ipxe,init-system-helpers,systemd", "bookworm"])
        .arg(&root)
        .arg("http://deb.debian.org/debian")
        .output()
        .expect("debootstrap");
    assert!(out.status.success(), "debootstrap failed:\n{}", String::from_utf8_lossy(&out.stdout));
    let partial = dir.path().join("base.tar");
    run(Command::new("tar").arg("-C").arg(&root).arg("-cf").arg(&partial).arg("."));
    std::fs::rename(&partial, &tarball).expect("keep the base tarball");
    tarball
}

/// Runs `args` inside the chroot at `root`.
fn chroot(root: &Path, args: &[&str]) -> String {
    let out = run(Command::new("chroot").arg(root).args(args));
    String::from_utf8_lossy(&out.stdout).to_string()
}

fn chroot_may_fail(root: &Path, args: &[&str]) -> std::process::Output {
    Command::new("chroot").arg(root).args(args).output().expect("chroot")
}

#[test]
fn the_package_installs_into_debian_and_purges_without_a_trace() {
    if !prerequisites(
        "deb_package",
        true,
        &["debootstrap", "dpkg-deb", "chroot", "tar", "strip", "objdump", "systemd-analyze"],
    ) {
        return;
    }
    let base = debian_base();
    let work = tempfile::tempdir().expect("work dir");
    let root = work.path().join("root");
    std::fs::create_dir_all(&root).unwrap();
    run(Command::new("tar").arg("-C").arg(&root).arg("-xf").arg(&base));

    // Build it from the binary under test (uncompressed: this is a test).
    let built = run(Command::new(concat!(env!("CARGO_MANIFEST_DIR"), "/packaging/build-deb"))
        .args(["--bin", crate::harness::bin(), "--compress", "none", "--out"])
        .arg(work.path().join("out")));
    let deb = PathBuf::from(String::from_utf8_lossy(&built.stdout).trim());
    let info =
        run(Command::new("dpkg-deb").arg("--field").arg(&deb).args(["Package", "Version", "Depends", "Suggests"]));
    let info = String::from_utf8_lossy(&info.stdout).to_string();
    assert!(info.contains(&format!("Version: {}", env!("CARGO_PKG_VERSION"))), "{info}");
    assert!(info.contains("ipxe") && info.contains("libc6 (>= "), "{info}");
    assert!(info.contains("Suggests: shim-signed, grub-efi-amd64-signed"), "{info}");
    std::fs::copy(&deb, root.join("tmp/fulcrum.deb")).unwrap();

    // Install: everything offline, its dependencies are in the base.
    chroot(&root, &["dpkg", "-i", "/tmp/fulcrum.deb"]);
    for f in [
        "usr/bin/fulcrum",
        "lib/systemd/system/fulcrum.service",
        "etc/fulcrum/fulcrum.toml",
        "usr/share/fulcrum/bootenvs/ubuntu-24.04.toml",
        "usr/share/fulcrum/roles/provisioner-os-install.toml",
        "usr/share/fulcrum/ipxe/netboot.ipxe.j2",
        "usr/share/fulcrum/grub/netboot.cfg.j2",
        "usr/share/fulcrum/bootenvs/debian-12.toml",
        "usr/share/fulcrum/templates/fulcrum-alive.service.j2",
        "usr/share/doc/fulcrum/copyright",
        "usr/share/doc/fulcrum/README.md",
    ] {
        assert!(root.join(f).is_file(), "the package did not install /{f}");
    }
    let version = chroot(&root, &["fulcrum", "--version"]);
    assert!(version.contains(env!("CARGO_PKG_VERSION")), "{version}");
    let checked = chroot(&root, &["fulcrum", "check-config"]);
    assert_eq!(checked.trim(), "/etc/fulcrum/fulcrum.toml: ok");
    // Every shipped file has its digest: dpkg can tell one that changed.
    let verify = chroot_may_fail(&root, &["dpkg", "--verify", "fulcrum"]);
    assert!(verify.stdout.is_empty() && verify.status.success(), "{}", String::from_utf8_lossy(&verify.stdout));
    let readme = root.join("usr/share/doc/fulcrum/README.md");
    let original = std::fs::read(&readme).expect("README");
    std::fs::write(&readme, b"changed").expect("write");
    let verify = String::from_utf8_lossy(&chroot_may_fail(&root, &["dpkg", "--verify", "fulcrum"]).stdout).to_string();
    assert!(verify.contains("5") && verify.contains("/usr/share/doc/fulcrum/README.md"), "unnoticed: {verify}");
    std::fs::write(&readme, original).expect("write back");
    let conffiles = chroot(&root, &["dpkg-query", "-W", "-f", "${Conffiles}", "fulcrum"]);
    assert!(conffiles.contains("/etc/fulcrum/fulcrum.toml"), "not a conffile: {conffiles}");
    // The system user and group (the unit's DynamicUser takes the static
    // user of its name when there is one).
    let user = chroot(&root, &["getent", "passwd", "fulcrum"]);
    let fields: Vec<&str> = user.trim().split(':').collect();
    let uid: u32 = fields.get(2).and_then(|u| u.parse().ok()).unwrap_or(u32::MAX);
    assert!(uid < 1000 && fields.get(6) == Some(&"/usr/sbin/nologin"), "not a system user: {user}");
    assert!(!chroot(&root, &["getent", "group", "fulcrum"]).is_empty(), "no fulcrum group");
    // Enabled for the next boot, not started: the only service action in
    // its scripts restarts a running service on upgrade.
    let wants = root.join("etc/systemd/system/multi-user.target.wants/fulcrum.service");
    assert_eq!(std::fs::read_link(&wants).ok(), Some(PathBuf::from("/lib/systemd/system/fulcrum.service")));
    let postinst = std::fs::read_to_string(root.join("var/lib/dpkg/info/fulcrum.postinst")).unwrap();
    assert!(!postinst.contains(" start ") && postinst.contains("try-restart"), "{postinst}");
    // The unit, as installed, verifies against the installed system.
    let verify = Command::new("systemd-analyze")
        .args(["verify", "--man=no"])
        .arg(format!("--root={}", root.display()))
        .arg("fulcrum.service")
        .output()
        .expect("systemd-analyze");
    let stderr = String::from_utf8_lossy(&verify.stderr);
    assert!(
        verify.status.success() && !stderr.contains("fulcrum.service"),
        "systemd-analyze verify: {}\n{stderr}",
        verify.status
    );

    // An operator's change to the config survives reinstalling.
    let conf = root.join("etc/fulcrum/fulcrum.toml");
    let mut text = std::fs::read_to_string(&conf).unwrap();
    text.push_str("\n[dhcp]\ninterfaces = [\"eth1\"]\n");
    std::fs::write(&conf, &text).unwrap();
    chroot(&root, &["dpkg", "-i", "/tmp/fulcrum.deb"]);
    assert_eq!(std::fs::read_to_string(&conf).unwrap(), text, "the operator's config was replaced");
    assert_eq!(chroot(&root, &["fulcrum", "check-config"]).trim(), "/etc/fulcrum/fulcrum.toml: ok");

    // Remove: the program goes, the config stays, the unit is masked.
    std::fs::create_dir_all(root.join("var/lib/fulcrum/data")).unwrap();
    std::fs::write(root.join("var/lib/fulcrum/data/store.redb"), b"state").unwrap();
    chroot(&root, &["dpkg", "-r", "fulcrum"]);
    assert!(!root.join("usr/bin/fulcrum").exists() && conf.is_file());
    assert!(root.join("var/lib/fulcrum/data/store.redb").exists(), "remove took the state");
    assert_eq!(
        std::fs::read_link(root.join("etc/systemd/system/fulcrum.service")).ok(),
        Some(PathBuf::from("/dev/null"))
    );

    // Purge: nothing of Fulcrum is left.
    chroot(&root, &["dpkg", "-P", "fulcrum"]);
    for gone in [
        "etc/fulcrum",
        "var/lib/fulcrum",
        "usr/share/fulcrum",
        "usr/share/doc/fulcrum",
        "etc/systemd/system/fulcrum.service",
        "etc/systemd/system/multi-user.target.wants/fulcrum.service",
        "var/lib/systemd/deb-systemd-helper-enabled/fulcrum.service.dsh-also",
    ] {
        assert!(std::fs::symlink_metadata(root.join(gone)).is_err(), "/{gone} is still there after purge");
    }
    assert!(!chroot_may_fail(&root, &["getent", "passwd", "fulcrum"]).status.success(), "the user is still there");
    assert!(!chroot_may_fail(&root, &["getent", "group", "fulcrum"]).status.success(), "the group is still there");
    assert!(!chroot_may_fail(&root, &["dpkg-query", "-W", "fulcrum"]).status.success(), "dpkg still knows fulcrum");
}
