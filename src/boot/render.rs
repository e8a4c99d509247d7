//! Rendering what a booting machine fetches, from the world snapshot taken
//! when the request arrived: its iPXE script (from the node's CURRENT
//! bootenv, `local` for a protected node whatever its record says, or the
//! discovery bootenv for an unknown MAC) and its unattended-install
//! templates. Templates are minijinja.

use minijinja::Environment;
use serde::Serialize;

use crate::inventory::bootenv::{BootKind, Bootenv};
use crate::inventory::node::Node;
use crate::state::World;
use crate::types::mac::Mac;
use crate::types::names::host_part;

/// Default script for network bootenvs: kernel + initrds + params.
const NETBOOT: &str = include_str!("../../ipxe/netboot.ipxe.j2");
/// Script for `local` bootenvs: boot from disk, BIOS or UEFI.
const LOCAL: &str = include_str!("../../ipxe/local.ipxe.j2");

/// Why a boot answer could not be rendered.
#[derive(Debug, thiserror::Error)]
pub(crate) enum RenderError {
    #[error("bootenv `{0}` does not exist")]
    MissingBootenv(String),
    #[error("bootenv `{env}` has no template `{name}`")]
    MissingTemplate { env: String, name: String },
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
    env: EnvCtx<'a>,
}

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

/// One of the bootenv's unattended-install templates, rendered for `mac`.
pub(crate) fn template(
    world: &World,
    discovery: &str,
    base: &str,
    mac: Mac,
    name: &str,
) -> Result<String, RenderError> {
    let (mut ctx, env) = context(world, discovery, base, mac)?;
    let text = env
        .templates
        .get(name)
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
}
