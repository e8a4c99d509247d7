//! How the CLI trusts the API's certificate, strongest source first:
//! - a fingerprint given on the command line (`--tls-fingerprint`): the
//!   server must present exactly that certificate; names are not checked,
//!   so it works for any address the operator reaches the server at;
//! - a CA file (`--cacert`): the usual chain and name checks against it
//!   (the server's own self-signed certificate serves as its CA too);
//! - on the admin node, the self-signed certificate in the data dir
//!   (`--server-cert`, default `/var/lib/fulcrum/tls/cert.pem`), pinned by
//!   its fingerprint.
//!
//! Without any of them an `https://` endpoint is refused, never trusted
//! blindly.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;

use crate::net::tls::pinned::Pinned;
use crate::types::fingerprint::Fingerprint;

/// What the client trusts.
#[derive(Debug, Clone)]
pub(crate) enum Trust {
    /// Exactly the certificate with this fingerprint; `from` says where the
    /// pin came from, for messages.
    Pinned {
        /// The pin.
        fingerprint: Fingerprint,
        /// `--tls-fingerprint`, or the certificate file it was read from.
        from: String,
    },
    /// Certificates that chain to one in this PEM file, for the name.
    Ca(PathBuf),
    /// Nothing: fine for `http://`, refused for `https://`.
    Nothing,
}

impl Trust {
    /// The strongest of what was given; `server_cert` is used only when it
    /// can be read.
    pub(crate) fn resolve(
        fingerprint: Option<Fingerprint>,
        cacert: Option<&Path>,
        server_cert: &Path,
    ) -> anyhow::Result<Trust> {
        if let Some(fingerprint) = fingerprint {
            return Ok(Trust::Pinned { fingerprint, from: "--tls-fingerprint".into() });
        }
        if let Some(ca) = cacert {
            return Ok(Trust::Ca(ca.to_path_buf()));
        }
        match std::fs::read(server_cert) {
            Ok(pem) => {
                let der = CertificateDer::from_pem_slice(&pem)
                    .with_context(|| format!("--server-cert {}: no PEM certificate", server_cert.display()))?;
                Ok(Trust::Pinned { fingerprint: Fingerprint::of(&der), from: server_cert.display().to_string() })
            }
            Err(_) => Ok(Trust::Nothing),
        }
    }

    /// An HTTP client for `endpoint` that trusts what this says.
    pub(crate) fn client(&self, endpoint: &str) -> anyhow::Result<reqwest::Client> {
        let builder = reqwest::Client::builder();
        if !endpoint.starts_with("https://") {
            return Ok(builder.build()?);
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let tls =
            rustls::ClientConfig::builder_with_provider(provider.clone()).with_safe_default_protocol_versions()?;
        let tls = match self {
            Trust::Pinned { fingerprint, .. } => tls
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Pinned::new(*fingerprint, provider)))
                .with_no_client_auth(),
            Trust::Ca(path) => {
                let pem = std::fs::read(path).with_context(|| format!("--cacert {}", path.display()))?;
                let mut roots = rustls::RootCertStore::empty();
                for cert in CertificateDer::pem_slice_iter(&pem) {
                    let cert = cert.with_context(|| format!("--cacert {}", path.display()))?;
                    roots.add(cert).with_context(|| format!("--cacert {}", path.display()))?;
                }
                if roots.is_empty() {
                    bail!("--cacert {}: no PEM certificate in it", path.display());
                }
                tls.with_root_certificates(roots).with_no_client_auth()
            }
            Trust::Nothing => bail!(
                "cannot verify the certificate of {endpoint}: give --tls-fingerprint (printed at the server's \
                 first start and shown by `fulcrum status` on the admin node) or --cacert FILE"
            ),
        };
        Ok(builder.use_preconfigured_tls(tls).build()?)
    }
}
