//! Reading a qcow2 image (QEMU's disk format, versions 2 and 3) the way
//! the agent writes it to a disk: the header and the L1 and L2 tables,
//! fetched first by byte range, say where each of the disk's clusters
//! lies in the file ([`Layout::read`]); then the file is read once, front
//! to back, and each cluster is written at its place on the disk,
//! inflated first when it is compressed ([`Layout::expand`]). The
//! clusters the file does not hold are zeros ([`Layout::holes`]).
//!
//! Refused, each by name: backing files, encryption, external data
//! files, extended L2 entries (subclusters), compression other than
//! deflate, a disk larger than the largest the machine has, an L2 table
//! named twice, and more mapped runs than [`MAX_PIECES`]. A snapshot's
//! clusters are not read: the disk is the image's current state.
//!
//! What it holds is bounded whatever the file says: the tables are kept
//! as SHA-256 digests, each run of clusters is at most [`MAX_RUN`] bytes,
//! and while streaming only the bytes of the run being assembled (plus
//! one read) are held.

use std::io::{Read, Seek, SeekFrom, Write};

/// The first four bytes of every qcow2 file.
pub(crate) const MAGIC: [u8; 4] = *b"QFI\xfb";

/// How much of the file's start [`Layout::read`] fetches for the header.
const HEADER: usize = 512;
/// The largest L1 table read (QEMU's own limit).
const MAX_L1_BYTES: u64 = 32 << 20;
/// The longest run of clusters written in one go (and so held at once).
pub(crate) const MAX_RUN: u64 = 8 << 20;
/// The most runs an image may map (about 56 bytes each).
pub(crate) const MAX_PIECES: usize = 4 << 20;
/// The largest offset in a file (QEMU's limit: a signed 64-bit offset).
const MAX_OFFSET: u64 = i64::MAX as u64;
/// Bits 9-55 of an L1 or a standard L2 entry: a host offset.
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// Bit 62 of an L2 entry: the cluster is compressed.
const COMPRESSED: u64 = 1 << 62;
/// Bit 0 of a version 3 standard L2 entry: the cluster reads as zeros.
const ZEROS: u64 = 1;

/// What the disk needs from a span of the file.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Use {
    /// The bytes, written at this disk offset.
    Write(u64),
    /// One cluster, deflated: inflated and written at this disk offset.
    Inflate(u64),
    /// Metadata already read by range (its SHA-256): the file read front
    /// to back must hold the same bytes, or it changed in between.
    Same([u8; 32]),
}

/// A span of the file and what it is for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Piece {
    at: u64,
    len: u64,
    what: Use,
}

/// Where a qcow2 file keeps each cluster of the disk it describes.
#[derive(Debug)]
pub(crate) struct Layout {
    /// The disk's size (the image's virtual size), in bytes.
    pub(crate) disk_size: u64,
    cluster: u64,
    /// Sorted by where they start in the file.
    pieces: Vec<Piece>,
    /// Spans of the disk the file holds no data for: zeros.
    holes: Vec<(u64, u64)>,
}

fn be32(b: &[u8], at: usize) -> Result<u32, String> {
    b.get(at..at + 4)
        .and_then(|s| s.try_into().ok())
        .map(u32::from_be_bytes)
        .ok_or_else(|| "the file ends inside its header".to_string())
}

fn be64(b: &[u8], at: usize) -> Result<u64, String> {
    b.get(at..at + 8)
        .and_then(|s| s.try_into().ok())
        .map(u64::from_be_bytes)
        .ok_or_else(|| "the file ends inside its header".to_string())
}

/// The incompatible feature bits (version 3) the agent can read past.
fn check_features(head: &[u8]) -> Result<(), String> {
    let features = be64(head, 72)?;
    for bit in 0..64 {
        if features & (1 << bit) == 0 {
            continue;
        }
        match bit {
            // Dirty: the refcounts may be stale; they are not read.
            0 => {}
            1 => return Err("it is marked corrupt (qemu-img check -r all mends it)".into()),
            2 => return Err("its data is in an external file".into()),
            3 => {
                // The bit says the header names a non-default compression
                // type; one without room for it, or naming deflate (0), is
                // malformed.
                let header_len = be32(head, 100)? as usize;
                let kind = head.get(104).copied().filter(|k| header_len > 104 && *k != 0);
                return Err(match kind {
                    Some(kind) => format!(
                        "its clusters are compressed with type {kind} (zstd), not deflate \
                         (qemu-img convert -c -o compression_type=zlib mends it)"
                    ),
                    None => "its compression-type bit is set without a compression type".into(),
                });
            }
            4 => return Err("it has extended L2 entries (subclusters)".into()),
            n => return Err(format!("it needs incompatible feature bit {n}, which the agent does not know")),
        }
    }
    Ok(())
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).into()
}

/// Adds a piece, joining a data run that continues the last one in both
/// the file and the disk (up to [`MAX_RUN`]); refuses past [`MAX_PIECES`].
fn push(pieces: &mut Vec<Piece>, p: Piece) -> Result<(), String> {
    if let (Some(last), Use::Write(g)) = (pieces.last_mut(), &p.what) {
        if let Use::Write(lg) = last.what {
            if last.at + last.len == p.at && lg + last.len == *g && last.len + p.len <= MAX_RUN {
                last.len += p.len;
                return Ok(());
            }
        }
    }
    if pieces.len() >= MAX_PIECES {
        return Err(format!("it maps more than {MAX_PIECES} runs of clusters"));
    }
    pieces.push(p);
    Ok(())
}

impl Layout {
    /// Reads the header and the tables through `read_at(offset, len)`,
    /// which returns up to `len` bytes of the file from `offset` (fewer
    /// only where the file ends), for a machine whose largest disk holds
    /// `largest` bytes.
    pub(crate) fn read(
        largest: u64,
        mut read_at: impl FnMut(u64, usize) -> Result<Vec<u8>, String>,
    ) -> Result<Layout, String> {
        let refuse = |why: String| format!("not a qcow2 image the agent can write: {why}");
        let head = read_at(0, HEADER)?;
        if head.get(..4) != Some(&MAGIC[..]) {
            return Err(refuse("its first bytes are not QFI\\xfb".into()));
        }
        let version = be32(&head, 4).map_err(refuse)?;
        if !(2..=3).contains(&version) {
            return Err(refuse(format!("version {version} (2 and 3 are known)")));
        }
        if be64(&head, 8).map_err(refuse)? != 0 {
            return Err(refuse("it has a backing file (qemu-img convert -O qcow2 makes it whole)".into()));
        }
        let cluster_bits = be32(&head, 20).map_err(refuse)?;
        if !(9..=21).contains(&cluster_bits) {
            return Err(refuse(format!("cluster_bits {cluster_bits} is outside 9-21")));
        }
        let disk_size = be64(&head, 24).map_err(refuse)?;
        if disk_size > largest {
            return Err(format!("the image's {disk_size}-byte disk is larger than any writable fixed disk here"));
        }
        if be32(&head, 32).map_err(refuse)? != 0 {
            return Err(refuse("it is encrypted".into()));
        }
        if version == 3 {
            check_features(&head).map_err(refuse)?;
        }
        let l1_entries = u64::from(be32(&head, 36).map_err(refuse)?);
        let l1_at = be64(&head, 40).map_err(refuse)?;
        let cluster = 1u64 << cluster_bits;
        let l2_entries = cluster / 8;
        let needed = disk_size.div_ceil(cluster).div_ceil(l2_entries);
        if l1_entries < needed {
            return Err(refuse(format!(
                "its L1 table has {l1_entries} entries; a {disk_size}-byte disk needs {needed}"
            )));
        }
        if needed * 8 > MAX_L1_BYTES || l1_at % cluster != 0 || l1_at > MAX_OFFSET - needed * 8 {
            return Err(refuse(format!("its L1 table ({needed} entries at byte {l1_at}) is out of bounds")));
        }
        let mut pieces = vec![Piece { at: 0, len: head.len() as u64, what: Use::Same(digest(&head)) }];
        let mut tables = std::collections::HashSet::new();
        let mut holes: Vec<(u64, u64)> = Vec::new();
        let mut hole = |start: u64, len: u64| match holes.last_mut() {
            Some((s, l)) if *s + *l == start => *l += len,
            _ => holes.push((start, len)),
        };
        let l1 = read_at(l1_at, (needed * 8) as usize)?;
        if (l1.len() as u64) < needed * 8 {
            return Err(refuse("the file ends inside its L1 table".into()));
        }
        let per_table = cluster * l2_entries;
        for (i, entry) in l1.chunks_exact(8).enumerate() {
            let start = i as u64 * per_table;
            let table_at = u64::from_be_bytes(entry.try_into().unwrap_or_default()) & OFFSET_MASK;
            if table_at == 0 {
                hole(start, per_table.min(disk_size - start));
                continue;
            }
            if table_at % cluster != 0 || table_at > MAX_OFFSET - cluster {
                return Err(refuse(format!("L1 entry {i} points inside a cluster (byte {table_at})")));
            }
            if !tables.insert(table_at) {
                return Err(refuse(format!("L1 entry {i} names the L2 table at byte {table_at} again")));
            }
            let l2 = read_at(table_at, cluster as usize)?;
            if (l2.len() as u64) < cluster {
                return Err(refuse(format!("the file ends inside the L2 table at byte {table_at}")));
            }
            for (j, entry) in l2.chunks_exact(8).enumerate() {
                let guest = start + j as u64 * cluster;
                if guest >= disk_size {
                    break;
                }
                let len = cluster.min(disk_size - guest);
                let entry = u64::from_be_bytes(entry.try_into().unwrap_or_default());
                if entry & COMPRESSED != 0 {
                    let x = 62 - (cluster_bits - 8);
                    let host = entry & ((1 << x) - 1);
                    let sectors = ((entry >> x) & ((1 << (cluster_bits - 8)) - 1)) + 1;
                    let len = sectors * 512 - (host & 511);
                    if host > MAX_OFFSET - len {
                        return Err(refuse(format!("the compressed cluster at disk byte {guest} is past any file")));
                    }
                    push(&mut pieces, Piece { at: host, len, what: Use::Inflate(guest) }).map_err(refuse)?;
                    continue;
                }
                let host = entry & OFFSET_MASK;
                if host == 0 || (version == 3 && entry & ZEROS != 0) {
                    hole(guest, len);
                } else if host % cluster != 0 || host > MAX_OFFSET - cluster {
                    return Err(refuse(format!("the cluster at disk byte {guest} starts inside a file cluster")));
                } else {
                    push(&mut pieces, Piece { at: host, len, what: Use::Write(guest) }).map_err(refuse)?;
                }
            }
            push(&mut pieces, Piece { at: table_at, len: cluster, what: Use::Same(digest(&l2)) }).map_err(refuse)?;
        }
        push(&mut pieces, Piece { at: l1_at, len: l1.len() as u64, what: Use::Same(digest(&l1)) }).map_err(refuse)?;
        pieces.sort_by_key(|p| (p.at, p.len));
        let mut joined = Vec::with_capacity(pieces.len());
        for p in pieces {
            push(&mut joined, p).map_err(refuse)?;
        }
        Ok(Layout { disk_size, cluster, pieces: joined, holes })
    }

    /// Spans of the disk (start, length) the file holds no data for.
    pub(crate) fn holes(&self) -> &[(u64, u64)] {
        &self.holes
    }

    /// Reads the whole file from `from` (hashing every byte into `hash`)
    /// and writes each cluster it holds at its place on `disk`; the bytes
    /// read.
    pub(crate) fn expand(
        &self,
        from: &mut impl Read,
        disk: &mut (impl Write + Seek),
        hash: &mut impl FnMut(&[u8]),
    ) -> Result<u64, String> {
        let mut chunk = vec![0u8; 1 << 20];
        // The file's bytes from `base` on that a piece still needs.
        let mut held: Vec<u8> = Vec::new();
        let mut base = 0u64;
        let mut next = 0usize;
        loop {
            let n = from.read(&mut chunk).map_err(|e| format!("reading the image: {e}"))?;
            let end = base + (held.len() + n) as u64;
            hash(&chunk[..n]);
            held.extend_from_slice(&chunk[..n]);
            // At the end of the file a compressed cluster may claim more
            // sectors than there are bytes: it gets what there is.
            while let Some(p) = self.pieces.get(next) {
                let ends = p.at + p.len;
                let last = n == 0 && matches!(p.what, Use::Inflate(_)) && p.at < end;
                if ends > end && !last {
                    break;
                }
                let from = (p.at - base) as usize;
                let to = (ends.min(end) - base) as usize;
                self.apply(p, &held[from..to], disk)?;
                next += 1;
            }
            let keep = self.pieces.get(next).map_or(end, |p| p.at.clamp(base, end));
            held.drain(..(keep - base) as usize);
            base = keep;
            if n == 0 {
                break;
            }
        }
        match self.pieces.get(next) {
            None => Ok(base),
            Some(p) => Err(format!("the image ended after {base} bytes, before the data it maps at byte {}", p.at)),
        }
    }

    fn apply(&self, p: &Piece, bytes: &[u8], disk: &mut (impl Write + Seek)) -> Result<(), String> {
        match &p.what {
            Use::Write(guest) => write(disk, *guest, bytes),
            Use::Inflate(guest) => {
                let want = self.cluster.min(self.disk_size - guest) as usize;
                let plain = miniz_oxide::inflate::decompress_to_vec_with_limit(bytes, self.cluster as usize)
                    .map_err(|e| format!("the compressed cluster at file byte {} does not inflate: {e}", p.at))?;
                let plain = plain.get(..want).ok_or_else(|| {
                    format!(
                        "the compressed cluster at file byte {} inflates to {} bytes, not {want}",
                        p.at,
                        plain.len()
                    )
                })?;
                write(disk, *guest, plain)
            }
            Use::Same(expected) if *expected == digest(bytes) => Ok(()),
            Use::Same(_) => Err(format!("the image changed while it was read (its tables at byte {})", p.at)),
        }
    }
}

fn write(disk: &mut (impl Write + Seek), at: u64, bytes: &[u8]) -> Result<(), String> {
    disk.seek(SeekFrom::Start(at)).and_then(|_| disk.write_all(bytes)).map_err(|e| format!("write at byte {at}: {e}"))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const CLUSTER: u64 = 512;

    /// A version 3 image with 512-byte clusters (64 L2 entries: 32 KiB a
    /// table) of a `size`-byte disk, built by hand: the header in cluster
    /// 0, the L1 table from cluster 1, then what the test appends.
    pub(crate) struct Builder {
        pub(crate) file: Vec<u8>,
    }

    impl Builder {
        pub(crate) fn new(size: u64) -> Builder {
            let l1 = size.div_ceil(CLUSTER).div_ceil(CLUSTER / 8) as u32;
            // The header's cluster, then as many as the L1 table fills.
            let l1_clusters = (u64::from(l1) * 8).div_ceil(CLUSTER).max(1);
            let mut file = vec![0u8; ((1 + l1_clusters) * CLUSTER) as usize];
            file[..4].copy_from_slice(&MAGIC);
            file[4..8].copy_from_slice(&3u32.to_be_bytes());
            file[20..24].copy_from_slice(&9u32.to_be_bytes());
            file[24..32].copy_from_slice(&size.to_be_bytes());
            file[36..40].copy_from_slice(&l1.to_be_bytes());
            file[40..48].copy_from_slice(&CLUSTER.to_be_bytes());
            file[100..104].copy_from_slice(&104u32.to_be_bytes());
            Builder { file }
        }

        /// Appends a cluster-aligned cluster; its offset.
        pub(crate) fn cluster(&mut self, bytes: &[u8]) -> u64 {
            let aligned = self.file.len().div_ceil(CLUSTER as usize) * CLUSTER as usize;
            self.file.resize(aligned, 0);
            let at = self.file.len() as u64;
            let mut c = bytes.to_vec();
            c.resize(CLUSTER as usize, 0);
            self.file.extend_from_slice(&c);
            at
        }

        /// Points L1 entry `i` at a new L2 table (appended); its offset.
        pub(crate) fn table(&mut self, i: usize) -> u64 {
            let at = self.cluster(&[]);
            let e = CLUSTER as usize + i * 8;
            self.file[e..e + 8].copy_from_slice(&(at | 1 << 63).to_be_bytes());
            at
        }

        pub(crate) fn entry(&mut self, table: u64, j: usize, value: u64) {
            let e = (table as usize) + j * 8;
            self.file[e..e + 8].copy_from_slice(&value.to_be_bytes());
        }

        /// Appends `plain` deflated, unaligned; the L2 entry for it.
        pub(crate) fn compressed(&mut self, plain: &[u8]) -> u64 {
            // Unaligned on purpose: compressed data is packed.
            self.file.extend_from_slice(&[0xee; 100]);
            let at = self.file.len() as u64;
            let data = miniz_oxide::deflate::compress_to_vec(plain, 6);
            self.file.extend_from_slice(&data);
            let sectors = (at % 512 + data.len() as u64).div_ceil(512);
            let x = 62 - (9 - 8);
            COMPRESSED | ((sectors - 1) << x) | at
        }
    }

    fn pattern(seed: u8) -> Vec<u8> {
        (0..CLUSTER).map(|i| (i as u8).wrapping_mul(7).wrapping_add(seed)).collect()
    }

    /// An image of a 40 KiB disk that holds every kind of cluster: plain,
    /// two disk clusters sharing one file cluster, compressed, zero-flagged,
    /// unallocated, a second L2 table whose data lies before the table,
    /// and a last partial cluster; and the disk it describes.
    pub(crate) fn every_kind() -> (Vec<u8>, Vec<u8>) {
        let size = 64 * CLUSTER + 8 * CLUSTER + 100;
        let mut b = Builder::new(size);
        let mut disk = vec![0u8; size as usize];
        let put = |disk: &mut Vec<u8>, guest: u64, data: &[u8]| {
            let g = (guest * CLUSTER) as usize;
            let n = data.len().min(disk.len() - g);
            disk[g..g + n].copy_from_slice(&data[..n]);
        };
        // The second table's data, before its table.
        let late = b.cluster(&pattern(9));
        let t0 = b.table(0);
        let a = b.cluster(&pattern(1));
        let a2 = b.cluster(&pattern(2));
        b.entry(t0, 0, a | 1 << 63);
        put(&mut disk, 0, &pattern(1));
        b.entry(t0, 1, a2 | 1 << 63);
        put(&mut disk, 1, &pattern(2));
        // Shared: disk clusters 5 and 6 both read file cluster `a`.
        b.entry(t0, 5, a);
        b.entry(t0, 6, a);
        put(&mut disk, 5, &pattern(1));
        put(&mut disk, 6, &pattern(1));
        // Zero-flagged, with a stale offset that must not be read.
        b.entry(t0, 7, a2 | ZEROS);
        let c = b.compressed(&pattern(3));
        b.entry(t0, 10, c);
        put(&mut disk, 10, &pattern(3));
        let t1 = b.table(1);
        b.entry(t1, 0, late);
        put(&mut disk, 64, &pattern(9));
        // The last, partial cluster: compressed, the file's last bytes.
        let c = b.compressed(&pattern(4));
        b.entry(t1, 8, c);
        put(&mut disk, 72, &pattern(4));
        (b.file, disk)
    }

    fn read_at(file: &[u8]) -> impl FnMut(u64, usize) -> Result<Vec<u8>, String> + '_ {
        move |at, len| {
            let at = (at as usize).min(file.len());
            Ok(file[at..(at + len).min(file.len())].to_vec())
        }
    }

    /// A reader that hands out at most 1 to 7 bytes a call, as a slow
    /// network might: every run is assembled across many reads.
    struct Trickle<'a>(&'a [u8], usize);

    impl Read for Trickle<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            self.1 = self.1 % 7 + 1;
            let n = self.1.min(buf.len()).min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }

    /// Expands `file` onto a disk of 0xaa bytes, holes zeroed as the
    /// agent does, from a reader giving a few bytes at a time.
    fn expand(file: &[u8]) -> Result<Vec<u8>, String> {
        let layout = Layout::read(u64::MAX, read_at(file))?;
        let mut disk = std::io::Cursor::new(vec![0xaa; layout.disk_size as usize]);
        let mut hashed = 0usize;
        let read = layout.expand(&mut Trickle(file, 0), &mut disk, &mut |b| hashed += b.len())?;
        assert_eq!((read, hashed), (file.len() as u64, file.len()));
        let mut disk = disk.into_inner();
        for (start, len) in layout.holes() {
            disk[*start as usize..(*start + *len) as usize].fill(0);
        }
        Ok(disk)
    }

    #[test]
    fn every_kind_of_cluster_lands_where_the_tables_say() {
        let (file, want) = every_kind();
        let got = expand(&file).unwrap();
        assert_eq!(got.len(), want.len());
        let first_bad = got.iter().zip(&want).position(|(a, b)| a != b);
        assert_eq!(first_bad, None, "the disks differ");
        let layout = Layout::read(u64::MAX, read_at(&file)).unwrap();
        // Clusters 2-4, 7-9, 11-63 and 65-71: zeros.
        let holes: Vec<(u64, u64)> = layout.holes().iter().map(|(s, l)| (s / CLUSTER, l / CLUSTER)).collect();
        assert_eq!(holes, [(2, 3), (7, 3), (11, 53), (65, 7)]);
    }

    #[test]
    fn what_the_agent_cannot_write_is_refused_by_name() {
        let (file, _) = every_kind();
        let with = |at: usize, bytes: &[u8]| {
            let mut f = file.clone();
            f[at..at + bytes.len()].copy_from_slice(bytes);
            Layout::read(u64::MAX, read_at(&f)).unwrap_err()
        };
        assert!(with(0, b"QFI\0").contains("first bytes"));
        assert!(with(4, &4u32.to_be_bytes()).contains("version 4"));
        assert!(with(8, &512u64.to_be_bytes()).contains("backing file"));
        assert!(with(32, &1u32.to_be_bytes()).contains("encrypted"));
        assert!(with(72, &2u64.to_be_bytes()).contains("corrupt"));
        assert!(with(72, &(1u64 << 4).to_be_bytes()).contains("subclusters"));
        assert!(with(72, &(1u64 << 9).to_be_bytes()).contains("bit 9"));
        assert!(with(36, &1u32.to_be_bytes()).contains("L1 table has 1 entries"));
        // zstd: the compression-type bit, and type 1 in a longer header.
        let mut f = file.clone();
        f[72..80].copy_from_slice(&(1u64 << 3).to_be_bytes());
        f[100..104].copy_from_slice(&112u32.to_be_bytes());
        f[104] = 1;
        assert!(Layout::read(u64::MAX, read_at(&f)).unwrap_err().contains("zstd"));
        // A dirty image is read (the refcounts are not).
        let mut f = file.clone();
        f[72..80].copy_from_slice(&1u64.to_be_bytes());
        assert!(Layout::read(u64::MAX, read_at(&f)).is_ok());
        assert!(Layout::read(u64::MAX, read_at(&file[..300])).unwrap_err().contains("ends inside its L1"));
        // The compression-type bit naming deflate, or with no room to name it.
        let mut f = file.clone();
        f[72..80].copy_from_slice(&(1u64 << 3).to_be_bytes());
        assert!(Layout::read(u64::MAX, read_at(&f)).unwrap_err().contains("without a compression type"));
        // A disk larger than any here; one L2 table named twice.
        let e = Layout::read(4096, read_at(&file)).unwrap_err();
        assert!(e.contains("larger than any writable fixed disk"), "{e}");
        let mut f = file.clone();
        let l1 = CLUSTER as usize;
        let first: [u8; 8] = f[l1..l1 + 8].try_into().unwrap();
        f[l1 + 8..l1 + 16].copy_from_slice(&first);
        assert!(Layout::read(u64::MAX, read_at(&f)).unwrap_err().contains("again"));
    }

    #[test]
    fn a_long_allocated_run_is_cut_into_runs_of_at_most_max_run() {
        // 40 MiB of disk, each 512-byte cluster allocated in order: one
        // contiguous run in file and disk, which must not be held whole.
        let size = 40u64 << 20;
        let mut b = Builder::new(size);
        let clusters = size / CLUSTER;
        let per_table = CLUSTER / 8;
        let tables: Vec<u64> = (0..clusters.div_ceil(per_table)).map(|i| b.table(i as usize)).collect();
        let first = b.file.len() as u64;
        b.file.resize((first + size) as usize, 0);
        for g in 0..clusters {
            let data = first + g * CLUSTER;
            b.file[data as usize..(data + 8) as usize].copy_from_slice(&g.to_be_bytes());
            b.entry(tables[(g / per_table) as usize], (g % per_table) as usize, data);
        }
        let layout = Layout::read(u64::MAX, read_at(&b.file)).unwrap();
        let longest = layout.pieces.iter().filter(|p| matches!(p.what, Use::Write(_))).map(|p| p.len).max();
        assert_eq!(longest, Some(MAX_RUN));
        let got = expand(&b.file).unwrap();
        assert!(
            (0..clusters).all(|g| got[(g * CLUSTER) as usize..][..8] == g.to_be_bytes()),
            "a cluster landed elsewhere"
        );
    }

    #[test]
    fn a_file_cut_short_or_changed_after_its_tables_were_read_fails() {
        let (file, _) = every_kind();
        let layout = Layout::read(u64::MAX, read_at(&file)).unwrap();
        let mut disk = std::io::Cursor::new(vec![0u8; layout.disk_size as usize]);
        let short = &file[..file.len() - 700];
        let e = layout.expand(&mut &short[..], &mut disk, &mut |_| {}).unwrap_err();
        assert!(e.contains("ended after"), "{e}");
        let mut changed = file.clone();
        changed[CLUSTER as usize + 3] ^= 1;
        let e = layout.expand(&mut &changed[..], &mut disk, &mut |_| {}).unwrap_err();
        assert!(e.contains("changed while it was read"), "{e}");
        let mut garbled = file.clone();
        let c = garbled.len() - 20;
        garbled[c..].fill(0xff);
        let e = layout.expand(&mut &garbled[..], &mut disk, &mut |_| {}).unwrap_err();
        assert!(e.contains("does not inflate") || e.contains("inflates to"), "{e}");
    }
}
