//! Small readers for `/sys` and `/proc` files, relative to a root (`/` in
//! the image, a made-up tree in the tests). A file that is missing or
//! unreadable reads as nothing: hardware varies, and an absent attribute
//! is an answer.

use std::path::{Path, PathBuf};

/// `root` joined with an absolute path such as `/sys/block`.
pub(crate) fn at(root: &Path, path: &str) -> PathBuf {
    root.join(path.trim_start_matches('/'))
}

/// The file's text, trimmed; `None` when missing or empty.
pub(crate) fn text(path: &Path) -> Option<String> {
    let s = std::fs::read_to_string(path).ok()?;
    let s = s.trim_matches(|c: char| c.is_whitespace() || c == '\0');
    (!s.is_empty()).then(|| s.to_string())
}

/// The file's text as a whole number.
pub(crate) fn number(path: &Path) -> Option<u64> {
    text(path)?.parse().ok()
}

/// The last part of where a symlink points (a driver's name, a device's).
pub(crate) fn link_name(path: &Path) -> Option<String> {
    std::fs::read_link(path).ok()?.file_name().map(|n| n.to_string_lossy().into_owned())
}

/// The entries of a directory, sorted by name.
pub(crate) fn entries(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .map(|d| d.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect())
        .unwrap_or_default();
    names.sort();
    names
}

/// Whether `s` is a PCI address such as `0000:00:1f.2`.
pub(crate) fn is_pci_address(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 12
        && b[4] == b':'
        && b[7] == b':'
        && b[10] == b'.'
        && s.chars().enumerate().all(|(i, c)| matches!(i, 4 | 7 | 10) || c.is_ascii_hexdigit())
}

/// The PCI address nearest the device in its sysfs path (the device
/// itself or the bridge-side function it hangs off).
pub(crate) fn pci_address(device: &Path) -> Option<String> {
    let real = std::fs::canonicalize(device).ok()?;
    real.components().rev().filter_map(|c| c.as_os_str().to_str()).find(|c| is_pci_address(c)).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pci_addresses() {
        assert!(is_pci_address("0000:00:1f.2"));
        assert!(!is_pci_address("pci0000:00"));
        assert!(!is_pci_address("0000:00:1f:2"));
        assert!(!is_pci_address("virtio0"));
    }
}
