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
    let listener = tokio::net::TcpListener::bind(listen).await?;
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
