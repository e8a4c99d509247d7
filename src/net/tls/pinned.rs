//! A TLS client's trust in exactly one certificate, by its SHA-256
//! fingerprint: names are not checked (a BMC's or the API's self-signed
//! certificate is reached by address), but the handshake signatures are,
//! so the peer must hold the pinned certificate's key. Used by the CLI
//! (`--tls-fingerprint`) and the Redfish power driver.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, SignatureScheme};

use crate::types::fingerprint::Fingerprint;

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
pub(crate) struct Pinned {
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

impl Pinned {
    /// Trusts exactly the certificate with fingerprint `pin`.
    pub(crate) fn new(pin: Fingerprint, provider: Arc<CryptoProvider>) -> Pinned {
        Pinned { pin, provider }
    }

    /// A client configuration (ring) that trusts exactly `pin`.
    pub(crate) fn client_config(pin: Fingerprint) -> Result<rustls::ClientConfig, rustls::Error> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        Ok(rustls::ClientConfig::builder_with_provider(provider.clone())
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Pinned::new(pin, provider)))
            .with_no_client_auth())
    }
}
