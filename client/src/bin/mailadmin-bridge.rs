//! `mailadmin-bridge`: lets an unmodified Postfix ask mailadmin about
//! recipients and senders. It serves Postfix's socketmap tables and policy
//! delegation on TCP or Unix sockets and answers each question with the
//! control plane's `DeliveryService`, using a token of role `delivery`;
//! and it keeps OpenDKIM's signing-key tables current (`--opendkim-dir`).
//! See the README, "Running it with Postfix and Dovecot", for the `main.cf` lines.

use clap::Parser;
use mailadmin_client::bridge::opendkim::{self, OpenDkimTables};
use mailadmin_client::bridge::{ListenAddr, Listener, Lookups, policy, socketmap};
use mailadmin_client::{ClientTls, DeliveryClient, LogReplicaHealth, Verdict, VerdictCache};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "mailadmin-bridge",
    version,
    about = "Serves Postfix socketmap tables and policy delegation from mailadmin's DeliveryService",
    after_help = "Listen addresses are inet:HOST:PORT or unix:/PATH. When the control plane \
                  cannot answer, Postfix is told to retry (socketmap TEMP, policy 451 4.4.3), \
                  never that a recipient does not exist."
)]
struct Args {
    /// The control plane's URL (http://host:port, or https://host:port for
    /// TLS); repeat or separate with commas to name several replicas: calls
    /// go round those that answer.
    #[arg(
        long,
        env = "MAILADMIN_BRIDGE_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_delimiter = ','
    )]
    server: Vec<String>,

    /// A token of role `delivery` (prefer --token-file: arguments are visible in `ps`).
    #[arg(
        long,
        env = "MAILADMIN_BRIDGE_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    token: Option<String>,

    /// A file holding the token of role `delivery` (surrounding whitespace is ignored).
    #[arg(long, env = "MAILADMIN_BRIDGE_TOKEN_FILE")]
    token_file: Option<PathBuf>,

    /// How long one question to the control plane may take before the
    /// answer is a temporary failure, in milliseconds.
    #[arg(long, env = "MAILADMIN_BRIDGE_TIMEOUT_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,

    /// Verdicts are kept until the control plane says its directory changed
    /// (each replica's changes are followed as they happen); while a
    /// replica's changes cannot be followed, its verdicts are reused for
    /// this many milliseconds at most. 0 turns the cache off.
    #[arg(long, env = "MAILADMIN_BRIDGE_CACHE_TTL_MS", default_value_t = 1000,
          value_parser = clap::value_parser!(u64).range(0..=60_000))]
    cache_ttl_ms: u64,

    /// How many recipients the verdict cache holds at most (about 200
    /// bytes each).
    #[arg(long, env = "MAILADMIN_BRIDGE_CACHE_ENTRIES", default_value_t = 200_000,
          value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    cache_entries: u64,

    /// How many recipient-check calls may be on their way to the control
    /// plane at once; lookups that arrive while all are busy go together
    /// in the next call (CheckRecipients). 0 sends one call per lookup.
    #[arg(long, env = "MAILADMIN_BRIDGE_CALLS_IN_FLIGHT", default_value_t = 1,
          value_parser = clap::value_parser!(u64).range(0..=1024))]
    calls_in_flight: u64,

    /// Where to serve the socketmap tables (domains, mailboxes, aliases,
    /// recipient_access, senders); repeat or separate with commas.
    #[arg(long, env = "MAILADMIN_BRIDGE_SOCKETMAP", value_delimiter = ',')]
    socketmap: Vec<ListenAddr>,

    /// Where to serve policy delegation (check_policy_service); repeat or
    /// separate with commas.
    #[arg(long, env = "MAILADMIN_BRIDGE_POLICY", value_delimiter = ',')]
    policy: Vec<ListenAddr>,

    /// Keep OpenDKIM's KeyTable, SigningTable and key files for every
    /// ACTIVE domain's signing key in this directory (absolute path; RSA
    /// keys in KeyTable/SigningTable, Ed25519 keys in the `.ed25519`
    /// pair). Run the bridge as the user OpenDKIM runs as: key files are 0600.
    #[arg(long, env = "MAILADMIN_BRIDGE_OPENDKIM_DIR")]
    opendkim_dir: Option<PathBuf>,

    /// How often to ask for changed signing keys, in seconds (an unchanged
    /// answer carries no key).
    #[arg(long, env = "MAILADMIN_BRIDGE_SIGNING_KEYS_INTERVAL_SECONDS", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    signing_keys_interval_seconds: u64,

    /// A command (`sh -c`) run after the signing keys changed on disk, e.g.
    /// `pkill -USR1 -x opendkim` so OpenDKIM reads its tables again.
    #[arg(long, env = "MAILADMIN_BRIDGE_OPENDKIM_ON_CHANGE")]
    opendkim_on_change: Option<String>,

    #[command(flatten)]
    tls: mailadmin_client::tls::TlsArgs,

    /// Check that every replica answers with this token, then exit: 0 when
    /// they all do, 1 when one does not.
    #[arg(long)]
    check: bool,
}

impl Args {
    fn token(&self) -> Result<String, String> {
        match (&self.token, &self.token_file) {
            (Some(token), _) => Ok(token.trim().to_string()),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map(|t| t.trim().to_string())
                .map_err(|e| format!("cannot read --token-file {}: {e}", path.display())),
            (None, None) => Err("a delivery token is needed: --token-file or --token \
                                 (MAILADMIN_BRIDGE_TOKEN_FILE, MAILADMIN_BRIDGE_TOKEN)"
                .into()),
        }
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .init();
    let args = Args::parse();
    match run(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mailadmin-bridge: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<(), String> {
    let token = args.token()?;
    let timeout = Duration::from_millis(args.timeout_ms);
    let tls = args.tls.client_tls().map_err(|e| e.to_string())?;
    if args.check {
        return check(&args.server, &token, &tls, timeout).await;
    }
    let client = args
        .server
        .iter()
        .fold(DeliveryClient::builder(&token), |b, url| b.replica(url))
        .timeout(timeout)
        .tls(tls)
        .observer(Arc::new(LogReplicaHealth))
        .watch_directory(args.cache_ttl_ms > 0)
        .build()
        .map_err(|e| e.to_string())?;
    if args.socketmap.is_empty() && args.policy.is_empty() && args.opendkim_dir.is_none() {
        return Err("nothing to do: give --socketmap, --policy and/or --opendkim-dir".into());
    }
    let mut lookups = match args.cache_ttl_ms {
        0 => Lookups::new(client.clone()),
        ttl => Lookups::with_cache(
            client.clone(),
            VerdictCache::new(Duration::from_millis(ttl), args.cache_entries as usize),
        ),
    };
    if args.calls_in_flight > 0 {
        lookups = lookups.coalesced(args.calls_in_flight as usize);
    }
    let mut tasks = tokio::task::JoinSet::new();
    for addr in &args.socketmap {
        let listener = bind(addr).await?;
        tracing::info!(
            "socketmap tables on {}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        tasks.spawn(socketmap::serve(listener, lookups.clone()));
    }
    for addr in &args.policy {
        let listener = bind(addr).await?;
        tracing::info!(
            "policy delegation on {}",
            listener.local_addr().map_err(|e| e.to_string())?
        );
        tasks.spawn(policy::serve(listener, lookups.clone()));
    }
    if let Some(dir) = &args.opendkim_dir {
        let tables = OpenDkimTables::new(dir)
            .map_err(|e| format!("--opendkim-dir {}: {e}", dir.display()))?;
        tracing::info!("OpenDKIM tables in {}", dir.display());
        tasks.spawn(opendkim::follow(
            client.clone(),
            tables,
            Duration::from_secs(args.signing_keys_interval_seconds),
            args.opendkim_on_change.clone(),
        ));
    }
    shutdown_signal().await;
    tracing::info!("stopping");
    // Dropping the tasks drops the listeners, which removes Unix sockets.
    tasks.shutdown().await;
    Ok(())
}

async fn bind(addr: &ListenAddr) -> Result<Listener, String> {
    Listener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen on {addr}: {e}"))
}

/// One recipient check per replica on a name that is never local: any
/// answer but a temporary failure proves the replica is there and takes the
/// token.
async fn check(
    servers: &[String],
    token: &str,
    tls: &ClientTls,
    timeout: Duration,
) -> Result<(), String> {
    let mut silent = Vec::new();
    for server in servers {
        let client = DeliveryClient::builder(token)
            .replica(server)
            .timeout(timeout)
            .tls(tls.clone())
            .build()
            .map_err(|e| e.to_string())?;
        match client
            .check_recipient("postmaster@mailadmin-bridge.invalid")
            .await
        {
            Verdict::TempFail { reason } => {
                println!("FAILED: {server} does not answer: {reason}");
                silent.push(server.as_str());
            }
            _ => println!("ok: {server} answers recipient checks with this token"),
        }
    }
    match silent.as_slice() {
        [] => Ok(()),
        _ => Err(format!("no answer from {}", silent.join(", "))),
    }
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
