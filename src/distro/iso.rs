//! Reading an install ISO with hadris-iso (ISO 9660 with Rock Ridge and
//! Joliet names; no loop mount, no root): a small file by path, a file
//! copied out in chunks with its SHA-256, a whole tree copied out. Every
//! name taken from the image is checked (no `/`, `..`, NUL or empty
//! name), and symlinks are not followed, so nothing lands outside the
//! destination.

use std::fs::File;
use std::io::{BufReader, Write};
use std::path::Path;

use hadris_iso::sync::directory::DirectoryRef;
use hadris_iso::sync::read::DirEntry;
use hadris_iso::sync::IsoImage;
use sha2::{Digest, Sha256};

use super::{FileSum, ImportError};

/// How much a file read whole may hold (`.disk/info`, `.treeinfo`).
const SMALL: u64 = 64 * 1024;
/// The deepest directory a tree copy goes into.
const DEPTH: usize = 32;

/// An open image.
pub(crate) struct Iso {
    image: IsoImage<BufReader<File>>,
}

fn malformed(e: impl std::fmt::Display) -> ImportError {
    ImportError::Malformed(e.to_string())
}

/// A name from the image that is safe as one path component.
fn component(name: &str) -> Result<&str, ImportError> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if bad {
        return Err(ImportError::Malformed(format!("the image names a file `{}`", name.escape_debug())));
    }
    Ok(name)
}

/// The name an entry is known by: Rock Ridge's, else Joliet's or the plain
/// one without its `;1` version.
fn name_of(e: &DirEntry) -> String {
    let shown = e.display_name();
    let plain = shown.trim_end_matches('\0');
    match plain.rsplit_once(';') {
        Some((base, v)) if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) => {
            base.trim_end_matches('.').to_string()
        }
        _ => plain.to_string(),
    }
}

impl Iso {
    /// Opens `path` as an ISO 9660 image.
    pub(crate) fn open(path: &Path) -> Result<Iso, ImportError> {
        let file = File::open(path).map_err(|source| ImportError::Open { path: path.display().to_string(), source })?;
        let image =
            IsoImage::open(BufReader::new(file)).map_err(|e| malformed(format!("not an ISO 9660 image: {e}")))?;
        Ok(Iso { image })
    }

    fn find(&self, path: &str) -> Result<Option<DirEntry>, ImportError> {
        self.image.find_path(path).map_err(malformed)
    }

    /// A small file's bytes, if the image has it.
    pub(crate) fn read_small(&self, path: &str) -> Result<Option<Vec<u8>>, ImportError> {
        let Some(e) = self.find(path)? else { return Ok(None) };
        if e.is_directory() || e.total_size() > SMALL {
            return Ok(None);
        }
        self.image.read_file(&e).map(Some).map_err(malformed)
    }

    /// Whether the image has a file at `path`.
    pub(crate) fn has(&self, path: &str) -> Result<bool, ImportError> {
        Ok(self.find(path)?.is_some_and(|e| e.is_file()))
    }

    fn copy_entry(&self, e: &DirEntry, dest: &Path, sum: bool) -> Result<(u64, Option<String>), ImportError> {
        let io = |source| ImportError::Io { what: dest.display().to_string(), source };
        let mut out = File::create(dest).map_err(io)?;
        let mut hash = sum.then(Sha256::new);
        let mut chunks = self.image.read_file_chunked::<{ 1 << 20 }>(e).map_err(malformed)?;
        let mut bytes = 0u64;
        while let Some(chunk) = chunks.next_chunk().map_err(malformed)? {
            if let Some(h) = hash.as_mut() {
                h.update(&chunk);
            }
            bytes += chunk.len() as u64;
            out.write_all(&chunk).map_err(io)?;
        }
        out.sync_all().map_err(io)?;
        Ok((bytes, hash.map(|h| data_encoding::HEXLOWER.encode(&h.finalize()))))
    }

    /// Copies the file at `path` to `dest`; its size and SHA-256.
    pub(crate) fn copy_out(&self, path: &str, dest: &Path) -> Result<FileSum, ImportError> {
        let e = self.find(path)?.filter(DirEntry::is_file).ok_or_else(|| ImportError::Missing(path.to_string()))?;
        let (bytes, sha) = self.copy_entry(&e, dest, true)?;
        let name = dest.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        Ok(FileSum { path: name, from: path.to_string(), bytes, sha256: sha.unwrap_or_default() })
    }

    /// Copies every file and directory of the image under `dest`
    /// (symlinks skipped); how many files and bytes.
    pub(crate) fn copy_tree(&self, dest: &Path) -> Result<(u64, u64), ImportError> {
        let mut totals = (0, 0);
        self.copy_dir(self.image.root_dir().dir_ref(), dest, 0, &mut totals)?;
        Ok(totals)
    }

    fn copy_dir(
        &self,
        dir: DirectoryRef,
        dest: &Path,
        depth: usize,
        totals: &mut (u64, u64),
    ) -> Result<(), ImportError> {
        if depth > DEPTH {
            return Err(ImportError::Malformed(format!("directories nested deeper than {DEPTH}")));
        }
        std::fs::create_dir_all(dest).map_err(|source| ImportError::Io { what: dest.display().to_string(), source })?;
        let entries: Vec<DirEntry> = self.image.open_dir(dir).entries().collect::<Result<_, _>>().map_err(malformed)?;
        for e in entries {
            if e.is_special() || e.rrip.as_ref().is_some_and(|r| r.symlink_target.is_some()) {
                continue;
            }
            let name = name_of(&e);
            let target = dest.join(component(&name)?);
            if e.is_directory() {
                let sub = e.as_dir_ref(&self.image).map_err(malformed)?;
                self.copy_dir(sub, &target, depth + 1, totals)?;
            } else {
                let (bytes, _) = self.copy_entry(&e, &target, false)?;
                totals.0 += 1;
                totals.1 += bytes;
            }
        }
        Ok(())
    }
}
