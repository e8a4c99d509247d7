//! A directory as an initramfs: a newc cpio archive, gzip'd, that is the
//! same bytes for the same tree. Entries are sorted by path, and owners,
//! times, inode and device numbers are fixed; only names, modes, link
//! targets and contents come from the tree.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;

/// One entry, read from the tree.
enum Kind {
    Dir,
    File(Vec<u8>),
    Link(String),
}

fn walk(root: &Path, rel: &str, out: &mut Vec<(String, u32, Kind)>) -> std::io::Result<()> {
    let dir = if rel.is_empty() { root.to_path_buf() } else { root.join(rel) };
    let mut names: Vec<String> = std::fs::read_dir(&dir)?
        .map(|e| e.map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect::<Result<_, _>>()?;
    names.sort();
    for name in names {
        let path = if rel.is_empty() { name.clone() } else { format!("{rel}/{name}") };
        let full = root.join(&path);
        let meta = std::fs::symlink_metadata(&full)?;
        let perm = meta.permissions().mode() & 0o7777;
        if meta.file_type().is_symlink() {
            let target = std::fs::read_link(&full)?.to_string_lossy().into_owned();
            out.push((path, S_IFLNK | 0o777, Kind::Link(target)));
        } else if meta.is_dir() {
            out.push((path.clone(), S_IFDIR | perm, Kind::Dir));
            walk(root, &path, out)?;
        } else if meta.is_file() {
            out.push((path, S_IFREG | perm, Kind::File(std::fs::read(&full)?)));
        } else {
            return Err(std::io::Error::other(format!("{path}: only files, directories and symlinks go in an image")));
        }
    }
    Ok(())
}

/// Writes `root`'s tree to `out` as a gzip'd newc archive.
pub(crate) fn write_initramfs(root: &Path, out: impl Write) -> std::io::Result<()> {
    let mut entries = Vec::new();
    walk(root, "", &mut entries)?;
    // A fixed header: no name, no time.
    let mut gz = flate2::GzBuilder::new().mtime(0).write(out, flate2::Compression::default());
    for (ino, (path, mode, kind)) in entries.into_iter().enumerate() {
        let data: Vec<u8> = match kind {
            Kind::Dir => Vec::new(),
            Kind::File(d) => d,
            Kind::Link(t) => t.into_bytes(),
        };
        let size = u32::try_from(data.len()).map_err(|_| std::io::Error::other(format!("{path}: over 4 GiB")))?;
        let nlink = if mode & S_IFDIR == S_IFDIR { 2 } else { 1 };
        let ino = u32::try_from(ino + 1).unwrap_or(u32::MAX);
        let mut w = cpio::newc::Builder::new(&path).ino(ino).mode(mode).nlink(nlink).mtime(0).write(&mut gz, size);
        w.write_all(&data)?;
        w.finish()?;
    }
    cpio::newc::trailer(&mut gz)?;
    gz.finish()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("bin")).unwrap();
        std::fs::write(t.path().join("bin/tool"), b"program").unwrap();
        std::fs::set_permissions(t.path().join("bin/tool"), std::fs::Permissions::from_mode(0o755)).unwrap();
        std::os::unix::fs::symlink("tool", t.path().join("bin/sh")).unwrap();
        std::fs::write(t.path().join("init"), b"#!/bin/sh\n").unwrap();
        t
    }

    fn archive(root: &Path) -> Vec<u8> {
        let mut out = Vec::new();
        write_initramfs(root, &mut out).unwrap();
        out
    }

    #[test]
    fn the_same_tree_makes_the_same_bytes_and_reads_back() {
        let (a, b) = (tree(), tree());
        // Different times and inodes on disk; the same archive.
        std::thread::sleep(std::time::Duration::from_millis(20));
        std::fs::write(b.path().join("init"), b"#!/bin/sh\n").unwrap();
        let bytes = archive(a.path());
        assert_eq!(bytes, archive(b.path()));
        let mut cpio = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&bytes[..]), &mut cpio).unwrap();
        let mut names = Vec::new();
        let mut rest = &cpio[..];
        loop {
            let r = cpio::NewcReader::new(rest).unwrap();
            if r.entry().is_trailer() {
                break;
            }
            names.push((r.entry().name().to_string(), r.entry().mode(), r.entry().mtime()));
            rest = r.finish().unwrap();
        }
        assert_eq!(
            names,
            [
                ("bin".to_string(), S_IFDIR | 0o755, 0),
                ("bin/sh".to_string(), S_IFLNK | 0o777, 0),
                ("bin/tool".to_string(), S_IFREG | 0o755, 0),
                ("init".to_string(), S_IFREG | 0o644, 0),
            ]
        );
    }
}
