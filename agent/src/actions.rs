//! The steps Fulcrum hands the agent: erase the disks' metadata (the
//! partition tables, and every partition's first and last MiB, where
//! file-system, RAID and LVM signatures live) or the whole disks, write a
//! raw or qcow2 image to the smallest disk it fits on (its SHA-256 checked),
//! reboot, power off. Read-only, removable, USB and empty disks are left
//! alone.

use std::fmt;
use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::fd::AsRawFd;
use std::path::Path;

use serde::Deserialize;

use crate::inventory;
use crate::qcow2;
use crate::sysfs::{at, entries, number};

/// What a metadata erase clears at each end of a disk and of each
/// partition.
const EDGE: u64 = 1 << 20;
/// `_IO(0x12, 95)`: re-read the partition table (not in the libc crate).
const BLKRRPART: libc::c_ulong = 0x125f;
/// A full erase writes this much at a time.
const CHUNK: usize = 4 << 20;

/// How much of a disk an erase clears.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum EraseMode {
    /// Partition tables and signatures: fast, and enough for a new install.
    Metadata,
    /// Every byte, with zeros.
    Full,
}

/// How the image's file lays out the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum ImageFormat {
    #[default]
    Raw,
    Qcow2,
}

/// One step.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub(crate) enum Action {
    /// Gather and report the inventory again (the step loop does it: it
    /// needs the API).
    Inspect,
    Erase {
        mode: EraseMode,
    },
    /// Write a whole-disk image (the step loop fetches it).
    WriteImage {
        url: String,
        sha256: String,
        #[serde(default)]
        format: ImageFormat,
    },
    Reboot,
    Poweroff,
    /// Be the rescue system: root's password, and a login on the consoles.
    Rescue {
        password: String,
    },
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::Inspect => f.write_str("inspect"),
            Action::Erase { mode: EraseMode::Metadata } => f.write_str("erase disk metadata"),
            Action::Erase { mode: EraseMode::Full } => f.write_str("erase disks"),
            Action::WriteImage { url, .. } => write!(f, "write the image {url}"),
            Action::Reboot => f.write_str("reboot"),
            Action::Poweroff => f.write_str("power off"),
            Action::Rescue { .. } => f.write_str("open the rescue login"),
        }
    }
}

/// Ending the machine's run: done after the report is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Power {
    Reboot,
    Off,
}

impl fmt::Display for Power {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Power::Reboot => "rebooting",
            Power::Off => "powering off",
        })
    }
}

/// A step carried out, or (for power) ready to be.
#[derive(Debug)]
pub(crate) enum Prepared {
    Done(String),
    Power(Power),
}

/// Carries out `action` (a power action only once reported: see
/// [`power`]).
pub(crate) fn prepare(root: &Path, action: &Result<Action, String>) -> Result<Prepared, String> {
    match action {
        Err(e) => Err(e.clone()),
        Ok(Action::Inspect | Action::WriteImage { .. }) => Err("the step loop runs this step".into()),
        Ok(Action::Erase { mode }) => erase(root, *mode).map(Prepared::Done),
        Ok(Action::Rescue { password }) => rescue(root, password).map(Prepared::Done),
        Ok(Action::Reboot) => Ok(Prepared::Power(Power::Reboot)),
        Ok(Action::Poweroff) => Ok(Prepared::Power(Power::Off)),
    }
}

/// Reboots or powers off now.
pub(crate) fn power(p: Power) -> std::io::Result<()> {
    let cmd = match p {
        Power::Reboot => libc::RB_AUTOBOOT,
        Power::Off => libc::RB_POWER_OFF,
    };
    // SAFETY: sync(2) and reboot(2) take no pointers.
    unsafe { libc::sync() };
    if unsafe { libc::reboot(cmd) } < 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The consoles a rescue login waits on, when the machine has them: the
/// first two serial ports (a BMC's serial-over-LAN is one of them) and
/// the screen.
const RESCUE_TTYS: [&str; 3] = ["ttyS0", "ttyS1", "tty1"];

/// Whether this is the rescue system: root has a password (which only
/// [`rescue`] sets), and a login is open on the consoles.
pub(crate) fn is_rescue_system(root: &Path) -> bool {
    std::fs::read_to_string(at(root, "/etc/shadow")).is_ok_and(|s| s.starts_with("root:$"))
}

/// Whether the rescue system must boot a fresh agent before `action`:
/// anything but the rescue itself or going down would run with root's
/// login still open on the consoles (an erase after `undeploy`, say).
pub(crate) fn needs_fresh_agent(root: &Path, action: &Result<Action, String>) -> bool {
    is_rescue_system(root) && !matches!(action, Ok(Action::Rescue { .. } | Action::Reboot | Action::Poweroff))
}

/// Makes this the rescue system: root's password set (hashed with
/// busybox's `mkpasswd`, SHA-512), and on each console a login that comes
/// back when it ends. Run again, it changes nothing.
fn rescue(root: &Path, password: &str) -> Result<String, String> {
    use std::process::{Command, Stdio};
    let etc = at(root, "/etc");
    std::fs::create_dir_all(&etc).map_err(|e| format!("{}: {e}", etc.display()))?;
    if is_rescue_system(root) {
        return Ok("the rescue login is open already".into());
    }
    let mut hasher = Command::new("mkpasswd")
        .args(["-m", "sha512"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("mkpasswd: {e}"))?;
    if let Some(mut stdin) = hasher.stdin.take() {
        stdin.write_all(password.as_bytes()).map_err(|e| format!("mkpasswd: {e}"))?;
    }
    let out = hasher.wait_with_output().map_err(|e| format!("mkpasswd: {e}"))?;
    let hash = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || !hash.starts_with('$') {
        return Err(format!("mkpasswd did not hash the password ({})", out.status));
    }
    let write = |name: &str, text: String, mode: u32| {
        use std::os::unix::fs::OpenOptionsExt;
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(mode)
            .open(etc.join(name))
            .and_then(|mut f| f.write_all(text.as_bytes()))
            .map_err(|e| format!("/etc/{name}: {e}"))
    };
    write("passwd", "root:x:0:0:root:/root:/bin/sh\n".into(), 0o644)?;
    write("group", "root:x:0:\n".into(), 0o644)?;
    write("shadow", format!("root:{hash}:0:0:99999:7:::\n"), 0o600)?;
    let _ = std::fs::create_dir_all(at(root, "/root"));
    let mut opened = Vec::new();
    for tty in RESCUE_TTYS {
        let dev = at(root, "/dev").join(tty);
        if !dev.exists() {
            continue;
        }
        // A login on the console, again whenever one ends; in a session
        // of its own, so that it outlives nothing it should not.
        // The device goes in as the script's argument, not its text.
        let looped = "while :; do getty -L 115200 \"$1\" vt100; sleep 1; done";
        match Command::new("setsid").args(["sh", "-c", looped, "sh"]).arg(&dev).stdin(Stdio::null()).spawn() {
            Ok(_) => opened.push(tty),
            Err(e) => return Err(format!("a login on {tty}: {e}")),
        }
    }
    Ok(format!(
        "rescue: root may log in on {}",
        if opened.is_empty() { "no console".into() } else { opened.join(", ") }
    ))
}

/// A byte range of a disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Span {
    start: u64,
    len: u64,
}

/// The first and last [`EDGE`] of an area (all of it when smaller).
fn edges(start: u64, len: u64) -> Vec<Span> {
    if len <= 2 * EDGE {
        return vec![Span { start, len }];
    }
    vec![Span { start, len: EDGE }, Span { start: start + len - EDGE, len: EDGE }]
}

/// The disk's partitions, as byte areas.
fn partitions(root: &Path, disk: &str) -> Vec<(u64, u64)> {
    let dir = at(root, "/sys/block").join(disk);
    entries(&dir)
        .into_iter()
        .filter(|p| p.starts_with(disk) && dir.join(p).join("partition").exists())
        .filter_map(|p| Some((number(&dir.join(&p).join("start"))? * 512, number(&dir.join(&p).join("size"))? * 512)))
        .collect()
}

/// The spans a metadata erase of a disk of `size` bytes clears.
fn metadata_spans(size: u64, parts: &[(u64, u64)]) -> Vec<Span> {
    let mut spans: Vec<Span> = parts.iter().flat_map(|&(s, l)| edges(s, l)).collect();
    spans.extend(edges(0, size));
    spans.retain(|s| s.start < size);
    for s in &mut spans {
        s.len = s.len.min(size - s.start);
    }
    spans
}

fn zero(dev: &mut std::fs::File, span: Span) -> std::io::Result<()> {
    let buf = vec![0u8; CHUNK];
    dev.seek(SeekFrom::Start(span.start))?;
    let mut left = span.len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        dev.write_all(&buf[..n])?;
        left -= n as u64;
    }
    Ok(())
}

/// Reads the span back: every byte must be zero.
fn verify(dev: &mut std::fs::File, span: Span) -> std::io::Result<bool> {
    let mut buf = vec![0u8; CHUNK];
    dev.seek(SeekFrom::Start(span.start))?;
    let mut left = span.len;
    while left > 0 {
        let n = left.min(CHUNK as u64) as usize;
        dev.read_exact(&mut buf[..n])?;
        if buf[..n].iter().any(|b| *b != 0) {
            return Ok(false);
        }
        left -= n as u64;
    }
    Ok(true)
}

/// Erases every writable disk; the detail says what was cleared.
fn erase(root: &Path, mode: EraseMode) -> Result<String, String> {
    let disks = inventory::fixed_disks(root);
    if disks.is_empty() {
        return Ok("no writable fixed disk".into());
    }
    let mut done = Vec::new();
    for d in disks {
        let path = at(root, "/dev").join(&d.name);
        let fail = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", d.name);
        let mut dev = OpenOptions::new().read(true).write(true).open(&path).map_err(|e| fail("open", e))?;
        let parts = partitions(root, &d.name);
        let spans = match mode {
            EraseMode::Metadata => metadata_spans(d.size_bytes, &parts),
            EraseMode::Full => vec![Span { start: 0, len: d.size_bytes }],
        };
        for s in &spans {
            zero(&mut dev, *s).map_err(|e| fail("write", e))?;
        }
        dev.sync_all().map_err(|e| fail("sync", e))?;
        if mode == EraseMode::Metadata {
            // Drop the cached pages so that the read-back below reads the
            // device, not the zeros just written to the cache (advice: on
            // a file it may do nothing, which the tests' files do not mind).
            // SAFETY: the descriptor is open; the call takes no pointers.
            unsafe { libc::posix_fadvise(dev.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED) };
            for s in &spans {
                if !verify(&mut dev, *s).map_err(|e| fail("read back", e))? {
                    return Err(format!("{}: not zero when read back at byte {}", d.name, s.start));
                }
            }
        }
        // The kernel forgets the partitions that are gone (a no-op on a file).
        // SAFETY: BLKRRPART takes no argument.
        unsafe { libc::ioctl(dev.as_raw_fd(), BLKRRPART) };
        let bytes: u64 = spans.iter().map(|s| s.len).sum();
        done.push(format!("{} ({} MiB cleared, {} partitions)", d.name, bytes >> 20, parts.len()));
    }
    Ok(format!("erased {}", done.join(", ")))
}

/// The size of the largest writable fixed disk (0: none).
pub(crate) fn largest_disk(root: &Path) -> u64 {
    inventory::fixed_disks(root).iter().map(|d| d.size_bytes).max().unwrap_or(0)
}

/// The smallest writable fixed disk that holds `len` bytes, opened for
/// writing.
fn disk_for(root: &Path, len: u64) -> Result<(inventory::Disk, std::fs::File), String> {
    let mut disks = inventory::fixed_disks(root);
    disks.sort_by_key(|d| d.size_bytes);
    let disk = disks
        .into_iter()
        .find(|d| d.size_bytes >= len)
        .ok_or_else(|| format!("no writable fixed disk holds {len} bytes"))?;
    let dev = OpenOptions::new()
        .write(true)
        .open(at(root, "/dev").join(&disk.name))
        .map_err(|e| format!("{}: open: {e}", disk.name))?;
    Ok((disk, dev))
}

/// Checks what was read against the server's length and the bootenv's
/// SHA-256, and has the kernel read the new partition table.
fn finish(
    disk: &str,
    dev: &std::fs::File,
    total: u64,
    len: u64,
    hash: sha2::Sha256,
    sha256: &str,
) -> Result<(), String> {
    use sha2::Digest;
    dev.sync_all().map_err(|e| format!("{disk}: sync: {e}"))?;
    let got: String = hash.finalize().iter().map(|b| format!("{b:02x}")).collect();
    if total != len {
        return Err(format!("{disk}: the image ended after {total} of {len} bytes"));
    }
    if got != sha256 {
        return Err(format!("{disk}: wrote {total} bytes whose SHA-256 is {got}, not {sha256}"));
    }
    // SAFETY: BLKRRPART takes no argument; the kernel reads the new table.
    unsafe { libc::ioctl(dev.as_raw_fd(), BLKRRPART) };
    Ok(())
}

/// Writes the raw image `from` reads (`len` bytes, as the server said; no
/// length, no write) to the smallest writable fixed disk it fits on,
/// checking the length and the SHA-256 (`sha256`) of the bytes written.
pub(crate) fn write_image(root: &Path, mut from: impl Read, len: Option<u64>, sha256: &str) -> Result<String, String> {
    use sha2::Digest;
    // Without its length the disk cannot be chosen: refused, not guessed.
    let len = len.ok_or("the image's server did not say its length (Content-Length): no disk can be chosen")?;
    let (disk, mut dev) = disk_for(root, len)?;
    let fail = |what: &str, e: std::io::Error| format!("{}: {what}: {e}", disk.name);
    let mut hash = sha2::Sha256::new();
    let mut buf = vec![0u8; CHUNK];
    let mut total: u64 = 0;
    loop {
        let n = from.read(&mut buf).map_err(|e| fail("reading the image", e))?;
        if n == 0 {
            break;
        }
        // A qcow2 file written as it is would leave a disk nothing boots.
        if total == 0 && buf[..n].starts_with(&qcow2::MAGIC) {
            return Err("the image is a qcow2 file, not raw: its bootenv needs image.format = \"qcow2\"".into());
        }
        total += n as u64;
        if total > disk.size_bytes {
            return Err(format!("{}: the image is larger than the disk ({} bytes)", disk.name, disk.size_bytes));
        }
        hash.update(&buf[..n]);
        dev.write_all(&buf[..n]).map_err(|e| fail("write", e))?;
    }
    finish(&disk.name, &dev, total, len, hash, sha256)?;
    Ok(format!("wrote {total} bytes to {} (SHA-256 checked)", disk.name))
}

/// Writes the disk the qcow2 file `from` reads describes (its tables read
/// already: `layout`) to the smallest writable fixed disk it fits on:
/// each cluster at its place, zeros where the file holds none; the
/// file's length and SHA-256 checked, as for a raw image.
pub(crate) fn write_qcow2(
    root: &Path,
    layout: &qcow2::Layout,
    mut from: impl Read,
    len: Option<u64>,
    sha256: &str,
) -> Result<String, String> {
    use sha2::Digest;
    let len = len.ok_or("the image's server did not say its length (Content-Length)")?;
    let (disk, mut dev) = disk_for(root, layout.disk_size)?;
    let mut hash = sha2::Sha256::new();
    let total =
        layout.expand(&mut from, &mut dev, &mut |b| hash.update(b)).map_err(|e| format!("{}: {e}", disk.name))?;
    let mut zeroed = 0;
    for (start, len) in layout.holes() {
        zero(&mut dev, Span { start: *start, len: *len }).map_err(|e| format!("{}: write: {e}", disk.name))?;
        zeroed += len;
    }
    finish(&disk.name, &dev, total, len, hash, sha256)?;
    Ok(format!(
        "wrote a {}-byte disk from a {total}-byte qcow2 image to {} ({} MiB of it zeros; SHA-256 checked)",
        layout.disk_size,
        disk.name,
        zeroed >> 20
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    #[test]
    fn the_rescue_system_takes_no_other_step() {
        let t = tempfile::tempdir().unwrap();
        let erase = Ok(Action::Erase { mode: EraseMode::Metadata });
        assert!(!needs_fresh_agent(t.path(), &erase), "the agent erases");
        fs::create_dir_all(at(t.path(), "/etc")).unwrap();
        fs::write(at(t.path(), "/etc/shadow"), "root:$6$salt$hash:0:0:99999:7:::\n").unwrap();
        assert!(needs_fresh_agent(t.path(), &erase), "the rescue system, root's login open, erases");
        assert!(needs_fresh_agent(t.path(), &Ok(Action::Inspect)));
        for going in [Action::Reboot, Action::Poweroff] {
            assert!(!needs_fresh_agent(t.path(), &Ok(going)));
        }
    }

    const MIB: u64 = 1 << 20;

    /// A 16 MiB disk `vda` with one 8 MiB partition at 4 MiB, its device a
    /// file full of 0xaa; and a read-only disk `vdb`.
    fn machine() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let vda = at(r, "/sys/block/vda");
        fs::create_dir_all(vda.join("vda1")).unwrap();
        fs::write(vda.join("size"), (16 * MIB / 512).to_string()).unwrap();
        fs::write(vda.join("vda1/partition"), "1").unwrap();
        fs::write(vda.join("vda1/start"), (4 * MIB / 512).to_string()).unwrap();
        fs::write(vda.join("vda1/size"), (8 * MIB / 512).to_string()).unwrap();
        let vdb = at(r, "/sys/block/vdb");
        fs::create_dir_all(&vdb).unwrap();
        fs::write(vdb.join("size"), (2 * MIB / 512).to_string()).unwrap();
        fs::write(vdb.join("ro"), "1").unwrap();
        // A USB stick: writable, removable.
        let sdc = at(r, "/sys/block/sdc");
        fs::create_dir_all(&sdc).unwrap();
        fs::write(sdc.join("size"), (2 * MIB / 512).to_string()).unwrap();
        fs::write(sdc.join("removable"), "1").unwrap();
        fs::create_dir_all(at(r, "/dev")).unwrap();
        fs::write(at(r, "/dev/vda"), vec![0xaa; (16 * MIB) as usize]).unwrap();
        fs::write(at(r, "/dev/vdb"), vec![0xaa; (2 * MIB) as usize]).unwrap();
        fs::write(at(r, "/dev/sdc"), vec![0xaa; (2 * MIB) as usize]).unwrap();
        t
    }

    fn zeroed_mibs(path: &Path) -> Vec<u64> {
        let data = fs::read(path).unwrap();
        data.chunks(MIB as usize)
            .enumerate()
            .filter(|(_, c)| c.iter().all(|b| *b == 0))
            .map(|(i, _)| i as u64)
            .collect()
    }

    #[test]
    fn a_metadata_erase_clears_the_ends_of_the_disk_and_of_each_partition() {
        let t = machine();
        let detail = erase(t.path(), EraseMode::Metadata).unwrap();
        assert_eq!(detail, "erased vda (4 MiB cleared, 1 partitions)");
        assert_eq!(zeroed_mibs(&at(t.path(), "/dev/vda")), [0, 4, 11, 15]);
        assert!(zeroed_mibs(&at(t.path(), "/dev/vdb")).is_empty(), "a read-only disk was touched");
        assert!(zeroed_mibs(&at(t.path(), "/dev/sdc")).is_empty(), "a removable disk was touched");
    }

    #[test]
    fn a_full_erase_clears_every_byte() {
        let t = machine();
        erase(t.path(), EraseMode::Full).unwrap();
        assert_eq!(zeroed_mibs(&at(t.path(), "/dev/vda")), (0..16).collect::<Vec<_>>());
    }

    #[test]
    fn a_missing_device_fails_the_step_and_names_the_disk() {
        let t = machine();
        fs::remove_file(at(t.path(), "/dev/vda")).unwrap();
        let e = erase(t.path(), EraseMode::Metadata).unwrap_err();
        assert!(e.starts_with("vda: open:"), "{e}");
    }

    #[test]
    fn an_image_goes_to_the_smallest_disk_it_fits_and_is_checked() {
        use sha2::Digest;
        let t = machine();
        // A third disk, 4 MiB: smaller than vda, and writable.
        let vdc = at(t.path(), "/sys/block/vdc");
        fs::create_dir_all(&vdc).unwrap();
        fs::write(vdc.join("size"), (4 * MIB / 512).to_string()).unwrap();
        fs::write(at(t.path(), "/dev/vdc"), vec![0u8; (4 * MIB) as usize]).unwrap();
        let image: Vec<u8> = (0..3 * MIB).map(|i| (i % 251) as u8).collect();
        let sum: String = sha2::Sha256::digest(&image).iter().map(|b| format!("{b:02x}")).collect();
        let detail = write_image(t.path(), &image[..], Some(image.len() as u64), &sum).unwrap();
        assert_eq!(detail, format!("wrote {} bytes to vdc (SHA-256 checked)", 3 * MIB));
        assert_eq!(&fs::read(at(t.path(), "/dev/vdc")).unwrap()[..image.len()], &image[..]);
        let e = write_image(t.path(), &image[..], Some(image.len() as u64), &"0".repeat(64)).unwrap_err();
        assert!(e.contains("not 0000"), "{e}");
        let e = write_image(t.path(), &image[..], Some(64 * MIB), &sum).unwrap_err();
        assert_eq!(e, format!("no writable fixed disk holds {} bytes", 64 * MIB));
        let e = write_image(t.path(), &image[..], None, &sum).unwrap_err();
        assert!(e.contains("Content-Length"), "an image of unknown length was written: {e}");
        let e = write_image(t.path(), &image[..MIB as usize], Some(image.len() as u64), &sum).unwrap_err();
        assert!(e.contains("ended after"), "{e}");
    }

    #[test]
    fn a_qcow2_image_is_expanded_onto_the_disk_and_refused_as_raw() {
        use sha2::Digest;
        let t = machine();
        let (file, want) = crate::qcow2::tests::every_kind();
        let sum: String = sha2::Sha256::digest(&file).iter().map(|b| format!("{b:02x}")).collect();
        let layout = crate::qcow2::Layout::read(largest_disk(t.path()), |at, n| {
            let at = (at as usize).min(file.len());
            Ok(file[at..(at + n).min(file.len())].to_vec())
        })
        .unwrap();
        // Written as raw, it is refused before a byte is written.
        let e = write_image(t.path(), &file[..], Some(file.len() as u64), &sum).unwrap_err();
        assert!(e.contains("image.format = \"qcow2\""), "{e}");
        // vdb is read-only and sdc removable: vda (0xaa) gets it.
        let detail = write_qcow2(t.path(), &layout, &file[..], Some(file.len() as u64), &sum).unwrap();
        assert!(detail.contains(&format!("a {}-byte disk", want.len())) && detail.contains("to vda"), "{detail}");
        let disk = fs::read(at(t.path(), "/dev/vda")).unwrap();
        assert!(disk[..want.len()] == want[..], "vda does not hold the disk the image describes");
        assert!(disk[want.len()..].iter().all(|b| *b == 0xaa), "past the image's disk something was written");
        let e = write_qcow2(t.path(), &layout, &file[..], Some(file.len() as u64), &"0".repeat(64)).unwrap_err();
        assert!(e.contains("not 0000"), "{e}");
        let e = write_qcow2(t.path(), &layout, &file[..], Some(file.len() as u64 + 1), &sum).unwrap_err();
        assert!(e.contains("ended after"), "{e}");
    }

    #[test]
    fn small_areas_are_cleared_whole() {
        assert_eq!(metadata_spans(MIB, &[]), [Span { start: 0, len: MIB }]);
        assert_eq!(edges(0, 3 * MIB), [Span { start: 0, len: MIB }, Span { start: 2 * MIB, len: MIB }]);
    }

    #[test]
    fn actions_read_as_fulcrum_sends_them() {
        let a: Action = serde_json::from_str(r#"{"id":"clean-1","action":"erase","mode":"full"}"#).unwrap();
        assert_eq!(a, Action::Erase { mode: EraseMode::Full });
        let a: Action = serde_json::from_str(r#"{"id":"inspect-1","action":"inspect"}"#).unwrap();
        assert_eq!(a, Action::Inspect);
        let a: Action = serde_json::from_str(r#"{"id":"x","action":"poweroff"}"#).unwrap();
        assert_eq!(a, Action::Poweroff);
        let a: Action =
            serde_json::from_str(r#"{"id":"w","action":"write_image","url":"/i","sha256":"ab","format":"qcow2"}"#)
                .unwrap();
        assert_eq!(a, Action::WriteImage { url: "/i".into(), sha256: "ab".into(), format: ImageFormat::Qcow2 });
        let a: Action = serde_json::from_str(r#"{"id":"w","action":"write_image","url":"/i","sha256":"ab"}"#).unwrap();
        assert_eq!(a, Action::WriteImage { url: "/i".into(), sha256: "ab".into(), format: ImageFormat::Raw });
        assert!(serde_json::from_str::<Action>(r#"{"id":"x","action":"explode"}"#).is_err());
    }
}
