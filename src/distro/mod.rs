//! Importing a distribution's install ISO as a bootenv: the image read
//! in-process ([`iso`], hadris-iso: ISO 9660, Rock Ridge, Joliet), the
//! distribution and release told from its own files ([`detect`]), and
//! what a network install needs copied under the files directory:
//! - Ubuntu live-server: `casper/vmlinuz`, `casper/initrd`, and the ISO
//!   itself (the installer fetches it);
//! - Debian: `install.amd/vmlinuz`, `install.amd/initrd.gz`, and the tree
//!   (its mirror);
//! - Rocky, AlmaLinux, RHEL: `images/pxeboot/vmlinuz`, `initrd.img`, and
//!   the tree (its repository).
//!
//! Everything is written to a staging directory first, with the SHA-256
//! of each boot file in `import.json`, and moved into place only when it
//! is all there: a malformed image, a missing file or a full disk leaves
//! nothing behind. The caller then creates the bootenv (or points an
//! existing one at the new files) in one write.

pub(crate) mod detect;
pub(crate) mod iso;

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::inventory::bootenv::Bootenv;
use crate::types::names;
use detect::{Distro, Family};
use iso::Iso;

/// Why an import failed.
#[derive(Debug, thiserror::Error)]
pub(crate) enum ImportError {
    #[error("cannot open {path}")]
    Open { path: String, source: std::io::Error },
    #[error("the image is malformed: {0}")]
    Malformed(String),
    #[error(
        "not a distribution Fulcrum knows: no Ubuntu or Debian `.disk/info`, no Rocky, AlmaLinux or RHEL `.treeinfo`"
    )]
    UnknownDistro,
    #[error("the image has no `{0}`, which its distribution boots from")]
    Missing(String),
    #[error("bootenv name `{0}`: {1}")]
    BadName(String, String),
    #[error("the ISO's file name `{0}` is not a plain file name")]
    BadFileName(String),
    #[error("writing {what}")]
    Io { what: String, source: std::io::Error },
}

/// One file an import wrote, and its checksum.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct FileSum {
    /// Its name in the bootenv's directory.
    pub(crate) path: String,
    /// Where it came from on the image (empty for the image itself).
    pub(crate) from: String,
    pub(crate) bytes: u64,
    pub(crate) sha256: String,
}

/// What an import did (`import.json` beside the files).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct ImportReport {
    pub(crate) bootenv: String,
    pub(crate) distro: Distro,
    /// The ISO's file name.
    pub(crate) source: String,
    /// Under the files directory: `<bootenv>/`.
    pub(crate) directory: String,
    /// The kernel, the initrd and, for Ubuntu, the ISO.
    pub(crate) files: Vec<FileSum>,
    /// The installer's tree (Debian's mirror, Anaconda's repository), under `tree/`.
    pub(crate) tree_files: u64,
    pub(crate) tree_bytes: u64,
    /// Whether the bootenv was made now (else an existing one now boots these files).
    #[serde(default)]
    pub(crate) created: bool,
}

/// Imports ISOs into one files directory, one at a time.
#[derive(Debug)]
pub(crate) struct Importer {
    files_dir: PathBuf,
    one_at_a_time: std::sync::Mutex<()>,
}

fn io_at(path: &Path) -> impl FnOnce(std::io::Error) -> ImportError + '_ {
    move |source| ImportError::Io { what: path.display().to_string(), source }
}

/// SHA-256 of a file on disk, and its size.
fn sum_file(path: &Path) -> Result<(u64, String), ImportError> {
    use sha2::Digest;
    use std::io::Read;
    let mut f = std::fs::File::open(path).map_err(io_at(path))?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut n = 0u64;
    loop {
        let got = f.read(&mut buf).map_err(io_at(path))?;
        if got == 0 {
            break;
        }
        h.update(&buf[..got]);
        n += got as u64;
    }
    Ok((n, data_encoding::HEXLOWER.encode(&h.finalize())))
}

impl Importer {
    pub(crate) fn new(files_dir: PathBuf) -> Importer {
        Importer { files_dir, one_at_a_time: std::sync::Mutex::new(()) }
    }

    /// Where an uploaded ISO is written while it arrives (on the files
    /// directory's disk; the caller removes it).
    pub(crate) fn upload_path(&self) -> PathBuf {
        use std::sync::atomic::{AtomicU64, Ordering};
        static NEXT: AtomicU64 = AtomicU64::new(0);
        self.files_dir.join(format!(".upload-{}-{}.iso", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
    }

    /// Reads `iso` (whose own file name is `filename`), copies what its
    /// distribution installs from into `<files>/<name>/` (the name
    /// defaulting to the distribution's, `ubuntu-24.04`), and returns the
    /// report and the bootenv that boots it. Blocking: run it off the
    /// async threads.
    pub(crate) fn import(
        &self,
        iso_path: &Path,
        filename: &str,
        name: Option<&str>,
    ) -> Result<(ImportReport, Bootenv), ImportError> {
        let _one = self.one_at_a_time.lock().unwrap_or_else(|p| p.into_inner());
        if filename.is_empty() || filename.contains(['/', '\\', '\0']) || filename.starts_with('.') {
            return Err(ImportError::BadFileName(filename.to_string()));
        }
        let iso = Iso::open(iso_path)?;
        let distro = Self::detect(&iso)?;
        let name = name.map_or_else(|| distro.bootenv_name(), str::to_string);
        names::check_name("name", &name).map_err(|e| ImportError::BadName(name.clone(), e.to_string()))?;
        std::fs::create_dir_all(&self.files_dir).map_err(io_at(&self.files_dir))?;
        let stage = self.files_dir.join(format!(".import-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&stage);
        let result = Self::extract(&iso, iso_path, filename, &distro, &name, &stage);
        let report = match result {
            Ok(r) => r,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&stage);
                return Err(e);
            }
        };
        // Into place: the old directory aside, the new one in, the old gone.
        let dir = self.files_dir.join(&name);
        let old = self.files_dir.join(format!(".replaced-{name}-{}", std::process::id()));
        let had_old = dir.exists();
        if had_old {
            std::fs::rename(&dir, &old).map_err(io_at(&dir))?;
        }
        if let Err(source) = std::fs::rename(&stage, &dir) {
            if had_old {
                let _ = std::fs::rename(&old, &dir);
            }
            let _ = std::fs::remove_dir_all(&stage);
            return Err(ImportError::Io { what: dir.display().to_string(), source });
        }
        if had_old {
            let _ = std::fs::remove_dir_all(&old);
        }
        let env = bootenv_for(&report);
        Ok((report, env))
    }

    fn detect(iso: &Iso) -> Result<Distro, ImportError> {
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        if let Some(d) = iso.read_small(".disk/info")?.map(text).as_deref().and_then(detect::from_disk_info) {
            return Ok(d);
        }
        if let Some(d) = iso.read_small(".treeinfo")?.map(text).as_deref().and_then(detect::from_treeinfo) {
            return Ok(d);
        }
        Err(ImportError::UnknownDistro)
    }

    fn extract(
        iso: &Iso,
        iso_path: &Path,
        filename: &str,
        distro: &Distro,
        name: &str,
        stage: &Path,
    ) -> Result<ImportReport, ImportError> {
        std::fs::create_dir_all(stage).map_err(io_at(stage))?;
        let (kernel, initrd) = distro.boot_files();
        for needed in [kernel, initrd] {
            if !iso.has(needed)? {
                return Err(ImportError::Missing(needed.to_string()));
            }
        }
        let file_name = |p: &str| p.rsplit('/').next().unwrap_or(p).to_string();
        let mut files = vec![
            iso.copy_out(kernel, &stage.join(file_name(kernel)))?,
            iso.copy_out(initrd, &stage.join(file_name(initrd)))?,
        ];
        let (mut tree_files, mut tree_bytes) = (0, 0);
        match distro.family {
            Family::Ubuntu => {
                let dest = stage.join(filename);
                std::fs::copy(iso_path, &dest).map_err(io_at(&dest))?;
                let (bytes, sha256) = sum_file(&dest)?;
                files.push(FileSum { path: filename.to_string(), from: String::new(), bytes, sha256 });
            }
            Family::Debian | Family::Redhat => {
                (tree_files, tree_bytes) = iso.copy_tree(&stage.join("tree"))?;
            }
        }
        let report = ImportReport {
            bootenv: name.to_string(),
            distro: distro.clone(),
            source: filename.to_string(),
            directory: format!("{name}/"),
            files,
            tree_files,
            tree_bytes,
            created: false,
        };
        let json = serde_json::to_vec_pretty(&report).map_err(|e| ImportError::Malformed(e.to_string()))?;
        let manifest = stage.join("import.json");
        std::fs::write(&manifest, json).map_err(io_at(&manifest))?;
        Ok(report)
    }
}

/// The bootenv a fresh import makes: its kernel and initrd, and the
/// family's unattended install (autoinstall, preseed, kickstart) with the
/// node's token for its completion report.
fn bootenv_for(r: &ImportReport) -> Bootenv {
    let name = &r.bootenv;
    let file = |i: usize| r.files.get(i).map(|f| format!("{name}/{}", f.path));
    let (params, templates): (String, &[(&str, &str)]) = match r.distro.family {
        Family::Ubuntu => (
            format!(
                "ip=dhcp url={{{{ files }}}}/{name}/{} autoinstall ds=nocloud-net;s={{{{ server }}}}/boot/templates/{{{{ mac }}}}/ cloud-config-url=/dev/null console=ttyS0 console=tty0",
                r.source
            ),
            &[("meta-data", UBUNTU_META), ("user-data", UBUNTU_USER), ("vendor-data", "")],
        ),
        Family::Debian => (
            "auto=true priority=critical url={{ server }}/boot/templates/{{ mac }}/preseed.cfg console=ttyS0 console=tty0"
                .into(),
            &[("preseed.cfg", DEBIAN_PRESEED)],
        ),
        Family::Redhat => (
            format!("ip=dhcp inst.repo={{{{ files }}}}/{name}/tree inst.ks={{{{ server }}}}/boot/templates/{{{{ mac }}}}/ks.cfg console=ttyS0"),
            &[("ks.cfg", KICKSTART)],
        ),
    };
    Bootenv {
        name: name.clone(),
        description: format!("{} (imported from {})", r.distro.label, r.source),
        os: name.clone(),
        kind: Default::default(),
        kernel: file(0),
        initrds: file(1).into_iter().collect(),
        kernel_params: params,
        ipxe: String::new(),
        grub: String::new(),
        templates: templates.iter().map(|(k, v)| (k.to_string(), v.replace("@BOOTENV@", name))).collect(),
        image: None,
    }
}

const UBUNTU_META: &str =
    "instance-id: {{ node.name if node else mac }}\nlocal-hostname: {{ node.hostname if node else 'ubuntu' }}\n";

const UBUNTU_USER: &str = r#"#cloud-config
autoinstall:
  version: 1
  identity:
    hostname: {{ node.hostname if node else 'ubuntu' }}
    username: ubuntu
    password: "!"
  ssh:
    install-server: true
  storage:
    layout:
      name: direct
  late-commands:
    - "curl -fsS -X POST -H 'Authorization: Bearer {{ node.token if node else '' }}' {{ server }}/api/v1/nodes/{{ node.name if node else '' }}/installed || true"
"#;

const DEBIAN_PRESEED: &str = r#"d-i debian-installer/locale string en_US.UTF-8
d-i keyboard-configuration/xkb-keymap select us
d-i netcfg/choose_interface select auto
d-i netcfg/get_hostname string {{ node.hostname if node else 'debian' }}
d-i netcfg/get_domain string {{ node.domain if node and node.domain else '' }}
d-i mirror/country string manual
d-i mirror/http/hostname string {{ server | replace('http://', '') }}
d-i mirror/http/directory string /boot/files/@BOOTENV@/tree
d-i mirror/http/proxy string
d-i passwd/root-login boolean false
d-i passwd/make-user boolean false
d-i partman-auto/method string regular
d-i partman-auto/choose_recipe select atomic
d-i partman/confirm_write_new_label boolean true
d-i partman/choose_partition select finish
d-i partman/confirm boolean true
d-i partman/confirm_nooverwrite boolean true
d-i pkgsel/include string openssh-server curl
d-i grub-installer/bootdev string default
d-i preseed/late_command string in-target curl -fsS -X POST -H 'Authorization: Bearer {{ node.token if node else '' }}' {{ server }}/api/v1/nodes/{{ node.name if node else '' }}/installed || true
d-i finish-install/reboot_in_progress note
"#;

const KICKSTART: &str = r#"text
url --url={{ files }}/@BOOTENV@/tree
lang en_US.UTF-8
keyboard us
network --bootproto=dhcp --hostname={{ node.hostname if node else 'localhost' }}
rootpw --lock
timezone UTC --utc
zerombr
clearpart --all --initlabel
autopart
reboot
%packages
@core
curl
%end
%post
curl -fsS -X POST -H 'Authorization: Bearer {{ node.token if node else '' }}' {{ server }}/api/v1/nodes/{{ node.name if node else '' }}/installed || true
%end
"#;
