//! Wires storage, rules and gRPC services into a running tonic server:
//! migrations, the bootstrap operator token, auth, reflection, health, and
//! graceful shutdown that drains in-flight calls.

use crate::clock::Clock;
use crate::config::Settings;
use crate::grpc;
use crate::keyring::Keyring;
use crate::service::App;
use crate::store::Store;
use crate::tls::ServerTls;
use anyhow::Context as _;
use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tonic::transport::Server;

pub(crate) const DESCRIPTOR_SET: &[u8] =
    tonic::include_file_descriptor_set!("mailadmin_descriptor");

/// A server started in this process, on a bound listener.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// Where `GET /metrics` answers (`--metrics-listen`), if anywhere.
    pub metrics_addr: Option<SocketAddr>,
    /// The operator token created on this start (first start on an empty
    /// database), `None` when one already existed.
    pub operator_token: Option<String>,
    /// The listener's TLS configuration, when it speaks TLS.
    tls: Option<Arc<ServerTls>>,
    in_flight: Arc<AtomicUsize>,
    shutdown: Option<oneshot::Sender<()>>,
    task: JoinHandle<Result<(), tonic::transport::Error>>,
}

impl RunningServer {
    /// gRPC calls being served right now.
    pub fn in_flight(&self) -> usize {
        self.in_flight.load(Ordering::SeqCst)
    }

    /// Reads the TLS certificate, key and client CA files again (SIGHUP):
    /// connections made from now on get them, open ones keep theirs. On
    /// failure the files in use stay in use. `Ok(false)`: no TLS to reload.
    pub fn reload_tls(&self) -> anyhow::Result<bool> {
        match &self.tls {
            Some(tls) => tls.reload().map(|()| true),
            None => Ok(false),
        }
    }

    /// Stop accepting and let in-flight calls finish; returns once the
    /// server has stopped.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.trigger_shutdown();
        self.wait().await
    }

    /// Start a graceful shutdown without waiting for it.
    pub fn trigger_shutdown(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }

    /// Wait until the server has stopped.
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("server task panicked")??;
        Ok(())
    }
}

/// Connects to the database, applies migrations, makes sure an operator
/// token exists, and serves on `listener` until shut down.
pub async fn spawn(
    settings: Settings,
    clock: Arc<dyn Clock>,
    listener: TcpListener,
) -> anyhow::Result<RunningServer> {
    crate::secrets::set_hashing_priority(settings.hashing_priority).map_err(|chosen| {
        anyhow::anyhow!(
            "hashing priority: this process hashes at {chosen:?} already; \
             its hashing threads have one priority for all its servers"
        )
    })?;
    let store = Store::connect_with(&settings.database_url, settings.db_limits)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("applying migrations")?;
    store.set_provider_domains(&settings.provider_domains);
    let dns = crate::dns::DnsResolver::new(settings.dns_server, settings.dns_timeout)
        .context("setting up the DNS resolver")?;
    let keyring = Keyring::open_or_create(&settings.key_file)?;
    let tls = match &settings.tls {
        Some(files) => Some(Arc::new(ServerTls::load(files.clone())?)),
        None => None,
    };
    let pool = store.clone();
    let metrics = Arc::new(crate::metrics::Metrics::new(
        settings.otlp_metrics,
        crate::metrics::Gauges {
            snapshot: store.snapshot(),
            pool: Arc::new(move || pool.pool_connections()),
        },
    )?);
    let mut app = App::new(
        store,
        clock,
        Arc::new(settings.clone()),
        dns,
        Arc::new(keyring),
    );
    app.set_metrics(metrics.clone());
    app.prepare_keys_at_rest().await?;
    app.count_remote_signin_failures();
    let operator_token = app.bootstrap_operator_token().await?;
    let routing = app
        .store()
        .start_routing()
        .await
        .context("loading the routing snapshot")?;
    if let (Some(token), Some(path)) = (&operator_token, &settings.operator_token_file) {
        write_token_file(path, token)?;
        tracing::info!(path = %path.display(), "wrote a new operator token");
    }

    let addr = listener.local_addr()?;
    if tls.is_none() && !addr.ip().is_loopback() {
        tracing::warn!(addr = %addr, "serving plaintext on an address other hosts can reach (--insecure-plaintext): tokens and passwords cross the network in clear");
    }
    let tcp = grpc::connections::tcp(listener, &settings.connections);
    let in_flight = Arc::new(AtomicUsize::new(0));
    let (shutdown_tx, shutdown_rx) = oneshot::channel::<()>();

    let (health_reporter, health_service) = tonic_health::server::health_reporter();
    health_reporter
        .set_serving::<grpc::AdminServiceServer<grpc::AdminApi>>()
        .await;
    health_reporter
        .set_serving::<grpc::DomainServiceServer<grpc::DomainApi>>()
        .await;
    health_reporter
        .set_serving::<grpc::BillingServiceServer<grpc::BillingApi>>()
        .await;
    health_reporter
        .set_serving::<grpc::DeliveryServiceServer<grpc::DeliveryApi>>()
        .await;
    let reflection = || {
        tonic_reflection::server::Builder::configure()
            .register_encoded_file_descriptor_set(DESCRIPTOR_SET)
            .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
            // google.rpc.BadRequest & co., so clients can decode error details.
            .register_encoded_file_descriptor_set(tonic_types::pb::FILE_DESCRIPTOR_SET)
    };
    // Both versions: grpcurl 1.8 only speaks v1alpha.
    let reflection_v1 = reflection().build_v1()?;
    let reflection_v1alpha = reflection().build_v1alpha()?;

    let metrics_addr = match settings.metrics_listen {
        Some(addr) => {
            let listener = TcpListener::bind(addr)
                .await
                .with_context(|| format!("listening for metrics on {addr}"))?;
            let bound = listener.local_addr()?;
            let task = tokio::spawn(crate::metrics::serve(listener, metrics.clone()));
            tracing::info!(addr = %bound, "metrics on http://{bound}/metrics");
            Some((bound, task))
        }
        None => None,
    };
    let (metrics_addr, metrics_task) = metrics_addr.unzip();
    let layer = tower::ServiceBuilder::new()
        .layer(grpc::InFlightLayer::new(in_flight.clone()))
        .layer(grpc::MetricsLayer::new(metrics))
        .layer(grpc::RequestIdLayer)
        .layer(grpc::DeadlineLayer::new(settings.request_timeout))
        .layer(grpc::AuthLayer::new(
            app.clone(),
            settings.delivery_requires_client_cert,
        ));
    let router = grpc::connections::limit(Server::builder(), &settings.connections)
        .layer(layer)
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(grpc::AdminServiceServer::new(grpc::AdminApi::new(
            app.clone(),
        )))
        .add_service(grpc::DomainServiceServer::new(grpc::DomainApi::new(
            app.clone(),
        )))
        .add_service(grpc::BillingServiceServer::new(grpc::BillingApi::new(
            app.clone(),
        )))
        .add_service(grpc::DeliveryServiceServer::new(grpc::DeliveryApi::new(
            app.clone(),
        )));

    let (stop_renewals, renewals_stopped) = tokio::sync::watch::channel(false);
    if let Some(interval) = settings.renewal_interval {
        let app = app.clone();
        tokio::spawn(on_schedule(interval, renewals_stopped.clone(), move || {
            renew(app.clone())
        }));
    }
    if let Some(interval) = settings.dkim_check_interval {
        let app = app.clone();
        tokio::spawn(on_schedule(interval, renewals_stopped.clone(), move || {
            check_dkim_keys(app.clone())
        }));
    }
    let sweeping = app.clone();
    tokio::spawn(on_schedule(
        settings.account_event_sweep_interval,
        renewals_stopped,
        move || purge_account_events(sweeping.clone()),
    ));

    let grace = settings.shutdown_grace;
    let stopping_app = app.clone();
    let (draining_tx, draining_rx) = oneshot::channel::<()>();
    let signal = async move {
        let _ = shutdown_rx.await;
        let _ = stop_renewals.send(true);
        routing.stop();
        if let Some(task) = metrics_task {
            task.abort();
        }
        // Version watches would otherwise hold the drain for the whole grace period.
        stopping_app.snapshot().close_version_watches();
        tracing::info!("shutting down: draining in-flight calls");
        health_reporter
            .set_not_serving::<grpc::AdminServiceServer<grpc::AdminApi>>()
            .await;
        health_reporter
            .set_not_serving::<grpc::DomainServiceServer<grpc::DomainApi>>()
            .await;
        health_reporter
            .set_not_serving::<grpc::BillingServiceServer<grpc::BillingApi>>()
            .await;
        health_reporter
            .set_not_serving::<grpc::DeliveryServiceServer<grpc::DeliveryApi>>()
            .await;
        let _ = draining_tx.send(());
    };
    let limits = &settings.connections;
    let serve: Pin<Box<dyn Future<Output = Result<(), tonic::transport::Error>> + Send>> =
        match &tls {
            Some(tls) => {
                let handshaken = Arc::clone(tls).incoming(tcp, limits.handshake_timeout);
                let incoming =
                    grpc::connections::with_preface_deadline(handshaken, limits.handshake_timeout);
                Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
            }
            None => {
                let incoming =
                    grpc::connections::with_preface_deadline(tcp, limits.handshake_timeout);
                Box::pin(router.serve_with_incoming_shutdown(incoming, signal))
            }
        };
    let task = tokio::spawn(async move {
        let grace_over = async move {
            match draining_rx.await {
                Ok(()) => tokio::time::sleep(grace).await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            result = serve => result,
            () = grace_over => {
                tracing::warn!(grace_seconds = grace.as_secs(), "grace period over; dropping unfinished calls");
                Ok(())
            }
        }
    });
    Ok(RunningServer {
        addr,
        metrics_addr,
        operator_token,
        tls,
        in_flight,
        shutdown: Some(shutdown_tx),
        task,
    })
}

/// Runs `job` every `interval` (the first time at once) until `stop`
/// changes. A job that fails logs and waits for the next tick: both jobs
/// run here are idempotent and resumable.
async fn on_schedule<F, Fut>(
    interval: std::time::Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
    mut job: F,
) where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = ticks.tick() => {}
            _ = stop.changed() => return,
        }
        job().await;
    }
}

/// One scheduled renewal run.
async fn renew(app: App) {
    if let Err(error) = app.renew_due("system (schedule)").await {
        tracing::error!(error = %error, "scheduled renewal run failed; retrying at the next tick");
    }
}

/// One scheduled DNS check of the PENDING DKIM keys.
async fn check_dkim_keys(app: App) {
    if let Err(error) = app.check_pending_dkim_keys("system (schedule)").await {
        tracing::warn!(error = %error, "scheduled DKIM key check failed; retrying at the next tick");
    }
}

/// One sweep of account events past their retention (a failed one only
/// keeps them longer).
async fn purge_account_events(app: App) {
    match app.purge_account_events().await {
        Ok(0) => {}
        Ok(purged) => tracing::info!(purged, "account events past their retention deleted"),
        Err(error) => {
            tracing::error!(error = %error, "purging account events failed; retrying at the next tick");
        }
    }
}

/// Writes the token file readable by its owner only, never logging the token.
fn write_token_file(path: &Path, token: &str) -> anyhow::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    use std::os::unix::fs::OpenOptionsExt;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options
        .open(path)
        .with_context(|| format!("writing the operator token file {}", path.display()))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    writeln!(file, "{token}")?;
    Ok(())
}

/// Applies migrations and exits (`mailadmin-server migrate`).
pub async fn migrate_only(settings: &Settings) -> anyhow::Result<()> {
    let store = Store::connect(&settings.database_url).await?;
    store.migrate().await?;
    Ok(())
}

/// `mailadmin-server rotate-key`: a new server key, and every DKIM private
/// key re-encrypted under it (docs/rules.md, "Keys at rest").
pub async fn rotate_key(
    settings: &Settings,
    clock: Arc<dyn Clock>,
) -> anyhow::Result<crate::service::Resealed> {
    let store = Store::connect(&settings.database_url)
        .await
        .context("connecting to the database")?;
    store.migrate().await.context("applying migrations")?;
    let keyring = Keyring::open(&settings.key_file)?;
    let dns = crate::dns::DnsResolver::new(settings.dns_server, settings.dns_timeout)?;
    let app = App::new(
        store,
        clock,
        Arc::new(settings.clone()),
        dns,
        Arc::new(keyring),
    );
    app.rotate_server_key().await
}
