//! TLS for the gRPC listener (docs/rules.md, "Transport security"): the
//! certificate and key files, client certificates checked against a CA when
//! one is configured, and a reload (SIGHUP) that serves the new files to new
//! connections while the open ones carry on.
//!
//! Handshakes run in tasks of their own, each bounded by a timeout, so a
//! client that connects and says nothing holds only its own socket.

use anyhow::Context as _;
use rustls::RootCertStore;
use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ServerConfig, WebPkiClientVerifier};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;
use tokio_stream::StreamExt as _;
use tokio_stream::wrappers::ReceiverStream;
use tonic::transport::server::TcpIncoming;

/// Connections whose handshake is done, waiting for the HTTP/2 server.
const ACCEPTED_BACKLOG: usize = 1024;

/// Where the server's TLS material lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// The certificate chain (PEM), leaf first.
    pub cert: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// CAs (PEM) whose client certificates are accepted; `None`: clients
    /// are not asked for a certificate.
    pub client_ca: Option<PathBuf>,
}

/// The server's TLS configuration, replaced as a whole by [`ServerTls::reload`].
pub struct ServerTls {
    files: TlsFiles,
    current: RwLock<Arc<ServerConfig>>,
}

impl ServerTls {
    /// Reads the files; fails with the file and the reason.
    pub fn load(files: TlsFiles) -> anyhow::Result<ServerTls> {
        let config = server_config(&files)?;
        Ok(ServerTls {
            files,
            current: RwLock::new(Arc::new(config)),
        })
    }

    /// Reads the files again; new connections get them. On failure the
    /// current configuration stays in use.
    pub fn reload(&self) -> anyhow::Result<()> {
        let config = server_config(&self.files)?;
        *self.current.write().expect("TLS configuration lock") = Arc::new(config);
        Ok(())
    }

    fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(
            &self.current.read().expect("TLS configuration lock"),
        ))
    }

    /// The TLS connections made over `tcp`, handshakes done: one that takes
    /// longer than `handshake_timeout` is dropped. Ends when the stream is
    /// dropped (the server stopped).
    pub fn incoming(
        self: Arc<Self>,
        mut tcp: TcpIncoming,
        handshake_timeout: Duration,
    ) -> ReceiverStream<Result<TlsStream<TcpStream>, std::io::Error>> {
        let (accepted, stream) = mpsc::channel(ACCEPTED_BACKLOG);
        tokio::spawn(async move {
            loop {
                let socket = tokio::select! {
                    () = accepted.closed() => return,
                    next = tcp.next() => match next {
                        Some(Ok(socket)) => socket,
                        Some(Err(error)) => {
                            tracing::warn!(error = %error, "accepting a connection failed");
                            continue;
                        }
                        None => return,
                    },
                };
                let acceptor = self.acceptor();
                let accepted = accepted.clone();
                tokio::spawn(async move {
                    let peer = socket.peer_addr().ok();
                    match tokio::time::timeout(handshake_timeout, acceptor.accept(socket)).await {
                        Ok(Ok(stream)) => {
                            let _ = accepted.send(Ok(stream)).await;
                        }
                        Ok(Err(error)) => {
                            tracing::debug!(?peer, error = %error, "TLS handshake failed");
                        }
                        Err(_) => {
                            tracing::debug!(?peer, "TLS handshake timed out");
                        }
                    }
                });
            }
        });
        ReceiverStream::new(stream)
    }
}

/// Whether the call came over TLS with a client certificate (which rustls
/// has already verified against the client CA).
pub fn has_client_certificate<B>(request: &http::Request<B>) -> bool {
    type TlsInfo =
        tonic::transport::server::TlsConnectInfo<tonic::transport::server::TcpConnectInfo>;
    request
        .extensions()
        .get::<TlsInfo>()
        .and_then(TlsInfo::peer_certs)
        .is_some_and(|certs| !certs.is_empty())
}

fn server_config(files: &TlsFiles) -> anyhow::Result<ServerConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let chain = certificates(&files.cert, "--tls-cert")?;
    let key = PrivateKeyDer::from_pem_file(&files.key).with_context(|| {
        format!(
            "--tls-key {}: no readable PEM private key",
            files.key.display()
        )
    })?;
    let builder = ServerConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .context("TLS protocol versions")?;
    let builder = match &files.client_ca {
        None => builder.with_no_client_auth(),
        Some(path) => {
            let mut roots = RootCertStore::empty();
            for cert in certificates(path, "--tls-client-ca")? {
                roots.add(cert).with_context(|| {
                    format!("--tls-client-ca {}: not a CA certificate", path.display())
                })?;
            }
            // Asked for, not demanded: which calls need one is the auth
            // layer's decision (`--delivery-requires-client-cert`).
            let verifier = WebPkiClientVerifier::builder_with_provider(Arc::new(roots), provider)
                .allow_unauthenticated()
                .build()
                .with_context(|| format!("--tls-client-ca {}", path.display()))?;
            builder.with_client_cert_verifier(verifier)
        }
    };
    let mut config = builder.with_single_cert(chain, key).with_context(|| {
        format!(
            "--tls-cert {} and --tls-key {} do not make a usable pair",
            files.cert.display(),
            files.key.display()
        )
    })?;
    config.alpn_protocols = vec![b"h2".to_vec()];
    Ok(config)
}

fn certificates(path: &Path, flag: &str) -> anyhow::Result<Vec<CertificateDer<'static>>> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .with_context(|| format!("{flag} {}: not a readable PEM file", path.display()))?;
    anyhow::ensure!(
        !certs.is_empty(),
        "{flag} {}: no certificate in the file",
        path.display()
    );
    Ok(certs)
}
