//! Where the bridge listens: a TCP address or a Unix socket, as Postfix
//! names them (`inet:host:port`, `unix:/path`).

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, UnixListener};

/// A listening address: `inet:HOST:PORT` (or plain `HOST:PORT`) or
/// `unix:/path/to/socket` (or a plain absolute path).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenAddr {
    /// A TCP address.
    Inet(SocketAddr),
    /// A Unix socket path.
    Unix(PathBuf),
}

impl std::str::FromStr for ListenAddr {
    type Err = String;

    fn from_str(spec: &str) -> Result<Self, String> {
        if let Some(path) = spec.strip_prefix("unix:") {
            return unix_path(path);
        }
        if spec.starts_with('/') {
            return unix_path(spec);
        }
        let inet = spec.strip_prefix("inet:").unwrap_or(spec);
        inet.parse().map(ListenAddr::Inet).map_err(|_| {
            format!("{spec:?}: expected inet:HOST:PORT (an IP address and a port) or unix:/PATH")
        })
    }
}

fn unix_path(path: &str) -> Result<ListenAddr, String> {
    if path.starts_with('/') {
        Ok(ListenAddr::Unix(PathBuf::from(path)))
    } else {
        Err(format!("unix:{path}: the socket path must be absolute"))
    }
}

impl fmt::Display for ListenAddr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ListenAddr::Inet(addr) => write!(f, "inet:{addr}"),
            ListenAddr::Unix(path) => write!(f, "unix:{}", path.display()),
        }
    }
}

/// A bound listener.
#[derive(Debug)]
pub enum Listener {
    /// On TCP.
    Tcp(TcpListener),
    /// On a Unix socket (removed again when dropped).
    Unix(UnixListener, PathBuf),
}

/// One accepted connection, whichever the listener.
pub trait Connection: AsyncRead + AsyncWrite + Unpin + Send + 'static {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send + 'static> Connection for T {}

impl Listener {
    /// Binds `addr`. A Unix socket left behind by an earlier run is
    /// replaced, and the new one is made connectable by every local user
    /// (Postfix's lookups run as the `postfix` user): restrict access with
    /// the permissions of the directory it is in.
    pub async fn bind(addr: &ListenAddr) -> std::io::Result<Listener> {
        match addr {
            ListenAddr::Inet(addr) => Ok(Listener::Tcp(TcpListener::bind(addr).await?)),
            ListenAddr::Unix(path) => {
                match std::fs::remove_file(path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => return Err(e),
                }
                let listener = UnixListener::bind(path)?;
                use std::os::unix::fs::PermissionsExt;
                std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o666))?;
                Ok(Listener::Unix(listener, path.clone()))
            }
        }
    }

    /// Where it listens (with the port the system chose for port 0).
    pub fn local_addr(&self) -> std::io::Result<ListenAddr> {
        match self {
            Listener::Tcp(listener) => listener.local_addr().map(ListenAddr::Inet),
            Listener::Unix(_, path) => Ok(ListenAddr::Unix(path.clone())),
        }
    }

    /// The next connection, and a description of its peer for the log.
    pub async fn accept(&self) -> std::io::Result<(Box<dyn Connection>, String)> {
        match self {
            Listener::Tcp(listener) => {
                let (stream, peer) = listener.accept().await?;
                stream.set_nodelay(true)?;
                Ok((Box::new(stream), peer.to_string()))
            }
            Listener::Unix(listener, path) => {
                let (stream, _) = listener.accept().await?;
                Ok((Box::new(stream), path.display().to_string()))
            }
        }
    }
}

impl Listener {
    /// Accepts connections until the task is dropped, each served by
    /// `handle` in a task of its own; a connection that ends in an error is
    /// logged with its peer and `protocol`. A failed accept (out of file
    /// descriptors, typically) is logged and retried after a pause instead
    /// of spinning.
    pub async fn serve<F, Fut, E>(self, protocol: &'static str, handle: F)
    where
        F: Fn(Box<dyn Connection>) -> Fut,
        Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: fmt::Display,
    {
        loop {
            match self.accept().await {
                Ok((connection, peer)) => {
                    let served = handle(connection);
                    tokio::spawn(async move {
                        if let Err(e) = served.await {
                            tracing::info!(%peer, "{protocol} connection closed: {e}");
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!("accepting a {protocol} connection failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                }
            }
        }
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        if let Listener::Unix(_, path) = self {
            let _ = std::fs::remove_file(path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postfix_style_addresses() {
        let inet = |s: &str| s.parse::<ListenAddr>();
        assert_eq!(
            inet("inet:127.0.0.1:10027"),
            Ok(ListenAddr::Inet("127.0.0.1:10027".parse().unwrap()))
        );
        assert_eq!(
            inet("[::1]:10027"),
            Ok(ListenAddr::Inet("[::1]:10027".parse().unwrap()))
        );
        assert_eq!(
            inet("unix:/run/mailadmin/socketmap"),
            Ok(ListenAddr::Unix("/run/mailadmin/socketmap".into()))
        );
        assert_eq!(
            inet("/run/mailadmin/policy"),
            Ok(ListenAddr::Unix("/run/mailadmin/policy".into()))
        );
        assert!(inet("unix:relative").unwrap_err().contains("absolute"));
        assert!(inet("localhost:25").unwrap_err().contains("inet:HOST:PORT"));
    }
}
