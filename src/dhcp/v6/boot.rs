//! Network boot over DHCPv6 (RFC 5970): telling boot clients apart by
//! their user class (15), vendor class (16) and client architecture (61),
//! and the boot-file URL (option 59) each gets:
//! - iPXE gets the URL of its boot script on the admin node's address in
//!   the network's /64;
//! - UEFI HTTP boot (vendor class `HTTPClient`) gets an http URL to its
//!   loader;
//! - UEFI PXE over IPv6 gets a tftp URL to its loader;
//! - BIOS PXE has no IPv6 path, and anything else gets addressing only.

use std::net::Ipv6Addr;

use dhcproto::v6::{DhcpOption, DhcpOptions, OptionCode};

use crate::dhcp::pxe::{loader_for, Firmware, Loaders, DISCOVERY_AGENT};
use crate::types::mac::Mac;

/// Classifies a DHCPv6 request by its options.
pub(crate) fn classify(opts: &DhcpOptions) -> Firmware {
    let arch = match opts.get(OptionCode::ClientArchType) {
        Some(DhcpOption::ClientArchType(a)) => a.first().map(|a| u16::from(*a)),
        _ => None,
    };
    if let Some(DhcpOption::UserClass(uc)) = opts.get(OptionCode::UserClass) {
        if uc.data.iter().any(|c| c == b"iPXE") {
            return Firmware::Ipxe;
        }
    }
    let vendor = match opts.get(OptionCode::VendorClass) {
        Some(DhcpOption::VendorClass(v)) => v.data.first().map(Vec::as_slice).unwrap_or_default(),
        _ => &[],
    };
    if vendor.starts_with(b"HTTPClient") {
        return Firmware::HttpBoot { arch: arch.unwrap_or(0x10) };
    }
    match arch {
        Some(arch) => Firmware::Pxe { arch },
        None if vendor.starts_with(b"PXEClient") => Firmware::Pxe { arch: 0 },
        None => Firmware::Plain,
    }
}

/// Whether a DHCPv6 client network boots or is the discovery agent (its
/// vendor or user class is `fulcrum-discovery`).
pub(crate) fn is_booting(opts: &DhcpOptions) -> bool {
    let agent = |c: &[u8]| c.starts_with(DISCOVERY_AGENT);
    let vendor = matches!(opts.get(OptionCode::VendorClass), Some(DhcpOption::VendorClass(v)) if v.data.iter().any(|c| agent(c)));
    let user =
        matches!(opts.get(OptionCode::UserClass), Some(DhcpOption::UserClass(u)) if u.data.iter().any(|c| agent(c)));
    classify(opts) != Firmware::Plain || vendor || user
}

/// The boot-file URL for a client of this kind; `base` is the HTTP base
/// URL on the admin node's address in the network, `server` that address.
pub(crate) fn url(
    fw: Firmware,
    loaders: Loaders<'_>,
    base: &str,
    server: Ipv6Addr,
    mac: Option<Mac>,
) -> Option<String> {
    match fw {
        Firmware::Plain => None,
        Firmware::Ipxe => Some(match mac {
            Some(mac) => format!("{base}/boot/ipxe?mac={mac}"),
            None => format!("{base}/boot/ipxe"),
        }),
        // BIOS PXE ROMs have no IPv6 boot; UEFI PXE fetches over TFTP.
        Firmware::Pxe { arch: 0 } => None,
        Firmware::Pxe { arch } => loader_for(arch, loaders).map(|l| format!("tftp://[{server}]/{l}")),
        Firmware::HttpBoot { arch } => {
            let loader = if arch == 0x13 { loaders.uefi_arm64 } else { loaders.uefi_x64 };
            // As over DHCPv4: the Secure Boot chain's GRUB cannot boot
            // from UEFI HTTP boot (`dhcp::pxe::is_grub_chain`).
            (!crate::dhcp::pxe::is_grub_chain(loader)).then(|| format!("{base}/boot/loaders/{loader}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dhcproto::v6::{Architecture, UserClass, VendorClass};

    fn opts(list: Vec<DhcpOption>) -> DhcpOptions {
        list.into_iter().collect()
    }

    #[test]
    fn boot_urls_by_client_kind() {
        let cfg = crate::config::DhcpConfig::default();
        let s: Ipv6Addr = "fd00:1::1".parse().unwrap();
        let base = "http://[fd00:1::1]:8080";
        let mac: Mac = "52:54:00:00:00:01".parse().unwrap();
        let ipxe = opts(vec![DhcpOption::UserClass(UserClass { data: vec![b"iPXE".to_vec()] })]);
        assert_eq!(classify(&ipxe), Firmware::Ipxe);
        assert_eq!(
            url(classify(&ipxe), Loaders::configured(&cfg), base, s, Some(mac)).as_deref(),
            Some("http://[fd00:1::1]:8080/boot/ipxe?mac=52:54:00:00:00:01")
        );
        let http = opts(vec![
            DhcpOption::ClientArchType(vec![Architecture::from(0x10u16)]),
            DhcpOption::VendorClass(VendorClass { num: 343, data: vec![b"HTTPClient:Arch:00016".to_vec()] }),
        ]);
        assert_eq!(
            url(classify(&http), Loaders::configured(&cfg), base, s, None).as_deref(),
            Some("http://[fd00:1::1]:8080/boot/loaders/snponly.efi")
        );
        let uefi_pxe = opts(vec![DhcpOption::ClientArchType(vec![Architecture::from(7u16)])]);
        assert_eq!(
            url(classify(&uefi_pxe), Loaders::configured(&cfg), base, s, None).as_deref(),
            Some("tftp://[fd00:1::1]/snponly.efi")
        );
        // The Secure Boot chain: over TFTP to UEFI PXE, nothing to HTTP boot.
        let chain = Loaders { uefi_x64: "shimx64.efi", ..Loaders::configured(&cfg) };
        assert_eq!(url(classify(&http), chain, base, s, None), None);
        assert_eq!(url(classify(&uefi_pxe), chain, base, s, None).as_deref(), Some("tftp://[fd00:1::1]/shimx64.efi"));
        let bios = opts(vec![DhcpOption::ClientArchType(vec![Architecture::from(0u16)])]);
        assert_eq!(url(classify(&bios), Loaders::configured(&cfg), base, s, None), None);
        assert_eq!(classify(&DhcpOptions::new()), Firmware::Plain);
    }
}
