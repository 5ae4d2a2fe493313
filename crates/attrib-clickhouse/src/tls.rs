//! HTTPS to ClickHouse (ClickHouse Cloud accepts nothing else): the server is verified against
//! the system's roots, or against the CA bundle the configuration names (a private CA, a
//! self-signed server); a client certificate is sent when one is configured.

use crate::Error;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// TLS settings of the ClickHouse connection (used for `https://` URLs only).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tls {
    /// PEM bundle of the CAs to trust instead of the system's roots.
    pub ca_file: Option<PathBuf>,
    /// PEM client certificate (chain) and its private key, for servers that ask for one.
    pub client_cert_file: Option<PathBuf>,
    pub client_key_file: Option<PathBuf>,
}

fn config_error(what: &str, path: &Path, e: impl std::fmt::Display) -> Error {
    Error::Config(format!("clickhouse.{what} {}: {e}", path.display()))
}

fn certificates(what: &str, path: &Path) -> Result<Vec<CertificateDer<'static>>, Error> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|e| config_error(what, path, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| config_error(what, path, e))?;
    if certs.is_empty() {
        return Err(config_error(what, path, "no PEM certificate in it"));
    }
    Ok(certs)
}

impl Tls {
    /// The rustls client configuration these settings describe.
    pub fn client_config(&self) -> Result<rustls::ClientConfig, Error> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut roots = rustls::RootCertStore::empty();
        match &self.ca_file {
            Some(path) => {
                for cert in certificates("ca_file", path)? {
                    roots.add(cert).map_err(|e| config_error("ca_file", path, e))?;
                }
            }
            None => {
                let found = system_roots();
                if found.is_empty() {
                    return Err(Error::Config(
                        "no system CA certificates found for an https:// ClickHouse URL: install ca-certificates \
                         or set clickhouse.ca_file"
                            .into(),
                    ));
                }
                roots.add_parsable_certificates(found);
            }
        }
        let builder = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::Config(format!("TLS: {e}")))?
            .with_root_certificates(roots);
        match (&self.client_cert_file, &self.client_key_file) {
            (None, None) => Ok(builder.with_no_client_auth()),
            (Some(cert), Some(key)) => {
                let chain = certificates("client_cert_file", cert)?;
                let key = PrivateKeyDer::from_pem_file(key).map_err(|e| config_error("client_key_file", key, e))?;
                builder
                    .with_client_auth_cert(chain, key)
                    .map_err(|e| Error::Config(format!("clickhouse.client_cert_file / client_key_file: {e}")))
            }
            _ => Err(Error::Config("clickhouse.client_cert_file and client_key_file go together".into())),
        }
    }
}

/// The system's trusted roots (Debian: the ca-certificates bundle).
fn system_roots() -> Vec<CertificateDer<'static>> {
    let result = rustls_native_certs::load_native_certs();
    for e in &result.errors {
        tracing::warn!(error = %e, "reading a system CA certificate failed");
    }
    result.certs
}

/// A ClickHouse client speaking HTTPS with `tls`.
pub(crate) fn https_client(tls: &Tls) -> Result<clickhouse::Client, Error> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls.client_config()?)
        .https_or_http()
        .enable_http1()
        .build();
    let http = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        // Below the server's keep-alive (3 s on older servers), as the crate's own client does.
        .pool_idle_timeout(std::time::Duration::from_secs(2))
        .build(connector);
    Ok(clickhouse::Client::with_http_client(http))
}
