//! `org`, `token`, `audit`, `outbox`: the operator's commands.

use crate::Ctx;
use crate::accounts::{NewAccountArgs, PlanArg};
use crate::fail::Fail;
use crate::output::{self, Shown};
use crate::paging::all_pages;
use clap::Subcommand;
use mailadmin_client::pb;

#[derive(Subcommand, Debug)]
pub enum OrgCommand {
    /// Create an organization with its master account (its admin); the
    /// master's plan is the organization's subscription.
    Create {
        /// The organization's name.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        master: NewAccountArgs,
    },
    /// One organization.
    Show { organization_id: i64 },
    /// Every organization.
    List {
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Change the master's plan (the organization's subscription).
    Plan {
        organization_id: i64,
        #[arg(value_enum)]
        plan: PlanArg,
    },
}

pub async fn org(ctx: &Ctx, command: OrgCommand) -> Result<(), Fail> {
    let mut admin = ctx.conn.admin();
    match command {
        OrgCommand::Create { name, master } => {
            let answer = admin
                .create_organization(pb::CreateOrganizationRequest {
                    name,
                    master: Some(master.into_new_account()?),
                })
                .await?
                .into_inner();
            match ctx.format {
                output::Format::Table => {
                    output::one(ctx.format, &answer.organization.unwrap_or_default())?;
                    println!();
                    output::one(ctx.format, &answer.master.unwrap_or_default())
                }
                _ => output::answer(
                    ctx.format,
                    "mailadmin.v1.CreateOrganizationResponse",
                    &answer,
                ),
            }
        }
        OrgCommand::Show { organization_id } => {
            let organization = admin
                .get_organization(pb::GetOrganizationRequest { organization_id })
                .await?
                .into_inner()
                .organization
                .unwrap_or_default();
            output::one(ctx.format, &organization)
        }
        OrgCommand::List { limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut admin = admin.clone();
                async move {
                    let page = admin
                        .list_organizations(pb::ListOrganizationsRequest {
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.organizations, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
        OrgCommand::Plan {
            organization_id,
            plan,
        } => {
            let organization = admin
                .set_master_plan(pb::SetMasterPlanRequest {
                    organization_id,
                    plan: plan.proto() as i32,
                })
                .await?
                .into_inner()
                .organization
                .unwrap_or_default();
            output::one(ctx.format, &organization)
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum RoleArg {
    Operator,
    OrgAdmin,
    User,
    Delivery,
}

impl RoleArg {
    fn proto(self) -> pb::Role {
        match self {
            RoleArg::Operator => pb::Role::Operator,
            RoleArg::OrgAdmin => pb::Role::OrgAdmin,
            RoleArg::User => pb::Role::User,
            RoleArg::Delivery => pb::Role::Delivery,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Create a token; its secret is printed once, never again.
    Create {
        #[arg(long, value_enum)]
        role: RoleArg,
        /// The organization (org_admin and user tokens).
        #[arg(long, default_value_t = 0)]
        org: i64,
        /// The account (user tokens, and org_admin tokens of a master).
        #[arg(long, default_value_t = 0)]
        user: i64,
        /// What it is for, e.g. "mx1.example.net bridge".
        #[arg(long, default_value = "")]
        description: String,
        /// Lifetime in seconds (0: no expiry).
        #[arg(long, default_value_t = 0)]
        ttl_seconds: i64,
    },
    /// Tokens (active ones unless --all).
    List {
        /// Only this organization's.
        #[arg(long, default_value_t = 0)]
        org: i64,
        /// Expired and revoked ones too.
        #[arg(long)]
        all: bool,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Revoke a token at once.
    Revoke { token_id: i64 },
}

pub async fn token(ctx: &Ctx, command: TokenCommand) -> Result<(), Fail> {
    let mut admin = ctx.conn.admin();
    match command {
        TokenCommand::Create {
            role,
            org,
            user,
            description,
            ttl_seconds,
        } => {
            let answer = admin
                .create_token(pb::CreateTokenRequest {
                    role: role.proto() as i32,
                    organization_id: org,
                    user_id: user,
                    description,
                    ttl_seconds,
                })
                .await?
                .into_inner();
            match ctx.format {
                output::Format::Table => {
                    output::one(ctx.format, &answer.token.unwrap_or_default())?;
                    println!("\nsecret (shown once): {}", answer.secret);
                    Ok(())
                }
                _ => output::answer(ctx.format, "mailadmin.v1.CreateTokenResponse", &answer),
            }
        }
        TokenCommand::List { org, all, limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut admin = admin.clone();
                async move {
                    let page = admin
                        .list_tokens(pb::ListTokensRequest {
                            page_size,
                            page_token,
                            organization_id: org,
                            include_inactive: all,
                        })
                        .await?
                        .into_inner();
                    Ok((page.tokens, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
        TokenCommand::Revoke { token_id } => {
            let token = admin
                .revoke_token(pb::RevokeTokenRequest { token_id })
                .await?
                .into_inner()
                .token
                .unwrap_or_default();
            output::one(ctx.format, &token)
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum AuditCommand {
    /// Audit events, newest first.
    List {
        /// One organization's (an operator's 0: every organization's).
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub async fn audit(ctx: &Ctx, command: AuditCommand) -> Result<(), Fail> {
    let AuditCommand::List { org, limit } = command;
    let admin = ctx.conn.admin();
    let items = all_pages(limit, |page_token, page_size| {
        let mut admin = admin.clone();
        async move {
            let page = admin
                .list_audit_events(pb::ListAuditEventsRequest {
                    organization_id: org,
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            Ok((page.events, page.next_page_token))
        }
    })
    .await?;
    output::list(ctx.format, &items)
}

#[derive(Subcommand, Debug)]
pub enum OutboxCommand {
    /// Messages waiting to be sent (password resets), newest first.
    List {
        #[arg(long)]
        limit: Option<usize>,
        /// Print each message's body too.
        #[arg(long)]
        bodies: bool,
    },
}

pub async fn outbox(ctx: &Ctx, command: OutboxCommand) -> Result<(), Fail> {
    let OutboxCommand::List { limit, bodies } = command;
    let admin = ctx.conn.admin();
    let items: Vec<pb::OutboxMessage> = all_pages(limit, |page_token, page_size| {
        let mut admin = admin.clone();
        async move {
            let page = admin
                .list_outbox(pb::ListOutboxRequest {
                    page_size,
                    page_token,
                })
                .await?
                .into_inner();
            Ok((page.messages, page.next_page_token))
        }
    })
    .await?;
    if bodies && ctx.format == output::Format::Table {
        for message in &items {
            print!(
                "{}",
                output::table(pb::OutboxMessage::headers(), &[message.row()])
            );
            println!("{}\n", message.body);
        }
        return Ok(());
    }
    output::list(ctx.format, &items)
}
