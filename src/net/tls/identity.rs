//! [`Identity`]: the certificate chain and private key the API presents.
//! Either the operator's pair (`api.cert`, `api.key`), or a self-signed
//! ECDSA P-256 pair Fulcrum makes at its first start and keeps in
//! `{data_dir}/tls/` (the key mode 0600, written before the certificate,
//! each through a temporary file and a rename, so that a crash leaves
//! either nothing or a whole pair). Its names are `localhost`, the host
//! name and the addresses given; clients pin its fingerprint instead.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use super::TlsError;
use crate::types::fingerprint::Fingerprint;

/// Where the pair came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Origin {
    /// The operator's files.
    Configured,
    /// Made by Fulcrum; `created` at this start.
    SelfSigned {
        /// Made just now (first start): worth telling the operator.
        created: bool,
    },
}

/// A certificate chain and its key.
pub(crate) struct Identity {
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
    cert_path: PathBuf,
    key_path: PathBuf,
    /// Where it came from.
    pub(crate) origin: Origin,
}

impl std::fmt::Debug for Identity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Identity")
            .field("cert", &self.cert_path)
            .field("fingerprint", &self.fingerprint())
            .field("origin", &self.origin)
            .finish_non_exhaustive()
    }
}

/// The self-signed pair's files in `dir`.
pub(crate) fn self_signed_paths(dir: &Path) -> (PathBuf, PathBuf) {
    (dir.join("cert.pem"), dir.join("key.pem"))
}

impl Identity {
    /// Reads the operator's PEM certificate chain and key.
    pub(crate) fn load(cert: &Path, key: &Path) -> Result<Identity, TlsError> {
        Self::read(cert, key, Origin::Configured)
    }

    /// The self-signed pair in `dir`, made now if neither file is there.
    /// `names` are the DNS names and addresses it is made for.
    pub(crate) fn self_signed(dir: &Path, names: &[String]) -> Result<Identity, TlsError> {
        let (cert, key) = self_signed_paths(dir);
        match (cert.exists(), key.exists()) {
            (true, true) => return Self::read(&cert, &key, Origin::SelfSigned { created: false }),
            (true, false) => return Err(TlsError::HalfPair { present: cert, missing: key }),
            (false, true) => return Err(TlsError::HalfPair { present: key, missing: cert }),
            (false, false) => {}
        }
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { path, source }
        };
        create_private_dir(dir).map_err(io(dir))?;
        let pair = rcgen::KeyPair::generate()?;
        let mut params = rcgen::CertificateParams::new(names.to_vec())?;
        params.distinguished_name = rcgen::DistinguishedName::new();
        params.distinguished_name.push(rcgen::DnType::CommonName, "Fulcrum API (self-signed)");
        let year = current_year();
        params.not_before = rcgen::date_time_ymd(year - 1, 1, 1);
        params.not_after = rcgen::date_time_ymd(year + 20, 1, 1);
        let made = params.self_signed(&pair)?;
        write_atomically(&key, pair.serialize_pem().as_bytes(), 0o600).map_err(io(&key))?;
        write_atomically(&cert, made.pem().as_bytes(), 0o644).map_err(io(&cert))?;
        Self::read(&cert, &key, Origin::SelfSigned { created: true })
    }

    fn read(cert: &Path, key: &Path, origin: Origin) -> Result<Identity, TlsError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Io { path, source }
        };
        let cert_pem = std::fs::read(cert).map_err(io(cert))?;
        let chain = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| TlsError::NoCertificate { path: cert.into(), detail: Some(e.to_string()) })?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate { path: cert.into(), detail: None });
        }
        let key_pem = std::fs::read(key).map_err(io(key))?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem)
            .map_err(|e| TlsError::NoKey { path: key.into(), detail: e.to_string() })?;
        let id = Identity { chain, key: key_der, cert_path: cert.into(), key_path: key.into(), origin };
        // Refuse a key that does not go with the certificate now, not at
        // the first handshake.
        id.server_config()?;
        Ok(id)
    }

    /// The fingerprint of the leaf certificate.
    pub(crate) fn fingerprint(&self) -> Fingerprint {
        // `read` refuses an empty chain.
        self.chain.first().map(|c| Fingerprint::of(c)).unwrap_or_else(|| Fingerprint::of(&[]))
    }

    /// The certificate file.
    pub(crate) fn cert_path(&self) -> &Path {
        &self.cert_path
    }

    /// A rustls server configuration presenting this identity (HTTP/1.1).
    pub(crate) fn server_config(&self) -> Result<Arc<ServerConfig>, TlsError> {
        let refused = |source| TlsError::Refused { cert: self.cert_path.clone(), key: self.key_path.clone(), source };
        let mut config = ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(self.chain.clone(), self.key.clone_key())
            .map_err(refused)?;
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

fn current_year() -> i32 {
    // Good to a day or so; the certificate's validity is padded by a year.
    let days = crate::types::time::now() / 86_400;
    1970 + i32::try_from(days * 400 / 146_097).unwrap_or(0)
}

fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new().recursive(true).mode(0o700).create(dir)
}

/// Writes `data` to `path` through a temporary file in the same directory,
/// created with `mode`, synced, then renamed over `path`.
fn write_atomically(path: &Path, data: &[u8], mode: u32) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let tmp = path.with_extension("tmp");
    let mut f = std::fs::OpenOptions::new().write(true).create(true).truncate(true).mode(mode).open(&tmp)?;
    f.write_all(data)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        std::fs::File::open(dir)?.sync_all()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names() -> Vec<String> {
        vec!["localhost".into(), "127.0.0.1".into()]
    }

    #[test]
    fn made_once_then_kept() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        let first = Identity::self_signed(&tls, &names()).unwrap();
        assert_eq!(first.origin, Origin::SelfSigned { created: true });
        let again = Identity::self_signed(&tls, &names()).unwrap();
        assert_eq!(again.origin, Origin::SelfSigned { created: false });
        assert_eq!(first.fingerprint(), again.fingerprint());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(tls.join("key.pem")).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let mode = std::fs::metadata(&tls).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn half_a_pair_and_bad_files_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let tls = dir.path().join("tls");
        Identity::self_signed(&tls, &names()).unwrap();
        std::fs::remove_file(tls.join("key.pem")).unwrap();
        let e = Identity::self_signed(&tls, &names()).unwrap_err().to_string();
        assert!(e.contains("cert.pem exists but") && e.contains("key.pem does not"), "{e}");

        let other = tempfile::tempdir().unwrap();
        let b = Identity::self_signed(other.path(), &names()).unwrap();
        // A certificate with another pair's key.
        let e = Identity::load(&tls.join("cert.pem"), &other.path().join("key.pem"));
        std::fs::write(tls.join("key.pem"), b"not a key").unwrap();
        let e2 = Identity::load(&tls.join("cert.pem"), &tls.join("key.pem")).unwrap_err().to_string();
        assert!(e2.contains("key.pem: no PEM private key"), "{e2}");
        let e3 = Identity::load(&tls.join("key.pem"), &other.path().join("key.pem")).unwrap_err().to_string();
        assert!(e3.contains("no PEM certificate"), "{e3}");
        let e = e.unwrap_err().to_string();
        assert!(e.contains("cert.pem with") && e.contains("key.pem"), "{e}");
        drop(b);
    }
}
