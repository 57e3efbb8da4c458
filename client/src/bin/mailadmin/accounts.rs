//! `login`, `user`, `alias`, `address`, `group`, `password`.

use crate::fail::Fail;
use crate::output;
use crate::paging::all_pages;
use crate::{Ctx, connect, import};
use clap::Subcommand;
use mailadmin_client::pb;
use std::io::IsTerminal;
use std::path::PathBuf;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum PlanArg {
    Free,
    Entry,
    Pro,
}

impl PlanArg {
    pub fn proto(self) -> pb::Plan {
        match self {
            PlanArg::Free => pb::Plan::Free,
            PlanArg::Entry => pb::Plan::Entry,
            PlanArg::Pro => pb::Plan::Pro,
        }
    }
}

#[derive(Clone, Copy, Debug, clap::ValueEnum)]
pub enum StateArg {
    Enabled,
    Suspended,
    Disabled,
    Deleted,
}

impl StateArg {
    fn proto(self) -> pb::AccountState {
        match self {
            StateArg::Enabled => pb::AccountState::Enabled,
            StateArg::Suspended => pb::AccountState::Suspended,
            StateArg::Disabled => pb::AccountState::Disabled,
            StateArg::Deleted => pb::AccountState::Deleted,
        }
    }
}

/// A new account's fields (a user, or an organization's master).
#[derive(clap::Args, Debug)]
pub struct NewAccountArgs {
    /// Unique across the platform: 3–64 of a-z 0-9 . _ -
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub first_name: String,
    #[arg(long)]
    pub last_name: String,
    /// The primary address, on a provider domain or a VERIFIED domain of the organization.
    #[arg(long)]
    pub address: String,
    #[arg(long, value_enum, default_value = "free")]
    pub plan: PlanArg,
    /// Read the password from standard input (first line); otherwise it is asked for.
    #[arg(long)]
    pub password_stdin: bool,
}

impl NewAccountArgs {
    pub fn into_new_account(self) -> Result<pb::NewAccount, Fail> {
        let password = secret("password", self.password_stdin)?;
        Ok(pb::NewAccount {
            last_name: self.last_name,
            first_name: self.first_name,
            username: self.username,
            primary_address: self.address,
            password,
            plan: self.plan.proto() as i32,
        })
    }
}

/// A secret from stdin (`from_stdin`), or asked for on the terminal.
pub fn secret(what: &str, from_stdin: bool) -> Result<String, Fail> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| Fail::Local(format!("reading the {what} from stdin: {e}")))?;
        return Ok(line.trim_end_matches(['\r', '\n']).to_string());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Fail::Usage(format!(
            "no terminal to ask for the {what}: pass --{what}-stdin and pipe it in"
        )));
    }
    rpassword::prompt_password(format!("{what}: "))
        .map_err(|e| Fail::Local(format!("reading the {what}: {e}")))
}

#[derive(clap::Args, Debug)]
pub struct LoginArgs {
    /// Username or address.
    login: String,
    /// Read the password from standard input.
    #[arg(long)]
    password_stdin: bool,
}

pub async fn login(ctx: &Ctx, args: LoginArgs) -> Result<(), Fail> {
    let password = secret("password", args.password_stdin)?;
    let answer = ctx
        .conn
        .admin()
        .login(pb::LoginRequest {
            login: args.login,
            password,
        })
        .await?
        .into_inner();
    let path = connect::write_session(&ctx.conn.url, &answer.token)?;
    eprintln!(
        "signed in as {} until {}; the session is in {}",
        output::enum_name(answer.role().as_str_name(), "ROLE_"),
        output::time(&answer.expires_at),
        path.display()
    );
    Ok(())
}

#[derive(Subcommand, Debug)]
pub enum UserCommand {
    /// Create an account (its first period is charged from the credit).
    Create {
        /// The organization (operators; an admin's own by default).
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[command(flatten)]
        account: NewAccountArgs,
        /// Aliases created with it (repeat).
        #[arg(long = "alias")]
        aliases: Vec<String>,
        /// Makes a retry safe: the same id returns the first account.
        #[arg(long, default_value = "")]
        request_id: String,
        /// Check everything (the credit too) without creating anything.
        #[arg(long)]
        dry_run: bool,
    },
    /// One account.
    Show { user_id: i64 },
    /// Accounts of an organization (deleted ones only with --state deleted).
    List {
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[arg(long, value_enum)]
        state: Option<StateArg>,
        #[arg(long, value_enum)]
        plan: Option<PlanArg>,
        /// Part of the username, a name or the primary address.
        #[arg(long, default_value = "")]
        query: String,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Change names and personal data (an empty value clears a field).
    Update {
        user_id: i64,
        #[arg(long)]
        first_name: Option<String>,
        #[arg(long)]
        last_name: Option<String>,
        #[arg(long)]
        external_email: Option<String>,
        #[arg(long)]
        mobile_phone: Option<String>,
        /// YYYY-MM-DD.
        #[arg(long)]
        birth_date: Option<String>,
    },
    /// Change the account's plan now (refund of the unused period, charge of the new one).
    Plan {
        user_id: i64,
        #[arg(value_enum)]
        plan: PlanArg,
        /// Only show what it would cost.
        #[arg(long)]
        preview: bool,
        #[arg(long, default_value = "")]
        request_id: String,
    },
    /// Set the account's password (read from stdin or asked for).
    Password {
        user_id: i64,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Change your own password.
    ChangePassword {
        /// Read both from stdin: the old on the first line, the new on the second.
        #[arg(long)]
        password_stdin: bool,
    },
    /// Disable: no login, mail refused (550 5.2.1), still billed.
    Disable { user_id: i64 },
    /// Enable a disabled or suspended account.
    Enable { user_id: i64 },
    /// Suspend: no login, mail still delivered, still billed.
    Suspend { user_id: i64 },
    /// Resume a suspended account.
    Resume { user_id: i64 },
    /// Delete (the unused period is refunded; the username is never reused).
    Delete { user_id: i64 },
    /// The groups an account is in.
    Groups { user_id: i64 },
    /// Create the accounts of a CSV file (docs/cli.md, "User import").
    Import(import::ImportArgs),
    /// Every account of the organization as CSV, in the import's columns (no password).
    Export {
        #[arg(long, default_value_t = 0)]
        org: i64,
        /// Write here instead of standard output.
        #[arg(long)]
        file: Option<PathBuf>,
    },
}

pub async fn user(ctx: &Ctx, command: UserCommand) -> Result<(), Fail> {
    let mut admin = ctx.conn.admin();
    let shown = |user: Option<pb::User>| output::one(ctx.format, &user.unwrap_or_default());
    match command {
        UserCommand::Create {
            org,
            account,
            aliases,
            request_id,
            dry_run,
        } => {
            let answer = admin
                .create_user(pb::CreateUserRequest {
                    organization_id: org,
                    account: Some(account.into_new_account()?),
                    request_id,
                    validate_only: dry_run,
                    aliases,
                })
                .await?
                .into_inner();
            match ctx.format {
                output::Format::Table => {
                    output::one(ctx.format, &answer.user.clone().unwrap_or_default())?;
                    let verb = if dry_run { "would charge" } else { "charged" };
                    eprintln!("{verb} {}", output::money(&answer.charged));
                    Ok(())
                }
                _ => output::answer(ctx.format, "mailadmin.v1.CreateUserResponse", &answer),
            }
        }
        UserCommand::Show { user_id } => shown(
            admin
                .get_user(pb::GetUserRequest { user_id })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::List {
            org,
            state,
            plan,
            query,
            limit,
        } => {
            let items = list_users(ctx, org, state, plan, query, limit).await?;
            output::list(ctx.format, &items)
        }
        UserCommand::Update {
            user_id,
            first_name,
            last_name,
            external_email,
            mobile_phone,
            birth_date,
        } => shown(
            admin
                .update_user_profile(pb::UpdateUserProfileRequest {
                    user_id,
                    first_name,
                    last_name,
                    external_email,
                    mobile_phone,
                    birth_date,
                    ..Default::default()
                })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::Plan {
            user_id,
            plan,
            preview,
            request_id,
        } => {
            if preview {
                let answer = ctx
                    .conn
                    .billing()
                    .preview_subscription_change(pb::PreviewSubscriptionChangeRequest {
                        user_id,
                        plan: plan.proto() as i32,
                    })
                    .await?
                    .into_inner();
                return output::answer(
                    ctx.format,
                    "mailadmin.v1.PreviewSubscriptionChangeResponse",
                    &answer,
                );
            }
            let answer = admin
                .change_subscription(pb::ChangeSubscriptionRequest {
                    user_id,
                    plan: plan.proto() as i32,
                    request_id,
                })
                .await?
                .into_inner();
            output::answer(
                ctx.format,
                "mailadmin.v1.ChangeSubscriptionResponse",
                &answer,
            )
        }
        UserCommand::Password {
            user_id,
            password_stdin,
        } => {
            let password = secret("password", password_stdin)?;
            admin
                .set_password(pb::SetPasswordRequest { user_id, password })
                .await?;
            eprintln!("password set");
            Ok(())
        }
        UserCommand::ChangePassword { password_stdin } => {
            let old_password = secret("password", password_stdin)?;
            let new_password = secret("password", password_stdin)?;
            admin
                .change_own_password(pb::ChangeOwnPasswordRequest {
                    old_password,
                    new_password,
                })
                .await?;
            eprintln!("password changed");
            Ok(())
        }
        UserCommand::Disable { user_id } => shown(
            admin
                .disable_user(pb::DisableUserRequest { user_id })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::Enable { user_id } => shown(
            admin
                .enable_user(pb::EnableUserRequest { user_id })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::Suspend { user_id } => shown(
            admin
                .suspend_user(pb::SuspendUserRequest { user_id })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::Resume { user_id } => shown(
            admin
                .resume_user(pb::ResumeUserRequest { user_id })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::Delete { user_id } => shown(
            admin
                .delete_user(pb::DeleteUserRequest { user_id })
                .await?
                .into_inner()
                .user,
        ),
        UserCommand::Groups { user_id } => {
            let groups = admin
                .list_user_groups(pb::ListUserGroupsRequest { user_id })
                .await?
                .into_inner()
                .groups;
            output::list(ctx.format, &groups)
        }
        UserCommand::Import(args) => import::users(ctx, args).await,
        UserCommand::Export { org, file } => import::export_users(ctx, org, file).await,
    }
}

/// Every account of `org` matching the filters (all pages, or `limit`).
pub async fn list_users(
    ctx: &Ctx,
    org: i64,
    state: Option<StateArg>,
    plan: Option<PlanArg>,
    query: String,
    limit: Option<usize>,
) -> Result<Vec<pb::User>, Fail> {
    let admin = ctx.conn.admin();
    all_pages(limit, |page_token, page_size| {
        let mut admin = admin.clone();
        let query = query.clone();
        async move {
            let page = admin
                .list_users(pb::ListUsersRequest {
                    organization_id: org,
                    page_size,
                    page_token,
                    state: state.map_or(0, |s| s.proto() as i32),
                    plan: plan.map_or(0, |p| p.proto() as i32),
                    query,
                })
                .await?
                .into_inner();
            Ok((page.users, page.next_page_token))
        }
    })
    .await
}

#[derive(Subcommand, Debug)]
pub enum AliasCommand {
    /// Give an account another address.
    Add {
        user_id: i64,
        address: String,
        /// Check it, add nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove an alias (on the organization's own domain).
    Delete { user_id: i64, address: String },
    /// An account's addresses.
    List { user_id: i64 },
    /// Add the aliases of a CSV file (columns `username,alias`).
    Import(import::AliasImportArgs),
}

pub async fn alias(ctx: &Ctx, command: AliasCommand) -> Result<(), Fail> {
    let mut admin = ctx.conn.admin();
    match command {
        AliasCommand::Add {
            user_id,
            address,
            dry_run,
        } => {
            let alias = admin
                .add_alias(pb::AddAliasRequest {
                    user_id,
                    address,
                    validate_only: dry_run,
                })
                .await?
                .into_inner()
                .alias
                .unwrap_or_default();
            output::one(ctx.format, &alias)
        }
        AliasCommand::Delete { user_id, address } => {
            admin
                .delete_alias(pb::DeleteAliasRequest { user_id, address })
                .await?;
            eprintln!("deleted");
            Ok(())
        }
        AliasCommand::List { user_id } => {
            let addresses = admin
                .list_aliases(pb::ListAliasesRequest { user_id })
                .await?
                .into_inner()
                .addresses;
            output::list(ctx.format, &addresses)
        }
        AliasCommand::Import(args) => import::aliases(ctx, args).await,
    }
}

#[derive(Subcommand, Debug)]
pub enum AddressCommand {
    /// Which account an address reaches, and why (exact, +tag, alias, role, catch-all).
    Resolve { address: String },
}

pub async fn address(ctx: &Ctx, command: AddressCommand) -> Result<(), Fail> {
    let AddressCommand::Resolve { address } = command;
    let answer = ctx
        .conn
        .admin()
        .resolve_address(pb::ResolveAddressRequest { address })
        .await?
        .into_inner();
    output::answer(ctx.format, "mailadmin.v1.ResolveAddressResponse", &answer)
}

/// What a group shares (each flag turns one on).
#[derive(clap::Args, Debug, Clone, Copy)]
pub struct SharingArgs {
    #[arg(long)]
    calendars: bool,
    #[arg(long)]
    documents: bool,
    #[arg(long)]
    contacts: bool,
    #[arg(long)]
    mailboxes: bool,
}

impl SharingArgs {
    fn proto(self) -> pb::GroupSharing {
        pb::GroupSharing {
            calendars: self.calendars,
            documents: self.documents,
            contacts: self.contacts,
            mailboxes: self.mailboxes,
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        name: String,
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[command(flatten)]
        sharing: SharingArgs,
    },
    /// Rename a group.
    Rename { group_id: i64, name: String },
    /// Set what the group shares (flags not given are off).
    Sharing {
        group_id: i64,
        #[command(flatten)]
        sharing: SharingArgs,
    },
    /// Delete a group (its members stay).
    Delete { group_id: i64 },
    /// Add accounts to a group.
    AddMembers { group_id: i64, user_ids: Vec<i64> },
    /// Remove accounts from a group.
    RemoveMembers { group_id: i64, user_ids: Vec<i64> },
    /// The organization's groups.
    List {
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// A group's members.
    Members {
        group_id: i64,
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub async fn group(ctx: &Ctx, command: GroupCommand) -> Result<(), Fail> {
    let mut admin = ctx.conn.admin();
    let shown = |group: Option<pb::Group>| output::one(ctx.format, &group.unwrap_or_default());
    match command {
        GroupCommand::Create { name, org, sharing } => shown(
            admin
                .create_group(pb::CreateGroupRequest {
                    organization_id: org,
                    name,
                    sharing: Some(sharing.proto()),
                })
                .await?
                .into_inner()
                .group,
        ),
        GroupCommand::Rename { group_id, name } => shown(
            admin
                .rename_group(pb::RenameGroupRequest { group_id, name })
                .await?
                .into_inner()
                .group,
        ),
        GroupCommand::Sharing { group_id, sharing } => shown(
            admin
                .update_group_sharing(pb::UpdateGroupSharingRequest {
                    group_id,
                    sharing: Some(sharing.proto()),
                })
                .await?
                .into_inner()
                .group,
        ),
        GroupCommand::Delete { group_id } => {
            admin
                .delete_group(pb::DeleteGroupRequest { group_id })
                .await?;
            eprintln!("deleted");
            Ok(())
        }
        GroupCommand::AddMembers { group_id, user_ids } => shown(
            admin
                .add_group_members(pb::AddGroupMembersRequest { group_id, user_ids })
                .await?
                .into_inner()
                .group,
        ),
        GroupCommand::RemoveMembers { group_id, user_ids } => shown(
            admin
                .remove_group_members(pb::RemoveGroupMembersRequest { group_id, user_ids })
                .await?
                .into_inner()
                .group,
        ),
        GroupCommand::List { org, limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut admin = admin.clone();
                async move {
                    let page = admin
                        .list_groups(pb::ListGroupsRequest {
                            organization_id: org,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.groups, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
        GroupCommand::Members { group_id, limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut admin = admin.clone();
                async move {
                    let page = admin
                        .list_group_members(pb::ListGroupMembersRequest {
                            group_id,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.members, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
    }
}

#[derive(Subcommand, Debug)]
pub enum PasswordCommand {
    /// Ask for a reset: a token goes to the account's external address (no token needed).
    RequestReset { login: String },
    /// Set a new password with a reset token (no token needed).
    Reset {
        reset_token: String,
        #[arg(long)]
        password_stdin: bool,
    },
}

pub async fn password(ctx: &Ctx, command: PasswordCommand) -> Result<(), Fail> {
    let mut admin = ctx.conn.admin();
    match command {
        PasswordCommand::RequestReset { login } => {
            admin
                .request_password_reset(pb::RequestPasswordResetRequest { login })
                .await?;
            eprintln!(
                "if the account exists and has an external address, a reset token is on its way"
            );
        }
        PasswordCommand::Reset {
            reset_token,
            password_stdin,
        } => {
            let new_password = secret("password", password_stdin)?;
            admin
                .reset_password(pb::ResetPasswordRequest {
                    reset_token,
                    new_password,
                })
                .await?;
            eprintln!("password reset");
        }
    }
    Ok(())
}
