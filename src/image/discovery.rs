//! `fulcrum image build discovery`: the discovery image from Debian
//! packages on the admin node. The kernel comes from a kernel package (a
//! `.deb` given, or `apt-get download` of one: the only network it uses);
//! the initramfs carries busybox (static), the drivers for common NICs and
//! disks with the modules they need, `/init`, and the static agent. The
//! same inputs make the same bytes: a manifest names them all.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::Command;

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::{archive, elf};

/// NIC and disk drivers the image carries when the kernel has them (what
/// servers and virtual machines commonly have; `--modules` replaces it).
pub(crate) const DEFAULT_MODULES: &[&str] = &[
    // NICs
    "e1000",
    "e1000e",
    "igb",
    "igc",
    "ixgbe",
    "i40e",
    "ice",
    "tg3",
    "bnxt_en",
    "bnx2x",
    "mlx4_en",
    "mlx5_core",
    "be2net",
    "r8169",
    "vmxnet3",
    "virtio_net",
    "ena",
    "gve",
    "hv_netvsc",
    // disks and their controllers
    "ahci",
    "ata_piix",
    "nvme",
    "virtio_blk",
    "virtio_scsi",
    "sd_mod",
    "sr_mod",
    "megaraid_sas",
    "mpt3sas",
    "smartpqi",
    "hpsa",
    "aacraid",
    "vmw_pvscsi",
    "xhci_pci",
    "usb_storage",
    // the PCI transport of virtio devices
    "virtio_pci",
];

/// What to build from.
#[derive(Debug, Clone)]
pub(crate) struct Inputs {
    /// A kernel `.deb`; without it, `kernel_package` is downloaded.
    pub(crate) kernel_deb: Option<PathBuf>,
    /// The package (or meta-package) to download.
    pub(crate) kernel_package: String,
    /// The static agent.
    pub(crate) agent: PathBuf,
    /// The static busybox.
    pub(crate) busybox: PathBuf,
    /// The drivers to carry (and the modules they need).
    pub(crate) modules: Vec<String>,
    /// Where `vmlinuz`, `initrd.img` and `manifest.json` go.
    pub(crate) out: PathBuf,
}

/// What a build made, and from what (`manifest.json`).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Manifest {
    pub(crate) kernel_package: String,
    pub(crate) kernel_version: String,
    /// Drivers carried (those asked for that the kernel has).
    pub(crate) drivers: Vec<String>,
    /// Drivers asked for that this kernel does not have as modules.
    pub(crate) drivers_missing: Vec<String>,
    /// Every module in the image (drivers and what they need).
    pub(crate) modules: usize,
    pub(crate) busybox: String,
    pub(crate) agent_sha256: String,
    pub(crate) vmlinuz_sha256: String,
    pub(crate) initrd_sha256: String,
    pub(crate) initrd_bytes: u64,
}

/// Why a build failed; nothing in `out` was replaced.
#[derive(Debug, thiserror::Error)]
pub(crate) enum BuildError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("`{tool}` failed: {detail}")]
    Tool { tool: String, detail: String },
    #[error("{path}: {source}")]
    NotStatic {
        path: String,
        #[source]
        source: elf::NotStatic,
    },
    #[error("{0}")]
    Kernel(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// Runs a tool; its stdout, or its stderr as the error.
fn run(cmd: &mut Command) -> Result<String, BuildError> {
    let tool = format!("{cmd:?}").replace('"', "");
    let out = cmd.output().map_err(|e| BuildError::Tool { tool: tool.clone(), detail: e.to_string() })?;
    if !out.status.success() {
        let detail = String::from_utf8_lossy(&out.stderr).trim().to_string();
        return Err(BuildError::Tool { tool, detail: format!("{}: {detail}", out.status) });
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sha256(bytes: &[u8]) -> String {
    data_encoding::HEXLOWER.encode(&Sha256::digest(bytes))
}

/// The versioned package a meta-package (`linux-image-amd64`) points at.
fn resolve_package(name: &str) -> Result<String, BuildError> {
    let deps = run(Command::new("apt-cache").args(["depends", name]))?;
    let versioned = deps
        .lines()
        .find_map(|l| l.trim().strip_prefix("Depends: ").filter(|d| d.starts_with("linux-image-") && !d.contains(' ')));
    Ok(versioned.unwrap_or(name).to_string())
}

/// The kernel `.deb`: the one given, or a download into `work`.
fn kernel_deb(inputs: &Inputs, work: &Path) -> Result<PathBuf, BuildError> {
    if let Some(d) = &inputs.kernel_deb {
        return Ok(d.clone());
    }
    let pkg = resolve_package(&inputs.kernel_package)?;
    run(Command::new("apt-get").arg("download").arg(&pkg).current_dir(work))?;
    std::fs::read_dir(work)
        .map_err(io(work.display().to_string()))?
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|x| x == "deb"))
        .ok_or_else(|| BuildError::Kernel(format!("apt-get download {pkg} made no .deb")))
}

/// A module's name as modprobe knows it: its file's name without `.ko*`,
/// dashes as underscores.
fn module_name(path: &str) -> String {
    let file = path.rsplit('/').next().unwrap_or(path);
    file.split(".ko").next().unwrap_or(file).replace('-', "_")
}

/// `modules.dep`: each module's path and the paths it needs.
fn read_deps(text: &str) -> BTreeMap<String, (String, Vec<String>)> {
    text.lines()
        .filter_map(|l| {
            let (m, deps) = l.split_once(':')?;
            Some((module_name(m), (m.to_string(), deps.split_whitespace().map(str::to_string).collect())))
        })
        .collect()
}

/// The module files `wanted` need (their paths, with every dependency),
/// and the wanted ones the kernel does not have.
fn closure(deps: &BTreeMap<String, (String, Vec<String>)>, wanted: &[String]) -> (BTreeSet<String>, Vec<String>) {
    let mut files = BTreeSet::new();
    let mut missing = Vec::new();
    for w in wanted {
        let Some((path, needs)) = deps.get(&w.replace('-', "_")) else {
            missing.push(w.clone());
            continue;
        };
        files.insert(path.clone());
        files.extend(needs.iter().cloned());
    }
    (files, missing)
}

fn write(path: &Path, bytes: &[u8], mode: u32) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io(dir.display().to_string()))?;
    }
    std::fs::write(path, bytes).map_err(io(path.display().to_string()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).map_err(io(path.display().to_string()))
}

fn read_static(path: &Path) -> Result<Vec<u8>, BuildError> {
    let bytes = std::fs::read(path).map_err(io(path.display().to_string()))?;
    elf::check_static(&bytes).map_err(|source| BuildError::NotStatic { path: path.display().to_string(), source })?;
    Ok(bytes)
}

/// Builds the image into `inputs.out`: `vmlinuz`, `initrd.img` and
/// `manifest.json`, each replaced whole (a server booting machines from
/// that directory never serves half a file).
pub(crate) fn build(inputs: &Inputs) -> Result<Manifest, BuildError> {
    let work = tempfile::tempdir().map_err(io("a work directory"))?;
    let agent = read_static(&inputs.agent)?;
    let busybox = read_static(&inputs.busybox)?;
    // The kernel and its modules.
    let deb = kernel_deb(inputs, work.path())?;
    let kroot = work.path().join("kernel");
    run(Command::new("dpkg-deb").arg("-x").arg(&deb).arg(&kroot))?;
    let versions: Vec<String> = entries(&kroot.join("lib/modules"));
    let [kver] = versions.as_slice() else {
        return Err(BuildError::Kernel(format!(
            "{}: expected one kernel in lib/modules, found {versions:?}",
            deb.display()
        )));
    };
    let vmlinuz = std::fs::read(kroot.join(format!("boot/vmlinuz-{kver}"))).map_err(io(format!("vmlinuz-{kver}")))?;
    run(Command::new("depmod").arg("-b").arg(&kroot).arg(kver))?;
    let kmods = kroot.join("lib/modules").join(kver);
    let dep_text = std::fs::read_to_string(kmods.join("modules.dep")).map_err(io("modules.dep"))?;
    let deps = read_deps(&dep_text);
    let (files, missing) = closure(&deps, &inputs.modules);
    // The tree.
    let stage = work.path().join("stage");
    for d in ["dev", "proc", "sys", "tmp", "run", "sbin"] {
        std::fs::create_dir_all(stage.join(d)).map_err(io(d))?;
    }
    write(&stage.join("bin/busybox"), &busybox, 0o755)?;
    let applets = run(Command::new(&inputs.busybox).arg("--list"))?;
    for applet in applets.lines().map(str::trim).filter(|a| !a.is_empty() && *a != "busybox") {
        std::os::unix::fs::symlink("busybox", stage.join("bin").join(applet)).map_err(io(applet))?;
    }
    write(&stage.join("bin/fulcrum-agent"), &agent, 0o755)?;
    write(&stage.join("init"), include_bytes!("init.sh"), 0o755)?;
    write(&stage.join("etc/udhcpc.script"), include_bytes!("udhcpc.script"), 0o755)?;
    let smods = stage.join("lib/modules").join(kver);
    for f in &files {
        let src = kmods.join(f);
        let bytes = match f.rsplit_once(".ko") {
            Some((_, ".xz")) => run_bytes(Command::new("xz").arg("-dc").arg(&src))?,
            Some((_, ".zst")) => run_bytes(Command::new("zstd").arg("-dc").arg(&src))?,
            _ => std::fs::read(&src).map_err(io(f.clone()))?,
        };
        let plain = format!("{}.ko", f.split(".ko").next().unwrap_or(f));
        write(&smods.join(plain), &bytes, 0o644)?;
    }
    for f in ["modules.order", "modules.builtin", "modules.builtin.modinfo"] {
        if let Ok(b) = std::fs::read(kmods.join(f)) {
            write(&smods.join(f), &b, 0o644)?;
        }
    }
    run(Command::new("depmod").arg("-b").arg(&stage).arg(kver))?;
    let busybox_version = run(Command::new(&inputs.busybox).arg("--help"))
        .ok()
        .and_then(|h| h.lines().next().map(str::to_string))
        .unwrap_or_else(|| "busybox".into());
    let package = deb.file_name().map_or_else(|| deb.display().to_string(), |n| n.to_string_lossy().into_owned());
    let label = format!("Fulcrum discovery image: kernel {kver} ({package}), agent {}", &sha256(&agent)[..12]);
    write(&stage.join("etc/fulcrum-image"), format!("{label}\n").as_bytes(), 0o644)?;
    let mut initrd = Vec::new();
    archive::write_initramfs(&stage, &mut initrd).map_err(io("the initramfs"))?;
    let mut drivers: Vec<String> = inputs.modules.iter().filter(|m| !missing.contains(m)).cloned().collect();
    drivers.sort();
    let manifest = Manifest {
        kernel_package: package,
        kernel_version: kver.clone(),
        drivers,
        drivers_missing: missing,
        modules: files.len(),
        busybox: busybox_version,
        agent_sha256: sha256(&agent),
        vmlinuz_sha256: sha256(&vmlinuz),
        initrd_sha256: sha256(&initrd),
        initrd_bytes: initrd.len() as u64,
    };
    let json = serde_json::to_vec_pretty(&manifest).map_err(|e| BuildError::Kernel(e.to_string()))?;
    std::fs::create_dir_all(&inputs.out).map_err(io(inputs.out.display().to_string()))?;
    for (name, bytes) in [("vmlinuz", &vmlinuz), ("initrd.img", &initrd), ("manifest.json", &json)] {
        let tmp = inputs.out.join(format!(".{name}.tmp"));
        write(&tmp, bytes, 0o644)?;
        std::fs::rename(&tmp, inputs.out.join(name)).map_err(io(name))?;
    }
    Ok(manifest)
}

fn run_bytes(cmd: &mut Command) -> Result<Vec<u8>, BuildError> {
    let tool = format!("{cmd:?}");
    let out = cmd.output().map_err(|e| BuildError::Tool { tool: tool.clone(), detail: e.to_string() })?;
    if !out.status.success() {
        return Err(BuildError::Tool { tool, detail: String::from_utf8_lossy(&out.stderr).trim().to_string() });
    }
    Ok(out.stdout)
}

/// A directory's entries' names, sorted.
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    v.sort();
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEP: &str = "kernel/drivers/net/virtio_net.ko: kernel/drivers/net/net_failover.ko kernel/net/core/failover.ko
kernel/drivers/net/net_failover.ko: kernel/net/core/failover.ko
kernel/net/core/failover.ko:
kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz:
kernel/drivers/block/virtio-blk.ko:
";

    #[test]
    fn a_driver_brings_the_modules_it_needs() {
        let deps = read_deps(DEP);
        let want = |w: &[&str]| closure(&deps, &w.iter().map(|s| s.to_string()).collect::<Vec<_>>());
        let (files, missing) = want(&["virtio_net", "virtio_blk", "igb"]);
        assert_eq!(
            files.into_iter().collect::<Vec<_>>(),
            [
                "kernel/drivers/block/virtio-blk.ko",
                "kernel/drivers/net/net_failover.ko",
                "kernel/drivers/net/virtio_net.ko",
                "kernel/net/core/failover.ko"
            ]
        );
        assert_eq!(missing, ["igb"]);
        assert_eq!(module_name("kernel/drivers/net/ethernet/intel/e1000e/e1000e.ko.xz"), "e1000e");
    }
}
