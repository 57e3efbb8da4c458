//! `mailadmin-server`: reads its configuration, sets up logs and traces,
//! and serves gRPC until SIGINT or SIGTERM, then drains in-flight calls.
//! SIGHUP reads the TLS certificate and key again.

use clap::Parser;
use mailadmin_server::clock::SystemClock;
use mailadmin_server::config::{Cli, Command};
use std::sync::Arc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let _telemetry = mailadmin_server::telemetry::init(cli.options.log_format == "json")?;
    let settings = cli.options.settings().map_err(anyhow::Error::msg)?;
    match cli.command.unwrap_or(Command::Serve) {
        Command::Migrate => {
            mailadmin_server::server::migrate_only(&settings).await?;
            tracing::info!("migrations applied");
            Ok(())
        }
        Command::RotateKey => {
            let done =
                mailadmin_server::server::rotate_key(&settings, Arc::new(SystemClock)).await?;
            println!(
                "re-encrypted {} DKIM private keys under server key {}; the earlier keys stay in \
                 {} to decrypt for replicas that have not re-read it",
                done.keys,
                done.key_id,
                settings.key_file.display()
            );
            Ok(())
        }
        Command::Serve => serve(cli.options.listen, settings).await,
    }
}

async fn serve(
    listen: std::net::SocketAddr,
    settings: mailadmin_server::Settings,
) -> anyhow::Result<()> {
    raise_open_files_limit();
    let listener = listen_on(listen)?;
    let token_file = settings.operator_token_file.clone();
    let mut server = mailadmin_server::spawn(settings, Arc::new(SystemClock), listener).await?;
    tracing::info!(addr = %server.addr, "mailadmin-server listening");
    if server.operator_token.is_some()
        && let Some(path) = token_file
    {
        let shown = std::fs::canonicalize(&path).unwrap_or(path);
        println!("operator token written to {}", shown.display());
    }
    reload_on_hangup(&server, shutdown_signal()).await;
    server.trigger_shutdown();
    server.wait().await?;
    tracing::info!("stopped");
    Ok(())
}

/// Reloads the TLS files on each SIGHUP until `shutdown` completes.
async fn reload_on_hangup(
    server: &mailadmin_server::RunningServer,
    shutdown: impl std::future::Future<Output = ()>,
) {
    #[cfg(unix)]
    {
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            .expect("installing the SIGHUP handler");
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => return,
                _ = hangup.recv() => match server.reload_tls() {
                    Ok(true) => tracing::info!("SIGHUP: TLS certificate and key reloaded; new connections use them"),
                    Ok(false) => tracing::info!("SIGHUP: no TLS configured, nothing to reload"),
                    Err(error) => tracing::error!(error = %format!("{error:#}"), "SIGHUP: TLS reload failed; still serving the previous certificate"),
                },
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = server;
        shutdown.await
    }
}

/// Connections the kernel may have completed that the server has not yet
/// accepted (capped by `net.core.somaxconn`). Past it, a burst of new
/// connections is dropped; tokio's default is 1024.
const LISTEN_BACKLOG: u32 = 4096;

/// Listens on `addr` with [`LISTEN_BACKLOG`].
fn listen_on(addr: std::net::SocketAddr) -> std::io::Result<tokio::net::TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(LISTEN_BACKLOG)
}

/// Raises the soft limit on open files to the hard one: every client
/// connection is a file, and the usual soft default (1024) would cap the
/// server at about a thousand connections, refusing the next ones.
fn raise_open_files_limit() {
    #[cfg(unix)]
    {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit and setrlimit only read and write the struct passed.
        let raised = unsafe {
            libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && {
                limit.rlim_cur < limit.rlim_max && {
                    limit.rlim_cur = limit.rlim_max;
                    libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0
                }
            }
        };
        if raised {
            tracing::info!(open_files = limit.rlim_cur, "raised the open files limit");
        } else {
            tracing::info!(open_files = limit.rlim_cur, "open files limit");
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
            .expect("installing the SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {},
            _ = term.recv() => {},
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
