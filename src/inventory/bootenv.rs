//! Boot environments: what a node's next network boot runs. The record,
//! its rules (a valid name, a kernel or a script for network bootenvs,
//! templates that compile, so that a broken one is refused when it is
//! created rather than when a machine boots it), the bootenvs shipped in
//! the binary (`bootenvs/*.toml`) and their seeding: a shipped bootenv is
//! added only when none of its name exists, so an operator's edits win.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::error::InventoryError;
use crate::state::{record, NoIndex, Txn};
use crate::types::agent::ImageFormat;
use crate::types::field::FieldError;
use crate::types::field::Refuse;
use crate::types::names;

/// `(file name, text)` of every shipped bootenv.
const SHIPPED: [(&str, &str); 5] = [
    ("local.toml", include_str!("../../bootenvs/local.toml")),
    ("discovery.toml", include_str!("../../bootenvs/discovery.toml")),
    ("ubuntu-24.04.toml", include_str!("../../bootenvs/ubuntu-24.04.toml")),
    ("debian-12.toml", include_str!("../../bootenvs/debian-12.toml")),
    ("rocky-9.toml", include_str!("../../bootenvs/rocky-9.toml")),
];

/// Whether a boot environment boots from the network or the local disk,
/// or is an OS image the discovery agent writes to the disk.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, Default, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum BootKind {
    #[default]
    Network,
    Local,
    /// Deploying it boots the discovery image, whose agent writes
    /// [`Bootenv::image`] to the node's disk; then the node boots from it.
    Image,
}

/// A whole-disk image the agent writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DiskImage {
    /// A path under the files directory (served at `/boot/files/`), or an
    /// `http://` URL.
    pub(crate) path: String,
    /// Its SHA-256, lower-case hex: the agent checks it over the bytes it
    /// writes (and their length against the server's), before it reports.
    /// For a qcow2 image it is the SHA-256 of the qcow2 file, as
    /// distributions publish it.
    pub(crate) sha256: String,
    /// `raw` (the default) or `qcow2`.
    #[serde(default)]
    pub(crate) format: ImageFormat,
}

impl DiskImage {
    /// Where the agent fetches it: an absolute URL, or a path on the
    /// server it talks to.
    pub(crate) fn url(&self) -> String {
        if self.path.starts_with("http://") {
            self.path.clone()
        } else {
            format!("/boot/files/{}", self.path.trim_start_matches('/'))
        }
    }
}

/// A boot environment.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "tiny", "description": "a kernel and an initrd", "kernel": "tiny/vmlinuz", "initrds": ["tiny/initrd.img"], "kernel_params": "console=ttyS0 fulcrum.node={{ node.name }}"}))]
pub(crate) struct Bootenv {
    #[schema(pattern = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")]
    pub(crate) name: String,
    #[serde(default)]
    pub(crate) description: String,
    #[serde(default)]
    pub(crate) os: String,
    #[serde(default)]
    pub(crate) kind: BootKind,
    /// Kernel: a path under the files directory or an http(s) URL.
    pub(crate) kernel: Option<String>,
    #[serde(default)]
    pub(crate) initrds: Vec<String>,
    /// minijinja template of the kernel command line.
    #[serde(default)]
    pub(crate) kernel_params: String,
    /// minijinja template of the iPXE script; empty means the default
    /// kernel + initrd script.
    #[serde(default)]
    pub(crate) ipxe: String,
    /// minijinja template of the GRUB config (the Secure Boot chain);
    /// empty means the default kernel + initrd config.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub(crate) grub: String,
    /// Unattended-install templates served at `/boot/templates/{mac}/{name}`.
    #[serde(default)]
    pub(crate) templates: BTreeMap<String, String>,
    /// The image an `image` bootenv writes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) image: Option<DiskImage>,
    /// What must be there before a node may be given this bootenv, beyond
    /// its own kernel, initrds and image files (which always must).
    #[serde(default, skip_serializing_if = "Requires::is_empty")]
    pub(crate) requires: Requires,
}

/// What a bootenv needs before a node may boot it: files under the files
/// directory (an installer's tree, a live ISO) and node params (an SSH
/// key its unattended install puts in place).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct Requires {
    /// Paths under the files directory that must exist.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) files: Vec<String>,
    /// Names of node params that must be set (non-empty).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) params: Vec<String>,
}

impl Requires {
    pub(crate) fn is_empty(&self) -> bool {
        self.files.is_empty() && self.params.is_empty()
    }
}

record!(Bootenv, kind = "bootenv", table = "bootenvs", key = name: String, index = NoIndex);

impl Bootenv {
    /// Checks the name and compiles every template; the error names the
    /// field.
    pub(crate) fn check(&self) -> Result<(), FieldError> {
        names::check_name("name", &self.name)?;
        if self.kind == BootKind::Network && self.kernel.is_none() && self.ipxe.is_empty() {
            return Err(FieldError::new("kernel", "a network bootenv needs a kernel or its own ipxe script"));
        }
        match (&self.image, self.kind) {
            (None, BootKind::Image) => return Err(FieldError::new("image", "an image bootenv needs an image")),
            (Some(_), BootKind::Network | BootKind::Local) => {
                return Err(FieldError::new("image", "only a bootenv of kind `image` has an image"));
            }
            (Some(i), BootKind::Image) => {
                if !(i.sha256.len() == 64 && i.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)))
                {
                    return Err(FieldError::new("image.sha256", "expected 64 lower-case hex digits"));
                }
                let remote = i.path.contains("://");
                if i.path.is_empty() || (remote && !i.path.starts_with("http://")) || (!remote && i.path.contains(".."))
                {
                    return Err(FieldError::new(
                        "image.path",
                        "expected a path under the files directory or an http:// URL (the agent speaks plain HTTP)",
                    ));
                }
            }
            (None, _) => {}
        }
        for (i, f) in self.requires.files.iter().enumerate() {
            if !is_local_path(f) {
                return Err(FieldError::new(
                    format!("requires.files[{i}]"),
                    "expected a relative path under the files directory, without `..`",
                ));
            }
        }
        for (i, p) in self.requires.params.iter().enumerate() {
            names::check_param(&format!("requires.params[{i}]"), p)?;
        }
        let jinja = minijinja::Environment::new();
        let compile = |field: String, text: &str| {
            jinja
                .template_from_str(text)
                .map(|_| ())
                .map_err(|e| FieldError::new(field, format!("template does not compile: {e}")))
        };
        compile("kernel_params".into(), &self.kernel_params)?;
        compile("ipxe".into(), &self.ipxe)?;
        compile("grub".into(), &self.grub)?;
        for (name, text) in &self.templates {
            compile(format!("templates.{name}"), text)?;
        }
        Ok(())
    }
}

impl Bootenv {
    /// The files under the files directory a node booting it fetches
    /// (kernel, initrds and image given as paths, not URLs) and the ones
    /// it requires, as relative paths.
    pub(crate) fn local_files(&self) -> impl Iterator<Item = &str> {
        let image = self.image.as_ref().map(|i| i.path.as_str());
        self.kernel
            .as_deref()
            .into_iter()
            .chain(self.initrds.iter().map(String::as_str))
            .chain(image)
            .filter(|p| !p.contains("://"))
            .chain(self.requires.files.iter().map(String::as_str))
            .map(|p| p.trim_start_matches('/'))
    }
}

/// A relative path that stays under its directory.
fn is_local_path(path: &str) -> bool {
    !path.is_empty() && !path.contains("://") && !path.starts_with('/') && !path.split('/').any(|c| c == "..")
}

/// A shipped bootenv that does not parse or check (a build defect the
/// unit tests catch).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ShippedError {
    #[error("bootenvs/{file} does not parse")]
    Parse {
        file: &'static str,
        #[source]
        source: toml::de::Error,
    },
    #[error("bootenvs/{file} is not a valid bootenv")]
    Check {
        file: &'static str,
        #[source]
        source: FieldError,
    },
}

/// The shipped bootenvs, parsed and checked.
pub(crate) fn shipped() -> Result<Vec<Bootenv>, ShippedError> {
    SHIPPED
        .iter()
        .map(|(file, text)| {
            let env: Bootenv = toml::from_str(text).map_err(|source| ShippedError::Parse { file, source })?;
            env.check().map_err(|source| ShippedError::Check { file, source })?;
            Ok(env)
        })
        .collect()
}

/// Creates a bootenv that passed [`Bootenv::check`] (compiling its
/// templates is the caller's work, not the writer thread's).
pub(crate) fn create(txn: &mut Txn<'_>, env: Bootenv) -> Result<Arc<Bootenv>, InventoryError> {
    if txn.world().table::<Bootenv>().contains(&env.name) {
        return Err(InventoryError::conflict("name", format!("bootenv `{}` already exists", env.name)));
    }
    Ok(txn.put(env)?)
}

/// Creates `env`, or points the existing bootenv of its name at `env`'s
/// kernel and initrds (keeping the rest); whether it was created.
pub(crate) fn import(txn: &mut Txn<'_>, env: Bootenv) -> Result<(Arc<Bootenv>, bool), InventoryError> {
    match txn.world().table::<Bootenv>().get(&env.name).map(|e| (**e).clone()) {
        Some(mut old) => {
            old.kernel = env.kernel;
            old.initrds = env.initrds;
            Ok((txn.put(old)?, false))
        }
        None => Ok((txn.put(env)?, true)),
    }
}

/// Adds each of `envs` (checked, as [`shipped`] returns them) that no
/// bootenv of its name exists for; returns how many were added.
pub(crate) fn seed(txn: &mut Txn<'_>, envs: Vec<Bootenv>) -> Result<usize, InventoryError> {
    let mut added = 0;
    for env in envs {
        if !txn.world().table::<Bootenv>().contains(&env.name) {
            txn.put(env)?;
            added += 1;
        }
    }
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_bootenvs_parse_and_compile() {
        let names: Vec<String> = shipped().unwrap().into_iter().map(|e| e.name).collect();
        assert_eq!(names, ["local", "discovery", "ubuntu-24.04", "debian-12", "rocky-9"]);
    }

    #[test]
    fn broken_template_names_field() {
        let mut env = shipped().unwrap().remove(1);
        env.templates.insert("user-data".into(), "{% if %}".into());
        assert_eq!(env.check().unwrap_err().field, "templates.user-data");
        env.templates.clear();
        env.kernel = None;
        assert_eq!(env.check().unwrap_err().field, "kernel");
        env.name = "../x".into();
        assert_eq!(env.check().unwrap_err().field, "name");
    }
}
