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

use crate::inventory::bootenv::{self, Bootenv};
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
        let env = bootenv_for(&report)?;
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

/// The bootenv a fresh import makes: the shipped bootenv of its family
/// (`ubuntu-24.04`, `debian-12`, `rocky-9`: the command line, the
/// unattended install with the node's token for its completion report,
/// what it requires), moved to the import's directory and booting its
/// kernel and initrd.
fn bootenv_for(r: &ImportReport) -> Result<Bootenv, ImportError> {
    let shipped_name = match r.distro.family {
        Family::Ubuntu => "ubuntu-24.04",
        Family::Debian => "debian-12",
        Family::Redhat => "rocky-9",
    };
    let shipped = bootenv::shipped().map_err(|e| ImportError::Malformed(e.to_string()))?;
    let mut env = shipped
        .into_iter()
        .find(|e| e.name == shipped_name)
        .ok_or_else(|| ImportError::Malformed(format!("no shipped bootenv {shipped_name}")))?;
    let name = &r.bootenv;
    // The live ISO Ubuntu's installer fetches is the imported one.
    let iso = (r.distro.family == Family::Ubuntu).then(|| format!("{name}/{}", r.source));
    let moved = |text: &str| {
        let text = match &iso {
            Some(iso) => text.replace(&format!("{shipped_name}/{shipped_name}-live-server-amd64.iso"), iso),
            None => text.to_string(),
        };
        text.replace(&format!("{shipped_name}/"), &format!("{name}/"))
    };
    let file = |i: usize| r.files.get(i).map(|f| format!("{name}/{}", f.path));
    env.name = name.clone();
    env.os = name.clone();
    env.description = format!("{} (imported from {})", r.distro.label, r.source);
    env.kernel = file(0);
    env.initrds = file(1).into_iter().collect();
    env.kernel_params = moved(&env.kernel_params);
    env.requires.files = env.requires.files.iter().map(|f| moved(f)).collect();
    for text in env.templates.values_mut() {
        *text = moved(text);
    }
    Ok(env)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(family: Family, name: &str, source: &str, files: &[&str]) -> ImportReport {
        let sum = |p: &&str| FileSum { path: p.to_string(), from: String::new(), bytes: 1, sha256: String::new() };
        ImportReport {
            bootenv: name.into(),
            distro: Distro { family, id: String::new(), version: String::new(), label: "X".into() },
            source: source.into(),
            directory: format!("{name}/"),
            files: files.iter().map(sum).collect(),
            tree_files: 0,
            tree_bytes: 0,
            created: false,
        }
    }

    #[test]
    fn an_import_moves_its_family_bootenv_to_its_own_directory() {
        let env = bootenv_for(&report(Family::Debian, "deb12", "d.iso", &["vmlinuz", "initrd.gz"])).unwrap();
        assert_eq!(
            (env.kernel.as_deref(), env.initrds.as_slice()),
            (Some("deb12/vmlinuz"), &["deb12/initrd.gz".to_string()][..])
        );
        assert_eq!(env.requires.files, ["deb12/tree/dists"]);
        assert_eq!(env.requires.params, ["ssh_authorized_key"]);
        let preseed = &env.templates["preseed.cfg"];
        assert!(preseed.contains("/boot/files/deb12/tree") && !preseed.contains("debian-12"), "{preseed}");
        env.check().unwrap();

        let env =
            bootenv_for(&report(Family::Ubuntu, "ubuntu-22.04", "u.iso", &["vmlinuz", "initrd", "u.iso"])).unwrap();
        assert_eq!(env.requires.files, ["ubuntu-22.04/u.iso"]);
        assert!(env.kernel_params.contains("{{ files }}/ubuntu-22.04/u.iso "), "{}", env.kernel_params);

        let env = bootenv_for(&report(Family::Redhat, "almalinux-9", "a.iso", &["vmlinuz", "initrd.img"])).unwrap();
        assert!(env.kernel_params.contains("inst.repo={{ files }}/almalinux-9/tree"), "{}", env.kernel_params);
        assert!(env.templates["ks.cfg"].contains("url --url={{ files }}/almalinux-9/tree"));
        assert_eq!(env.requires.files, ["almalinux-9/tree/.treeinfo"]);
    }
}
