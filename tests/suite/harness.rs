//! The test harness: starts the real server in-process on `127.0.0.1:0`
//! against a fresh database (a SQLite file in a tempdir, or a new PostgreSQL
//! database), with a `ManualClock` the test can move, and talks to it
//! through the generated client over a real gRPC connection.

#![allow(dead_code)]

use crate::dns_server::{SilentDns, TestDns};
use chrono::{DateTime, TimeZone, Utc};
use mailadmin_client::pb;
use mailadmin_server::clock::ManualClock;
use mailadmin_server::{RunningServer, Settings};
use pb::admin_service_client::AdminServiceClient;
use pb::domain_service_client::DomainServiceClient;
use sea_orm::ConnectionTrait;
use std::collections::HashSet;
use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Request, Status};
use tonic_types::StatusExt;

pub use mailadmin_client::pb::{AccountState, Plan, Role};

/// The credit [`TestServer::create_org`] gives every organization.
pub const DEFAULT_CREDIT: &str = "1000.00";

/// The provider domain `Settings::new` configures.
pub const PROVIDER_DOMAIN: &str = "mailadmin.example";

/// Where every test's clock starts.
pub fn start_instant() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
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

struct PgDatabase {
    admin_url: String,
    name: String,
}

/// A fresh, empty database no server has touched yet: a SQLite file in a
/// tempdir, or a new PostgreSQL database (for tests that start the server
/// binary themselves). [`FreshDatabase::drop_database`] removes it.
pub struct FreshDatabase {
    pub backend: Backend,
    /// What `--database-url` takes.
    pub url: String,
    pg: Option<PgDatabase>,
    dir: Option<tempfile::TempDir>,
}

impl FreshDatabase {
    /// `None`: the backend is not available here (PostgreSQL without
    /// `MAILADMIN_TEST_POSTGRES_URL`; a failure under CI).
    pub async fn create(backend: Backend) -> Option<FreshDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a tempdir");
                let path = dir.path().join("mailadmin.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Some(FreshDatabase {
                    backend,
                    url,
                    pg: None,
                    dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin_url = match std::env::var("MAILADMIN_TEST_POSTGRES_URL") {
                    Ok(url) if !url.trim().is_empty() => url,
                    _ => {
                        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                            panic!(
                                "CI must test PostgreSQL: set MAILADMIN_TEST_POSTGRES_URL \
                                 (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
                            );
                        }
                        eprintln!("skipping: MAILADMIN_TEST_POSTGRES_URL is not set");
                        return None;
                    }
                };
                let name = format!("mailadmin_test_{:016x}", rand::random::<u64>());
                let admin = sea_orm::Database::connect(admin_url.as_str())
                    .await
                    .expect("connecting to MAILADMIN_TEST_POSTGRES_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("creating the test database");
                let _ = admin.close().await;
                let url = with_database(&admin_url, &name);
                Some(FreshDatabase {
                    backend,
                    url,
                    pg: Some(PgDatabase { admin_url, name }),
                    dir: None,
                })
            }
        }
    }

    /// A directory that lives as long as this database (SQLite: the one
    /// holding the file; PostgreSQL: `None`).
    pub fn dir(&self) -> Option<&std::path::Path> {
        self.dir.as_ref().map(|d| d.path())
    }

    /// Drops the PostgreSQL database (even with connections left open) or
    /// removes the SQLite file. Best effort: failures are printed.
    pub async fn drop_database(self) {
        if let Some(pg) = &self.pg {
            drop_pg_database(pg).await;
        }
        drop(self.dir);
    }
}

/// The server binary (`mailadmin-server`), running as a child process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `mailadmin-server` on a free loopback port against `url`, the
    /// renewal schedule off (renewals only through RunRenewals), `extra`
    /// flags appended, logs to `<dir>/<name>.log`.
    pub fn start(
        url: &str,
        dir: &Path,
        token_file: &Path,
        name: &str,
        extra: &[&str],
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("finding a free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("creating the server log");
        let err = out.try_clone().expect("cloning the log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_mailadmin-server"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database-url")
            .arg(url)
            .arg("--operator-token-file")
            .arg(token_file)
            .args(["--renewal-interval-seconds", "0"])
            .args(extra)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("starting the mailadmin-server binary");
        ServerProcess { child, addr, log }
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "mailadmin-server exited ({status}); its log:\n{}",
                self.log_tail()
            );
        }
    }

    /// SIGKILL, and reaps the process.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing mailadmin-server");
    }

    /// A channel to the server, once it accepts connections.
    pub async fn channel(&mut self) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.assert_running();
            match Endpoint::from_shared(self.url())
                .expect("endpoint")
                .connect()
                .await
            {
                Ok(channel) => return channel,
                Err(e) if Instant::now() > deadline => panic!(
                    "mailadmin-server never accepted connections on {}: {e}\n{}",
                    self.addr,
                    self.log_tail()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// The operator token the first start of `server` writes to `path`, once
/// it is complete.
pub async fn read_token_file(server: &mut ServerProcess, path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.assert_running();
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
            && !text.trim().is_empty()
        {
            return text.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "mailadmin-server never wrote its operator token to {}:\n{}",
            path.display(),
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// One server on one fresh database, for one test.
pub struct TestServer {
    pub backend: Backend,
    pub clock: ManualClock,
    pub addr: SocketAddr,
    pub operator_token: String,
    channel: Channel,
    running: Option<RunningServer>,
    pg: Option<PgDatabase>,
    _dir: Option<tempfile::TempDir>,
}

/// An organization made by [`TestServer::create_org`].
#[derive(Clone)]
pub struct Org {
    pub id: i64,
    pub name: String,
    pub master: pb::User,
    pub master_password: String,
    /// A session token of the master account (role ORG_ADMIN).
    pub admin_token: String,
    /// A client carrying `admin_token`.
    pub admin: Client,
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
    /// DNS timeout, MX hosts, provider domains…
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut Settings),
    ) -> Option<TestServer> {
        let database = FreshDatabase::create(backend).await?;
        let (database_url, dir, pg) = (database.url, database.dir, database.pg);

        let clock = ManualClock::starting_at(start_instant());
        let mut settings = Settings::new(database_url);
        settings.shutdown_grace = Duration::from_secs(10);
        configure(&mut settings);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("binding 127.0.0.1:0");
        let running =
            match mailadmin_server::spawn(settings, Arc::new(clock.clone()), listener).await {
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
        let channel = Endpoint::from_shared(format!("http://{addr}"))
            .expect("endpoint")
            .connect()
            .await
            .expect("connecting to the test server");
        Some(TestServer {
            backend,
            clock,
            addr,
            operator_token,
            channel,
            running: Some(running),
            pg,
            _dir: dir,
        })
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

    /// A client with `token` (or none).
    pub fn client(&self, token: Option<&str>) -> Client {
        AdminServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    /// A BillingService client with the operator token.
    pub fn billing_operator(&self) -> BillingClient {
        self.billing_client(Some(&self.operator_token))
    }

    /// [`assert_ledger_balances`] for `organization_id`, as the operator.
    pub async fn assert_ledger_balances(&self, organization_id: i64) -> Vec<pb::LedgerEntry> {
        assert_ledger_balances(&self.billing_operator(), organization_id).await
    }

    /// A BillingService client with `token` (or none).
    pub fn billing_client(&self, token: Option<&str>) -> BillingClient {
        pb::billing_service_client::BillingServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(token),
        )
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

    /// A DomainService client with `token` (or none).
    pub fn domain_client(&self, token: Option<&str>) -> DomainClient {
        DomainServiceClient::with_interceptor(self.channel.clone(), Bearer::new(token))
    }

    /// A raw DeliveryService client with `token` (or none).
    pub fn delivery_pb_client(&self, token: Option<&str>) -> DeliveryPbClient {
        pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
            self.channel.clone(),
            Bearer::new(token),
        )
    }

    /// A new DELIVERY token (operator CreateToken, description "mta"): its secret.
    pub async fn delivery_token(&self) -> String {
        create_delivery_token(&mut self.operator()).await
    }

    /// A DomainService client for `org`'s admin.
    pub fn domains(&self, org: &Org) -> DomainClient {
        self.domain_client(Some(&org.admin_token))
    }

    /// A DomainService client with the operator token.
    pub fn domain_operator(&self) -> DomainClient {
        self.domain_client(Some(&self.operator_token))
    }

    /// Claims `name` for `org` (its admin): a PENDING domain.
    pub async fn add_domain(&self, org: &Org, name: &str) -> pb::Domain {
        let domain = ok(self
            .domains(org)
            .add_domain(pb::AddDomainRequest {
                organization_id: 0,
                name: name.to_string(),
            })
            .await)
        .domain
        .expect("domain in the answer");
        assert_eq!(
            domain.state,
            pb::DomainState::Pending as i32,
            "a new claim is PENDING: {domain:?}"
        );
        domain
    }

    /// Claims `name` for `org`, publishes its ownership TXT record in `dns`
    /// and verifies it: a VERIFIED domain.
    pub async fn verified_domain(&self, org: &Org, dns: &TestDns, name: &str) -> pb::Domain {
        let claimed = self.add_domain(org, name).await;
        publish(dns, &ownership_record(&claimed));
        let answer = ok(self
            .domains(org)
            .verify_domain(pb::VerifyDomainRequest {
                domain_id: claimed.id,
            })
            .await);
        assert!(answer.verified, "VerifyDomain of {name}: {answer:?}");
        let domain = answer.domain.expect("domain in the answer");
        assert_eq!(domain.state, pb::DomainState::Verified as i32, "{domain:?}");
        domain
    }

    /// [`TestServer::verified_domain`], then points its MX at the
    /// provider's hosts (the MX records GetDomain lists) and activates it:
    /// an ACTIVE domain.
    pub async fn active_domain(&self, org: &Org, dns: &TestDns, name: &str) -> pb::Domain {
        let verified = self.verified_domain(org, dns, name).await;
        publish_all(dns, &verified, &[pb::RecordPurpose::Mx]);
        let answer = ok(self
            .domains(org)
            .activate_domain(pb::ActivateDomainRequest {
                domain_id: verified.id,
            })
            .await);
        assert!(answer.activated, "ActivateDomain of {name}: {answer:?}");
        let domain = answer.domain.expect("domain in the answer");
        assert_eq!(domain.state, pb::DomainState::Active as i32, "{domain:?}");
        domain
    }

    /// GetDomain through `org`'s admin.
    pub async fn get_domain(&self, org: &Org, domain_id: i64) -> pb::Domain {
        ok(self
            .domains(org)
            .get_domain(pb::GetDomainRequest { domain_id })
            .await)
        .domain
        .expect("domain in the answer")
    }

    /// Creates `username` in `org` with the primary address `address`
    /// (password [`password_for`]).
    pub async fn create_user_at(
        &self,
        org: &Org,
        username: &str,
        address: &str,
        plan: Plan,
    ) -> pb::User {
        let mut account = new_account(username, plan);
        account.primary_address = address.to_string();
        ok(org
            .admin
            .clone()
            .create_user(pb::CreateUserRequest {
                organization_id: org.id,
                account: Some(account),
                request_id: String::new(),
            })
            .await)
        .user
        .expect("user in the answer")
    }

    pub fn channel(&self) -> Channel {
        self.channel.clone()
    }

    /// Creates an organization (operator) whose master account is
    /// `<slug>-admin@mailadmin.example` on `master_plan`, and logs its
    /// admin in.
    /// Creates an organization with a credit of [`DEFAULT_CREDIT`] EUR (a
    /// real TopUp), so paid accounts can be created without further ado.
    pub async fn create_org(&self, name: &str, master_plan: Plan) -> Org {
        let org = self.create_org_without_credit(name, master_plan).await;
        self.top_up(
            org.id,
            DEFAULT_CREDIT,
            &format!("initial credit of {}", org.name),
        )
        .await;
        org
    }

    /// Credits `amount` (e.g. "12.50") to an organization through TopUp,
    /// with `key` as idempotency key; returns the new balance.
    pub async fn top_up(&self, organization_id: i64, amount: &str, key: &str) -> String {
        let mut billing = self.billing_client(Some(&self.operator_token));
        let response = ok(billing
            .top_up(pb::TopUpRequest {
                organization_id,
                amount: Some(pb::Money {
                    amount: amount.to_string(),
                    currency: "EUR".to_string(),
                }),
                idempotency_key: key.to_string(),
                payment_reference: format!("test payment {key}"),
            })
            .await);
        response.balance.expect("balance in the answer").amount
    }

    /// Creates an organization with a credit of 0.00.
    pub async fn create_org_without_credit(&self, name: &str, master_plan: Plan) -> Org {
        let username = format!("{}-admin", slug(name));
        let master = new_account(&username, master_plan);
        let response = ok(self
            .operator()
            .create_organization(pb::CreateOrganizationRequest {
                name: name.to_string(),
                master: Some(master.clone()),
            })
            .await);
        let organization = response.organization.expect("organization in the answer");
        let master_user = response.master.expect("master in the answer");
        let login = ok(self.login(&username, &master.password).await);
        assert_eq!(
            login.role,
            Role::OrgAdmin as i32,
            "Login of a master account gives ORG_ADMIN"
        );
        Org {
            id: organization.id,
            name: name.to_string(),
            master: master_user,
            master_password: master.password,
            admin: self.with_token(&login.token),
            admin_token: login.token,
        }
    }

    /// Creates `username` (address `username@mailadmin.example`, password
    /// [`password_for`]) in `org` through `client`.
    pub async fn create_user(
        &self,
        client: &Client,
        organization_id: i64,
        username: &str,
        plan: Plan,
    ) -> pb::User {
        ok(client
            .clone()
            .create_user(pb::CreateUserRequest {
                organization_id,
                account: Some(new_account(username, plan)),
                request_id: String::new(),
            })
            .await)
        .user
        .expect("user in the answer")
    }

    pub async fn login(
        &self,
        login: &str,
        password: &str,
    ) -> Result<tonic::Response<pb::LoginResponse>, Status> {
        self.anonymous()
            .login(pb::LoginRequest {
                login: login.to_string(),
                password: password.to_string(),
            })
            .await
    }

    /// Logs `username` in with [`password_for`] and returns its token.
    pub async fn login_token(&self, username: &str) -> String {
        ok(self.login(username, &password_for(username)).await).token
    }

    /// A client for `username`, logged in with [`password_for`].
    pub async fn user_client(&self, username: &str) -> Client {
        let token = self.login_token(username).await;
        self.with_token(&token)
    }

    /// Every user of the organization visible to `client` (all pages).
    pub async fn list_users(&self, client: &Client, organization_id: i64) -> Vec<pb::User> {
        list_users_where(client, organization_id, 0, 0, "").await
    }
}

/// A new DELIVERY token made by `operator` (description "mta"): its secret.
pub async fn create_delivery_token(operator: &mut Client) -> String {
    let created = ok(operator
        .create_token(pb::CreateTokenRequest {
            role: Role::Delivery as i32,
            description: "mta".into(),
            ..Default::default()
        })
        .await);
    let token = created.token.expect("token metadata in the answer");
    assert_eq!(token.role, Role::Delivery as i32, "{token:?}");
    assert!(created.secret.starts_with("mat_"), "a token secret");
    created.secret
}

/// An amount in EUR on the wire.
pub fn eur(amount: &str) -> pb::Money {
    pb::Money {
        amount: amount.to_string(),
        currency: "EUR".to_string(),
    }
}

/// The amount of a Money the server sent, checking it is EUR with exactly
/// two decimals.
#[track_caller]
pub fn amount(money: &Option<pb::Money>) -> String {
    let money = money
        .as_ref()
        .unwrap_or_else(|| panic!("a Money is missing from the answer"));
    assert_eq!(money.currency, "EUR", "currency of {money:?}");
    cents(&money.amount);
    money.amount.clone()
}

/// `"12.50"` / `"-2.50"` → cents. The server always writes two decimals;
/// anything else fails the test.
#[track_caller]
pub fn cents(amount: &str) -> i64 {
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, decimals) = digits
        .split_once('.')
        .unwrap_or_else(|| panic!("{amount:?} has no decimals"));
    assert!(
        decimals.len() == 2
            && !whole.is_empty()
            && whole
                .chars()
                .chain(decimals.chars())
                .all(|c| c.is_ascii_digit()),
        "{amount:?} is not an amount with two decimals"
    );
    let value: i64 =
        whole.parse::<i64>().expect("whole euros") * 100 + decimals.parse::<i64>().expect("cents");
    if negative { -value } else { value }
}

/// Cents → `"12.50"`.
pub fn euros(cents: i64) -> String {
    let sign = if cents < 0 { "-" } else { "" };
    format!("{sign}{}.{:02}", cents.abs() / 100, cents.abs() % 100)
}

/// Every ledger entry of an organization (newest first), reading every
/// page of `page_size`; checks the pages neither repeat nor skip order.
pub async fn ledger_entries(
    billing: &BillingClient,
    organization_id: i64,
    page_size: i32,
) -> Vec<pb::LedgerEntry> {
    let mut billing = billing.clone();
    let mut entries: Vec<pb::LedgerEntry> = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100_000 {
        let page = ok(billing
            .list_ledger(pb::ListLedgerRequest {
                organization_id,
                page_size,
                page_token: page_token.clone(),
            })
            .await);
        assert!(
            page.entries.len() <= page_size as usize,
            "a ledger page holds at most page_size entries"
        );
        for entry in page.entries {
            if let Some(previous) = entries.last() {
                assert!(
                    entry.id < previous.id,
                    "ListLedger is newest first, without repeats: {} after {}",
                    entry.id,
                    previous.id
                );
            }
            entries.push(entry);
        }
        if page.next_page_token.is_empty() {
            return entries;
        }
        page_token = page.next_page_token;
    }
    panic!("ListLedger never reached its last page");
}

/// Every notification of an organization (newest first), all pages.
pub async fn notifications(billing: &BillingClient, organization_id: i64) -> Vec<pb::Notification> {
    let mut billing = billing.clone();
    let mut found = Vec::new();
    let mut page_token = String::new();
    for _ in 0..10_000 {
        let page = ok(billing
            .list_notifications(pb::ListNotificationsRequest {
                organization_id,
                page_size: 10,
                page_token: page_token.clone(),
            })
            .await);
        found.extend(page.notifications);
        if page.next_page_token.is_empty() {
            return found;
        }
        page_token = page.next_page_token;
    }
    panic!("ListNotifications never reached its last page");
}

/// SPEC: the balance always equals the sum of the ledger. Reads every
/// ledger page and checks, besides the sum: each entry's balance_after is
/// the running sum in id order, never negative; charges are negative,
/// top-ups and refunds positive; every entry is the organization's.
/// Returns the ledger (newest first).
pub async fn assert_ledger_balances(
    billing: &BillingClient,
    organization_id: i64,
) -> Vec<pb::LedgerEntry> {
    let entries = ledger_entries(billing, organization_id, 25).await;
    let balance = ok(billing
        .clone()
        .get_balance(pb::GetBalanceRequest { organization_id })
        .await);
    let balance = cents(&amount(&balance.balance));
    let mut running = 0;
    let mut problems = Vec::new();
    for entry in entries.iter().rev() {
        let value = cents(&amount(&entry.amount));
        running += value;
        let after = cents(&amount(&entry.balance_after));
        if entry.organization_id != organization_id {
            problems.push(format!(
                "entry {} belongs to {}",
                entry.id, entry.organization_id
            ));
        }
        if after != running {
            problems.push(format!(
                "entry {} ({:?} {}): balance_after {} but the running sum is {}",
                entry.id,
                pb::LedgerEntryKind::try_from(entry.kind),
                euros(value),
                euros(after),
                euros(running)
            ));
        }
        if after < 0 {
            problems.push(format!(
                "entry {}: negative balance_after {}",
                entry.id,
                euros(after)
            ));
        }
        let kind = pb::LedgerEntryKind::try_from(entry.kind);
        let sign_ok = match kind {
            Ok(pb::LedgerEntryKind::Charge) => value < 0,
            Ok(pb::LedgerEntryKind::Topup | pb::LedgerEntryKind::Refund) => value > 0,
            Ok(pb::LedgerEntryKind::Adjustment) => value != 0,
            _ => false,
        };
        if !sign_ok {
            problems.push(format!("entry {}: {kind:?} of {}", entry.id, euros(value)));
        }
    }
    assert!(
        problems.is_empty(),
        "ledger of organization {organization_id} is inconsistent:\n{}",
        problems.join("\n")
    );
    assert_eq!(
        euros(balance),
        euros(running),
        "organization {organization_id}: the balance equals the sum of its {} ledger entries",
        entries.len()
    );
    assert!(balance >= 0, "the credit is never negative");
    entries
}

/// Every page of a ListUsers query.
pub async fn list_users_where(
    client: &Client,
    organization_id: i64,
    state: i32,
    plan: i32,
    query: &str,
) -> Vec<pb::User> {
    let mut client = client.clone();
    let mut users = Vec::new();
    let mut page_token = String::new();
    for _ in 0..1000 {
        let page = ok(client
            .list_users(pb::ListUsersRequest {
                organization_id,
                page_size: 500,
                page_token: page_token.clone(),
                state,
                plan,
                query: query.to_string(),
            })
            .await);
        users.extend(page.users);
        if page.next_page_token.is_empty() {
            return users;
        }
        page_token = page.next_page_token;
    }
    panic!("ListUsers never reached its last page");
}

/// The ids of `users`, checking there are no duplicates.
pub fn ids(users: &[pb::User]) -> HashSet<i64> {
    let set: HashSet<i64> = users.iter().map(|u| u.id).collect();
    assert_eq!(set.len(), users.len(), "duplicate users in a listing");
    set
}

/// The password the harness gives `username`.
pub fn password_for(username: &str) -> String {
    format!("pw-{username}-Secret-42")
}

pub fn address_for(username: &str) -> String {
    format!("{username}@{PROVIDER_DOMAIN}")
}

/// A valid NewAccount for `username`.
pub fn new_account(username: &str, plan: Plan) -> pb::NewAccount {
    pb::NewAccount {
        last_name: "Tester".to_string(),
        first_name: format!("First {username}"),
        username: username.to_string(),
        primary_address: address_for(username),
        password: password_for(username),
        plan: plan as i32,
    }
}

fn slug(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The answer of a call that must succeed.
#[track_caller]
pub fn ok<T>(result: Result<tonic::Response<T>, Status>) -> T {
    match result {
        Ok(response) => response.into_inner(),
        Err(status) => panic!("expected OK, got {:?}: {}", status.code(), status.message()),
    }
}

/// Asserts the call failed with `code`; returns the status.
#[track_caller]
pub fn assert_code<T: Debug>(result: Result<T, Status>, code: Code) -> Status {
    match result {
        Ok(value) => panic!("expected {code:?}, got OK: {value:?}"),
        Err(status) => {
            assert_eq!(
                status.code(),
                code,
                "expected {code:?}, got {:?}: {}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// What [`assert_code`] checks, returning the mismatch instead of panicking.
pub fn check_code<T: Debug>(result: Result<T, Status>, code: Code) -> Result<Status, String> {
    match result {
        Ok(value) => Err(format!("expected {code:?}, got OK: {value:?}")),
        Err(status) if status.code() == code => Ok(status),
        Err(status) => Err(format!(
            "expected {code:?}, got {:?}: {}",
            status.code(),
            status.message()
        )),
    }
}

/// Asserts the call failed with one of `codes`; returns the status.
#[track_caller]
pub fn assert_code_in<T: Debug>(result: Result<T, Status>, codes: &[Code]) -> Status {
    match result {
        Ok(value) => panic!("expected one of {codes:?}, got OK: {value:?}"),
        Err(status) => {
            assert!(
                codes.contains(&status.code()),
                "expected one of {codes:?}, got {:?}: {}",
                status.code(),
                status.message()
            );
            status
        }
    }
}

/// Asserts INVALID_ARGUMENT whose message is `"<field>: <reason>"` and whose
/// google.rpc.BadRequest details name `field`.
#[track_caller]
pub fn assert_invalid<T: Debug>(result: Result<T, Status>, field: &str) -> Status {
    match check_invalid(result, field) {
        Ok(status) => status,
        Err(mismatch) => panic!("{mismatch}"),
    }
}

/// What [`assert_invalid`] checks, returning the mismatch instead of
/// panicking (tables of cases report every failure at once).
pub fn check_invalid<T: Debug>(result: Result<T, Status>, field: &str) -> Result<Status, String> {
    let status = match result {
        Ok(value) => {
            return Err(format!(
                "expected INVALID_ARGUMENT on {field:?}, got OK: {value:?}"
            ));
        }
        Err(status) => status,
    };
    if status.code() != Code::InvalidArgument {
        return Err(format!(
            "expected INVALID_ARGUMENT on {field:?}, got {:?}: {}",
            status.code(),
            status.message()
        ));
    }
    if !status.message().starts_with(&format!("{field}:")) {
        return Err(format!(
            "expected the message to name field {field:?}, got {:?}",
            status.message()
        ));
    }
    let Some(details) = status.get_details_bad_request() else {
        return Err(format!(
            "INVALID_ARGUMENT on {field:?} carries no google.rpc.BadRequest details (message {:?})",
            status.message()
        ));
    };
    if !details.field_violations.iter().any(|v| v.field == field) {
        return Err(format!(
            "BadRequest details do not name {field:?}: {:?}",
            details.field_violations
        ));
    }
    Ok(status)
}

/// The records of `domain` with `purpose`, in the order GetDomain lists them.
pub fn records_of(domain: &pb::Domain, purpose: pb::RecordPurpose) -> Vec<pb::DnsRecord> {
    domain
        .records
        .iter()
        .filter(|r| r.purpose == purpose as i32)
        .cloned()
        .collect()
}

/// The ownership record: the first of `domain.records`, as the API promises.
pub fn ownership_record(domain: &pb::Domain) -> pb::DnsRecord {
    let record = domain
        .records
        .first()
        .unwrap_or_else(|| panic!("a domain lists its records: {domain:?}"))
        .clone();
    assert_eq!(
        record.purpose,
        pb::RecordPurpose::Ownership as i32,
        "the first record is the ownership record: {domain:?}"
    );
    record
}

/// Publishes `record` in `dns` as the only record of its type at its name.
pub fn publish(dns: &TestDns, record: &pb::DnsRecord) {
    publish_set(dns, std::slice::from_ref(record));
}

/// Publishes every record of `domain` with one of `purposes`; records of
/// one type at one name (several MX hosts) are published together.
pub fn publish_all(dns: &TestDns, domain: &pb::Domain, purposes: &[pb::RecordPurpose]) {
    let chosen: Vec<pb::DnsRecord> = domain
        .records
        .iter()
        .filter(|r| purposes.iter().any(|p| *p as i32 == r.purpose))
        .cloned()
        .collect();
    publish_set(dns, &chosen);
}

fn publish_set(dns: &TestDns, records: &[pb::DnsRecord]) {
    let mut txt: Vec<(String, Vec<&str>)> = Vec::new();
    let mut mx: Vec<(String, Vec<(u16, &str)>)> = Vec::new();
    for record in records {
        match record.r#type.as_str() {
            "TXT" => match txt.iter_mut().find(|(n, _)| *n == record.name) {
                Some((_, values)) => values.push(&record.value),
                None => txt.push((record.name.clone(), vec![&record.value])),
            },
            "MX" => {
                let (preference, host) = record
                    .value
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("MX value is \"<preference> <host>\": {record:?}"));
                let preference: u16 = preference
                    .parse()
                    .unwrap_or_else(|_| panic!("MX preference is a number: {record:?}"));
                match mx.iter_mut().find(|(n, _)| *n == record.name) {
                    Some((_, hosts)) => hosts.push((preference, host)),
                    None => mx.push((record.name.clone(), vec![(preference, host)])),
                }
            }
            other => panic!("unexpected record type {other:?}: {record:?}"),
        }
    }
    for (name, values) in &txt {
        dns.set_txt(name, values);
    }
    for (name, hosts) in &mx {
        dns.set_mx(name, hosts);
    }
}

/// Something a test needs running before its server starts, and which the
/// server's settings point at (see [`backend_tests!`]'s `name: Fixture`).
pub trait Fixture: Sized {
    fn start() -> impl std::future::Future<Output = Self>;
    fn configure(&self, settings: &mut Settings);
}

/// The server resolves through a [`TestDns`] (3 s timeout).
impl Fixture for TestDns {
    async fn start() -> Self {
        TestDns::start().await
    }
    fn configure(&self, settings: &mut Settings) {
        settings.dns_server = Some(self.addr);
    }
}

/// The server asks a [`SilentDns`], with a 500 ms timeout.
impl Fixture for SilentDns {
    async fn start() -> Self {
        SilentDns::start().await
    }
    fn configure(&self, settings: &mut Settings) {
        settings.dns_server = Some(self.addr);
        settings.dns_timeout = Duration::from_millis(500);
    }
}

/// The reset token (`mar_…`) in an outbox message body.
pub fn reset_token_in(body: &str) -> Option<String> {
    let start = body.find("mar_")?;
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (token.len() > "mar_".len()).then_some(token)
}

/// `url` with its database (path) replaced by `name`, query kept.
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..authority_end], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

async fn drop_pg_database(pg: &PgDatabase) {
    match sea_orm::Database::connect(pg.admin_url.as_str()).await {
        Ok(admin) => {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", pg.name);
            if let Err(e) = admin.execute_unprepared(&sql).await {
                eprintln!("dropping test database {}: {e}", pg.name);
            }
            let _ = admin.close().await;
        }
        Err(e) => eprintln!("dropping test database {}: {e}", pg.name),
    }
}

/// Generates, for each named `async fn name(server: &TestServer)` (or
/// `&mut TestServer`) of the calling module, `sqlite::name` and
/// `postgres::name` tests. The server is finished (and a PostgreSQL
/// database dropped) even when the test panics.
///
/// `name: F` (F a [`Fixture`] type in scope in the calling module, e.g.
/// `TestDns`) starts an F first, starts
/// the server with settings pointing at it, and calls
/// `async fn name(server: &TestServer, fixture: &F)`.
macro_rules! backend_tests {
    ($($name:ident $(: $fixture:ident)?),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::harness::run_test!(
                        $crate::harness::Backend::Sqlite, super::$name $(, super::$fixture)?
                    );
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::harness::run_test!(
                        $crate::harness::Backend::Postgres, super::$name $(, super::$fixture)?
                    );
                }
            )+
        }
    };
}

macro_rules! run_test {
    ($backend:expr, $test:path) => {{
        let Some(mut server) = $crate::harness::TestServer::start($backend).await else {
            return;
        };
        let outcome =
            ::futures::FutureExt::catch_unwind(::std::panic::AssertUnwindSafe($test(&mut server)))
                .await;
        server.finish().await;
        if let Err(panic) = outcome {
            ::std::panic::resume_unwind(panic);
        }
    }};
    ($backend:expr, $test:path, $fixture:ty) => {{
        let fixture = <$fixture as $crate::harness::Fixture>::start().await;
        let Some(mut server) = $crate::harness::TestServer::start_with($backend, |settings| {
            $crate::harness::Fixture::configure(&fixture, settings)
        })
        .await
        else {
            return;
        };
        let outcome = ::futures::FutureExt::catch_unwind(::std::panic::AssertUnwindSafe($test(
            &mut server,
            &fixture,
        )))
        .await;
        server.finish().await;
        // Some fixtures (a DNS server) stop when dropped; others hold no resources.
        #[allow(clippy::drop_non_drop)]
        drop(fixture);
        if let Err(panic) = outcome {
            ::std::panic::resume_unwind(panic);
        }
    }};
}

pub(crate) use backend_tests;
pub(crate) use run_test;

#[test]
fn database_url_rewrite() {
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        with_database("postgres://u:p@db:5432?sslmode=disable", "t1"),
        "postgres://u:p@db:5432/t1?sslmode=disable"
    );
    assert_eq!(
        reset_token_in("your token: mar_0a1b2c.\nbye").as_deref(),
        Some("mar_0a1b2c")
    );
}
