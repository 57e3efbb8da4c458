//! Billing: prepaid credit and its ledger, periods, plan changes,
//! renewals, notifications, the balance view and the plan catalog. After
//! every scenario the balance equals the sum of the ledger
//! ([`TestServer::assert_ledger_balances`]). This module holds what the
//! billing tests share: organizations with a lasting admin token, the
//! accounts they start from, and short forms of the billing calls.

mod balance;
mod catalog;
mod notifications;
mod periods;
mod plan_changes;
mod renewals;
mod top_ups;

use crate::harness::*;
use chrono::{DateTime, Duration, Utc};
use futures::StreamExt;
use mailadmin_client::pb;
use pb::{LedgerEntryKind, NotificationKind};
use tonic::Status;

/// `start_instant() + days`.
fn day(days: i64) -> DateTime<Utc> {
    start_instant() + Duration::days(days)
}

/// The seconds of a wire timestamp.
fn secs(t: &Option<prost_types::Timestamp>) -> Option<i64> {
    t.as_ref().map(|t| {
        assert_eq!(t.nanos, 0, "instants are whole seconds here: {t:?}");
        t.seconds
    })
}

fn at(t: DateTime<Utc>) -> Option<i64> {
    Some(t.timestamp())
}

/// `org` with an ORG_ADMIN API token that never expires in place of its
/// Login session: these tests move the clock by weeks, far past the
/// 12-hour session.
async fn lasting_admin(s: &TestServer, org: Org) -> Org {
    let created = ok(s
        .operator()
        .create_token(pb::CreateTokenRequest {
            role: Role::OrgAdmin as i32,
            organization_id: org.id,
            user_id: 0,
            description: format!("console of {}", org.name),
            ttl_seconds: 0,
        })
        .await);
    Org {
        admin: s.with_token(&created.secret),
        admin_token: created.secret,
        ..org
    }
}

/// An organization with 1000.00 EUR of credit and a lasting admin token.
async fn funded_org(s: &TestServer, name: &str, master_plan: Plan) -> Org {
    let org = s.create_org(name, master_plan).await;
    lasting_admin(s, org).await
}

/// An organization without credit and with a lasting admin token.
async fn unfunded_org(s: &TestServer, name: &str, master_plan: Plan) -> Org {
    let org = s.create_org_without_credit(name, master_plan).await;
    lasting_admin(s, org).await
}

async fn balance(s: &TestServer, organization_id: i64) -> pb::GetBalanceResponse {
    ok(s.billing_operator()
        .get_balance(pb::GetBalanceRequest { organization_id })
        .await)
}

async fn run_renewals(s: &TestServer) -> pb::RunRenewalsResponse {
    ok(s.billing_operator()
        .run_renewals(pb::RunRenewalsRequest {})
        .await)
}

async fn change(
    client: &Client,
    user_id: i64,
    plan: Plan,
    request_id: &str,
) -> Result<tonic::Response<pb::ChangeSubscriptionResponse>, Status> {
    client
        .clone()
        .change_subscription(pb::ChangeSubscriptionRequest {
            user_id,
            plan: plan as i32,
            request_id: request_id.to_string(),
        })
        .await
}

async fn preview(
    billing: &BillingClient,
    user_id: i64,
    plan: Plan,
) -> Result<tonic::Response<pb::PreviewSubscriptionChangeResponse>, Status> {
    billing
        .clone()
        .preview_subscription_change(pb::PreviewSubscriptionChangeRequest {
            user_id,
            plan: plan as i32,
        })
        .await
}

async fn get_user(s: &TestServer, user_id: i64) -> pb::User {
    ok(s.operator().get_user(pb::GetUserRequest { user_id }).await)
        .user
        .expect("user in the answer")
}

fn kind_of(entry: &pb::LedgerEntry) -> LedgerEntryKind {
    LedgerEntryKind::try_from(entry.kind).unwrap_or(LedgerEntryKind::Unspecified)
}

/// The ledger entries of `kind`, oldest first.
fn of_kind(ledger: &[pb::LedgerEntry], kind: LedgerEntryKind) -> Vec<pb::LedgerEntry> {
    ledger
        .iter()
        .rev()
        .filter(|e| kind_of(e) == kind)
        .cloned()
        .collect()
}

/// How many notifications of `kind`.
fn count_kind(found: &[pb::Notification], kind: NotificationKind) -> usize {
    found.iter().filter(|n| n.kind == kind as i32).count()
}

async fn notifications_of(s: &TestServer, organization_id: i64) -> Vec<pb::Notification> {
    notifications(&s.billing_operator(), organization_id).await
}

/// The setup several tests share: [`funded_org`] Acme (an Entry master)
/// and anna, an Entry account created at the start of the clock (its first
/// period runs to day 30); anna as the CreateUser answer gave her.
async fn acme_with_anna(s: &TestServer) -> (Org, pb::User) {
    let org = funded_org(s, "Acme", Plan::Entry).await;
    let anna = s.create_user(&org.admin, org.id, "anna", Plan::Entry).await;
    (org, anna)
}

/// `count` Entry accounts `user00`, `user01`… created in `org` by its
/// admin, four at a time.
async fn entry_accounts(org: &Org, count: usize) -> Vec<pb::User> {
    futures::stream::iter(0..count)
        .map(|i| {
            let admin = org.admin.clone();
            async move {
                ok(admin
                    .clone()
                    .create_user(pb::CreateUserRequest {
                        organization_id: 0,
                        account: Some(new_account(&format!("user{i:02}"), Plan::Entry)),
                        request_id: String::new(),
                        ..Default::default()
                    })
                    .await)
                .user
                .expect("user in the answer")
            }
        })
        .buffer_unordered(4)
        .collect()
        .await
}
