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
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

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
                .with_custom_certificate_verifier(Arc::new(Pinned { pin: *fingerprint, provider }))
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

/// The server presented a certificate other than the pinned one.
struct PinMismatch {
    got: Fingerprint,
    want: Fingerprint,
}

impl std::fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the server's certificate has fingerprint {}, not the pinned {}", self.got, self.want)
    }
}

// rustls prints the cause with `{:?}`: make that the message too.
impl std::fmt::Debug for PinMismatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for PinMismatch {}

/// Accepts exactly the pinned certificate, and checks that the server
/// holds its key (the handshake signatures).
#[derive(Debug)]
struct Pinned {
    pin: Fingerprint,
    provider: Arc<CryptoProvider>,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let got = Fingerprint::of(end_entity);
        if got == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            let why = rustls::OtherError(Arc::new(PinMismatch { got, want: self.pin }));
            Err(rustls::Error::InvalidCertificate(CertificateError::Other(why)))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(message, cert, dss, &self.provider.signature_verification_algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.provider.signature_verification_algorithms.supported_schemes()
    }
}
