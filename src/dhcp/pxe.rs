//! Telling network-boot clients apart and choosing what each gets, from the
//! options it sent (60 vendor class, 77 user class, 93 architecture):
//! - a PXE ROM gets an iPXE binary over TFTP, chosen by architecture
//!   (or the loader its node or network chose: PXELINUX, the signed shim);
//! - iPXE (user class "iPXE") gets the URL of its boot script, except on
//!   BIOS when its machine was given PXELINUX, which it then loads;
//! - UEFI HTTP boot (vendor class "HTTPClient") gets an http URL to iPXE;
//! - anything else (an installer, an OS) gets plain addressing.

use dhcproto::v4::{DhcpOption, DhcpOptions, OptionCode};

use crate::config::{BootConfig, DhcpConfig};
use crate::inventory::network::Network;
use crate::inventory::node::Node;
use crate::types::mac::Mac;

/// The vendor class (DHCPv4 option 60, DHCPv6 option 16) or user class
/// the discovery agent's DHCP client sends.
pub(crate) const DISCOVERY_AGENT: &[u8] = b"fulcrum-discovery";

/// Whether a DHCPv4 request comes from the discovery agent.
pub(crate) fn is_discovery_agent(opts: &DhcpOptions) -> bool {
    matches!(opts.get(OptionCode::ClassIdentifier), Some(DhcpOption::ClassIdentifier(v)) if v.starts_with(DISCOVERY_AGENT))
}

/// What kind of boot client sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Firmware {
    /// iPXE, from a NIC ROM or chainloaded: wants its script.
    Ipxe,
    /// A firmware PXE stack with its option 93 architecture.
    Pxe { arch: u16 },
    /// UEFI HTTP boot with its architecture.
    HttpBoot { arch: u16 },
    /// Not a network-boot request.
    Plain,
}

fn user_class_is_ipxe(raw: &[u8]) -> bool {
    if raw == b"iPXE" {
        return true;
    }
    // RFC 3004 form: a list of length-prefixed class names.
    let mut rest = raw;
    while let Some((&len, tail)) = rest.split_first() {
        let len = usize::from(len);
        let Some(name) = tail.get(..len) else {
            return false;
        };
        if name == b"iPXE" {
            return true;
        }
        rest = &tail[len..];
    }
    false
}

/// The client's option 93 architecture (RFC 4578), if it sent one.
pub(crate) fn client_arch(opts: &DhcpOptions) -> Option<u16> {
    match opts.get(OptionCode::ClientSystemArchitecture) {
        Some(DhcpOption::ClientSystemArchitecture(a)) => Some(u16::from(*a)),
        _ => None,
    }
}

/// Classifies a request by its options.
pub(crate) fn classify(opts: &DhcpOptions) -> Firmware {
    let arch = client_arch(opts);
    if let Some(DhcpOption::UserClass(uc)) = opts.get(OptionCode::UserClass) {
        if user_class_is_ipxe(uc) {
            return Firmware::Ipxe;
        }
    }
    let vendor = match opts.get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(v)) => v.as_slice(),
        _ => &[],
    };
    if vendor.starts_with(b"HTTPClient") {
        return Firmware::HttpBoot { arch: arch.unwrap_or(0x10) };
    }
    match arch {
        Some(arch) if vendor.starts_with(b"PXEClient") || vendor.is_empty() => Firmware::Pxe { arch },
        _ if vendor.starts_with(b"PXEClient") => Firmware::Pxe { arch: 0 },
        _ => Firmware::Plain,
    }
}

impl std::fmt::Display for Firmware {
    /// For a person: `BIOS PXE`, `UEFI x64 PXE (arch 7)`, `iPXE`...
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match *self {
            Firmware::Ipxe => f.write_str("iPXE"),
            Firmware::Pxe { arch: 0 } => f.write_str("BIOS PXE (arch 0)"),
            Firmware::Pxe { arch: arch @ (7 | 9) } => write!(f, "UEFI x64 PXE (arch {arch})"),
            Firmware::Pxe { arch: 0x0b } => f.write_str("UEFI arm64 PXE (arch 11)"),
            Firmware::Pxe { arch } => write!(f, "PXE (arch {arch})"),
            Firmware::HttpBoot { arch: 0x13 } => f.write_str("UEFI arm64 HTTP boot (arch 19)"),
            Firmware::HttpBoot { arch } => write!(f, "UEFI HTTP boot (arch {arch})"),
            Firmware::Plain => f.write_str("a plain DHCP client"),
        }
    }
}

/// Who sent a request, for a person: its firmware, or the discovery agent.
pub(crate) fn describe(opts: &DhcpOptions) -> String {
    match classify(opts) {
        Firmware::Plain if is_discovery_agent(opts) => "the discovery agent".into(),
        Firmware::Ipxe => match client_arch(opts) {
            Some(0) | None => "iPXE on BIOS".into(),
            Some(a) => format!("iPXE on UEFI (arch {a})"),
        },
        fw => fw.to_string(),
    }
}

/// Whether the client is UEFI firmware (or iPXE running on it): HTTP boot
/// always, PXE and iPXE by an option 93 architecture other than 0 (BIOS).
pub(crate) fn is_uefi(fw: Firmware, opts: &DhcpOptions) -> bool {
    match fw {
        Firmware::HttpBoot { .. } => true,
        Firmware::Pxe { arch } => arch != 0,
        Firmware::Ipxe => client_arch(opts).is_some_and(|a| a != 0),
        Firmware::Plain => false,
    }
}

/// The boot part of a reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct BootAnswer {
    /// Goes in the `file` field (NUL-terminated) and option 67 if asked for.
    pub(crate) file: String,
    /// Echoed in option 60: `PXEClient` or `HTTPClient`.
    pub(crate) vendor_class: Option<&'static str>,
    /// BIOS PXE ROMs get option 43 sub-option 6 = 8 (skip discovery).
    pub(crate) pxe_skip_discovery: bool,
    /// iPXE gets option 175.176 = 1 (no ProxyDHCP wait).
    pub(crate) ipxe_no_proxy_wait: bool,
}

/// The loaders one client may be given: the configured ones, with the
/// BIOS and x64 UEFI loaders its node or its network chose instead.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Loaders<'a> {
    pub(crate) bios: &'a str,
    pub(crate) uefi_x64: &'a str,
    pub(crate) uefi_arm64: &'a str,
}

impl<'a> Loaders<'a> {
    /// The configured loaders.
    pub(crate) fn configured(cfg: &'a DhcpConfig) -> Loaders<'a> {
        Loaders { bios: &cfg.bios_loader, uefi_x64: &cfg.uefi_x64_loader, uefi_arm64: &cfg.uefi_arm64_loader }
    }

    /// For a client on `net`, maybe node `node`: the node's BIOS and x64
    /// UEFI loaders, else its network's, else the configured ones. A
    /// protected node gets the configured ones (iPXE, whose script for it
    /// is always `local`): a chosen loader might boot something else.
    /// The Secure Boot shim stays chosen for a protected node: its GRUB
    /// config follows the same rule, and the machine may run nothing else.
    pub(crate) fn for_client(cfg: &'a DhcpConfig, net: &'a Network, node: Option<&'a Node>) -> Loaders<'a> {
        let chosen = node.and_then(|n| n.uefi_loader.as_deref()).or(net.uefi_loader.as_deref());
        let bios = net.chosen_bios_loader(node);
        if node.is_some_and(|n| n.protected) {
            let uefi_x64 =
                if chosen == Some(BootConfig::SHIM_X64) { BootConfig::SHIM_X64 } else { &cfg.uefi_x64_loader };
            return Loaders { uefi_x64, ..Loaders::configured(cfg) };
        }
        Loaders {
            bios: bios.unwrap_or(&cfg.bios_loader),
            uefi_x64: chosen.unwrap_or(&cfg.uefi_x64_loader),
            ..Loaders::configured(cfg)
        }
    }

    /// How to answer `fw`: iPXE on BIOS (a NIC ROM) whose machine was
    /// given PXELINUX is answered as the BIOS PXE stack it also is, so it
    /// loads PXELINUX, which runs on that stack and asks DHCP nothing (no
    /// chainload loop can form); any other client as itself.
    pub(crate) fn answering(self, fw: Firmware, opts: &DhcpOptions) -> Firmware {
        match fw {
            Firmware::Ipxe if !is_uefi(fw, opts) && BootConfig::is_pxelinux(self.bios) => Firmware::Pxe { arch: 0 },
            fw => fw,
        }
    }

    /// For x64 UEFI firmware that is to boot from its disk: the signed
    /// GRUB when it is installed (`has_grub`), whose `local` config
    /// chainloads the disk's loader (the shim stays: it loads that GRUB);
    /// else the loader as chosen.
    pub(crate) fn booting_the_disk(self, has_grub: bool) -> Loaders<'a> {
        match self.uefi_x64 {
            BootConfig::SHIM_X64 => self,
            _ if has_grub => Loaders { uefi_x64: BootConfig::GRUB_X64, ..self },
            _ => self,
        }
    }
}

/// Whether `loader` is the Secure Boot chain (the shim, or GRUB itself),
/// which only boots over TFTP.
pub(crate) fn is_grub_chain(loader: &str) -> bool {
    loader == BootConfig::SHIM_X64 || loader == BootConfig::GRUB_X64
}

/// The loader for a firmware PXE architecture (IANA registry; 7 and 9
/// are both x64 UEFI in practice).
pub(crate) fn loader_for(arch: u16, loaders: Loaders<'_>) -> Option<&str> {
    match arch {
        0 => Some(loaders.bios),
        7 | 9 => Some(loaders.uefi_x64),
        0x0b => Some(loaders.uefi_arm64),
        _ => None,
    }
}

/// What a client of this kind is told to boot. `base` is the HTTP base URL
/// on the client's network.
pub(crate) fn answer(fw: Firmware, loaders: Loaders<'_>, base: &str, mac: Mac) -> Option<BootAnswer> {
    match fw {
        Firmware::Plain => None,
        Firmware::Ipxe => Some(BootAnswer {
            file: format!("{base}/boot/ipxe?mac={mac}"),
            vendor_class: None,
            pxe_skip_discovery: false,
            ipxe_no_proxy_wait: true,
        }),
        Firmware::Pxe { arch } => loader_for(arch, loaders).map(|file| BootAnswer {
            file: file.to_string(),
            vendor_class: Some("PXEClient"),
            pxe_skip_discovery: arch == 0,
            ipxe_no_proxy_wait: false,
        }),
        Firmware::HttpBoot { arch } => {
            let loader = match arch {
                0x13 => loaders.uefi_arm64,
                _ => loaders.uefi_x64,
            };
            if is_grub_chain(loader) {
                // Debian 12's signed GRUB (2.06) learns no server from UEFI
                // HTTP boot: loaded by shim over HTTP it reads no config and
                // stops at its prompt (measured on OVMF with Secure Boot).
                // No URL, so the firmware moves on (to PXE, where the chain
                // boots over TFTP) instead of a machine stuck at a prompt.
                return None;
            }
            Some(BootAnswer {
                file: format!("{base}/boot/loaders/{loader}"),
                vendor_class: Some("HTTPClient"),
                pxe_skip_discovery: false,
                ipxe_no_proxy_wait: false,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v4::Architecture;

    fn opts(list: Vec<DhcpOption>) -> DhcpOptions {
        let mut o = DhcpOptions::new();
        for x in list {
            o.insert(x);
        }
        o
    }

    #[test]
    fn classifies_what_real_clients_send() {
        // iPXE on BIOS, as measured: 93=0, 60=PXEClient:..., 77=iPXE raw.
        let ipxe = opts(vec![
            DhcpOption::ClientSystemArchitecture(Architecture::from(0u16)),
            DhcpOption::ClassIdentifier(b"PXEClient:Arch:00000:UNDI:002001".to_vec()),
            DhcpOption::UserClass(b"iPXE".to_vec()),
        ]);
        assert_eq!(classify(&ipxe), Firmware::Ipxe);
        let rfc3004 = opts(vec![DhcpOption::UserClass(b"\x04iPXE".to_vec())]);
        assert_eq!(classify(&rfc3004), Firmware::Ipxe);
        let ovmf = opts(vec![
            DhcpOption::ClientSystemArchitecture(Architecture::from(7u16)),
            DhcpOption::ClassIdentifier(b"PXEClient:Arch:00007:UNDI:003016".to_vec()),
        ]);
        assert_eq!(classify(&ovmf), Firmware::Pxe { arch: 7 });
        let http = opts(vec![
            DhcpOption::ClientSystemArchitecture(Architecture::from(0x10u16)),
            DhcpOption::ClassIdentifier(b"HTTPClient:Arch:00016:UNDI:003001".to_vec()),
        ]);
        assert_eq!(classify(&http), Firmware::HttpBoot { arch: 0x10 });
        let installer = opts(vec![DhcpOption::ClassIdentifier(b"d-i".to_vec())]);
        assert_eq!(classify(&installer), Firmware::Plain);
        assert_eq!(classify(&DhcpOptions::new()), Firmware::Plain);
    }

    #[test]
    fn loaders_by_architecture() {
        let cfg = DhcpConfig::default();
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let bios = answer(Firmware::Pxe { arch: 0 }, Loaders::configured(&cfg), "http://s", mac).unwrap();
        assert_eq!(bios.file, "undionly.kpxe");
        assert!(bios.pxe_skip_discovery);
        assert_eq!(
            answer(Firmware::Pxe { arch: 7 }, Loaders::configured(&cfg), "http://s", mac).unwrap().file,
            "snponly.efi"
        );
        assert_eq!(
            answer(Firmware::Pxe { arch: 9 }, Loaders::configured(&cfg), "http://s", mac).unwrap().file,
            "snponly.efi"
        );
        assert_eq!(answer(Firmware::Pxe { arch: 2 }, Loaders::configured(&cfg), "http://s", mac), None);
        let ipxe = answer(Firmware::Ipxe, Loaders::configured(&cfg), "http://s:8080", mac).unwrap();
        assert_eq!(ipxe.file, "http://s:8080/boot/ipxe?mac=52:54:00:00:00:01");
        let http = answer(Firmware::HttpBoot { arch: 0x10 }, Loaders::configured(&cfg), "http://s", mac).unwrap();
        assert_eq!(http.file, "http://s/boot/loaders/snponly.efi");
        assert_eq!(http.vendor_class, Some("HTTPClient"));
        // The Secure Boot chain's GRUB cannot boot from UEFI HTTP boot: no
        // URL (the firmware moves on); over PXE it gets the shim.
        for chain in [BootConfig::SHIM_X64, BootConfig::GRUB_X64] {
            let loaders = Loaders { uefi_x64: chain, ..Loaders::configured(&cfg) };
            assert_eq!(answer(Firmware::HttpBoot { arch: 0x10 }, loaders, "http://s", mac), None);
            assert_eq!(answer(Firmware::Pxe { arch: 7 }, loaders, "http://s", mac).unwrap().file, chain);
        }
    }

    #[test]
    fn a_protected_node_gets_the_configured_uefi_loader_not_a_chosen_one() {
        let cfg = DhcpConfig::default();
        let mut net = crate::dhcp::fixture::network();
        net.uefi_loader = Some("grubx64.efi".into());
        let mut node = Node::bare("n.t.test", vec![], "local");
        node.uefi_loader = Some("ipxe.efi".into());
        assert_eq!(Loaders::for_client(&cfg, &net, Some(&node)).uefi_x64, "ipxe.efi");
        assert_eq!(Loaders::for_client(&cfg, &net, None).uefi_x64, "grubx64.efi");
        node.protected = true;
        assert_eq!(Loaders::for_client(&cfg, &net, Some(&node)).uefi_x64, cfg.uefi_x64_loader);
        // The Secure Boot shim stays: such a machine can run nothing else,
        // and its GRUB config for a protected node is always `local`.
        node.uefi_loader = Some("shimx64.efi".into());
        assert_eq!(Loaders::for_client(&cfg, &net, Some(&node)).uefi_x64, "shimx64.efi");
    }
}
