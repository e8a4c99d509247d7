//! Rendering what a booting machine fetches, from the world snapshot taken
//! when the request arrived: its iPXE script (from the node's CURRENT
//! bootenv, `local` for a protected node whatever its record says, or the
//! discovery bootenv for an unknown MAC) and its unattended-install
//! templates, the per-node GRUB config of the Secure Boot chain (`grub`:
//! the same kernel, initrds and command line, in GRUB's words), and the
//! per-node PXELINUX config (`pxelinux`: the same, in PXELINUX's).
//! Templates are minijinja.

use minijinja::Environment;
use serde::Serialize;

use super::{grub, pxelinux};
use crate::inventory::bootenv::{BootKind, Bootenv};
use crate::inventory::node::{Node, Params};
use crate::state::World;
use crate::types::mac::Mac;
use crate::types::names::host_part;

/// Default script for network bootenvs: kernel + initrds + params.
const NETBOOT: &str = include_str!("../../ipxe/netboot.ipxe.j2");
/// Script for `local` bootenvs: boot from disk, BIOS or UEFI.
const LOCAL: &str = include_str!("../../ipxe/local.ipxe.j2");
/// GRUB config for network bootenvs.
const GRUB_NETBOOT: &str = include_str!("../../grub/netboot.cfg.j2");
/// GRUB config for `local` bootenvs: back to the firmware's next entry.
const GRUB_LOCAL: &str = include_str!("../../grub/local.cfg.j2");
/// PXELINUX config for network bootenvs.
const PXELINUX_NETBOOT: &str = include_str!("../../pxelinux/netboot.cfg.j2");
/// PXELINUX config for `local` bootenvs: back to the BIOS's next device.
const PXELINUX_LOCAL: &str = include_str!("../../pxelinux/local.cfg.j2");

/// Templates every installer bootenv (a network one other than the
/// discovery image) serves unless it has its own of the name: what an
/// installed system needs to report to Fulcrum.
const SHARED_TEMPLATES: [(&str, &str); 3] = [
    ("node.auth", include_str!("../../templates/node.auth.j2")),
    ("fulcrum-alive.service", include_str!("../../templates/fulcrum-alive.service.j2")),
    ("authorized_keys", include_str!("../../templates/authorized_keys.j2")),
];

/// Why a boot answer could not be rendered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("bootenv `{0}` does not exist")]
    MissingBootenv(String),
    #[error("bootenv `{env}` has no template `{name}`")]
    MissingTemplate { env: String, name: String },
    #[error("bootenv `{env}` cannot boot through GRUB: {reason}")]
    Grub { env: String, reason: String },
    #[error("bootenv `{env}` cannot boot through PXELINUX: {reason}")]
    Pxelinux { env: String, reason: String },
    #[error("template {what} of bootenv `{env}` does not render")]
    Template { env: String, what: String, source: minijinja::Error },
}

#[derive(Serialize)]
struct NodeCtx<'a> {
    name: &'a str,
    /// The first label of the name.
    hostname: &'a str,
    ipv4: Option<String>,
    ipv6: Option<String>,
    network: Option<&'a str>,
    domain: Option<&'a str>,
    bootenv: &'a str,
    /// What the node presents when it reports in (installer callbacks).
    token: &'a str,
}

#[derive(Serialize)]
struct InitrdCtx {
    name: String,
    url: String,
}

#[derive(Serialize)]
struct EnvCtx<'a> {
    name: &'a str,
    os: &'a str,
    kernel: Option<String>,
    initrds: Vec<InitrdCtx>,
    kernel_params: String,
}

#[derive(Serialize)]
struct Ctx<'a> {
    server: &'a str,
    files: String,
    mac: String,
    node: Option<NodeCtx<'a>>,
    /// The node's params (none for an unknown machine).
    params: &'a Params,
    env: EnvCtx<'a>,
}

/// The params of a machine no node has.
static NO_PARAMS: Params = Params::new();

/// A file reference as a URL: kept if already `http(s)://`, else under
/// `/boot/files/`.
fn file_url(base: &str, path: &str) -> String {
    if path.starts_with("http://") || path.starts_with("https://") {
        path.to_string()
    } else {
        format!("{base}/boot/files/{}", path.trim_start_matches('/'))
    }
}

fn render(env: &Bootenv, what: &str, template: &str, ctx: &Ctx<'_>) -> Result<String, RenderError> {
    let jinja = Environment::new();
    jinja.render_str(template, ctx).map_err(|source| RenderError::Template {
        env: env.name.clone(),
        what: what.into(),
        source,
    })
}

/// What a protected node boots when its record names anything else.
const PROTECTED_BOOTENV: &str = "local";

/// Resolves which node and bootenv a MAC boots, and builds the context.
fn context<'w>(
    world: &'w World,
    discovery: &'w str,
    base: &'w str,
    mac: Mac,
) -> Result<(Ctx<'w>, &'w Bootenv), RenderError> {
    let node: Option<&'w Node> = world.table::<Node>().by_mac(&mac).map(|n| &**n);
    // A protected node boots from its disk, whatever its record says.
    let protected_local = |n: &'w Node| {
        let own = world.table::<Bootenv>().get(&n.bootenv).is_some_and(|e| e.kind == BootKind::Local);
        if n.protected && !own {
            PROTECTED_BOOTENV
        } else {
            n.bootenv.as_str()
        }
    };
    let env_name = node.map_or(discovery, protected_local);
    let get = |name: &str| -> Result<&'w Bootenv, RenderError> {
        world.table::<Bootenv>().get(name).map(|e| &**e).ok_or_else(|| RenderError::MissingBootenv(name.to_string()))
    };
    let env = get(env_name)?;
    // An image is written by the agent: the machine boots the discovery
    // image to have it written.
    let env = if env.kind == BootKind::Image { get(discovery)? } else { env };
    let node_ctx = node.map(|n| {
        let net = n.network_in(world);
        NodeCtx {
            name: &n.name,
            hostname: host_part(&n.name),
            ipv4: n.ipv4.map(|ip| ip.to_string()),
            ipv6: n.ipv6(world).map(|a| a.to_string()),
            network: n.network.as_deref(),
            domain: net.map(|net| net.domain.as_str()),
            bootenv: &n.bootenv,
            // The machine's own templates carry its token: it reports in
            // with it (this is the one place a token is rendered).
            token: n.token.expose(),
        }
    });
    let ctx = Ctx {
        server: base,
        files: format!("{base}/boot/files"),
        mac: mac.to_string(),
        node: node_ctx,
        params: node.map_or(&NO_PARAMS, |n| &n.params),
        env: EnvCtx {
            name: &env.name,
            os: &env.os,
            kernel: env.kernel.as_deref().map(|k| file_url(base, k)),
            initrds: env
                .initrds
                .iter()
                .enumerate()
                .map(|(i, p)| InitrdCtx { name: format!("initrd{i}"), url: file_url(base, p) })
                .collect(),
            kernel_params: String::new(),
        },
    };
    Ok((ctx, env))
}

/// The iPXE script for `mac`, from the live world. `base` is the URL the
/// machine reached us at (`http://10.0.0.1:8080`).
pub(crate) fn ipxe_script(world: &World, discovery: &str, base: &str, mac: Mac) -> Result<String, RenderError> {
    let (mut ctx, env) = context(world, discovery, base, mac)?;
    ctx.env.kernel_params = render(env, "kernel_params", &env.kernel_params, &ctx)?;
    let template = match (env.kind, env.ipxe.is_empty()) {
        (_, false) => env.ipxe.as_str(),
        (BootKind::Local, true) => LOCAL,
        (BootKind::Network | BootKind::Image, true) => NETBOOT,
    };
    render(env, "ipxe", template, &ctx)
}

/// The GRUB config for `mac` (the Secure Boot chain), from the live
/// world: the bootenv's own `grub` template, or the default one, with
/// boot files as GRUB reaches them ([`grub::file_path`]) and the kernel
/// command line in GRUB's words ([`grub::words`]).
pub(crate) fn grub_config(world: &World, discovery: &str, base: &str, mac: Mac) -> Result<String, RenderError> {
    let (mut ctx, env) = context(world, discovery, base, mac)?;
    let unreachable = |reason: String| RenderError::Grub { env: env.name.clone(), reason };
    let kernel = env.kernel.as_deref().map(grub::file_path).transpose().map_err(unreachable)?;
    let initrds = env.initrds.iter().map(|p| grub::file_path(p)).collect::<Result<Vec<_>, _>>().map_err(unreachable)?;
    ctx.env.kernel = kernel;
    for (i, path) in ctx.env.initrds.iter_mut().zip(initrds) {
        i.url = path;
    }
    ctx.env.kernel_params = grub::words(&render(env, "kernel_params", &env.kernel_params, &ctx)?);
    let template = match (env.kind, env.grub.is_empty()) {
        (_, false) => env.grub.as_str(),
        (BootKind::Local, true) => GRUB_LOCAL,
        (BootKind::Network | BootKind::Image, true) if ctx.env.kernel.is_none() => {
            return Err(unreachable("it has no kernel (only its own ipxe script) and no grub template".into()));
        }
        (BootKind::Network | BootKind::Image, true) => GRUB_NETBOOT,
    };
    render(env, "grub", template, &ctx)
}

/// The PXELINUX config for `mac`, from the live world: the kernel,
/// initrds and command line of its bootenv as PXELINUX reaches them
/// ([`pxelinux::file_path`]: over http:// when `http`, for
/// `lpxelinux.0`; else over TFTP), or `LOCALBOOT` for a `local` one.
pub(crate) fn pxelinux_config(
    world: &World,
    discovery: &str,
    base: &str,
    mac: Mac,
    http: bool,
) -> Result<String, RenderError> {
    let (mut ctx, env) = context(world, discovery, base, mac)?;
    let unreachable = |reason: String| RenderError::Pxelinux { env: env.name.clone(), reason };
    if env.kind == BootKind::Local {
        return render(env, "pxelinux", PXELINUX_LOCAL, &ctx);
    }
    let Some(kernel) = env.kernel.as_deref() else {
        return Err(unreachable("it has no kernel (only its own ipxe script)".into()));
    };
    ctx.env.kernel = Some(pxelinux::file_path(kernel, base, http).map_err(unreachable)?);
    for (i, path) in ctx.env.initrds.iter_mut().zip(&env.initrds) {
        i.url = pxelinux::file_path(path, base, http).map_err(unreachable)?;
    }
    ctx.env.kernel_params = pxelinux::append_line(&render(env, "kernel_params", &env.kernel_params, &ctx)?);
    render(env, "pxelinux", PXELINUX_NETBOOT, &ctx)
}

/// One of the bootenv's unattended-install templates (or a shared one:
/// [`SHARED_TEMPLATES`]), rendered for `mac`.
pub(crate) fn template(
    world: &World,
    discovery: &str,
    base: &str,
    mac: Mac,
    name: &str,
) -> Result<String, RenderError> {
    let (mut ctx, env) = context(world, discovery, base, mac)?;
    // The shared ones carry the node's token: only an installer (a network
    // bootenv other than the discovery image) is given them.
    let installer = env.kind == BootKind::Network && env.os != "discovery" && env.name != discovery;
    let shared = || SHARED_TEMPLATES.iter().find(|(n, _)| *n == name && installer).map(|(_, t)| *t);
    let text = env
        .templates
        .get(name)
        .map(String::as_str)
        .or_else(shared)
        .ok_or_else(|| RenderError::MissingTemplate { env: env.name.clone(), name: name.to_string() })?;
    ctx.env.kernel_params = render(env, "kernel_params", &env.kernel_params, &ctx)?;
    render(env, &format!("templates.{name}"), text, &ctx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls() {
        assert_eq!(file_url("http://s:8", "a/vmlinuz"), "http://s:8/boot/files/a/vmlinuz");
        assert_eq!(file_url("http://s:8", "/a/vmlinuz"), "http://s:8/boot/files/a/vmlinuz");
        assert_eq!(file_url("http://s:8", "http://mirror/k"), "http://mirror/k");
    }

    /// Puts `env` and makes it the known node's bootenv.
    async fn boots(state: &crate::state::State, env: Bootenv) {
        let name = env.name.clone();
        state.write(move |t| t.put(env)).await.unwrap();
        crate::dhcp::fixture::edit_node(state, move |n| n.bootenv = name).await;
    }

    fn bootenv(name: &str, kernel: Option<&str>, params: &str) -> Bootenv {
        Bootenv {
            name: name.into(),
            description: String::new(),
            os: String::new(),
            kind: BootKind::Network,
            kernel: kernel.map(Into::into),
            initrds: vec!["e/initrd.img".into(), "http://mirror.example/extra.img".into()],
            kernel_params: params.into(),
            ipxe: String::new(),
            grub: String::new(),
            templates: Default::default(),
            image: None,
            requires: Default::default(),
        }
    }

    #[tokio::test]
    async fn pxelinux_configs_follow_the_live_bootenv() {
        let (_dir, state) = crate::dhcp::fixture::world(crate::dhcp::fixture::network()).await;
        let mac: Mac = crate::dhcp::fixture::NODE_MAC.parse().unwrap();
        let stranger: Mac = "52:54:00:00:00:01".parse().unwrap();
        let base = "http://10.9.0.1:8080";
        let cfg =
            |state: &crate::state::State, mac, http| pxelinux_config(&state.snapshot(), "discovery", base, mac, http);

        // A stranger boots discovery (the fixture's kernel `k`).
        let text = cfg(&state, stranger, true).unwrap();
        assert!(text.contains("unknown machine 52:54:00:00:00:01"), "{text}");
        assert!(text.lines().any(|l| l == "  LINUX http://10.9.0.1:8080/boot/files/k"), "{text}");

        boots(&state, bootenv("e", Some("e/vmlinuz"), "console=ttyS0\nn={{ node.name }}  s={{ server }}")).await;
        let text = cfg(&state, mac, true).unwrap();
        assert!(text.contains("SAY Fulcrum: booting e") && text.contains("for known.t.test"), "{text}");
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines.contains(&"  LINUX http://10.9.0.1:8080/boot/files/e/vmlinuz"), "{text}");
        assert!(
            lines.contains(&"  INITRD http://10.9.0.1:8080/boot/files/e/initrd.img,http://mirror.example/extra.img"),
            "{text}"
        );
        assert!(lines.contains(&"  APPEND console=ttyS0 n=known.t.test s=http://10.9.0.1:8080"), "{text}");
        // pxelinux.0 reads over TFTP only: the mirror's initrd it cannot.
        let e = cfg(&state, mac, false).unwrap_err().to_string();
        assert!(e.contains("bootenv `e` cannot boot through PXELINUX") && e.contains("TFTP only"), "{e}");
        boots(&state, Bootenv { initrds: vec!["e/initrd.img".into()], ..bootenv("t", Some("e/vmlinuz"), "") }).await;
        let text = cfg(&state, mac, false).unwrap();
        assert!(text.contains("  LINUX files/e/vmlinuz\n  INITRD files/e/initrd.img\n"), "{text}");

        // The next read after a change answers the new bootenv.
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        let text = cfg(&state, mac, true).unwrap();
        assert!(text.contains("LOCALBOOT 0") && !text.contains("LINUX"), "{text}");
        let mut only_ipxe = bootenv("script", None, "");
        only_ipxe.ipxe = "#!ipxe\nexit".into();
        boots(&state, only_ipxe).await;
        assert!(cfg(&state, mac, true).unwrap_err().to_string().contains("no kernel"));
    }

    #[tokio::test]
    async fn grub_configs_follow_the_live_bootenv() {
        let (_dir, state) = crate::dhcp::fixture::world(crate::dhcp::fixture::network()).await;
        let mac: Mac = crate::dhcp::fixture::NODE_MAC.parse().unwrap();
        let stranger: Mac = "52:54:00:00:00:01".parse().unwrap();
        let grub =
            |state: &crate::state::State, mac| grub_config(&state.snapshot(), "discovery", "http://10.9.0.1:8080", mac);

        // A stranger boots discovery (the fixture's kernel `k`).
        let text = grub(&state, stranger).unwrap();
        assert!(text.contains("unknown machine 52:54:00:00:00:01"), "{text}");
        assert!(text.lines().any(|l| l == "linux /files/k "), "{text}");

        boots(
            &state,
            bootenv("e", Some("e/vmlinuz"), "url={{ server }}/x ds=nocloud-net;s={{ server }}/t/ n={{ node.name }}"),
        )
        .await;
        let text = grub(&state, mac).unwrap();
        assert!(text.contains("for known.t.test"), "{text}");
        assert!(
            text.lines().any(|l| l
                == "linux /files/e/vmlinuz url=http://10.9.0.1:8080/x 'ds=nocloud-net;s=http://10.9.0.1:8080/t/' n=known.t.test"),
            "{text}"
        );
        assert!(text.lines().any(|l| l == "initrd /files/e/initrd.img (http,mirror.example)/extra.img"), "{text}");
        assert!(text.contains("\nboot\n"), "{text}");

        // The next read after a change answers the new bootenv.
        crate::dhcp::fixture::edit_node(&state, |n| n.bootenv = "local".into()).await;
        let text = grub(&state, mac).unwrap();
        assert!(text.contains("from its local disk") && text.lines().any(|l| l == "exit"), "{text}");
        assert!(!text.contains("linux "), "{text}");

        // What GRUB cannot reach, or a bootenv with only an iPXE script,
        // is an error naming the bootenv, not a broken config.
        boots(&state, bootenv("tls", Some("https://mirror.example/vmlinuz"), "")).await;
        let e = grub(&state, mac).unwrap_err().to_string();
        assert!(e.contains("bootenv `tls` cannot boot through GRUB") && e.contains("https://"), "{e}");
        let mut only_ipxe = bootenv("script", None, "");
        only_ipxe.ipxe = "#!ipxe\nexit".into();
        boots(&state, only_ipxe).await;
        let e = grub(&state, mac).unwrap_err().to_string();
        assert!(e.contains("no kernel"), "{e}");

        // A bootenv's own grub template wins.
        let mut own = bootenv("own", Some("e/vmlinuz"), "a;b");
        own.grub = "echo {{ env.name }} {{ env.kernel }} {{ env.kernel_params }}".into();
        boots(&state, own).await;
        assert_eq!(grub(&state, mac).unwrap(), "echo own /files/e/vmlinuz 'a;b'");
    }

    #[tokio::test]
    async fn templates_read_the_node_params_and_shared_templates_fill_in() {
        let (_dir, state) = crate::dhcp::fixture::world(crate::dhcp::fixture::network()).await;
        let mac: Mac = crate::dhcp::fixture::NODE_MAC.parse().unwrap();
        let mut env = bootenv("e", Some("e/vmlinuz"), "key={{ params.disk }}");
        env.templates.insert("user-data".into(), "disk: {{ params.disk }}".into());
        boots(&state, env).await;
        let t = |name: &str| template(&state.snapshot(), "discovery", "http://s:1", mac, name);
        assert_eq!(t("user-data").unwrap(), "disk: ");
        assert_eq!(t("authorized_keys").unwrap(), "", "no key set");
        crate::dhcp::fixture::edit_node(&state, |n| {
            n.params.insert("disk".into(), "/dev/sdb".into());
            n.params.insert("ssh_authorized_key".into(), "ssh-ed25519 AAAAC3 op@site".into());
        })
        .await;
        assert_eq!(t("user-data").unwrap(), "disk: /dev/sdb");
        assert_eq!(t("authorized_keys").unwrap(), "ssh-ed25519 AAAAC3 op@site");
        assert!(t("node.auth").unwrap().starts_with("Authorization: Bearer "), "shared");
        assert!(t("fulcrum-alive.service").unwrap().contains("http://s:1/api/v1/nodes/known.t.test/alive"));
        assert!(matches!(t("nope"), Err(RenderError::MissingTemplate { .. })));
        // A bootenv's own template of a shared name wins.
        let mut own = bootenv("own", Some("e/vmlinuz"), "");
        own.templates.insert("node.auth".into(), "mine".into());
        boots(&state, own).await;
        assert_eq!(t("node.auth").unwrap(), "mine");
        // The discovery image and a local bootenv are given no shared
        // template: it carries the node's token, and neither installs.
        for (name, kind) in [("discovery", BootKind::Network), ("disk", BootKind::Local)] {
            boots(&state, Bootenv { kind, ..bootenv(name, Some("e/vmlinuz"), "") }).await;
            assert!(matches!(t("node.auth"), Err(RenderError::MissingTemplate { .. })), "{name}");
        }
    }
}
