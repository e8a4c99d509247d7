//! TLS for the operator API, server side:
//! - [`identity`]: the certificate and key the API presents: the configured
//!   pair, or a self-signed pair made at first start and kept in the data
//!   dir, and its SHA-256 [`Fingerprint`](crate::types::fingerprint::Fingerprint);
//! - [`listener`]: a listener for `axum::serve` that completes handshakes
//!   off the accept path, bounded in number and time;
//! - [`pinned`], client side: trust in exactly one certificate, by its
//!   fingerprint (the CLI's `--tls-fingerprint`, a BMC's certificate).

pub(crate) mod identity;
pub(crate) mod listener;
pub(crate) mod pinned;

use std::path::PathBuf;

/// Why the API's TLS identity cannot be had.
#[derive(Debug, thiserror::Error)]
pub(crate) enum TlsError {
    /// A file cannot be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A file holds no PEM certificate, or a malformed one.
    #[error("{path}: no PEM certificate in it{}", detail.as_ref().map(|d| format!(" ({d})")).unwrap_or_default())]
    NoCertificate {
        /// The file.
        path: PathBuf,
        /// The parser's complaint, if it had one.
        detail: Option<String>,
    },
    /// A file holds no PEM private key, or a malformed one.
    #[error("{path}: no PEM private key in it ({detail})")]
    NoKey {
        /// The file.
        path: PathBuf,
        /// The parser's complaint.
        detail: String,
    },
    /// One file of the self-signed pair is there and the other is not.
    #[error("{present} exists but {missing} does not: restore it, or remove {present} to have a new pair made")]
    HalfPair {
        /// The file that is there.
        present: PathBuf,
        /// The file that is missing.
        missing: PathBuf,
    },
    /// The key does not go with the certificate, or rustls refuses them.
    #[error("{cert} with {key}: {source}")]
    Refused {
        /// The certificate file.
        cert: PathBuf,
        /// The key file.
        key: PathBuf,
        /// What rustls said.
        #[source]
        source: rustls::Error,
    },
    /// Making the self-signed certificate failed.
    #[error("generating a self-signed certificate: {0}")]
    Generate(#[from] rcgen::Error),
}
