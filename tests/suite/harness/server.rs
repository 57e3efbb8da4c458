//! [`TestServer`]: the real server, started in-process on `127.0.0.1:0`
//! against a fresh database with a clock the test moves, and the gRPC
//! clients that talk to it.

use super::Backend;
use super::database::{FreshDatabase, PgDatabase, drop_pg_database};
use chrono::{DateTime, TimeZone, Utc};
use mailadmin_client::pb;
use mailadmin_server::clock::ManualClock;
use mailadmin_server::{RunningServer, Settings};
use pb::admin_service_client::AdminServiceClient;
use pb::domain_service_client::DomainServiceClient;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Status};

/// Where every test's clock starts.
pub fn start_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

/// Puts `authorization: Bearer <token>` on every call (or nothing).
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl Bearer {
    /// `authorization: Bearer <token>`, or no header for `None`.
    pub fn new(token: Option<&str>) -> Bearer {
        Bearer(token.map(|t| {
            format!("Bearer {t}")
                .parse::<MetadataValue<Ascii>>()
                .expect("tokens are ASCII")
        }))
    }

    pub fn token(token: &str) -> Bearer {
        Bearer::new(Some(token))
    }
}

impl Interceptor for Bearer {
    fn call(&mut self, mut request: Request<()>) -> Result<Request<()>, Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

pub type Client = AdminServiceClient<InterceptedService<Channel, Bearer>>;
pub type BillingClient =
    pb::billing_service_client::BillingServiceClient<InterceptedService<Channel, Bearer>>;
pub type DomainClient = DomainServiceClient<InterceptedService<Channel, Bearer>>;
/// The generated DeliveryService client (for what the typed
/// `mailadmin_client::DeliveryClient` hides: status codes, SMTP replies).
pub type DeliveryPbClient =
    pb::delivery_service_client::DeliveryServiceClient<InterceptedService<Channel, Bearer>>;

/// One server on one fresh database, for one test.
pub struct TestServer {
    pub clock: ManualClock,
    pub addr: SocketAddr,
    pub operator_token: String,
    channel: Channel,
    settings: Settings,
    running: Option<RunningServer>,
    pg: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
    /// Holds the server key file.
    _keys: tempfile::TempDir,
}

impl TestServer {
    /// Starts a server on a fresh database. `None`: the backend is not
    /// available here (PostgreSQL without `MAILADMIN_TEST_POSTGRES_URL`),
    /// and the test is skipped — except under CI, where that is a failure.
    pub async fn start(backend: Backend) -> Option<TestServer> {
        Self::start_with(backend, |_| {}).await
    }

    /// [`TestServer::start`] with `configure` applied to the settings
    /// (after the harness's own, before the server starts): a DNS server, a
    /// DNS timeout, MX hosts, provider domains… (see [`super::Fixture`]).
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<TestServer> {
        let database = FreshDatabase::create(backend).await?;
        Some(Self::start_on(database, backend, configure).await)
    }

    /// [`TestServer::start_with`] on a database the test prepared (an
    /// older schema, rows written the way an earlier version did).
    pub async fn start_on(
        database: FreshDatabase,
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> TestServer {
        let (database_url, dir, pg) = (database.url, database.dir, database.pg);

        let clock = ManualClock::starting_at(start_instant());
        let mut settings = Settings::new(database_url);
        settings.shutdown_grace = Duration::from_secs(10);
        let keys = tempfile::tempdir().expect("a directory for the key file");
        settings.key_file = keys.path().join("server.key");
        configure(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let running = match mailadmin_server::spawn(
            settings.clone(),
            Arc::new(clock.clone()),
            listener,
        )
        .await
        {
            Ok(running) => running,
            Err(e) => {
                if let Some(pg) = &pg {
                    drop_pg_database(pg).await;
                }
                panic!("starting the server ({backend:?}): {e:#}");
            }
        };
        let addr = running.addr;
        let operator_token = running
            .operator_token
            .clone()
            .expect("a fresh database yields a bootstrap operator token");
        let endpoint = Endpoint::from_shared(format!("http://{addr}")).expect("endpoint");
        let channel = match settings.tls {
            // A TLS test brings its own channel (`use_channel`): this
            // plaintext one would never connect.
            Some(_) => endpoint.connect_lazy(),
            None => endpoint
                .connect()
                .await
                .expect("connecting to the test server"),
        };
        TestServer {
            clock,
            addr,
            operator_token,
            channel,
            settings,
            running: Some(running),
            pg,
            _dir: dir,
            _keys: keys,
        }
    }

    /// Stops the server (gracefully), keeping its database: the control
    /// plane is down until [`TestServer::restart`].
    pub async fn stop(&mut self) {
        let running = self.running.take().expect("the server is running");
        tokio::time::timeout(Duration::from_secs(30), running.shutdown())
            .await
            .expect("the server stops within 30 s")
            .expect("the server stops cleanly");
    }

    /// Starts the stopped server again, on the same address and database.
    pub async fn restart(&mut self) {
        self.try_restart().await.expect("restarting the server");
    }

    /// [`TestServer::restart`], returning why the server refused to start.
    pub async fn try_restart(&mut self) -> anyhow::Result<()> {
        assert!(self.running.is_none(), "the server is still running");
        let listener = tokio::net::TcpListener::bind(self.addr)
            .await
            .expect("binding the server's address again");
        let running = mailadmin_server::spawn(
            self.settings.clone(),
            Arc::new(self.clock.clone()),
            listener,
        )
        .await?;
        self.running = Some(running);
        Ok(())
    }

    /// Where the running server answers `GET /metrics`, if it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.running.as_ref().and_then(|r| r.metrics_addr)
    }

    /// The settings the next [`TestServer::restart`] uses.
    pub fn settings_mut(&mut self) -> &mut Settings {
        assert!(self.running.is_none(), "stop the server first");
        &mut self.settings
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Stops the server (if the test has not) and drops the PostgreSQL
    /// database. Best effort: failures are printed, not raised.
    pub async fn finish(self) {
        let TestServer {
            channel,
            running,
            pg,
            _dir,
            ..
        } = self;
        drop(channel);
        if let Some(running) = running {
            match tokio::time::timeout(Duration::from_secs(30), running.shutdown()).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("server shutdown failed: {e:#}"),
                Err(_) => eprintln!("server shutdown did not finish within 30 s"),
            }
        }
        if let Some(pg) = pg {
            drop_pg_database(&pg).await;
        }
    }

    /// Hands the running server to the test (graceful shutdown tests).
    pub fn take_running(&mut self) -> RunningServer {
        self.running.take().expect("the server is still running")
    }

    pub fn advance(&self, by: chrono::Duration) {
        self.clock.advance(by);
    }

    /// Makes every client of the harness use `channel` (e.g. over TLS).
    pub fn use_channel(&mut self, channel: Channel) {
        self.channel = channel;
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// A client with `token` (or none).
    pub fn client(&self, token: Option<&str>) -> Client {
        AdminServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    pub fn with_token(&self, token: &str) -> Client {
        self.client(Some(token))
    }

    pub fn anonymous(&self) -> Client {
        self.client(None)
    }

    pub fn operator(&self) -> Client {
        self.client(Some(&self.operator_token))
    }

    /// A BillingService client with `token` (or none).
    pub fn billing_client(&self, token: Option<&str>) -> BillingClient {
        pb::billing_service_client::BillingServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(token),
        )
    }

    /// A BillingService client with the operator token.
    pub fn billing_operator(&self) -> BillingClient {
        self.billing_client(Some(&self.operator_token))
    }

    /// A DomainService client with `token` (or none).
    pub fn domain_client(&self, token: Option<&str>) -> DomainClient {
        DomainServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    /// A DomainService client with the operator token.
    pub fn domain_operator(&self) -> DomainClient {
        self.domain_client(Some(&self.operator_token))
    }

    /// A raw DeliveryService client with `token` (or none).
    pub fn delivery_pb_client(&self, token: Option<&str>) -> DeliveryPbClient {
        pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(token),
        )
    }
}
