//! What the machine is: CPUs, memory, disks (size, model, serial, WWN,
//! by-path), NICs (MAC, link, speed, driver, LLDP neighbour), the
//! firmware's system identity (UUID, vendor, product, serial) and how it
//! booted. Read from `/sys` and `/proc` alone, so the image needs no
//! other tool; sent to Fulcrum as one JSON object.

use std::path::Path;

use serde::Serialize;

use crate::lldp::Neighbour;
use crate::sysfs::{at, entries, link_name, number, pci_address, text};

/// One report.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Report {
    agent: Agent,
    boot: Boot,
    system: System,
    cpus: Cpus,
    memory: Memory,
    pub(crate) disks: Vec<Disk>,
    pub(crate) nics: Vec<Nic>,
}

#[derive(Debug, Clone, Serialize)]
struct Agent {
    version: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct Boot {
    /// The MAC the machine booted from.
    mac: String,
    /// `uefi` or `bios`.
    firmware: &'static str,
}

/// The firmware's identity of the machine (SMBIOS type 1 and 0).
#[derive(Debug, Clone, Default, Serialize)]
struct System {
    #[serde(skip_serializing_if = "Option::is_none")]
    uuid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    product: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bios_vendor: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bios_version: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
struct Cpus {
    count: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    architecture: &'static str,
}

#[derive(Debug, Clone, Serialize)]
struct Memory {
    total_bytes: u64,
}

/// A block device that can hold an OS.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Disk {
    pub(crate) name: String,
    pub(crate) size_bytes: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    serial: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    wwn: Option<String>,
    /// As udev's `/dev/disk/by-path` names it.
    #[serde(skip_serializing_if = "Option::is_none")]
    by_path: Option<String>,
    rotational: bool,
    pub(crate) removable: bool,
    pub(crate) read_only: bool,
}

/// A physical network interface.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Nic {
    pub(crate) name: String,
    pub(crate) mac: String,
    /// `up` (carrier) or `down`.
    link: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    speed_mbps: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    driver: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pci: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    lldp: Option<Neighbour>,
}

impl Report {
    /// Fills in the LLDP neighbour each NIC heard.
    pub(crate) fn set_lldp(&mut self, heard: Vec<(String, Neighbour)>) {
        for (nic, n) in heard {
            if let Some(x) = self.nics.iter_mut().find(|x| x.name == nic) {
                x.lldp = Some(n);
            }
        }
    }

    /// One line for the console.
    pub(crate) fn summary(&self) -> String {
        format!(
            "{} CPUs, {} MiB, {} disks, {} NICs ({} with an LLDP neighbour)",
            self.cpus.count,
            self.memory.total_bytes >> 20,
            self.disks.len(),
            self.nics.len(),
            self.nics.iter().filter(|n| n.lldp.is_some()).count()
        )
    }
}

/// Gathers the whole report (without LLDP, which [`Report::set_lldp`]
/// adds).
pub(crate) fn collect(root: &Path, booted_mac: &str) -> Report {
    Report {
        agent: Agent { version: env!("CARGO_PKG_VERSION") },
        boot: Boot {
            mac: booted_mac.to_string(),
            firmware: if at(root, "/sys/firmware/efi").exists() { "uefi" } else { "bios" },
        },
        system: system(root),
        cpus: cpus(root),
        memory: Memory { total_bytes: memory(root) },
        disks: disks(root),
        nics: nics(root),
    }
}

fn system(root: &Path) -> System {
    let dmi = |f: &str| text(&at(root, "/sys/class/dmi/id").join(f));
    System {
        uuid: dmi("product_uuid").map(|u| u.to_ascii_lowercase()),
        vendor: dmi("sys_vendor"),
        product: dmi("product_name"),
        serial: dmi("product_serial"),
        bios_vendor: dmi("bios_vendor"),
        bios_version: dmi("bios_version"),
    }
}

fn cpus(root: &Path) -> Cpus {
    let info = std::fs::read_to_string(at(root, "/proc/cpuinfo")).unwrap_or_default();
    let field = |line: &str, key: &str| {
        line.split_once(':').filter(|(k, _)| k.trim() == key).map(|(_, v)| v.trim().to_string())
    };
    Cpus {
        count: info.lines().filter(|l| field(l, "processor").is_some()).count(),
        model: info.lines().find_map(|l| field(l, "model name")),
        architecture: std::env::consts::ARCH,
    }
}

fn memory(root: &Path) -> u64 {
    let info = std::fs::read_to_string(at(root, "/proc/meminfo")).unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Block devices that are disks: not loop, RAM, optical, device-mapper or
/// md devices.
fn is_disk(name: &str) -> bool {
    // Not disks: loop, RAM and compressed-RAM devices, optical drives,
    // device-mapper and software RAID (made of disks listed themselves),
    // network block devices, floppies, raw flash (mtdblock) and the boot
    // partitions an eMMC shows as disks of their own.
    !["loop", "ram", "zram", "sr", "dm-", "md", "nbd", "fd", "mtdblock"].iter().any(|p| name.starts_with(p))
        && !(name.starts_with("mmcblk")
            && (name.ends_with("boot0") || name.ends_with("boot1") || name.contains("rpmb")))
}

/// The disks the agent may erase or write: writable and fixed (a
/// removable disk, a USB stick say, is the operator's, not the machine's).
pub(crate) fn fixed_disks(root: &Path) -> Vec<Disk> {
    let block = at(root, "/sys/block");
    disks(root)
        .into_iter()
        .filter(|d| !d.read_only && !d.removable && d.size_bytes > 0 && !on_usb(&block.join(&d.name)))
        .collect()
}

/// Whether the disk hangs off a USB bus: a USB hard disk says it is not
/// removable, and it is still the operator's, not the machine's.
fn on_usb(dir: &Path) -> bool {
    std::fs::canonicalize(dir)
        .is_ok_and(|real| real.components().any(|c| c.as_os_str().to_str().is_some_and(|p| p.starts_with("usb"))))
}

pub(crate) fn disks(root: &Path) -> Vec<Disk> {
    let block = at(root, "/sys/block");
    entries(&block).into_iter().filter(|n| is_disk(n)).filter_map(|name| disk(&block.join(&name), name)).collect()
}

fn disk(dir: &Path, name: String) -> Option<Disk> {
    let sectors = number(&dir.join("size"))?;
    let device = dir.join("device");
    let serial = text(&dir.join("serial"))
        .or_else(|| text(&device.join("serial")))
        .or_else(|| vpd_serial(&device.join("vpd_pg80")));
    let wwn = text(&dir.join("wwid")).or_else(|| text(&device.join("wwid"))).or_else(|| text(&device.join("wwn")));
    Some(Disk {
        size_bytes: sectors * 512,
        model: text(&device.join("model")),
        serial,
        wwn,
        by_path: by_path(dir, &name),
        rotational: number(&dir.join("queue/rotational")) == Some(1),
        removable: number(&dir.join("removable")) == Some(1),
        read_only: number(&dir.join("ro")) == Some(1),
        name,
    })
}

/// SCSI VPD page 0x80: four header bytes, then the unit serial number.
fn vpd_serial(path: &Path) -> Option<String> {
    let page = std::fs::read(path).ok()?;
    let len = usize::from(*page.get(3)?);
    let s = String::from_utf8_lossy(page.get(4..4 + len)?).trim().to_string();
    (!s.is_empty()).then_some(s)
}

/// The name udev's `path_id` gives a PCI-attached disk: `pci-<address>`,
/// then `-nvme-<namespace>`, `-ata-<port>` or `-scsi-<h:c:t:l>` for the
/// bus below the controller.
fn by_path(dir: &Path, name: &str) -> Option<String> {
    let real = std::fs::canonicalize(dir).ok()?;
    let parts: Vec<String> = real.components().filter_map(|c| c.as_os_str().to_str().map(str::to_string)).collect();
    let pci = pci_address(dir)?;
    let mut path = format!("pci-{pci}");
    let below: Vec<&String> = parts.iter().skip_while(|p| **p != pci).skip(1).collect();
    if let Some(ns) = name.strip_prefix("nvme").and_then(|r| r.split_once('n')).map(|(_, ns)| ns.to_string()) {
        path.push_str(&format!("-nvme-{ns}"));
    } else if let Some(port) = below.iter().find_map(|p| p.strip_prefix("ata").filter(|n| n.parse::<u32>().is_ok())) {
        path.push_str(&format!("-ata-{port}"));
    } else if let Some(hctl) =
        below.iter().find(|p| p.split(':').count() == 4 && p.split(':').all(|x| x.parse::<u32>().is_ok()))
    {
        path.push_str(&format!("-scsi-{}", stable_hctl(&real, hctl)));
    }
    Some(path)
}

/// A SCSI address with its host number counted from the controller's
/// first host, as udev counts it: host numbers follow probe order, the
/// offset within one controller does not.
fn stable_hctl(real: &Path, hctl: &str) -> String {
    let Some((host, rest)) = hctl.split_once(':') else { return hctl.to_string() };
    let Ok(host) = host.parse::<u32>() else { return hctl.to_string() };
    let name = format!("host{host}");
    let first = real
        .ancestors()
        .find(|a| a.file_name().is_some_and(|n| n == name.as_str()))
        .and_then(Path::parent)
        .and_then(|dir| entries(dir).iter().filter_map(|e| e.strip_prefix("host")?.parse::<u32>().ok()).min())
        .unwrap_or(host);
    format!("{}:{rest}", host - first.min(host))
}

/// The physical interfaces (those with a device behind them), by name.
pub(crate) fn nic_names(root: &Path) -> Vec<String> {
    let net = at(root, "/sys/class/net");
    entries(&net).into_iter().filter(|n| net.join(n).join("device").exists()).collect()
}

/// Every physical interface's MAC.
/// The most MACs a registration carries (Fulcrum takes no more).
const MAX_MACS: usize = 32;

/// The MACs the machine registers with: each NIC's own Ethernet address
/// (six octets, not all zeros, not a group address; an InfiniBand port's
/// 20-byte address, or a virtual function's zero one, is left out), no
/// more than Fulcrum takes.
pub(crate) fn macs(root: &Path) -> Vec<String> {
    let mut macs: Vec<String> = nics(root).into_iter().map(|n| n.mac).filter(|m| is_station_mac(m)).collect();
    macs.dedup();
    macs.truncate(MAX_MACS);
    macs
}

/// `aa:bb:cc:dd:ee:ff`, a NIC's own address.
fn is_station_mac(mac: &str) -> bool {
    let octets: Vec<u8> = mac.split(':').filter_map(|o| u8::from_str_radix(o, 16).ok()).collect();
    octets.len() == 6
        && mac.split(':').count() == 6
        && octets.iter().any(|o| *o != 0)
        && octets.first().is_some_and(|o| o & 1 == 0)
}

pub(crate) fn nics(root: &Path) -> Vec<Nic> {
    let net = at(root, "/sys/class/net");
    nic_names(root)
        .into_iter()
        .filter_map(|name| {
            let dir = net.join(&name);
            let mac = text(&dir.join("address"))?.to_ascii_lowercase();
            let carrier = number(&dir.join("carrier")) == Some(1);
            // An interface without link reports -1 (or cannot be read).
            let speed = text(&dir.join("speed")).and_then(|s| s.parse::<i64>().ok()).filter(|s| *s > 0);
            Some(Nic {
                mac,
                link: if carrier { "up" } else { "down" },
                speed_mbps: speed.and_then(|s| u64::try_from(s).ok()),
                driver: link_name(&dir.join("device/driver")),
                pci: pci_address(&dir.join("device")),
                lldp: None,
                name,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::os::unix::fs::symlink;

    #[test]
    fn only_a_nics_own_ethernet_address_is_registered() {
        assert!(is_station_mac("52:54:00:12:34:56"));
        for m in [
            "00:00:00:00:00:00",
            "01:00:5e:00:00:01",
            "ff:ff:ff:ff:ff:ff",
            "80:00:02:08:fe:80:00:00:00:00:00:00:00:02:c9:03:00:0a:bc:de",
            "52:54:00:12:34",
            "zz:54:00:12:34:56",
        ] {
            assert!(!is_station_mac(m), "{m}");
        }
    }

    #[test]
    fn only_real_disks_are_disks() {
        for d in ["sda", "vda", "nvme0n1", "mmcblk0", "xvda"] {
            assert!(is_disk(d), "{d}");
        }
        for d in ["loop0", "ram0", "zram0", "sr0", "dm-0", "md127", "nbd0", "mtdblock0", "mmcblk0boot0", "mmcblk0rpmb"]
        {
            assert!(!is_disk(d), "{d}");
        }
    }

    fn write(root: &Path, path: &str, content: &[u8]) {
        let p = at(root, path);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, content).unwrap();
    }

    /// A machine's /sys and /proc as the kernel lays them out: a
    /// virtio-blk disk, a SCSI disk with a WWN behind virtio-scsi, an NVMe
    /// namespace, a CD drive, a loop device, a virtio NIC and a bridge.
    fn machine() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        let r = t.path();
        let pci = "/sys/devices/pci0000:00";
        write(r, &format!("{pci}/0000:00:05.0/virtio2/block/vda/size"), b"2097152\n");
        write(r, &format!("{pci}/0000:00:05.0/virtio2/block/vda/serial"), b"DISK-A\n");
        write(r, &format!("{pci}/0000:00:05.0/virtio2/block/vda/queue/rotational"), b"1\n");
        let sda = format!("{pci}/0000:00:06.0/virtio3/host2/target2:0:0/2:0:0:3/block/sda");
        write(r, &format!("{sda}/size"), b"4194304\n");
        write(r, &format!("{pci}/0000:00:06.0/virtio3/host2/target2:0:0/2:0:0:3/model"), b"QEMU HARDDISK   \n");
        write(r, &format!("{pci}/0000:00:06.0/virtio3/host2/target2:0:0/2:0:0:3/wwid"), b"naa.5000c50015ea71ac\n");
        write(r, &format!("{pci}/0000:00:06.0/virtio3/host2/target2:0:0/2:0:0:3/vpd_pg80"), b"\0\x80\0\x06SER-B1");
        symlink(
            at(r, &format!("{pci}/0000:00:06.0/virtio3/host2/target2:0:0/2:0:0:3")),
            at(r, &format!("{sda}/device")),
        )
        .unwrap();
        let nvme = format!("{pci}/0000:00:1d.0/0000:3d:00.0/nvme/nvme0/nvme0n1");
        write(r, &format!("{nvme}/size"), b"8\n");
        write(r, &format!("{nvme}/wwid"), b"eui.0025388b71b1c2d3\n");
        write(r, "/sys/devices/pci0000:00/0000:00:1f.2/ata1/host1/target1:0:0/1:0:0:0/block/sr0/size", b"2\n");
        write(r, "/sys/devices/virtual/block/loop0/size", b"0\n");
        fs::create_dir_all(at(r, "/sys/block")).unwrap();
        for (name, target) in [
            ("vda", format!("{pci}/0000:00:05.0/virtio2/block/vda")),
            ("sda", sda.clone()),
            ("nvme0n1", nvme.clone()),
            ("sr0", "/sys/devices/pci0000:00/0000:00:1f.2/ata1/host1/target1:0:0/1:0:0:0/block/sr0".into()),
            ("loop0", "/sys/devices/virtual/block/loop0".into()),
        ] {
            symlink(at(r, &target), at(r, &format!("/sys/block/{name}"))).unwrap();
        }
        // NICs: a virtio one with its driver, and a bridge (no device).
        let eth = format!("{pci}/0000:00:03.0/virtio0/net/eth0");
        write(r, &format!("{eth}/address"), b"52:54:00:AA:BB:01\n");
        write(r, &format!("{eth}/carrier"), b"1\n");
        write(r, &format!("{eth}/speed"), b"-1\n");
        write(r, "/sys/bus/virtio/drivers/virtio_net/.keep", b"");
        symlink(at(r, &format!("{pci}/0000:00:03.0/virtio0")), at(r, &format!("{eth}/device"))).unwrap();
        symlink(at(r, "/sys/bus/virtio/drivers/virtio_net"), at(r, &format!("{pci}/0000:00:03.0/virtio0/driver")))
            .unwrap();
        write(r, "/sys/devices/virtual/net/br0/address", b"52:54:00:aa:bb:99\n");
        fs::create_dir_all(at(r, "/sys/class/net")).unwrap();
        symlink(at(r, &eth), at(r, "/sys/class/net/eth0")).unwrap();
        symlink(at(r, "/sys/devices/virtual/net/br0"), at(r, "/sys/class/net/br0")).unwrap();
        write(r, "/sys/class/dmi/id/product_uuid", b"8C8F4D58-0A3B-4C5A-9E61-000000000001\n");
        write(r, "/sys/class/dmi/id/sys_vendor", b"Fulcrum Labs\n");
        write(r, "/sys/class/dmi/id/product_serial", b"SN-42\n");
        write(
            r,
            "/proc/cpuinfo",
            b"processor\t: 0\nmodel name\t: Test CPU\n\nprocessor\t: 1\nmodel name\t: Test CPU\n",
        );
        write(r, "/proc/meminfo", b"MemTotal:        2048000 kB\nMemFree: 1 kB\n");
        t
    }

    #[test]
    fn reads_a_whole_machine() {
        let t = machine();
        let r = collect(t.path(), "52:54:00:aa:bb:01");
        let v = serde_json::to_value(&r).unwrap();
        assert_eq!(v["cpus"]["count"], 2);
        assert_eq!(v["cpus"]["model"], "Test CPU");
        assert_eq!(v["memory"]["total_bytes"], 2048000u64 * 1024);
        assert_eq!(v["system"]["uuid"], "8c8f4d58-0a3b-4c5a-9e61-000000000001");
        assert_eq!(v["system"]["vendor"], "Fulcrum Labs");
        assert_eq!(v["system"]["serial"], "SN-42");
        assert_eq!(v["boot"]["firmware"], "bios");
        let disks = v["disks"].as_array().unwrap();
        let names: Vec<&str> = disks.iter().map(|d| d["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["nvme0n1", "sda", "vda"], "no CD drive, no loop device");
        assert_eq!(disks[2]["serial"], "DISK-A");
        assert_eq!(disks[2]["size_bytes"], 2097152u64 * 512);
        assert_eq!(disks[2]["by_path"], "pci-0000:00:05.0");
        assert_eq!(disks[2]["rotational"], true);
        assert_eq!(disks[1]["serial"], "SER-B1");
        assert_eq!(disks[1]["wwn"], "naa.5000c50015ea71ac");
        assert_eq!(disks[1]["model"], "QEMU HARDDISK");
        assert_eq!(disks[1]["by_path"], "pci-0000:00:06.0-scsi-0:0:0:3");
        assert_eq!(disks[0]["by_path"], "pci-0000:3d:00.0-nvme-1");
        assert_eq!(disks[0]["wwn"], "eui.0025388b71b1c2d3");
        let nics = v["nics"].as_array().unwrap();
        assert_eq!(nics.len(), 1, "the bridge is not a NIC: {nics:?}");
        assert_eq!(nics[0]["mac"], "52:54:00:aa:bb:01");
        assert_eq!(nics[0]["link"], "up");
        assert_eq!(nics[0]["driver"], "virtio_net");
        assert_eq!(nics[0]["pci"], "0000:00:03.0");
        assert!(nics[0].get("speed_mbps").is_none(), "a speed of -1 is no speed");
        assert_eq!(macs(t.path()), ["52:54:00:aa:bb:01"]);
    }

    #[test]
    fn an_empty_machine_reads_as_empty() {
        let t = tempfile::tempdir().unwrap();
        let r = collect(t.path(), "52:54:00:aa:bb:01");
        assert!(r.disks.is_empty() && r.nics.is_empty());
        assert_eq!(r.summary(), "0 CPUs, 0 MiB, 0 disks, 0 NICs (0 with an LLDP neighbour)");
    }
}
