//! proxyDHCP and the PXE boot server, at the packet level on loopback
//! (the QEMU test in `qemu_boot` boots a real guest beside dnsmasq): a
//! network in `proxy` mode answers network-boot firmware with the boot
//! part only and never leases, and the boot server on its own socket
//! (port 4011 in production) answers a UEFI client's request for its boot
//! file, on a proxy network and on a full one.

use std::net::Ipv4Addr;

use dhcproto::v4::{Architecture, DhcpOption, Message, MessageType, OptionCode};
use fulcrum::demo::relay::{Relay, Stage};
use fulcrum::types::mac::Mac;
use serde_json::json;

use crate::harness::{curl, loopback_network, InProcess};

fn vendor_class(m: &Message) -> Option<String> {
    match m.opts().get(OptionCode::ClassIdentifier) {
        Some(DhcpOption::ClassIdentifier(v)) => Some(String::from_utf8_lossy(v).into_owned()),
        _ => None,
    }
}

/// What OVMF sends to the boot server after a proxy offer: a REQUEST from
/// the address it leased elsewhere, not relayed.
fn uefi_boot_request(relay: &Relay, mac: Mac, ciaddr: Ipv4Addr) -> Message {
    let mut m = relay.request(mac, MessageType::Request, Stage::BiosRom);
    m.set_giaddr(Ipv4Addr::UNSPECIFIED).set_ciaddr(ciaddr);
    m.opts_mut().insert(DhcpOption::ClientSystemArchitecture(Architecture::from(7u16)));
    m.opts_mut().insert(DhcpOption::ClassIdentifier(b"PXEClient:Arch:00007:UNDI:003016".to_vec()));
    m
}

#[test]
fn a_proxy_network_boots_clients_it_gives_no_address_and_the_boot_server_answers_uefi() {
    let srv = InProcess::start("");
    let dhcp = srv.dhcp4.expect("a DHCPv4 socket");
    let boot_server = srv.boot_server.expect("the boot server is on by default");
    let url = |p: &str| srv.url(p);

    // The site's DHCP server owns 127.69.0.0/24: a proxy network has no dynamic range.
    let mut site = loopback_network("site", 69);
    site["dhcp"] = json!("proxy");
    let (code, v) = curl(None, "POST", &url("/api/v1/networks"), Some(&site));
    assert_eq!((code, &v["detail"]["field"]), (422, &json!("dynamic")), "{v}");
    site.as_object_mut().unwrap().remove("dynamic");
    let (code, v) = curl(None, "POST", &url("/api/v1/networks"), Some(&site));
    assert_eq!((code, &v["dhcp"]), (201, &json!("proxy")), "{v}");
    assert_eq!(curl(None, "POST", &url("/api/v1/networks"), Some(&loopback_network("full", 70))).0, 201);

    // A BIOS ROM and iPXE behind a relay on the site network: boot file,
    // option 60, no address.
    let relay = Relay::new(Ipv4Addr::new(127, 69, 0, 1), dhcp).unwrap();
    let rom = Mac([0x52, 0x54, 0x00, 0x69, 0, 1]);
    let offer = relay.send(&relay.request(rom, MessageType::Discover, Stage::BiosRom)).expect("a proxy offer");
    assert_eq!(offer.kind, Some(MessageType::Offer));
    assert_eq!(offer.yiaddr, Ipv4Addr::UNSPECIFIED, "{:?}", offer.msg);
    assert_eq!(offer.file.as_deref(), Some("undionly.kpxe"));
    assert_eq!(vendor_class(&offer.msg).as_deref(), Some("PXEClient"));
    let ipxe = relay.send(&relay.request(rom, MessageType::Discover, Stage::Ipxe)).expect("a proxy offer");
    assert!(ipxe.file.as_deref().is_some_and(|f| f.contains("/boot/ipxe?mac=52:54:00:69:00:01")), "{ipxe:?}");
    assert_eq!(ipxe.yiaddr, Ipv4Addr::UNSPECIFIED);
    // Asking for an address there gets nothing: the site's server answers that.
    let mut req = relay.request(rom, MessageType::Request, Stage::BiosRom);
    req.opts_mut().insert(DhcpOption::RequestedIpAddress(Ipv4Addr::new(127, 69, 0, 150)));
    req.opts_mut().insert(DhcpOption::ServerIdentifier(Ipv4Addr::new(127, 69, 0, 2)));
    assert!(relay.with_timeout(std::time::Duration::from_millis(500)).unwrap().send(&req).is_err());
    let (_, leases) = curl(None, "GET", &url("/api/v1/leases?network=site"), None);
    assert_eq!(leases, json!([]), "a proxy network holds no lease");

    // The boot server: a UEFI client on either network asks for its file.
    for (ciaddr, mac) in [([127, 69, 0, 150], 2u8), ([127, 70, 0, 150], 3)] {
        let ciaddr = Ipv4Addr::from(ciaddr);
        let client = Relay::new(ciaddr, boot_server).unwrap();
        let ack = client
            .send(&uefi_boot_request(&client, Mac([0x52, 0x54, 0x00, 0x69, 0, mac]), ciaddr))
            .unwrap_or_else(|e| panic!("no boot server answer for {ciaddr}: {e}"));
        assert_eq!(ack.kind, Some(MessageType::Ack));
        assert_eq!(ack.file.as_deref(), Some("snponly.efi"), "{:?}", ack.msg);
        assert_eq!((ack.yiaddr, ack.msg.ciaddr()), (Ipv4Addr::UNSPECIFIED, ciaddr));
        assert_eq!(vendor_class(&ack.msg).as_deref(), Some("PXEClient"));
    }
    // A network or node may choose its x64 UEFI loader (a file under the TFTP root).
    for bad in ["../x.efi", "/abs.efi", "", "a b.efi"] {
        let (code, v) = curl(None, "PATCH", &url("/api/v1/networks/full"), Some(&json!({"uefi_loader": bad})));
        assert_eq!((code, &v["detail"]["field"]), (422, &json!("uefi_loader")), "{bad}: {v}");
    }
    let (code, v) = curl(None, "PATCH", &url("/api/v1/networks/full"), Some(&json!({"uefi_loader": "ipxe.efi"})));
    assert_eq!((code, &v["uefi_loader"]), (200, &json!("ipxe.efi")), "{v}");
    let client = Relay::new(Ipv4Addr::new(127, 70, 0, 151), boot_server).unwrap();
    let mac = Mac([0x52, 0x54, 0x00, 0x69, 0, 4]);
    let ack = client.send(&uefi_boot_request(&client, mac, Ipv4Addr::new(127, 70, 0, 151))).expect("boot server");
    assert_eq!(ack.file.as_deref(), Some("ipxe.efi"));
    let (code, v) = curl(None, "PATCH", &url("/api/v1/networks/full"), Some(&json!({"uefi_loader": null})));
    assert!(code == 200 && v.get("uefi_loader").is_none(), "{v}");
    let (_, metrics) = curl(None, "GET", &url("/metrics"), None);
    let m = metrics.as_str().unwrap_or_default();
    assert!(crate::harness::metric(m, "fulcrum_dhcp4_dropped_total{reason=\"other_server\"}") >= 1, "{m}");
}
