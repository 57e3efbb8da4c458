//! TLS towards the control plane: which CA to trust, which client
//! certificate to show, and the endpoint a URL makes.
//!
//! `http://` URLs speak plaintext HTTP/2 (loopback, or a network the
//! operator vouches for); `https://` URLs speak TLS, trusting the CA given
//! here or else the system's roots. A server that requires client
//! certificates for DeliveryService (`--delivery-requires-client-cert`)
//! needs [`ClientTls::identity_files`] as well as the token.

use crate::delivery::ClientError;
use std::path::Path;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity};

/// What a client needs for `https://` URLs. The default trusts the
/// system's roots and shows no client certificate.
#[derive(Clone, Default)]
pub struct ClientTls {
    ca: Option<Vec<u8>>,
    identity: Option<(Vec<u8>, Vec<u8>)>,
    server_name: Option<String>,
}

impl std::fmt::Debug for ClientTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientTls")
            .field("ca", &self.ca.is_some())
            .field("client_certificate", &self.identity.is_some())
            .field("server_name", &self.server_name)
            .finish()
    }
}

impl ClientTls {
    /// Trust only the CA certificates (PEM) in `pem`, not the system's roots.
    pub fn ca_pem(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.ca = Some(pem.into());
        self
    }

    /// [`ClientTls::ca_pem`] from a file.
    pub fn ca_file(self, path: &Path) -> Result<Self, ClientError> {
        Ok(self.ca_pem(read(path, "CA file")?))
    }

    /// Show this client certificate chain and its private key (both PEM).
    pub fn identity_pem(mut self, cert: impl Into<Vec<u8>>, key: impl Into<Vec<u8>>) -> Self {
        self.identity = Some((cert.into(), key.into()));
        self
    }

    /// [`ClientTls::identity_pem`] from files.
    pub fn identity_files(self, cert: &Path, key: &Path) -> Result<Self, ClientError> {
        let cert = read(cert, "client certificate")?;
        let key = read(key, "client key")?;
        Ok(self.identity_pem(cert, key))
    }

    /// The name the server's certificate must carry, when it is not the
    /// URL's host (e.g. a URL with an IP address).
    pub fn server_name(mut self, name: impl Into<String>) -> Self {
        self.server_name = Some(name.into());
        self
    }

    /// Whether anything was set beyond the defaults.
    fn is_configured(&self) -> bool {
        self.ca.is_some() || self.identity.is_some() || self.server_name.is_some()
    }

    fn config(&self) -> ClientTlsConfig {
        let mut config = ClientTlsConfig::new();
        config = match &self.ca {
            Some(pem) => config.ca_certificate(Certificate::from_pem(pem)),
            None => config.with_native_roots(),
        };
        if let Some((cert, key)) = &self.identity {
            config = config.identity(Identity::from_pem(cert, key));
        }
        if let Some(name) = &self.server_name {
            config = config.domain_name(name.clone());
        }
        config
    }
}

/// The endpoint for `url`: plaintext for `http://host:port`, TLS with
/// `tls` for `https://host:port`. A TLS setting given with an `http://`
/// URL is refused rather than ignored.
pub fn endpoint(url: &str, tls: &ClientTls) -> Result<Endpoint, ClientError> {
    let endpoint = Endpoint::from_shared(url.to_string())
        .map_err(|e| ClientError::Endpoint(format!("{url:?}: {e}")))?;
    // (tonic maps `unix:` URLs to a socket path; the server listens on TCP.)
    let uri = endpoint.uri();
    let scheme = uri.scheme_str().filter(|_| !url.starts_with("unix:"));
    match (scheme, uri.host()) {
        (Some("http"), Some(host)) if !host.is_empty() => {
            if tls.is_configured() {
                return Err(ClientError::Endpoint(format!(
                    "{url:?}: a CA, client certificate or server name is set but the URL is \
                     plaintext; use https://"
                )));
            }
            Ok(endpoint)
        }
        (Some("https"), Some(host)) if !host.is_empty() => endpoint
            .tls_config(tls.config())
            .map_err(|e| ClientError::Endpoint(format!("{url:?}: TLS settings: {e}"))),
        _ => Err(ClientError::Endpoint(format!(
            "{url:?}: expected http://host:port or https://host:port"
        ))),
    }
}

/// The TLS flags the crate's binaries share (`mailadmin`,
/// `mailadmin-bridge`, `mailadmin-checkpassword`).
#[cfg(feature = "cli")]
#[derive(Debug, Clone, Default, clap::Args)]
pub struct TlsArgs {
    /// CA certificates (PEM) that sign the server's certificate, for
    /// https:// URLs; the system's roots when unset.
    #[arg(long, global = true, env = "MAILADMIN_TLS_CA")]
    pub tls_ca: Option<std::path::PathBuf>,
    /// A client certificate chain (PEM) to show the server, with
    /// --tls-client-key: needed for DeliveryService by a server started
    /// with --delivery-requires-client-cert.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_TLS_CLIENT_CERT",
        requires = "tls_client_key"
    )]
    pub tls_client_cert: Option<std::path::PathBuf>,
    /// The private key of --tls-client-cert (PEM).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_TLS_CLIENT_KEY",
        requires = "tls_client_cert"
    )]
    pub tls_client_key: Option<std::path::PathBuf>,
    /// The name the server's certificate must carry, when the URL's host
    /// is not it (e.g. an IP address).
    #[arg(long, global = true, env = "MAILADMIN_TLS_SERVER_NAME")]
    pub tls_server_name: Option<String>,
}

#[cfg(feature = "cli")]
impl TlsArgs {
    /// The [`ClientTls`] these flags describe, the files read.
    pub fn client_tls(&self) -> Result<ClientTls, ClientError> {
        let mut tls = ClientTls::default();
        if let Some(ca) = &self.tls_ca {
            tls = tls.ca_file(ca)?;
        }
        if let (Some(cert), Some(key)) = (&self.tls_client_cert, &self.tls_client_key) {
            tls = tls.identity_files(cert, key)?;
        }
        if let Some(name) = &self.tls_server_name {
            tls = tls.server_name(name.clone());
        }
        Ok(tls)
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, ClientError> {
    std::fs::read(path)
        .map_err(|e| ClientError::Endpoint(format!("{what} {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schemes() {
        let plain = ClientTls::default();
        assert!(endpoint("http://127.0.0.1:50051", &plain).is_ok());
        assert!(endpoint("https://mail.example:50051", &plain).is_ok());
        let error = endpoint("ftp://127.0.0.1:50051", &plain).unwrap_err();
        assert!(error.to_string().contains("expected http://"), "{error}");
        let with_ca = ClientTls::default().ca_pem("not checked until the handshake");
        let error = endpoint("http://127.0.0.1:50051", &with_ca).unwrap_err();
        assert!(error.to_string().contains("use https://"), "{error}");
    }
}
