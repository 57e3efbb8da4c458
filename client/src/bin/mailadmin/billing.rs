//! `billing`: the credit, its ledger, the plan catalog and renewals.

use crate::Ctx;
use crate::accounts::PlanArg;
use crate::fail::Fail;
use crate::output;
use crate::paging::all_pages;
use clap::Subcommand;
use mailadmin_client::pb;

#[derive(Subcommand, Debug)]
pub enum BillingCommand {
    /// The credit, what the paid accounts cost per 30 days, unpaid accounts.
    Balance {
        #[arg(long, default_value_t = 0)]
        org: i64,
    },
    /// Add credit (operators: what the payment backend calls).
    TopUp {
        #[arg(long)]
        org: i64,
        /// EUR, e.g. 100.00.
        amount: String,
        /// Makes a retry safe: the same key credits once.
        #[arg(long)]
        idempotency_key: String,
        /// The payment's reference, for the ledger (e.g. the bank transfer's id).
        #[arg(long)]
        payment_reference: String,
    },
    /// The credit's ledger, newest first.
    Ledger {
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// The plan catalog (operators).
    Plans,
    /// Change one plan's price or limits in the catalog (operators).
    SetPlan {
        #[arg(value_enum)]
        plan: PlanArg,
        /// EUR per 30 days.
        #[arg(long)]
        price: Option<String>,
        #[arg(long)]
        aliases_per_user: Option<i32>,
        #[arg(long)]
        max_accounts: Option<i32>,
        #[arg(long)]
        max_free_accounts: Option<i32>,
        #[arg(long)]
        max_domains: Option<i32>,
        #[arg(long)]
        console: Option<bool>,
    },
    /// What changing an account's plan would cost now.
    Preview {
        user_id: i64,
        #[arg(value_enum)]
        plan: PlanArg,
    },
    /// Run the renewals that are due now (operators; the server also runs them on schedule).
    Renewals,
    /// The organization's notifications (low balance, unpaid renewals…).
    Notifications {
        #[arg(long, default_value_t = 0)]
        org: i64,
        #[arg(long)]
        limit: Option<usize>,
    },
}

pub async fn billing(ctx: &Ctx, command: BillingCommand) -> Result<(), Fail> {
    let mut billing = ctx.conn.billing();
    match command {
        BillingCommand::Balance { org } => {
            let answer = billing
                .get_balance(pb::GetBalanceRequest {
                    organization_id: org,
                })
                .await?
                .into_inner();
            output::answer(ctx.format, "mailadmin.v1.GetBalanceResponse", &answer)
        }
        BillingCommand::TopUp {
            org,
            amount,
            idempotency_key,
            payment_reference,
        } => {
            let answer = billing
                .top_up(pb::TopUpRequest {
                    organization_id: org,
                    amount: Some(pb::Money {
                        amount,
                        currency: "EUR".into(),
                    }),
                    idempotency_key,
                    payment_reference,
                })
                .await?
                .into_inner();
            output::answer(ctx.format, "mailadmin.v1.TopUpResponse", &answer)
        }
        BillingCommand::Ledger { org, limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut billing = billing.clone();
                async move {
                    let page = billing
                        .list_ledger(pb::ListLedgerRequest {
                            organization_id: org,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.entries, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
        BillingCommand::Plans => {
            let plans = billing
                .get_plan_catalog(pb::GetPlanCatalogRequest {})
                .await?
                .into_inner()
                .plans;
            output::list(ctx.format, &plans)
        }
        BillingCommand::SetPlan {
            plan,
            price,
            aliases_per_user,
            max_accounts,
            max_free_accounts,
            max_domains,
            console,
        } => {
            let mut plans = billing
                .get_plan_catalog(pb::GetPlanCatalogRequest {})
                .await?
                .into_inner()
                .plans;
            let terms = plans
                .iter_mut()
                .find(|t| t.plan == plan.proto() as i32)
                .ok_or_else(|| Fail::Local(format!("the catalog has no {plan:?} plan")))?;
            if let Some(price) = price {
                terms.price = Some(pb::Money {
                    amount: price,
                    currency: "EUR".into(),
                });
            }
            terms.aliases_per_user = aliases_per_user.unwrap_or(terms.aliases_per_user);
            terms.max_accounts = max_accounts.unwrap_or(terms.max_accounts);
            terms.max_free_accounts = max_free_accounts.unwrap_or(terms.max_free_accounts);
            terms.max_domains = max_domains.unwrap_or(terms.max_domains);
            terms.console = console.unwrap_or(terms.console);
            let plans = billing
                .update_plan_catalog(pb::UpdatePlanCatalogRequest { plans })
                .await?
                .into_inner()
                .plans;
            output::list(ctx.format, &plans)
        }
        BillingCommand::Preview { user_id, plan } => {
            let answer = billing
                .preview_subscription_change(pb::PreviewSubscriptionChangeRequest {
                    user_id,
                    plan: plan.proto() as i32,
                })
                .await?
                .into_inner();
            output::answer(
                ctx.format,
                "mailadmin.v1.PreviewSubscriptionChangeResponse",
                &answer,
            )
        }
        BillingCommand::Renewals => {
            let answer = billing
                .run_renewals(pb::RunRenewalsRequest {})
                .await?
                .into_inner();
            output::answer(ctx.format, "mailadmin.v1.RunRenewalsResponse", &answer)
        }
        BillingCommand::Notifications { org, limit } => {
            let items = all_pages(limit, |page_token, page_size| {
                let mut billing = billing.clone();
                async move {
                    let page = billing
                        .list_notifications(pb::ListNotificationsRequest {
                            organization_id: org,
                            page_size,
                            page_token,
                        })
                        .await?
                        .into_inner();
                    Ok((page.notifications, page.next_page_token))
                }
            })
            .await?;
            output::list(ctx.format, &items)
        }
    }
}
