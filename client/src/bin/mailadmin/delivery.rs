//! `check` and `events`: the delivery path's questions, asked as a mail
//! server asks them (a `delivery` or operator token), to debug a mail
//! problem; and the account events mailbox stores follow.

use crate::Ctx;
use crate::accounts::secret;
use crate::fail::Fail;
use crate::output;
use clap::Subcommand;
use mailadmin_client::pb;

#[derive(Subcommand, Debug)]
pub enum CheckCommand {
    /// Accept or refuse these recipients, and where they go (the SMTP reply included).
    Recipient {
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// Would this login (username or address) sign in? The password is read from stdin or asked for.
    Login {
        login: String,
        #[arg(long)]
        password_stdin: bool,
        /// The client's IP, for the per-address throttle.
        #[arg(long, default_value = "")]
        client_ip: String,
    },
    /// The addresses a login may send as.
    Senders { login: String },
    /// The replica's directory version (it moves after every routing change); --follow prints each new one.
    Version {
        #[arg(long)]
        follow: bool,
    },
    /// Which domains sign with which DKIM selector (a delivery token; keys are not printed).
    SigningKeys {
        /// Only these domains.
        domains: Vec<String>,
    },
}

pub async fn check(ctx: &Ctx, command: CheckCommand) -> Result<(), Fail> {
    let mut delivery = ctx.conn.delivery();
    match command {
        CheckCommand::Recipient { addresses } => {
            let results = delivery
                .check_recipients(pb::CheckRecipientsRequest { addresses })
                .await?
                .into_inner()
                .results;
            output::list(ctx.format, &results)
        }
        CheckCommand::Login {
            login,
            password_stdin,
            client_ip,
        } => {
            let password = secret("password", password_stdin)?;
            let answer = delivery
                .authenticate(pb::AuthenticateRequest {
                    login,
                    password,
                    client_ip,
                })
                .await?
                .into_inner();
            output::answer(ctx.format, "mailadmin.v1.AuthenticateResponse", &answer)
        }
        CheckCommand::Senders { login } => {
            let answer = delivery
                .allowed_senders(pb::AllowedSendersRequest { login })
                .await?
                .into_inner();
            output::answer(ctx.format, "mailadmin.v1.AllowedSendersResponse", &answer)
        }
        CheckCommand::Version { follow } => {
            let mut versions = delivery
                .watch_directory_version(pb::WatchDirectoryVersionRequest {})
                .await?
                .into_inner();
            while let Some(version) = versions.message().await? {
                output::answer(ctx.format, "mailadmin.v1.DirectoryVersion", &version)?;
                if !follow {
                    break;
                }
            }
            Ok(())
        }
        CheckCommand::SigningKeys { domains } => {
            let mut answer = delivery
                .get_signing_keys(pb::GetSigningKeysRequest {
                    domains,
                    known_version: 0,
                })
                .await?
                .into_inner();
            for key in &mut answer.keys {
                key.private_key_pem.clear();
            }
            output::answer(ctx.format, "mailadmin.v1.GetSigningKeysResponse", &answer)
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum EventsCommand {
    /// Print account events after a cursor, then each new one, until interrupted.
    Watch {
        /// The last seq already seen (0: from the oldest kept).
        #[arg(long, default_value_t = 0)]
        after: i64,
    },
}

pub async fn events(ctx: &Ctx, command: EventsCommand) -> Result<(), Fail> {
    let EventsCommand::Watch { after } = command;
    let mut stream = ctx
        .conn
        .delivery()
        .watch_account_events(pb::WatchAccountEventsRequest { after })
        .await?
        .into_inner();
    let mut first = true;
    while let Some(event) = stream.message().await? {
        match ctx.format {
            output::Format::Table => {
                let row = output::table(
                    <pb::AccountEvent as output::Shown>::headers(),
                    &[output::Shown::row(&event)],
                );
                // The header once, then one line per event.
                let mut lines = row.lines();
                let header = lines.next().unwrap_or_default();
                if std::mem::take(&mut first) {
                    println!("{header}");
                }
                for line in lines {
                    println!("{line}");
                }
            }
            _ => println!("{}", output::json(&event)?),
        }
    }
    Ok(())
}
