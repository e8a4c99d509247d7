//! PXELINUX's side of network boot, for BIOS machines whose network or
//! node picks it with `bios_loader`: the TFTP names that are its loaders
//! (Debian's `pxelinux`: `pxelinux.0`, TFTP only, and `lpxelinux.0`,
//! which also reads http://) and its modules (`ldlinux.c32`, which it
//! loads first, from `syslinux-common`), and the per-MAC config it asks
//! for, `pxelinux.cfg/01-<mac>`, which Fulcrum renders from the node's
//! current bootenv at that moment ([`super::render::pxelinux_config`]).
//! The other names PXELINUX tries (by UUID, by address in hex, `default`)
//! are not found at once: each miss costs the machine a TFTP round trip.

use std::path::Path;

use crate::types::mac::Mac;

/// PXELINUX reading over TFTP only.
pub(crate) const PXELINUX: &str = crate::config::BootConfig::PXELINUX;
/// PXELINUX with its own TCP stack: kernels and initrds over http://.
pub(crate) const LPXELINUX: &str = crate::config::BootConfig::LPXELINUX;
/// The directory PXELINUX reads its configs from.
const CONFIGS: &str = "pxelinux.cfg";

/// Whether `loader` is one of PXELINUX's: such a loader runs on the PXE
/// stack it was loaded by and asks DHCP nothing, so it may be given to
/// iPXE on BIOS too (no chainload loop can form).
pub(crate) fn is_pxelinux(loader: &str) -> bool {
    crate::config::BootConfig::is_pxelinux(loader)
}

/// A TFTP name of PXELINUX's that Fulcrum answers itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Special {
    /// `pxelinux.0` or `lpxelinux.0`, from `boot.pxelinux_dir`.
    Loader(&'static str),
    /// `NAME.c32` at the root, from `boot.syslinux_modules`.
    Module(String),
    /// `pxelinux.cfg/01-<mac>`: that MAC's config, rendered now.
    Config(Mac),
    /// Any other name under `pxelinux.cfg/`: not found.
    NoConfig,
}

/// Which [`Special`] a request (already split into normal components,
/// without `..`) names, if any.
pub(crate) fn special(rel: &Path) -> Option<Special> {
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        [PXELINUX] => Some(Special::Loader(PXELINUX)),
        [LPXELINUX] => Some(Special::Loader(LPXELINUX)),
        [module] if is_module(module) => Some(Special::Module((*module).to_string())),
        [CONFIGS, name] => Some(
            name.strip_prefix("01-")
                .and_then(|m| m.replace('-', ":").parse::<Mac>().ok())
                .map_or(Special::NoConfig, Special::Config),
        ),
        [CONFIGS, ..] => Some(Special::NoConfig),
        _ => None,
    }
}

/// A module's file name: `ldlinux.c32`, `menu.c32`...
fn is_module(name: &str) -> bool {
    name.strip_suffix(".c32").is_some_and(|stem| {
        !stem.is_empty() && stem.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
    })
}

/// A boot file as PXELINUX reaches it: `lpxelinux.0` reads `http://`
/// URLs (and paths under the files directory as `<base>/boot/files/...`);
/// `pxelinux.0` reads over TFTP only, from `files/` on the server it came
/// from. Neither speaks TLS, and a name with white space would end the
/// config's line.
pub(crate) fn file_path(path: &str, base: &str, http: bool) -> Result<String, String> {
    // White space would end the config's line; a comma splits `INITRD`.
    if path.chars().any(|c| c.is_whitespace() || c == ',') {
        return Err(format!("PXELINUX cannot name {path:?}: it holds white space or a comma"));
    }
    if path.starts_with("https://") {
        return Err(format!("PXELINUX cannot fetch {path}: it does not speak TLS"));
    }
    let local = !path.contains("://");
    match (local, http) {
        (true, true) if base.starts_with("https://") => Err(format!(
            "PXELINUX cannot fetch {path} from {base}: http.public_url is https://, which it does not speak"
        )),
        (true, true) => Ok(format!("{base}/boot/files/{}", path.trim_start_matches('/'))),
        (true, false) => Ok(format!("{}/{}", super::grub::FILES, path.trim_start_matches('/'))),
        (false, true) if path.starts_with("http://") => Ok(path.to_string()),
        _ => Err(format!("{PXELINUX} cannot fetch {path}: it reads over TFTP only ({LPXELINUX} reads http://)")),
    }
}

/// A kernel command line as one `APPEND` line: its words joined by one
/// space, so no line break in it can start a directive of its own.
pub(crate) fn append_line(line: &str) -> String {
    line.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_fulcrum_answers_itself() {
        let mac: Mac = "52:54:00:fc:00:01".parse().unwrap();
        assert_eq!(special(Path::new("lpxelinux.0")), Some(Special::Loader(LPXELINUX)));
        assert_eq!(special(Path::new("pxelinux.0")), Some(Special::Loader(PXELINUX)));
        assert_eq!(special(Path::new("ldlinux.c32")), Some(Special::Module("ldlinux.c32".into())));
        assert_eq!(special(Path::new("pxelinux.cfg/01-52-54-00-fc-00-01")), Some(Special::Config(mac)));
        assert_eq!(special(Path::new("pxelinux.cfg/01-52-54-00-FC-00-01")), Some(Special::Config(mac)));
        for miss in ["pxelinux.cfg/default", "pxelinux.cfg/0A4D0064", "pxelinux.cfg/01-zz", "pxelinux.cfg/a/b"] {
            assert_eq!(special(Path::new(miss)), Some(Special::NoConfig), "{miss}");
        }
        for other in ["undionly.kpxe", "x/ldlinux.c32", ".c32", "a b.c32", "grub/grub.cfg"] {
            assert_eq!(special(Path::new(other)), None, "{other}");
        }
        assert!(is_pxelinux("lpxelinux.0") && is_pxelinux("pxelinux.0") && !is_pxelinux("undionly.kpxe"));
    }

    #[test]
    fn boot_files_as_each_pxelinux_reaches_them() {
        let base = "http://10.0.0.1:8080";
        assert_eq!(file_path("d/vmlinuz", base, true).unwrap(), "http://10.0.0.1:8080/boot/files/d/vmlinuz");
        assert_eq!(file_path("/d/vmlinuz", base, false).unwrap(), "files/d/vmlinuz");
        assert_eq!(file_path("http://m/k", base, true).unwrap(), "http://m/k");
        assert!(file_path("http://m/k", base, false).unwrap_err().contains("TFTP only"));
        assert!(file_path("https://m/k", base, true).unwrap_err().contains("TLS"));
        assert!(file_path("d/a b", base, true).unwrap_err().contains("white space"));
        assert!(file_path("d/a,b", base, false).unwrap_err().contains("comma"));
        assert!(file_path("d/k", "https://fulcrum.example", true).unwrap_err().contains("public_url"));
        assert_eq!(file_path("d/k", "https://fulcrum.example", false).unwrap(), "files/d/k", "over TFTP it is fine");
        assert_eq!(append_line("console=ttyS0\nDEFAULT evil  x=1"), "console=ttyS0 DEFAULT evil x=1");
    }
}
