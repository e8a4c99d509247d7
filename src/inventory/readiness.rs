//! Whether a node may be given a bootenv: every file the bootenv boots
//! from or requires ([`Bootenv::local_files`]) is under the files
//! directory, a local disk image is in the format the bootenv says (a
//! qcow2 file written as raw would leave a disk nothing boots), and every
//! param it requires is set on the node.
//!
//! [`check`] looks at the nodes a transaction changed, against the world
//! the transaction began with, so each path that gives a node a bootenv
//! (the API, a lifecycle step, a role's hook) is refused the same way:
//! with the missing item named, and nothing written. A node whose bootenv
//! is unchanged is not checked again (files removed later do not block
//! its other changes, a rename included: the renamed record is found by
//! its MAC), and the discovery bootenv is never refused: an
//! unknown machine boots it anyway, so refusing it would protect nothing.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use super::bootenv::Bootenv;
use super::error::InventoryError;
use super::node::{Node, Params};
use crate::state::Txn;
use crate::types::agent::ImageFormat;
use crate::types::field::Refuse;

/// The first bytes of a qcow2 file.
const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

/// Where a bootenv's files must be, and the bootenv exempt from the rule.
#[derive(Debug, Clone)]
pub(crate) struct BootFiles {
    dir: PathBuf,
    discovery: String,
}

/// The first thing a bootenv lacks for a node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Unmet {
    /// A path under the files directory that is not there.
    File(String),
    /// A param the node does not have (or has empty).
    Param(String),
    /// The disk image at this path is not in the format its bootenv says.
    Format { path: String, says: ImageFormat },
}

impl std::fmt::Display for Unmet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Unmet::File(p) => write!(f, "file `{p}` is not in the files directory"),
            Unmet::Param(p) => write!(f, "param `{p}` is not set on the node"),
            Unmet::Format { path, says: ImageFormat::Raw } => {
                write!(f, "image `{path}` is a qcow2 file, but image.format is raw")
            }
            Unmet::Format { path, says: ImageFormat::Qcow2 } => {
                write!(f, "image `{path}` is not a qcow2 file, but image.format is qcow2")
            }
        }
    }
}

impl BootFiles {
    pub(crate) fn new(dir: PathBuf, discovery: impl Into<String>) -> BootFiles {
        BootFiles { dir, discovery: discovery.into() }
    }

    /// Whether `rel` names something under the directory (a file, or a
    /// directory such as an installer's tree), without leaving it.
    fn has(&self, rel: &str) -> bool {
        let rel = Path::new(rel);
        rel.components().next().is_some()
            && rel.components().all(|c| matches!(c, Component::Normal(_)))
            && self.dir.join(rel).exists()
    }

    /// What `env` lacks for a node with `params`, checking files only when
    /// `files` is set.
    pub(crate) fn unmet(&self, env: &Bootenv, params: &Params, files: bool) -> Option<Unmet> {
        if let Some(p) = env.requires.params.iter().find(|p| params.get(*p).is_none_or(|v| v.trim().is_empty())) {
            return Some(Unmet::Param(p.clone()));
        }
        if !files {
            return None;
        }
        env.local_files().find(|f| !self.has(f)).map(|f| Unmet::File(f.to_string())).or_else(|| self.misformatted(env))
    }

    /// The bootenv's local disk image, when its first bytes contradict
    /// its `format` (one that cannot be read is left to the files check).
    fn misformatted(&self, env: &Bootenv) -> Option<Unmet> {
        use std::io::Read;
        let image = env.image.as_ref().filter(|i| !i.path.contains("://"))?;
        let path = image.path.trim_start_matches('/');
        let mut head = [0u8; 4];
        std::fs::File::open(self.dir.join(path)).and_then(|mut f| f.read_exact(&mut head)).ok()?;
        let is_qcow2 = head == QCOW2_MAGIC;
        (is_qcow2 != (image.format == ImageFormat::Qcow2))
            .then(|| Unmet::Format { path: path.to_string(), says: image.format })
    }

    /// Everything `env` lacks for a node with `params`.
    pub(crate) fn all_unmet(&self, env: &Bootenv, params: &Params) -> Vec<Unmet> {
        let params = env
            .requires
            .params
            .iter()
            .filter(|p| params.get(*p).is_none_or(|v| v.trim().is_empty()))
            .map(|p| Unmet::Param(p.clone()));
        let files = env.local_files().filter(|f| !self.has(f)).map(|f| Unmet::File(f.to_string()));
        params.chain(files).chain(self.misformatted(env)).collect()
    }
}

/// Refuses the transaction if it gave a node a bootenv that node cannot
/// boot, or took away a param its bootenv requires.
pub(crate) fn check(txn: &Txn<'_>, rules: &BootFiles) -> Result<(), InventoryError> {
    let mut seen = HashSet::new();
    for key in txn.touched::<Node>() {
        if !seen.insert(key) {
            continue;
        }
        let Some(node) = txn.world().table::<Node>().get(key) else { continue };
        // A renamed node is the record that had its MAC under the old name.
        let was = txn.before().table::<Node>();
        let before = was.get(key).or_else(|| node.macs.first().and_then(|m| was.by_mac(m)));
        let new_bootenv = before.is_none_or(|b| b.bootenv != node.bootenv);
        let new_params = before.is_some_and(|b| b.params != node.params);
        if !(new_bootenv || new_params) || node.bootenv == rules.discovery {
            continue;
        }
        // A bootenv that does not exist was refused when the node was put.
        let Some(env) = txn.world().table::<Bootenv>().get(&node.bootenv) else { continue };
        if let Some(unmet) = rules.unmet(env, &node.params, new_bootenv) {
            let field = if new_bootenv { "bootenv" } else { "params" };
            return Err(InventoryError::conflict(
                field,
                format!("node `{}` cannot boot bootenv `{}`: {unmet}", node.name, env.name),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::bootenv::Requires;

    fn env() -> Bootenv {
        Bootenv {
            name: "os".into(),
            description: String::new(),
            os: String::new(),
            kind: Default::default(),
            kernel: Some("os/linux".into()),
            initrds: vec!["os/initrd.gz".into(), "http://mirror/extra.img".into()],
            kernel_params: String::new(),
            ipxe: String::new(),
            grub: String::new(),
            templates: Default::default(),
            image: None,
            requires: Requires { files: vec!["os/tree".into()], params: vec!["ssh_key".into()] },
        }
    }

    #[test]
    fn names_the_first_missing_file_or_param() {
        let dir = tempfile::tempdir().unwrap();
        let files = BootFiles::new(dir.path().to_path_buf(), "discovery");
        let mut params = Params::new();
        let env = env();
        assert_eq!(files.unmet(&env, &params, true), Some(Unmet::Param("ssh_key".into())));
        params.insert("ssh_key".into(), "  ".into());
        assert_eq!(files.unmet(&env, &params, true), Some(Unmet::Param("ssh_key".into())), "blank is unset");
        params.insert("ssh_key".into(), "ssh-ed25519 AAAA".into());
        assert_eq!(files.unmet(&env, &params, true), Some(Unmet::File("os/linux".into())));
        assert_eq!(files.unmet(&env, &params, false), None, "params only");
        std::fs::create_dir_all(dir.path().join("os/tree")).unwrap();
        std::fs::write(dir.path().join("os/linux"), b"k").unwrap();
        assert_eq!(files.unmet(&env, &params, true), Some(Unmet::File("os/initrd.gz".into())));
        std::fs::write(dir.path().join("os/initrd.gz"), b"i").unwrap();
        assert_eq!(files.unmet(&env, &params, true), None, "URLs are not looked for");
        assert!(files.all_unmet(&env, &params).is_empty());
    }

    #[test]
    fn a_disk_image_must_be_in_the_format_its_bootenv_says() {
        use crate::inventory::bootenv::DiskImage;
        let dir = tempfile::tempdir().unwrap();
        let files = BootFiles::new(dir.path().to_path_buf(), "discovery");
        std::fs::write(dir.path().join("os.qcow2"), b"QFI\xfb\0\0\0\x03").unwrap();
        std::fs::write(dir.path().join("os.img"), [0u8; 512]).unwrap();
        let with = |path: &str, format| Bootenv {
            kernel: None,
            initrds: vec![],
            requires: Requires::default(),
            image: Some(DiskImage { path: path.into(), sha256: "ab".repeat(32), format }),
            ..env()
        };
        let params = Params::new();
        assert_eq!(files.unmet(&with("os.qcow2", ImageFormat::Qcow2), &params, true), None);
        assert_eq!(files.unmet(&with("os.img", ImageFormat::Raw), &params, true), None);
        let wrong = files.unmet(&with("os.qcow2", ImageFormat::Raw), &params, true).unwrap();
        assert_eq!(wrong.to_string(), "image `os.qcow2` is a qcow2 file, but image.format is raw");
        let wrong = files.all_unmet(&with("os.img", ImageFormat::Qcow2), &params);
        assert_eq!(wrong, [Unmet::Format { path: "os.img".into(), says: ImageFormat::Qcow2 }]);
        assert_eq!(
            files.unmet(&with("gone.img", ImageFormat::Raw), &params, true),
            Some(Unmet::File("gone.img".into()))
        );
    }

    #[test]
    fn a_path_out_of_the_directory_is_never_there() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("k"), b"k").unwrap();
        let files = BootFiles::new(dir.path().join("files"), "discovery");
        std::fs::create_dir_all(dir.path().join("files")).unwrap();
        assert!(!files.has("../k"));
        assert!(!files.has("/etc/passwd"));
        assert!(!files.has(""));
    }
}
