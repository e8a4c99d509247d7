//! "Why did this machine boot that?" against real clients: Fulcrum on a
//! bridge in one namespace, a machine's NIC in another. What `explain`
//! says each firmware would get is what udhcpc, announcing itself as that
//! firmware, then gets; TFTP and HTTP fetches and their refusals land in
//! the node's boot trace, in order and with the client's address, and the
//! trace outlives a restart; a bootenv change changes both the explanation
//! and the real answer; the CLI shows both. Needs root; fails under
//! CI=true when anything is missing.

use std::time::Duration;

use crate::harness::{curl, prerequisites, run, udhcpc, wait_for, Netns, Server};
use serde_json::{json, Value};

const MAC: &str = "52:54:00:77:00:01";

fn answer<'a>(explained: &'a Value, firmware: &str) -> &'a Value {
    explained["answers"]
        .as_array()
        .and_then(|a| a.iter().find(|x| x["firmware"] == firmware))
        .unwrap_or_else(|| panic!("no {firmware} answer: {explained}"))
}

#[test]
fn explain_says_what_real_clients_get_and_the_trace_keeps_what_they_got() {
    if !prerequisites("explain", true, &["ip", "udhcpc", "curl"]) {
        return;
    }
    let server_ns = Netns::new("xsrv");
    let client = Netns::new("xcli");
    server_ns.ip(&["link", "add", "br0", "type", "bridge", "stp_state", "0", "forward_delay", "0"]);
    server_ns.ip(&["addr", "add", "10.77.0.1/24", "dev", "br0"]);
    server_ns.ip(&["link", "set", "br0", "up"]);
    server_ns.ip(&["link", "add", "vsrv", "type", "veth", "peer", "name", "vcli"]);
    server_ns.ip(&["link", "set", "vsrv", "master", "br0", "up"]);
    server_ns.ip(&["link", "set", "vcli", "netns", &client.name]);
    client.ip(&["link", "set", "vcli", "name", "eth0"]);
    client.ip(&["link", "set", "eth0", "address", MAC, "up"]);
    let tftp_root = tempfile::tempdir().unwrap();
    std::fs::write(tftp_root.path().join("undionly.kpxe"), vec![7u8; 70_000]).unwrap();
    std::fs::write(tftp_root.path().join("snponly.efi"), vec![9u8; 90_000]).unwrap();
    // Stand-ins for Debian's signed shim and GRUB (the chain's names are
    // what is tested here; the QEMU tests boot the real ones).
    let signed = tempfile::tempdir().unwrap();
    let (shim, grub) = (signed.path().join("shimx64.efi.signed"), signed.path().join("grubnetx64.efi.signed"));
    std::fs::write(&shim, vec![5u8; 50_000]).unwrap();
    std::fs::write(&grub, vec![6u8; 60_000]).unwrap();
    // And for Debian's pxelinux and syslinux-common.
    let syslinux = tempfile::tempdir().unwrap();
    std::fs::write(syslinux.path().join("lpxelinux.0"), vec![3u8; 40_000]).unwrap();
    std::fs::write(syslinux.path().join("ldlinux.c32"), vec![4u8; 30_000]).unwrap();
    let config = format!(
        "data_dir = \"{{dir}}/data\"\n[http]\nlisten = \"0.0.0.0:8080\"\n[dhcp]\nlisten4 = \"0.0.0.0:67\"\ninterfaces = [\"br0\"]\n\
         [tftp]\nlisten = \"0.0.0.0:69\"\nroot = \"{}\"\n[boot]\nfiles_dir = \"{{dir}}/files\"\n\
         shim_x64 = \"{}\"\ngrub_x64 = \"{}\"\npxelinux_dir = \"{}\"\nsyslinux_modules = \"{}\"\n",
        tftp_root.path().display(),
        shim.display(),
        grub.display(),
        syslinux.path().display(),
        syslinux.path().display()
    );
    let http: std::net::SocketAddr = "10.77.0.1:8080".parse().unwrap();
    let srv = Server::start(&config, http, Some(&server_ns));
    let api = |srv: &Server, m: &str, p: &str, b: Option<Value>| {
        let (code, v) = curl(Some(&server_ns), m, &srv.url(p), b.as_ref());
        assert!((200..300).contains(&code), "{m} {p}: {code} {v}");
        v
    };
    api(
        &srv,
        "POST",
        "/api/v1/networks",
        Some(json!({
            "name": "lab", "subnet": "10.77.0.0/24", "router": "10.77.0.1", "server": "10.77.0.1",
            "static": {"start": "10.77.0.10", "end": "10.77.0.99"},
            "dynamic": {"start": "10.77.0.100", "end": "10.77.0.200"},
            "domain": "lab.test", "interface": "br0",
        })),
    );

    // A stranger: every firmware's answer explained; the real client agrees.
    let stranger = api(&srv, "GET", &format!("/api/v1/explain/{MAC}"), None);
    assert!(stranger["node"].is_null(), "{stranger}");
    assert!(stranger["network"]["reached"].as_str().unwrap().contains("br0"), "{stranger}");
    let bios = answer(&stranger, "bios");
    assert_eq!(bios["boot_file"], "undionly.kpxe", "{stranger}");
    assert!(
        bios["fetch"].as_str().unwrap().contains("TFTP serves")
            && bios["fetch"].as_str().unwrap().contains("70000 bytes")
    );
    assert_eq!(answer(&stranger, "uefi-x64-pxe")["boot_file"], "snponly.efi");
    assert_eq!(answer(&stranger, "uefi-x64-http")["boot_file"], "http://10.77.0.1:8080/boot/loaders/snponly.efi");
    assert!(answer(&stranger, "uefi-x64-http")["fetch"].as_str().unwrap().contains("HTTP serves"), "{stranger}");
    let arm = answer(&stranger, "uefi-arm64-pxe");
    assert!(arm["fetch"].as_str().unwrap().starts_with("missing"), "no arm64 loader in the root: {arm}");
    assert_eq!(answer(&stranger, "ipxe")["boot_file"], format!("http://10.77.0.1:8080/boot/ipxe?mac={MAC}"));
    assert_eq!(stranger["script"]["bootenv"], "discovery");
    let offered: std::net::Ipv4Addr = bios["address"].as_str().unwrap().parse().unwrap();
    assert!((std::net::Ipv4Addr::new(10, 77, 0, 100)..=std::net::Ipv4Addr::new(10, 77, 0, 200)).contains(&offered));
    let env = udhcpc(&client, "UEFI x64 PXE", "PXEClient:Arch:00007:UNDI:003016", "0007");
    assert_eq!(env["boot_file"], "snponly.efi", "{env:?}");
    // arm64 UEFI, on the wire: PXE (arch 11) gets the arm64 loader's name,
    // HTTP boot (arch 19) its URL, each as explain says.
    let env = udhcpc(&client, "UEFI arm64 PXE", "PXEClient:Arch:00011:UNDI:003016", "000b");
    assert_eq!(Some(&env["boot_file"]), arm["boot_file"].as_str().map(str::to_string).as_ref(), "{env:?}");
    assert_eq!(env["boot_file"], "snponly-arm64.efi", "{env:?}");
    let env = udhcpc(&client, "UEFI arm64 HTTP", "HTTPClient:Arch:00019:UNDI:003016", "0013");
    assert_eq!(env["boot_file"], "http://10.77.0.1:8080/boot/loaders/snponly-arm64.efi", "{env:?}");

    // A node: its address, and the same agreement per firmware.
    api(&srv, "POST", "/api/v1/nodes", Some(json!({"name": "box.lab.test", "macs": [MAC], "bootenv": "discovery"})));
    let explained = api(&srv, "GET", "/api/v1/explain/box.lab.test", None);
    assert_eq!(explained["node"]["name"], "box.lab.test", "{explained}");
    assert_eq!(answer(&explained, "bios")["address"], "10.77.0.10");
    let env = udhcpc(&client, "BIOS PXE", "PXEClient:Arch:00000:UNDI:002001", "0000");
    assert_eq!(env["ip"], "10.77.0.10", "{env:?}");
    assert_eq!(Some(&env["boot_file"]), answer(&explained, "bios")["boot_file"].as_str().map(str::to_string).as_ref());
    let env = udhcpc(&client, "UEFI x64 PXE", "PXEClient:Arch:00007:UNDI:003016", "0007");
    assert_eq!(
        Some(&env["boot_file"]),
        answer(&explained, "uefi-x64-pxe")["boot_file"].as_str().map(str::to_string).as_ref()
    );
    // Its fetches: a loader, a file that is not there, its script.
    let dl = tempfile::tempdir().unwrap();
    run(client.cmd("curl").args(["-sS", "-o"]).arg(dl.path().join("l")).arg("tftp://10.77.0.1/snponly.efi"));
    let missing =
        client.cmd("curl").args(["-sS", "-o", "/dev/null", "tftp://10.77.0.1/nothing-here.efi"]).output().unwrap();
    assert!(!missing.status.success(), "a missing file was served");
    let script = run(client.cmd("curl").args(["-sf", &format!("http://10.77.0.1:8080/boot/ipxe?mac={MAC}")]));
    let script = String::from_utf8_lossy(&script.stdout).to_string();
    assert_eq!(explained["script"]["script"].as_str(), Some(script.as_str()), "{explained}");

    // The trace: every exchange, in order, from the machine's address.
    let want = [
        ("dhcp4", "DISCOVER from BIOS PXE (arch 0)", "OFFER 10.77.0.10, boot file undionly.kpxe from 10.77.0.1"),
        ("dhcp4", "REQUEST from BIOS PXE (arch 0)", "ACK 10.77.0.10, boot file undionly.kpxe"),
        ("dhcp4", "DISCOVER from UEFI x64 PXE (arch 7)", "OFFER 10.77.0.10, boot file snponly.efi"),
        ("tftp", "RRQ snponly.efi", "sending"),
        ("tftp", "RRQ nothing-here.efi", "refused: no such file under the TFTP root"),
        ("http", &format!("GET /boot/ipxe?mac={MAC}"), "200 OK, the script of bootenv discovery"),
    ];
    let trace = wait_for(Duration::from_secs(10), "the trace holds every exchange", || {
        let t = api(&srv, "GET", "/api/v1/nodes/box.lab.test/trace", None);
        t["events"].as_array().is_some_and(|e| e.iter().any(|e| e["service"] == "http")).then_some(t)
    });
    let events = trace["events"].as_array().unwrap();
    let mut at = 0;
    for (service, request, answer) in want {
        let i = events[at..]
            .iter()
            .position(|e| {
                e["service"] == service && e["request"] == request && e["answer"].as_str().unwrap().starts_with(answer)
            })
            .unwrap_or_else(|| panic!("no {service} `{request}` -> `{answer}` after event {at}: {trace:#}"));
        at += i + 1;
    }
    assert!(events.iter().all(|e| e["service"] != "dhcp4" || e["mac"] == MAC), "{trace:#}");
    let ms: Vec<u64> = events.iter().map(|e| e["at_ms"].as_u64().unwrap()).collect();
    assert!(ms.windows(2).all(|w| w[0] <= w[1]), "out of order: {ms:?}");
    let tftp = events.iter().find(|e| e["service"] == "tftp").unwrap();
    assert_eq!(tftp["client"], "10.77.0.10", "{tftp}");

    // The bootenv changes: so do the explanation and the real answer.
    api(&srv, "PUT", "/api/v1/nodes/box.lab.test/bootenv", Some(json!({"bootenv": "local"})));
    let local = api(&srv, "GET", &format!("/api/v1/explain/{MAC}"), None);
    let bios = answer(&local, "bios");
    assert!(bios["boot_file"].is_null() && bios["dhcp"].as_str().unwrap().contains("no boot file"), "{local}");
    assert!(bios["because"].to_string().contains("bootenv local is local: BIOS firmware gets no boot file"), "{bios}");
    // UEFI PXE gets GRUB, whose local config chainloads the disk's loader;
    // UEFI HTTP boot still gets iPXE, whose local script exits.
    let uefi = answer(&local, "uefi-x64-pxe");
    assert_eq!(uefi["boot_file"], "grubx64.efi", "{local}");
    assert!(uefi["because"].to_string().contains("chainloads the disk's own loader at once"), "{uefi}");
    assert!(uefi["fetch"].as_str().unwrap().contains("60000 bytes"), "{uefi}");
    let http_boot = answer(&local, "uefi-x64-http");
    assert!(http_boot["because"].to_string().contains("exits to the firmware's next boot entry"), "{http_boot}");
    let env = udhcpc(&client, "UEFI x64 PXE", "PXEClient:Arch:00007:UNDI:003016", "0007");
    assert_eq!(env["boot_file"], "grubx64.efi", "{env:?}");
    assert_eq!(local["script"]["bootenv"], "local");
    let grub_local = local["grub"]["script"].as_str().unwrap_or_else(|| panic!("no GRUB config: {local}"));
    assert!(grub_local.contains("chainloader ($esp)$loader") && grub_local.contains("/EFI/BOOT/BOOTX64.EFI"));
    // iPXE on BIOS (a NIC's own ROM) is not handed a script either.
    assert!(answer(&local, "ipxe")["boot_file"].is_null(), "{local}");
    let env = udhcpc(&client, "BIOS PXE", "PXEClient:Arch:00000:UNDI:002001", "0000");
    assert!(env.get("boot_file").is_none_or(|f| f.is_empty()), "BIOS got a boot file for a local node: {env:?}");

    // The Secure Boot chain: the network's UEFI machines get the shim;
    // shim, GRUB and the node's GRUB config come over TFTP, the config
    // rendered from the node's bootenv and only for the node itself.
    api(&srv, "PATCH", "/api/v1/networks/lab", Some(json!({"uefi_loader": "shimx64.efi"})));
    api(&srv, "PUT", "/api/v1/nodes/box.lab.test/bootenv", Some(json!({"bootenv": "discovery"})));
    let chain = api(&srv, "GET", "/api/v1/explain/box.lab.test", None);
    let uefi = answer(&chain, "uefi-x64-pxe");
    assert_eq!(uefi["boot_file"], "shimx64.efi", "{chain}");
    let fetch = uefi["fetch"].as_str().unwrap();
    assert!(fetch.contains("50000 bytes") && fetch.contains("shim then loads"), "{uefi}");
    assert!(uefi["because"].to_string().contains("the Secure Boot chain"), "{uefi}");
    let grub_cfg = chain["grub"]["script"].as_str().unwrap_or_else(|| panic!("no GRUB config: {chain}")).to_string();
    assert!(
        grub_cfg.contains("linux /files/discovery/vmlinuz ")
            && grub_cfg.contains(&format!("fulcrum.mac={MAC}"))
            && grub_cfg.contains("initrd /files/discovery/initrd.img"),
        "{grub_cfg}"
    );
    let env = udhcpc(&client, "UEFI x64 PXE", "PXEClient:Arch:00007:UNDI:003016", "0007");
    assert_eq!((env["ip"].as_str(), env["boot_file"].as_str()), ("10.77.0.10", "shimx64.efi"), "{env:?}");
    let fetched = |url: &str, from: Option<&str>| {
        let mut cmd = client.cmd("curl");
        cmd.args(["-sS", "--max-time", "10"]);
        if let Some(ip) = from {
            cmd.args(["--interface", ip]);
        }
        let out = cmd.arg(url).output().expect("curl");
        out.status.success().then_some(out.stdout)
    };
    assert_eq!(fetched("tftp://10.77.0.1/shimx64.efi", None), Some(vec![5u8; 50_000]));
    assert_eq!(fetched("tftp://10.77.0.1/grubx64.efi", None), Some(vec![6u8; 60_000]));
    assert_eq!(fetched("http://10.77.0.1:8080/boot/loaders/shimx64.efi", None), Some(vec![5u8; 50_000]));
    let bootstrap = String::from_utf8(fetched("tftp://10.77.0.1/grub/grub.cfg", None).unwrap()).unwrap();
    assert!(bootstrap.contains("configfile $prefix/fulcrum/${net_default_mac}.cfg"), "{bootstrap}");
    let mine = fetched(&format!("tftp://10.77.0.1/grub/fulcrum/{MAC}.cfg"), None).expect("the node's GRUB config");
    assert_eq!(String::from_utf8(mine).unwrap(), grub_cfg);
    // From another address on the segment: refused (it can carry a token).
    client.ip(&["addr", "add", "10.77.0.50/24", "dev", "eth0"]);
    assert!(fetched("tftp://10.77.0.1/grub/grub.cfg", Some("10.77.0.50")).is_some(), "10.77.0.50 reaches TFTP");
    assert_eq!(fetched(&format!("tftp://10.77.0.1/grub/fulcrum/{MAC}.cfg"), Some("10.77.0.50")), None);
    wait_for(Duration::from_secs(5), "the refusal in the log", || {
        srv.log_text().lines().any(|l| l.contains("tftp refused") && l.contains("not for 10.77.0.50")).then_some(())
    });
    // A change of bootenv is in the very next config.
    api(&srv, "PUT", "/api/v1/nodes/box.lab.test/bootenv", Some(json!({"bootenv": "local"})));
    let next = fetched(&format!("tftp://10.77.0.1/grub/fulcrum/{MAC}.cfg"), None).expect("the node's GRUB config");
    assert!(String::from_utf8(next).unwrap().contains("from its local disk"));

    // The CLI shows both.
    let cli = |args: &[&str]| {
        let out = run(server_ns
            .cmd(crate::harness::bin())
            .env("FULCRUM_ENDPOINT", srv.url(""))
            .env("FULCRUM_TOKEN", srv.token())
            .env("FULCRUM_CACERT", srv.cert())
            .args(args));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let text = cli(&["node", "explain", "box.lab.test"]);
    println!("{text}");
    assert!(text.contains("node box.lab.test (10.77.0.10), bootenv local"), "{text}");
    assert!(text.contains("bios") && text.contains("no boot file") && text.contains("to change it:"), "{text}");
    assert!(text.contains(&format!("GRUB config (grub/fulcrum/{MAC}.cfg): bootenv local")), "{text}");
    let text = cli(&["node", "trace", "box.lab.test"]);
    println!("{text}");
    assert!(text.starts_with("TIME") && text.contains("RRQ snponly.efi") && text.contains("10.77.0.10"), "{text}");

    // PXELINUX: the network's BIOS machines get lpxelinux.0 (iPXE on BIOS
    // too); its loader and first module come from their packages over
    // TFTP, and the node's config is rendered from its bootenv, for the
    // node alone.
    api(&srv, "PATCH", "/api/v1/networks/lab", Some(json!({"bios_loader": "lpxelinux.0"})));
    api(&srv, "PUT", "/api/v1/nodes/box.lab.test/bootenv", Some(json!({"bootenv": "discovery"})));
    let pxl = api(&srv, "GET", "/api/v1/explain/box.lab.test", None);
    for fw in ["bios", "ipxe"] {
        let a = answer(&pxl, fw);
        assert_eq!(a["boot_file"], "lpxelinux.0", "{pxl}");
        assert!(a["because"].to_string().contains("network lab's bios_loader"), "{a}");
        let fetch = a["fetch"].as_str().unwrap_or_default();
        assert!(fetch.contains("40000 bytes") && fetch.contains("PXELINUX then loads"), "{a}");
    }
    assert!(answer(&pxl, "ipxe")["because"].to_string().contains("no chainload loop"), "{pxl}");
    let pxl_cfg = pxl["pxelinux"]["script"].as_str().unwrap_or_else(|| panic!("no PXELINUX config: {pxl}")).to_string();
    assert!(
        pxl_cfg.contains("  LINUX http://10.77.0.1:8080/boot/files/discovery/vmlinuz")
            && pxl_cfg.contains(&format!("fulcrum.mac={MAC}")),
        "{pxl_cfg}"
    );
    let env = udhcpc(&client, "BIOS PXE", "PXEClient:Arch:00000:UNDI:002001", "0000");
    assert_eq!(env["boot_file"], "lpxelinux.0", "{env:?}");
    assert_eq!(fetched("tftp://10.77.0.1/lpxelinux.0", None), Some(vec![3u8; 40_000]));
    assert_eq!(fetched("tftp://10.77.0.1/ldlinux.c32", None), Some(vec![4u8; 30_000]));
    let dashed = MAC.replace(':', "-");
    let own = format!("tftp://10.77.0.1/pxelinux.cfg/01-{dashed}");
    let mine = fetched(&own, None).expect("the node's PXELINUX config");
    assert_eq!(String::from_utf8(mine).unwrap(), pxl_cfg);
    assert_eq!(fetched("tftp://10.77.0.1/pxelinux.cfg/default", None), None, "only the MAC's own config is served");
    assert_eq!(fetched(&own, Some("10.77.0.50")), None, "another address got the node's PXELINUX config");
    let text = cli(&["node", "explain", "box.lab.test"]);
    assert!(text.contains(&format!("PXELINUX config (pxelinux.cfg/01-{dashed}): bootenv discovery")), "{text}");
    api(&srv, "PUT", "/api/v1/nodes/box.lab.test/bootenv", Some(json!({"bootenv": "local"})));
    let next = fetched(&own, None).expect("the node's PXELINUX config");
    assert!(String::from_utf8(next).unwrap().contains("LOCALBOOT 0"));

    // Bad questions get clear answers.
    let (code, v) = curl(Some(&server_ns), "GET", &srv.url("/api/v1/explain/nobody.lab.test"), None);
    assert_eq!(code, 404, "{v}");
    api(
        &srv,
        "POST",
        "/api/v1/networks",
        Some(
            json!({"name": "other", "subnet": "10.76.0.0/24", "static": {"start": "10.76.0.10", "end": "10.76.0.20"}, "domain": "o.test"}),
        ),
    );
    let (code, v) = curl(Some(&server_ns), "GET", &srv.url("/api/v1/explain/52:54:00:77:00:99"), None);
    assert_eq!((code, v["detail"]["field"].as_str()), (422, Some("network")), "{v}");
    let (code, v) = curl(Some(&server_ns), "GET", &srv.url("/api/v1/explain/52:54:00:77:00:99?network=other"), None);
    assert_eq!(code, 200, "{v}");
    assert!(v["network"]["reached"].as_str().unwrap().contains("relay"), "no host address in 10.76.0.0/24: {v}");

    // The trace is durable: it is all there after a restart.
    let before = api(&srv, "GET", "/api/v1/nodes/box.lab.test/trace", None)["events"].as_array().unwrap().len();
    let (_, dir) = srv.stop();
    let srv = Server::start_in(dir, &config, http, Some(&server_ns));
    let after = api(&srv, "GET", "/api/v1/nodes/box.lab.test/trace", None);
    assert!(after["events"].as_array().unwrap().len() >= before, "{after}");
    assert!(after.to_string().contains("RRQ snponly.efi"), "{after}");
}
