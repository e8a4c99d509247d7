//! The Secure Boot chain's side of network boot: which TFTP names are the
//! signed loaders (Debian's `shim-signed` and `grub-efi-amd64-signed`),
//! which are GRUB configs Fulcrum renders from live state, and how a
//! kernel command line and a boot file become GRUB's words.
//!
//! The chain, as measured on OVMF with its Secure Boot variables: the
//! firmware fetches `shimx64.efi` (signed by Microsoft) over TFTP; shim
//! fetches `grubx64.efi` (Debian's signed `grubnetx64`, prefix `/grub`)
//! from the same server; GRUB reads `grub/grub.cfg`, which Fulcrum answers
//! with [`BOOTSTRAP`]: read `grub/fulcrum/<MAC>.cfg`, the node's config
//! rendered at that moment from its current bootenv. GRUB loads the
//! kernel (signed by Debian; shim checks it) and initrds over TFTP from
//! `files/`, the files directory.

use std::path::Path;

use crate::types::mac::Mac;

/// The TFTP (and HTTP loader) name of the signed shim.
pub(crate) const SHIM_X64: &str = crate::config::BootConfig::SHIM_X64;
/// The name shim asks for next, in the directory it came from.
pub(crate) const GRUB_X64: &str = crate::config::BootConfig::GRUB_X64;
/// The directory of boot files over TFTP (the HTTP `/boot/files/`).
pub(crate) const FILES: &str = "files";

/// What Fulcrum answers for `grub/grub.cfg`: the node's own config, by
/// the MAC GRUB booted from. It names no node, so any GRUB gets it.
pub(crate) const BOOTSTRAP: &str = "\
# Fulcrum: read this machine's own config, rendered from live state now.
configfile $prefix/fulcrum/${net_default_mac}.cfg
# Only reached when that config was refused or did not boot: back to the
# firmware, which moves on to its next boot entry, rather than a prompt.
echo 'Fulcrum: no config for this machine; back to the firmware in 10 seconds'
sleep 10
exit
";

/// A TFTP name Fulcrum answers itself rather than from its root.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Special {
    /// The signed shim (`boot.shim_x64`).
    Shim,
    /// The signed GRUB (`boot.grub_x64`).
    Grub,
    /// `grub/grub.cfg`: [`BOOTSTRAP`].
    Bootstrap,
    /// `grub/fulcrum/<MAC>.cfg`: that MAC's config, rendered now.
    NodeConfig(Mac),
    /// `files/<path>`: a boot file under the files directory.
    File(std::path::PathBuf),
}

/// Which [`Special`] a request (already split into normal components,
/// without `..`) names, if any.
pub(crate) fn special(rel: &Path) -> Option<Special> {
    let parts: Vec<&str> = rel.iter().filter_map(|p| p.to_str()).collect();
    match parts.as_slice() {
        [SHIM_X64] => Some(Special::Shim),
        [GRUB_X64] => Some(Special::Grub),
        ["grub", "grub.cfg"] => Some(Special::Bootstrap),
        ["grub", "fulcrum", file] => {
            file.strip_suffix(".cfg").and_then(|m| m.parse::<Mac>().ok()).map(Special::NodeConfig)
        }
        [FILES, rest @ ..] if !rest.is_empty() => Some(Special::File(rest.iter().collect())),
        _ => None,
    }
}

/// A boot file as GRUB reaches it: a path under the files directory is
/// read over TFTP from the server GRUB booted from (its `$root`); an
/// `http://` URL on port 80 is read with GRUB's http module. GRUB 2.06
/// (Debian 12) cannot name another port, nor speak TLS.
pub(crate) fn file_path(path: &str) -> Result<String, String> {
    if let Some(rest) = path.strip_prefix("http://") {
        let (host, tail) = rest.split_once('/').unwrap_or((rest, ""));
        let host = host.strip_suffix(":80").unwrap_or(host);
        let plain = !host.is_empty() && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-');
        return if plain {
            Ok(word(&format!("(http,{host})/{tail}")))
        } else {
            Err(format!("GRUB cannot fetch {path}: it reads http:// on port 80 only"))
        };
    }
    if path.contains("://") {
        return Err(format!("GRUB cannot fetch {path}: it reads files over TFTP or http:// on port 80"));
    }
    Ok(word(&format!("/{FILES}/{}", path.trim_start_matches('/'))))
}

/// A kernel command line as words of a GRUB `linux` line: each word in
/// single quotes when it holds anything GRUB would read itself (`;`
/// ends a command, `$` expands a variable, quotes and `#`...). GRUB joins
/// the words with one space. It also puts a backslash before every `\`,
/// `'` and `"` it passes to Linux, which Linux keeps: a command line with
/// quotes or backslashes does not reach the kernel as written (README,
/// "Secure Boot").
pub(crate) fn words(line: &str) -> String {
    line.split_whitespace().map(word).collect::<Vec<_>>().join(" ")
}

/// One word for GRUB's parser: as it is when GRUB reads nothing in it,
/// else in single quotes.
pub(crate) fn word(w: &str) -> String {
    if !w.is_empty() && w.bytes().all(|b| b.is_ascii_alphanumeric() || b"=,.:/_-+@%()".contains(&b)) {
        w.to_string()
    } else {
        format!("'{}'", w.replace('\'', r"'\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_what_fulcrum_answers_itself() {
        let mac: Mac = "52:54:00:fc:00:01".parse().unwrap();
        assert_eq!(special(Path::new("shimx64.efi")), Some(Special::Shim));
        assert_eq!(special(Path::new("grubx64.efi")), Some(Special::Grub));
        assert_eq!(special(Path::new("grub/grub.cfg")), Some(Special::Bootstrap));
        assert_eq!(special(Path::new("grub/fulcrum/52:54:00:fc:00:01.cfg")), Some(Special::NodeConfig(mac)));
        assert_eq!(special(Path::new("grub/fulcrum/52-54-00-FC-00-01.cfg")), Some(Special::NodeConfig(mac)));
        assert_eq!(special(Path::new("files/discovery/vmlinuz")), Some(Special::File("discovery/vmlinuz".into())));
        // GRUB's own probes, and names of the TFTP root, are not ours.
        assert_eq!(special(Path::new("grub/x86_64-efi/command.lst")), None);
        assert_eq!(special(Path::new("grub/fulcrum/.cfg")), None);
        assert_eq!(special(Path::new("grub/fulcrum/not-a-mac.cfg")), None);
        assert_eq!(special(Path::new("files")), None);
        assert_eq!(special(Path::new("snponly.efi")), None);
    }

    #[test]
    fn boot_files_as_grub_reaches_them() {
        assert_eq!(file_path("discovery/vmlinuz").unwrap(), "/files/discovery/vmlinuz");
        assert_eq!(file_path("/a/initrd").unwrap(), "/files/a/initrd");
        assert_eq!(file_path("http://mirror.example/d/linux").unwrap(), "(http,mirror.example)/d/linux");
        assert_eq!(file_path("http://mirror.example:80/linux").unwrap(), "(http,mirror.example)/linux");
        assert!(file_path("http://mirror.example:8080/linux").unwrap_err().contains("port 80 only"));
        assert!(file_path("https://mirror.example/linux").unwrap_err().contains("GRUB cannot fetch"));
        // A path GRUB would read itself is one quoted word.
        assert_eq!(file_path("a b/vm;linuz").unwrap(), "'/files/a b/vm;linuz'");
    }

    #[test]
    fn kernel_words_are_each_one_grub_word() {
        assert_eq!(words("console=ttyS0  quiet"), "console=ttyS0 quiet");
        // Ubuntu's autoinstall source: `;` would end GRUB's command.
        assert_eq!(words("ds=nocloud-net;s=http://s/b/"), "'ds=nocloud-net;s=http://s/b/'");
        assert_eq!(words("a=$x b='c'"), r"'a=$x' 'b='\''c'\'''");
    }
}
