//! `domain`: claims, ownership, activation, records, catch-all, domain
//! aliases and DKIM keys.

use crate::Ctx;
use crate::fail::Fail;
use crate::output;
use crate::paging::all_pages;
use clap::Subcommand;
use mailadmin_client::pb;

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum DkimArg {
    /// RSA-2048: every receiver verifies it.
    Rsa,
    /// Ed25519 (RFC 8463): not every receiver verifies it.
    Ed25519,
}

impl DkimArg {
    fn proto(self) -> pb::DkimAlgorithm {
        match self {
            DkimArg::Rsa => pb::DkimAlgorithm::Rsa2048,
            DkimArg::Ed25519 => pb::DkimAlgorithm::Ed25519,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum DomainCommand {
    /// Claim a domain (PENDING); `records` then lists what to publish.
    Add {
        name: String,
        #[arg(long, default_value_t = 0)]
        org: i64,
        /// The algorithm of its first DKIM key.
        #[arg(long, value_enum, default_value = "rsa")]
        dkim: DkimArg,
    },
    /// One domain.
    Show { domain_id: i64 },
    /// The organization's domains.
    List {
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Look up the ownership TXT record now (PENDING → VERIFIED).
    Verify { domain_id: i64 },
    /// Check the MX records now (VERIFIED → ACTIVE: mail is delivered).
    Activate { domain_id: i64 },
    /// ACTIVE → VERIFIED: mail to the domain is no longer delivered here.
    Deactivate { domain_id: i64 },
    /// Drop a claim or an owned domain (refused while addresses use it).
    Remove { domain_id: i64 },
    /// The DNS records to publish.
    Records { domain_id: i64 },
    /// Check every record in DNS now.
    Check { domain_id: i64 },
    /// The catch-all: mail to addresses nothing else takes.
    #[command(subcommand)]
    CatchAll(CatchAllCommand),
    /// Domain aliases: user@alias reaches user@target.
    #[command(subcommand)]
    Alias(DomainAliasCommand),
    /// DKIM keys: list, rotate, retire.
    #[command(subcommand)]
    Dkim(DkimCommand),
}

#[derive(Subcommand, Debug)]
pub enum CatchAllCommand {
    /// Send mail to unknown addresses of the domain to this account.
    Set { domain_id: i64, user_id: i64 },
    /// Refuse unknown addresses again (550 5.1.1).
    Clear { domain_id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum DomainAliasCommand {
    /// Make ALIAS (a verified domain holding no addresses) an alias of TARGET.
    Add {
        alias_domain_id: i64,
        target_domain_id: i64,
    },
    /// The domain is no longer an alias.
    Remove { alias_domain_id: i64 },
}

#[derive(Subcommand, Debug)]
pub enum DkimCommand {
    /// Every key with its state and the record to publish.
    List { domain_id: i64 },
    /// A new key (PENDING) beside the current one, which keeps signing.
    Rotate {
        domain_id: i64,
        #[arg(long, value_enum, default_value = "rsa")]
        algorithm: DkimArg,
    },
    /// Retire a key (refused for the one that signs while no other key is ACTIVE).
    Retire { domain_id: i64, selector: String },
}

pub async fn domain(ctx: &Ctx, command: DomainCommand) -> Result<(), Fail> {
    let mut domains = ctx.conn.domains();
    let shown = |domain: Option<pb::Domain>| output::one(ctx.format, &domain.unwrap_or_default());
    match command {
        DomainCommand::Add { name, org, dkim } => shown(
            domains
                .add_domain(pb::AddDomainRequest {
                    organization_id: org,
                    name,
                    dkim_algorithm: dkim.proto() as i32,
                })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::Show { domain_id } => shown(
            domains
                .get_domain(pb::GetDomainRequest { domain_id })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::List { org, limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut domains = domains.clone();
                async move {
                    let page = domains
                        .list_domains(pb::ListDomainsRequest {
                            organization_id: org,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.domains, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
        DomainCommand::Verify { domain_id } => {
            let answer = domains
                .verify_domain(pb::VerifyDomainRequest { domain_id })
                .await?
                .into_inner();
            checked(ctx, answer.verified, answer.check, "verified")
        }
        DomainCommand::Activate { domain_id } => {
            let answer = domains
                .activate_domain(pb::ActivateDomainRequest { domain_id })
                .await?
                .into_inner();
            checked(ctx, answer.activated, answer.check, "active")
        }
        DomainCommand::Deactivate { domain_id } => shown(
            domains
                .deactivate_domain(pb::DeactivateDomainRequest { domain_id })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::Remove { domain_id } => {
            domains
                .remove_domain(pb::RemoveDomainRequest { domain_id })
                .await?;
            eprintln!("removed");
            Ok(())
        }
        DomainCommand::Records { domain_id } => {
            let domain = domains
                .get_domain(pb::GetDomainRequest { domain_id })
                .await?
                .into_inner()
                .domain
                .unwrap_or_default();
            output::list(ctx.format, &domain.records)
        }
        DomainCommand::Check { domain_id } => {
            let checks = domains
                .check_domain_records(pb::CheckDomainRecordsRequest { domain_id })
                .await?
                .into_inner()
                .checks;
            output::list(ctx.format, &checks)
        }
        DomainCommand::CatchAll(CatchAllCommand::Set { domain_id, user_id }) => shown(
            domains
                .set_catch_all(pb::SetCatchAllRequest { domain_id, user_id })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::CatchAll(CatchAllCommand::Clear { domain_id }) => shown(
            domains
                .clear_catch_all(pb::ClearCatchAllRequest { domain_id })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::Alias(DomainAliasCommand::Add {
            alias_domain_id,
            target_domain_id,
        }) => shown(
            domains
                .add_domain_alias(pb::AddDomainAliasRequest {
                    alias_domain_id,
                    target_domain_id,
                })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::Alias(DomainAliasCommand::Remove { alias_domain_id }) => shown(
            domains
                .remove_domain_alias(pb::RemoveDomainAliasRequest { alias_domain_id })
                .await?
                .into_inner()
                .domain,
        ),
        DomainCommand::Dkim(DkimCommand::List { domain_id }) => {
            let keys = domains
                .list_dkim_keys(pb::ListDkimKeysRequest { domain_id })
                .await?
                .into_inner()
                .keys;
            output::list(ctx.format, &keys)
        }
        DomainCommand::Dkim(DkimCommand::Rotate {
            domain_id,
            algorithm,
        }) => {
            let key = domains
                .rotate_dkim_key(pb::RotateDkimKeyRequest {
                    domain_id,
                    algorithm: algorithm.proto() as i32,
                })
                .await?
                .into_inner()
                .key
                .unwrap_or_default();
            dkim_key(ctx, key)
        }
        DomainCommand::Dkim(DkimCommand::Retire {
            domain_id,
            selector,
        }) => {
            let key = domains
                .retire_dkim_key(pb::RetireDkimKeyRequest {
                    domain_id,
                    selector,
                })
                .await?
                .into_inner()
                .key
                .unwrap_or_default();
            dkim_key(ctx, key)
        }
    }
}

/// A key, and in a table the record to publish under it.
fn dkim_key(ctx: &Ctx, key: pb::DkimKey) -> Result<(), Fail> {
    output::one(ctx.format, &key)?;
    if ctx.format == output::Format::Table
        && let Some(record) = &key.record
    {
        println!("\npublish: {} TXT \"{}\"", record.name, record.value);
    }
    Ok(())
}

/// A DNS check that is an answer either way: the check, and whether it passed.
fn checked(
    ctx: &Ctx,
    passed: bool,
    check: Option<pb::RecordCheck>,
    state: &str,
) -> Result<(), Fail> {
    let check = check.unwrap_or_default();
    output::one(ctx.format, &check)?;
    if ctx.format == output::Format::Table {
        if passed {
            eprintln!("the domain is {state}");
        } else {
            eprintln!("not {state} yet: {}", check.problem);
        }
    }
    Ok(())
}
