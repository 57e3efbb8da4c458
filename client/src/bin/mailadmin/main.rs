//! `mailadmin`: the command line for operators and internal tools. Every
//! admin RPC of the control plane as a subcommand in an admin's words,
//! tables for people and the proto's JSON for programs, bulk CSV import
//! and export. The reference, generated from these definitions, is
//! docs/cli.md.

mod accounts;
mod billing;
mod connect;
mod delivery;
mod docs;
mod domains;
mod fail;
mod import;
mod organizations;
mod output;
mod paging;
mod shown;

use clap::{Parser, Subcommand};
use connect::Connection;
use fail::Fail;
use output::Format;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "mailadmin",
    version,
    about = "Manage a mailadmin control plane: organizations, users, addresses, domains, billing",
    after_help = "Exit codes: 0 done, 1 the server refused the request (its status and field \
                  violations on stderr), 2 bad command line, 3 the server did not answer. \
                  Reference: docs/cli.md."
)]
pub struct Cli {
    #[command(flatten)]
    pub global: Global,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(clap::Args, Debug, Clone)]
pub struct Global {
    /// The control plane's URL: http://host:port, or https://host:port
    /// for TLS.
    #[arg(
        long,
        global = true,
        env = "MAILADMIN_URL",
        default_value = "http://127.0.0.1:50051"
    )]
    pub server: String,
    /// A token (prefer --token-file or `mailadmin login`: arguments show in `ps`).
    #[arg(long, global = true, env = "MAILADMIN_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// A file holding the token.
    #[arg(long, global = true, env = "MAILADMIN_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,
    /// How to print answers.
    #[arg(long, short = 'o', global = true, value_enum, default_value = "table")]
    pub output: Format,
    /// How long one call may take, in seconds.
    #[arg(long, global = true, default_value_t = 30)]
    pub timeout: u64,
    #[command(flatten)]
    pub tls: mailadmin_client::tls::TlsArgs,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Sign in with a username or address and keep the session token (owner-only file).
    Login(accounts::LoginArgs),
    /// Forget the stored session.
    Logout,
    /// Organizations (operators).
    #[command(subcommand)]
    Org(organizations::OrgCommand),
    /// User accounts.
    #[command(subcommand)]
    User(accounts::UserCommand),
    /// An account's aliases.
    #[command(subcommand)]
    Alias(accounts::AliasCommand),
    /// Where an address routes.
    #[command(subcommand)]
    Address(accounts::AddressCommand),
    /// Groups of accounts.
    #[command(subcommand)]
    Group(accounts::GroupCommand),
    /// Password resets.
    #[command(subcommand)]
    Password(accounts::PasswordCommand),
    /// Custom domains, their records, catch-all, aliases and DKIM keys.
    #[command(subcommand)]
    Domain(domains::DomainCommand),
    /// Credit, ledger, plans and renewals.
    #[command(subcommand)]
    Billing(billing::BillingCommand),
    /// API tokens (operators).
    #[command(subcommand)]
    Token(organizations::TokenCommand),
    /// The audit log.
    #[command(subcommand)]
    Audit(organizations::AuditCommand),
    /// Messages the service wants sent (operators).
    #[command(subcommand)]
    Outbox(organizations::OutboxCommand),
    /// Ask the delivery path, as a mail server would (debugging a mail problem).
    #[command(subcommand)]
    Check(delivery::CheckCommand),
    /// Account events, as mailbox stores follow them.
    #[command(subcommand)]
    Events(delivery::EventsCommand),
    /// Shell completions: `mailadmin completions bash > /etc/bash_completion.d/mailadmin`.
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// The command reference as Markdown (docs/cli.md is this output).
    #[command(hide = true)]
    Markdown,
}

/// What every command gets: the connection and how to print.
pub struct Ctx {
    pub conn: Connection,
    pub format: Format,
}

#[tokio::main]
async fn main() -> ExitCode {
    // `mailadmin user list | head` ends quietly, as Unix tools do, instead
    // of panicking on the closed pipe.
    // SAFETY: setting a signal's disposition to the default, before any
    // thread of ours could depend on it.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    match run(cli).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(fail) => {
            eprintln!("{}", fail.report());
            fail.exit_code()
        }
    }
}

async fn run(cli: Cli) -> Result<(), Fail> {
    let Cli { global, command } = cli;
    match command {
        Command::Completions { shell } => {
            docs::completions(shell);
            return Ok(());
        }
        Command::Markdown => {
            print!("{}", docs::markdown());
            return Ok(());
        }
        Command::Logout => {
            if connect::remove_session() {
                println!("signed out");
            }
            return Ok(());
        }
        _ => {}
    }
    let timeout = Duration::from_secs(global.timeout.max(1));
    let token = token(&global)?;
    let ctx = Ctx {
        conn: Connection::new(&global.server, &global.tls, token, timeout)?,
        format: global.output,
    };
    dispatch(&ctx, command).await.map_err(|fail| match fail {
        Fail::Unreachable(why) => Fail::Unreachable(format!("{} ({why})", global.server)),
        other => other,
    })
}

async fn dispatch(ctx: &Ctx, command: Command) -> Result<(), Fail> {
    match command {
        Command::Login(args) => accounts::login(ctx, args).await,
        Command::Org(cmd) => organizations::org(ctx, cmd).await,
        Command::User(cmd) => accounts::user(ctx, cmd).await,
        Command::Alias(cmd) => accounts::alias(ctx, cmd).await,
        Command::Address(cmd) => accounts::address(ctx, cmd).await,
        Command::Group(cmd) => accounts::group(ctx, cmd).await,
        Command::Password(cmd) => accounts::password(ctx, cmd).await,
        Command::Domain(cmd) => domains::domain(ctx, cmd).await,
        Command::Billing(cmd) => billing::billing(ctx, cmd).await,
        Command::Token(cmd) => organizations::token(ctx, cmd).await,
        Command::Audit(cmd) => organizations::audit(ctx, cmd).await,
        Command::Outbox(cmd) => organizations::outbox(ctx, cmd).await,
        Command::Check(cmd) => delivery::check(ctx, cmd).await,
        Command::Events(cmd) => delivery::events(ctx, cmd).await,
        Command::Completions { .. } | Command::Markdown | Command::Logout => Ok(()),
    }
}

/// The token: `--token`, `--token-file`, their variables, then the session
/// `mailadmin login` stored for this server.
fn token(global: &Global) -> Result<Option<String>, Fail> {
    if let Some(token) = &global.token {
        return Ok(Some(token.trim().to_string()));
    }
    if let Some(path) = &global.token_file {
        let token = std::fs::read_to_string(path)
            .map_err(|e| Fail::Usage(format!("--token-file {}: {e}", path.display())))?;
        return Ok(Some(token.trim().to_string()));
    }
    Ok(connect::read_session()
        .filter(|(url, _)| url == &global.server)
        .map(|(_, token)| token))
}
