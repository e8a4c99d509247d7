//! Network boot: rendering of iPXE scripts and unattended-install
//! templates from live state ([`render`]), the HTTP boot routes
//! ([`http`]), and the TFTP server for first-stage loaders ([`tftp`]);
//! the one rule both file servers apply to symlinks that leave their root.

pub(crate) mod http;
pub(crate) mod render;
pub(crate) mod tftp;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Whether root owns every symlink on the way from `root` to `rel`: then
/// it may lead out of the root (a package's link, like Debian's
/// `/usr/lib/ipxe/ipxe.efi -> /boot/ipxe.efi`; whoever can make those can
/// replace the files themselves). A link anyone else made is not followed
/// out.
pub(crate) fn links_owned_by_root(root: &Path, rel: &Path) -> bool {
    let mut at = root.to_path_buf();
    rel.components().all(|c| {
        at.push(c);
        std::fs::symlink_metadata(&at).is_ok_and(|m| !m.file_type().is_symlink() || m.uid() == 0)
    })
}
