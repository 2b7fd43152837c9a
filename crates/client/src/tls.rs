//! TLS for `wss://` URLs: rustls on the aws-lc-rs provider, trusting the system's roots and
//! Mozilla's (webpki-roots), plus any CA the application adds (a private CA in front of a
//! self-hosted server).

use std::sync::Arc;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::CertificateDer;
use rustls::{ClientConfig, RootCertStore};

use crate::Error;

/// Which certificate authorities a client trusts.
#[derive(Debug, Clone)]
pub(crate) struct Trust {
    pub system_roots: bool,
    pub webpki_roots: bool,
    pub extra: Vec<CertificateDer<'static>>,
}

impl Default for Trust {
    fn default() -> Self {
        Trust {
            system_roots: true,
            webpki_roots: true,
            extra: Vec::new(),
        }
    }
}

/// The certificates of a PEM document; an error if it holds none.
pub(crate) fn parse_pem(pem: &[u8]) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Error::Tls(format!("reading PEM certificates: {e}")))?;
    if certs.is_empty() {
        return Err(Error::Tls("no certificate in the PEM data".into()));
    }
    Ok(certs)
}

pub(crate) fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, Error> {
    let mut roots = RootCertStore::empty();
    if trust.webpki_roots {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    if trust.system_roots {
        // Unreadable system certificates are skipped: the other roots may still do.
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    }
    for cert in &trust.extra {
        roots
            .add(cert.clone())
            .map_err(|e| Error::Tls(format!("adding a CA certificate: {e}")))?;
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}
