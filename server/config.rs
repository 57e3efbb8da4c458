//! Configuration: command-line flags, each with a `MAILADMIN_*` environment
//! variable, and the settings the server runs with.

use clap::{Parser, Subcommand};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Parser)]
#[command(
    name = "mailadmin-server",
    version,
    about = "mailadmin: the control plane of an email provider"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Command>,
    #[command(flatten)]
    pub options: Options,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve gRPC (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Add a new server key to the key file and re-encrypt every stored
    /// DKIM private key under it, then exit. The older keys stay in the
    /// file, so running replicas keep reading until they pick up the new one.
    RotateKey,
}

#[derive(Debug, Clone, clap::Args)]
pub struct Options {
    /// Address to listen on for gRPC.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_LISTEN",
        default_value = "127.0.0.1:50051"
    )]
    pub listen: SocketAddr,
    /// Database: `sqlite://FILE?mode=rwc` (embedded default) or `postgres://…`.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_DATABASE_URL",
        default_value = "sqlite://mailadmin.db?mode=rwc"
    )]
    pub database_url: String,
    /// The provider's own mail domains (comma-separated).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_PROVIDER_DOMAINS",
        default_value = "mailadmin.example",
        value_delimiter = ','
    )]
    pub provider_domains: Vec<String>,
    /// Where the first start writes the operator token (owner-only file).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_OPERATOR_TOKEN_FILE",
        default_value = "mailadmin-operator.token"
    )]
    pub operator_token_file: PathBuf,
    /// The server key file, which encrypts DKIM private keys in the
    /// database. Created (mode 0600) on first start; refused when group or
    /// others may read it. Back it up with the database.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_KEY_FILE",
        default_value = "mailadmin.key"
    )]
    pub key_file: PathBuf,
    /// How often PENDING DKIM keys are looked up in DNS, in seconds (0:
    /// only when an admin calls CheckDomainRecords).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_DKIM_CHECK_INTERVAL_SECONDS",
        default_value_t = 600
    )]
    pub dkim_check_interval_seconds: u64,
    /// The longest any call may take, in milliseconds (a caller's shorter
    /// `grpc-timeout` wins); past it the answer is DEADLINE_EXCEEDED.
    #[arg(long, global = true, env = "MAILADMIN_REQUEST_TIMEOUT_MS", default_value_t = 30_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub request_timeout_ms: u64,
    /// How long one database statement may run or wait for a lock, in
    /// milliseconds (PostgreSQL statement_timeout, SQLite busy timeout).
    #[arg(long, global = true, env = "MAILADMIN_DB_STATEMENT_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub db_statement_timeout_ms: u64,
    /// How long a call waits for a database connection from the pool, in milliseconds.
    #[arg(long, global = true, env = "MAILADMIN_DB_ACQUIRE_TIMEOUT_MS", default_value_t = 5_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub db_acquire_timeout_ms: u64,
    /// How long a token from Login stays valid, in seconds.
    #[arg(long, global = true, env = "MAILADMIN_SESSION_TTL_SECONDS", default_value_t = 12 * 3600)]
    pub session_ttl_seconds: u64,
    /// DNS server for ownership and record checks (`IP:PORT`); the system
    /// resolver when unset.
    #[arg(long, global = true, env = "MAILADMIN_DNS_SERVER")]
    pub dns_server: Option<SocketAddr>,
    /// DNS query timeout, in milliseconds (at most 3000).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_DNS_TIMEOUT_MS",
        default_value_t = 3000
    )]
    pub dns_timeout_ms: u64,
    /// The provider's MX hosts, which an ACTIVE domain's MX must point at
    /// (comma-separated).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_MX_HOSTS",
        default_value = "mx1.mailadmin.example",
        value_delimiter = ','
    )]
    pub mx_hosts: Vec<String>,
    /// A charge that takes the credit below this (EUR) notifies the admin.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_LOW_BALANCE_THRESHOLD",
        default_value = "20.00"
    )]
    pub low_balance_threshold: String,
    /// How often the server runs renewals by itself, in seconds (0: never;
    /// operators can still call RunRenewals).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_RENEWAL_INTERVAL_SECONDS",
        default_value_t = 3600
    )]
    pub renewal_interval_seconds: u64,
    /// Accounts renewed per transaction.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_RENEWAL_BATCH_SIZE",
        default_value_t = 500
    )]
    pub renewal_batch_size: u64,
    /// Pause between renewal batches, in milliseconds, to spread the
    /// database load of a large run.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_RENEWAL_BATCH_PAUSE_MS",
        default_value_t = 0
    )]
    pub renewal_batch_pause_ms: u64,
    /// How long account events (WatchAccountEvents) are kept, in days: a
    /// watcher away for longer must resync from a full listing.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_ACCOUNT_EVENT_RETENTION_DAYS",
        default_value_t = 30,
        value_parser = clap::value_parser!(u64).range(1..=3650)
    )]
    pub account_event_retention_days: u64,
    /// The server's TLS certificate chain (PEM, leaf first). With
    /// --tls-key, the listener speaks TLS only; SIGHUP reads both again.
    #[arg(long, global = true, env = "MAILADMIN_TLS_CERT", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,
    /// The private key of --tls-cert (PEM).
    #[arg(long, global = true, env = "MAILADMIN_TLS_KEY", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,
    /// CA certificates (PEM) whose client certificates the server accepts:
    /// clients are asked for one, and one that does not verify is refused.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_TLS_CLIENT_CA",
        requires = "tls_cert"
    )]
    pub tls_client_ca: Option<PathBuf>,
    /// DeliveryService calls need a client certificate signed by
    /// --tls-client-ca, on top of their token.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_DELIVERY_REQUIRES_CLIENT_CERT",
        requires = "tls_client_ca"
    )]
    pub delivery_requires_client_cert: bool,
    /// Serve plaintext HTTP/2 on a non-loopback --listen address (without
    /// it, such an address needs --tls-cert and --tls-key).
    #[arg(long, global = true, env = "MAILADMIN_INSECURE_PLAINTEXT")]
    pub insecure_plaintext: bool,
    /// Serve Prometheus metrics (`GET /metrics`) on this address; off when unset.
    #[arg(long, global = true, env = "MAILADMIN_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,
    /// Streams (calls) one client connection may have open at once
    /// (HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS); a client past it waits
    /// for one of its own calls to end.
    #[arg(long, global = true, env = "MAILADMIN_HTTP2_MAX_CONCURRENT_STREAMS", default_value_t = 200,
          value_parser = clap::value_parser!(u32).range(1..))]
    pub http2_max_concurrent_streams: u32,
    /// How often the server pings each client connection over HTTP/2, in
    /// seconds (0: never); a ping unanswered for
    /// `--http2-keepalive-timeout-seconds` closes the connection.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_HTTP2_KEEPALIVE_INTERVAL_SECONDS",
        default_value_t = 60
    )]
    pub http2_keepalive_interval_seconds: u64,
    /// How long a keepalive ping may go unanswered, in seconds.
    #[arg(long, global = true, env = "MAILADMIN_HTTP2_KEEPALIVE_TIMEOUT_SECONDS", default_value_t = 20,
          value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub http2_keepalive_timeout_seconds: u64,
    /// TCP keepalive on accepted connections: idle seconds before the first
    /// probe (0: off), so the kernel drops peers that vanished.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_TCP_KEEPALIVE_SECONDS",
        default_value_t = 60
    )]
    pub tcp_keepalive_seconds: u64,
    /// How long a new connection may take to send the HTTP/2 preface, in
    /// milliseconds; one that has not sent it by then is closed.
    #[arg(long, global = true, env = "MAILADMIN_HANDSHAKE_TIMEOUT_MS", default_value_t = 10_000,
          value_parser = clap::value_parser!(u64).range(100..=600_000))]
    pub handshake_timeout_ms: u64,
    /// The longest a client connection may live, in seconds (0: no limit):
    /// past it the server asks the client to go elsewhere (HTTP/2 GOAWAY;
    /// calls in flight finish) and, after `--max-connection-age-grace-seconds`,
    /// closes it.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_MAX_CONNECTION_AGE_SECONDS",
        default_value_t = 0
    )]
    pub max_connection_age_seconds: u64,
    /// How long a connection past its maximum age has to finish its calls
    /// (and streams) before it is closed, in seconds.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_MAX_CONNECTION_AGE_GRACE_SECONDS",
        default_value_t = 60
    )]
    pub max_connection_age_grace_seconds: u64,
    /// How password hashing (logins, new passwords) shares the CPU with
    /// the rest of the server: `low` (nice +10, shortest slice: recipient
    /// checks run first, logins keep a steady share) or `idle` (hashing
    /// only on otherwise idle cores: under overload mail keeps more of the
    /// CPU and logins may crawl).
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_HASHING_PRIORITY",
        value_enum,
        default_value_t = crate::secrets::HashingPriority::Low
    )]
    pub hashing_priority: crate::secrets::HashingPriority,
    /// Log format: `text` or `json`.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_LOG_FORMAT",
        default_value = "text"
    )]
    pub log_format: String,
}

/// What a running server needs, independent of where it came from (flags,
/// or a test harness).
#[derive(Debug, Clone)]
pub struct Settings {
    pub database_url: String,
    /// Normalized (IDNA ASCII, lower case) provider domains.
    pub provider_domains: Vec<String>,
    /// `None`: do not write the bootstrap operator token anywhere (tests
    /// read it from [`crate::RunningServer::operator_token`]).
    pub operator_token_file: Option<PathBuf>,
    /// The server key file (see [`crate::keyring`]).
    pub key_file: PathBuf,
    /// `None`: PENDING DKIM keys are checked only by CheckDomainRecords.
    pub dkim_check_interval: Option<Duration>,
    pub session_ttl: Duration,
    /// The longest a call may take (DEADLINE_EXCEEDED after it).
    pub request_timeout: Duration,
    /// The database's time limits.
    pub db_limits: crate::store::DbLimits,
    /// TLS on the gRPC listener; `None`: plaintext.
    pub tls: Option<crate::tls::TlsFiles>,
    /// DeliveryService calls need a verified client certificate.
    pub delivery_requires_client_cert: bool,
    /// Where `GET /metrics` is served; `None`: nowhere.
    pub metrics_listen: Option<SocketAddr>,
    /// Export metrics over OTLP too (`OTEL_EXPORTER_OTLP_ENDPOINT` is set).
    pub otlp_metrics: bool,
    /// How long graceful shutdown waits for in-flight calls.
    pub shutdown_grace: Duration,
    /// `None`: the system resolver.
    pub dns_server: Option<SocketAddr>,
    pub dns_timeout: Duration,
    /// Normalized (lower case, no trailing dot).
    pub mx_hosts: Vec<String>,
    pub low_balance_threshold: crate::rules::money::Money,
    /// `None`: renewals run only when an operator calls RunRenewals.
    pub renewal_interval: Option<Duration>,
    pub renewal_batch_size: u64,
    pub renewal_batch_pause: Option<Duration>,
    /// How long account events are kept.
    pub account_event_retention: Duration,
    /// How often events older than that are purged.
    pub account_event_sweep_interval: Duration,
    /// What a client connection may hold, and for how long.
    pub connections: ConnectionLimits,
    /// How the process's hashing threads run (one setting per process).
    pub hashing_priority: crate::secrets::HashingPriority,
}

/// What one client connection may hold, and for how long
/// (docs/rules.md, "Time limits").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ConnectionLimits {
    /// HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS.
    pub max_concurrent_streams: u32,
    /// `None`: no HTTP/2 keepalive pings.
    pub http2_keepalive_interval: Option<Duration>,
    pub http2_keepalive_timeout: Duration,
    /// `None`: no TCP keepalive.
    pub tcp_keepalive: Option<Duration>,
    /// How long a new connection has to send the HTTP/2 preface.
    pub handshake_timeout: Duration,
    /// `None`: connections live as long as their client wants.
    pub max_connection_age: Option<Duration>,
    pub max_connection_age_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        ConnectionLimits {
            max_concurrent_streams: 200,
            http2_keepalive_interval: Some(Duration::from_secs(60)),
            http2_keepalive_timeout: Duration::from_secs(20),
            tcp_keepalive: Some(Duration::from_secs(60)),
            handshake_timeout: Duration::from_secs(10),
            max_connection_age: None,
            max_connection_age_grace: Duration::from_secs(60),
        }
    }
}

impl Settings {
    /// Settings with the defaults the binary uses, for a given database.
    pub fn new(database_url: impl Into<String>) -> Self {
        Settings {
            database_url: database_url.into(),
            provider_domains: vec!["mailadmin.example".to_string()],
            operator_token_file: None,
            key_file: PathBuf::from("mailadmin.key"),
            dkim_check_interval: None,
            session_ttl: Duration::from_secs(12 * 3600),
            request_timeout: Duration::from_secs(30),
            db_limits: crate::store::DbLimits::default(),
            tls: None,
            delivery_requires_client_cert: false,
            metrics_listen: None,
            otlp_metrics: false,
            shutdown_grace: Duration::from_secs(30),
            dns_server: None,
            dns_timeout: Duration::from_secs(3),
            mx_hosts: vec!["mx1.mailadmin.example".to_string()],
            low_balance_threshold: crate::rules::money::Money::from_cents(2000),
            renewal_interval: None,
            renewal_batch_size: 500,
            renewal_batch_pause: None,
            account_event_retention: Duration::from_secs(30 * 24 * 3600),
            account_event_sweep_interval: Duration::from_secs(3600),
            connections: ConnectionLimits::default(),
            hashing_priority: crate::secrets::HashingPriority::default(),
        }
    }
}

impl Options {
    pub fn settings(&self) -> Result<Settings, String> {
        let provider_domains = self
            .provider_domains
            .iter()
            .map(|d| {
                crate::rules::address::normalize_domain("provider_domains", d.trim())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if provider_domains.is_empty() {
            return Err("provider_domains: at least one domain is required".into());
        }
        let mx_hosts = self
            .mx_hosts
            .iter()
            .map(|h| {
                crate::rules::address::normalize_domain("mx_hosts", h.trim())
                    .map_err(|e| e.to_string())
            })
            .collect::<Result<Vec<_>, _>>()?;
        if mx_hosts.is_empty() {
            return Err("mx_hosts: at least one host is required".into());
        }
        if self.dns_timeout_ms == 0 || self.dns_timeout_ms > 3000 {
            return Err("dns_timeout_ms: must be 1 to 3000".into());
        }
        let low_balance_threshold = crate::rules::money::Money::parse(
            "low_balance_threshold",
            &self.low_balance_threshold,
            "EUR",
        )
        .map_err(|e| e.to_string())?;
        if self.renewal_batch_size == 0 {
            return Err("renewal_batch_size: must be at least 1".into());
        }
        let tls = match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Some(crate::tls::TlsFiles {
                cert: cert.clone(),
                key: key.clone(),
                client_ca: self.tls_client_ca.clone(),
            }),
            _ => None,
        };
        if tls.is_none() && !self.listen.ip().is_loopback() && !self.insecure_plaintext {
            return Err(format!(
                "listen: {} is reachable from other hosts, and without TLS tokens and \
                 passwords would cross the network in clear: give --tls-cert and --tls-key, \
                 or --insecure-plaintext if the network itself is private",
                self.listen
            ));
        }
        Ok(Settings {
            database_url: self.database_url.clone(),
            provider_domains,
            operator_token_file: Some(self.operator_token_file.clone()),
            key_file: self.key_file.clone(),
            dkim_check_interval: (self.dkim_check_interval_seconds > 0)
                .then(|| Duration::from_secs(self.dkim_check_interval_seconds)),
            session_ttl: Duration::from_secs(self.session_ttl_seconds),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            tls,
            delivery_requires_client_cert: self.delivery_requires_client_cert,
            metrics_listen: self.metrics_listen,
            otlp_metrics: std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some(),
            db_limits: crate::store::DbLimits {
                statement: Duration::from_millis(self.db_statement_timeout_ms),
                acquire: Duration::from_millis(self.db_acquire_timeout_ms),
            },
            shutdown_grace: Duration::from_secs(30),
            dns_server: self.dns_server,
            dns_timeout: Duration::from_millis(self.dns_timeout_ms),
            mx_hosts,
            low_balance_threshold,
            renewal_interval: (self.renewal_interval_seconds > 0)
                .then(|| Duration::from_secs(self.renewal_interval_seconds)),
            renewal_batch_size: self.renewal_batch_size,
            renewal_batch_pause: (self.renewal_batch_pause_ms > 0)
                .then(|| Duration::from_millis(self.renewal_batch_pause_ms)),
            account_event_retention: Duration::from_secs(
                self.account_event_retention_days * 24 * 3600,
            ),
            account_event_sweep_interval: Duration::from_secs(3600),
            connections: ConnectionLimits {
                max_concurrent_streams: self.http2_max_concurrent_streams,
                http2_keepalive_interval: (self.http2_keepalive_interval_seconds > 0)
                    .then(|| Duration::from_secs(self.http2_keepalive_interval_seconds)),
                http2_keepalive_timeout: Duration::from_secs(self.http2_keepalive_timeout_seconds),
                tcp_keepalive: (self.tcp_keepalive_seconds > 0)
                    .then(|| Duration::from_secs(self.tcp_keepalive_seconds)),
                handshake_timeout: Duration::from_millis(self.handshake_timeout_ms),
                max_connection_age: (self.max_connection_age_seconds > 0)
                    .then(|| Duration::from_secs(self.max_connection_age_seconds)),
                max_connection_age_grace: Duration::from_secs(
                    self.max_connection_age_grace_seconds,
                ),
            },
            hashing_priority: self.hashing_priority,
        })
    }
}
