//! Which distribution an install ISO is, from what the distributions
//! themselves put on it: `.disk/info` (Ubuntu, Debian) and `.treeinfo`
//! (Rocky, AlmaLinux, RHEL), and where its network-boot kernel and initrd
//! are.

use serde::{Deserialize, Serialize};

/// A distribution family: how it installs over the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Family {
    /// Ubuntu live-server: casper, autoinstall; the installer fetches the ISO.
    Ubuntu,
    /// Debian installer: preseed; the ISO's tree is its mirror.
    Debian,
    /// Anaconda (Rocky, AlmaLinux, RHEL): kickstart; the ISO's tree is its repository.
    Redhat,
}

/// What an ISO is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub(crate) struct Distro {
    pub(crate) family: Family,
    /// `ubuntu`, `debian`, `rocky`, `almalinux`, `rhel`...
    pub(crate) id: String,
    /// The release as the ISO says it (`24.04.1`, `12.5.0`, `9.4`).
    pub(crate) version: String,
    /// The line it was told by.
    pub(crate) label: String,
}

impl Distro {
    /// The default bootenv name: `ubuntu-24.04`, `debian-12`, `rocky-9`.
    pub(crate) fn bootenv_name(&self) -> String {
        let mut parts = self.version.split('.');
        let major = parts.next().unwrap_or_default();
        match self.family {
            Family::Ubuntu => format!("{}-{major}.{}", self.id, parts.next().unwrap_or("0")),
            Family::Debian | Family::Redhat => format!("{}-{major}", self.id),
        }
    }

    /// The kernel and initrd on the ISO, by path.
    pub(crate) fn boot_files(&self) -> (&'static str, &'static str) {
        match self.family {
            Family::Ubuntu => ("casper/vmlinuz", "casper/initrd"),
            Family::Debian => ("install.amd/vmlinuz", "install.amd/initrd.gz"),
            Family::Redhat => ("images/pxeboot/vmlinuz", "images/pxeboot/initrd.img"),
        }
    }
}

/// The first dotted number in `text` (`24.04.1` in `Ubuntu-Server 24.04.1 LTS`).
fn version_in(text: &str) -> Option<String> {
    text.split(|c: char| !(c.is_ascii_digit() || c == '.'))
        .map(|w| w.trim_matches('.'))
        .find(|w| w.starts_with(|c: char| c.is_ascii_digit()))
        .map(str::to_string)
}

/// From `.disk/info` (`Ubuntu-Server 24.04.1 LTS "Noble Numbat" - Release amd64 (20240827)`,
/// `Debian GNU/Linux 12.5.0 "Bookworm" - Official amd64 NETINST ...`).
pub(crate) fn from_disk_info(info: &str) -> Option<Distro> {
    let line = info.lines().next()?.trim().to_string();
    let (family, id) = if line.starts_with("Ubuntu") {
        (Family::Ubuntu, "ubuntu")
    } else if line.starts_with("Debian") {
        (Family::Debian, "debian")
    } else {
        return None;
    };
    let version = version_in(&line)?;
    Some(Distro { family, id: id.into(), version, label: line })
}

/// From `.treeinfo`, an INI file: `[general]` (or `[release]`) `family`
/// (or `name`) and `version`.
pub(crate) fn from_treeinfo(text: &str) -> Option<Distro> {
    let mut section = String::new();
    let (mut family, mut version) = (None, None);
    for line in text.lines().map(str::trim) {
        if let Some(s) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = s.to_string();
            continue;
        }
        let Some((k, v)) = line.split_once('=') else { continue };
        let (k, v) = (k.trim(), v.trim());
        match (section.as_str(), k) {
            ("general", "family") | ("release", "name") if family.is_none() => family = Some(v.to_string()),
            ("general", "version") | ("release", "version") if version.is_none() => version = Some(v.to_string()),
            _ => {}
        }
    }
    let (family, version) = (family?, version?);
    let lower = family.to_ascii_lowercase();
    let id = if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("centos") {
        "centos"
    } else {
        return None;
    };
    let label = format!("{family} {version}");
    Some(Distro { family: Family::Redhat, id: id.into(), version, label })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_the_distributions_write() {
        let u = from_disk_info("Ubuntu-Server 24.04.1 LTS \"Noble Numbat\" - Release amd64 (20240827)\n").unwrap();
        assert_eq!(
            (u.family, u.version.as_str(), u.bootenv_name().as_str()),
            (Family::Ubuntu, "24.04.1", "ubuntu-24.04")
        );
        let d = from_disk_info(
            "Debian GNU/Linux 12.5.0 \"Bookworm\" - Official amd64 NETINST with firmware 20240210-11:27",
        )
        .unwrap();
        assert_eq!((d.family, d.version.as_str(), d.bootenv_name().as_str()), (Family::Debian, "12.5.0", "debian-12"));
        let r = from_treeinfo(
            "[header]\ntype = productmd.treeinfo\n[general]\nfamily = Rocky Linux\nversion = 9.4\narch = x86_64\n",
        )
        .unwrap();
        assert_eq!(
            (r.id.as_str(), r.bootenv_name().as_str(), r.label.as_str()),
            ("rocky", "rocky-9", "Rocky Linux 9.4")
        );
        let a = from_treeinfo("[release]\nname = AlmaLinux\nversion = 9.3\n").unwrap();
        assert_eq!(a.bootenv_name(), "almalinux-9");
        assert!(from_disk_info("Windows 11").is_none());
        assert!(from_treeinfo("[general]\nfamily = Fedora\nversion = 40\n").is_none());
        assert!(from_treeinfo("[general]\nfamily = Rocky Linux\n").is_none());
    }
}
