//! The role matrix's tables for DeliveryService, BillingService and
//! DomainService: every RPC, who may call it, and a call with a small
//! request (docs/rules.md, "Role matrix").

use super::callers::{
    ADMINS, BillingCall, Caller, DeliveryCall, DomainCall, MAIL_SERVERS, OPERATOR, SIGNING,
    billing_call, delivery_call, domain_call,
};
use crate::harness::*;
use mailadmin_client::pb;
use tonic::Status;

/// Every DeliveryService RPC, who may call it (operators and mail
/// servers), and a call with a small request. StreamCheckRecipients sends
/// one batch and reads its answer, and WatchDirectoryVersion reads the
/// first version, so a refusal that only arrives on the stream is seen too.
pub(super) fn delivery_rpc_table() -> Vec<(&'static str, &'static [Caller], DeliveryCall)> {
    vec![
        (
            "CheckRecipient",
            MAIL_SERVERS,
            delivery_call(|mut c| async move {
                c.check_recipient(pb::CheckRecipientRequest {
                    address: "alice@mailadmin.example".into(),
                })
                .await
            }),
        ),
        (
            "CheckRecipients",
            MAIL_SERVERS,
            delivery_call(|mut c| async move {
                c.check_recipients(pb::CheckRecipientsRequest {
                    addresses: vec!["alice@mailadmin.example".into()],
                })
                .await
            }),
        ),
        (
            "StreamCheckRecipients",
            MAIL_SERVERS,
            Box::new(|mut c: DeliveryPbClient| {
                Box::pin(async move {
                    let batch = pb::CheckRecipientsRequest {
                        addresses: vec!["alice@mailadmin.example".into()],
                    };
                    let mut answers = c
                        .stream_check_recipients(tokio_stream::iter(vec![batch]))
                        .await?
                        .into_inner();
                    match answers.message().await? {
                        Some(answer) if answer.results.len() == 1 => Ok(()),
                        other => Err(Status::internal(format!(
                            "the test expected one answer of one verdict, got {other:?}"
                        ))),
                    }
                })
            }),
        ),
        (
            "Authenticate",
            MAIL_SERVERS,
            delivery_call(|mut c| async move {
                c.authenticate(pb::AuthenticateRequest {
                    login: "nobody-at-all".into(),
                    password: "not the password".into(),
                    client_ip: "192.0.2.10".into(),
                })
                .await
            }),
        ),
        (
            "AllowedSenders",
            MAIL_SERVERS,
            delivery_call(|mut c| async move {
                c.allowed_senders(pb::AllowedSendersRequest {
                    login: "alice".into(),
                })
                .await
            }),
        ),
        (
            "WatchAccountEvents",
            MAIL_SERVERS,
            Box::new(|mut c: DeliveryPbClient| {
                Box::pin(async move {
                    // A fresh server has events (the organizations the
                    // matrix created); the first one proves the stream opened.
                    let mut events = c
                        .watch_account_events(pb::WatchAccountEventsRequest { after: 0 })
                        .await?
                        .into_inner();
                    match events.message().await? {
                        Some(_) => Ok(()),
                        None => Err(Status::internal("the test expected an event")),
                    }
                })
            }),
        ),
        (
            "WatchDirectoryVersion",
            MAIL_SERVERS,
            Box::new(|mut c: DeliveryPbClient| {
                Box::pin(async move {
                    let mut versions = c
                        .watch_directory_version(pb::WatchDirectoryVersionRequest {})
                        .await?
                        .into_inner();
                    match versions.message().await? {
                        Some(_) => Ok(()),
                        None => Err(Status::internal("the test expected the current version")),
                    }
                })
            }),
        ),
        (
            "GetSigningKeys",
            SIGNING,
            delivery_call(|mut c| async move {
                c.get_signing_keys(pb::GetSigningKeysRequest::default())
                    .await
            }),
        ),
    ]
}

/// Every BillingService RPC, who may call it, and a call with a default
/// (empty) request: the catalog, TopUp and RunRenewals are for operators;
/// balance, ledger, notifications and previews also for org admins.
pub(super) fn billing_rpc_table() -> Vec<(&'static str, &'static [Caller], BillingCall)> {
    vec![
        (
            "TopUp",
            OPERATOR,
            billing_call(|mut c| async move { c.top_up(pb::TopUpRequest::default()).await }),
        ),
        (
            "RunRenewals",
            OPERATOR,
            billing_call(
                |mut c| async move { c.run_renewals(pb::RunRenewalsRequest::default()).await },
            ),
        ),
        (
            "GetPlanCatalog",
            OPERATOR,
            billing_call(|mut c| async move {
                c.get_plan_catalog(pb::GetPlanCatalogRequest::default())
                    .await
            }),
        ),
        (
            "UpdatePlanCatalog",
            OPERATOR,
            billing_call(|mut c| async move {
                c.update_plan_catalog(pb::UpdatePlanCatalogRequest::default())
                    .await
            }),
        ),
        (
            "GetBalance",
            ADMINS,
            billing_call(
                |mut c| async move { c.get_balance(pb::GetBalanceRequest::default()).await },
            ),
        ),
        (
            "ListLedger",
            ADMINS,
            billing_call(
                |mut c| async move { c.list_ledger(pb::ListLedgerRequest::default()).await },
            ),
        ),
        (
            "ListNotifications",
            ADMINS,
            billing_call(|mut c| async move {
                c.list_notifications(pb::ListNotificationsRequest::default())
                    .await
            }),
        ),
        (
            "PreviewSubscriptionChange",
            ADMINS,
            billing_call(|mut c| async move {
                c.preview_subscription_change(pb::PreviewSubscriptionChangeRequest::default())
                    .await
            }),
        ),
    ]
}

/// Every DomainService RPC, who may call it, and a call with a default
/// (empty) request: every one is for operators and org admins.
pub(super) fn domain_rpc_table() -> Vec<(&'static str, &'static [Caller], DomainCall)> {
    vec![
        (
            "AddDomain",
            ADMINS,
            domain_call(|mut c| async move { c.add_domain(pb::AddDomainRequest::default()).await }),
        ),
        (
            "GetDomain",
            ADMINS,
            domain_call(|mut c| async move { c.get_domain(pb::GetDomainRequest::default()).await }),
        ),
        (
            "ListDomains",
            ADMINS,
            domain_call(
                |mut c| async move { c.list_domains(pb::ListDomainsRequest::default()).await },
            ),
        ),
        (
            "VerifyDomain",
            ADMINS,
            domain_call(|mut c| async move {
                c.verify_domain(pb::VerifyDomainRequest::default()).await
            }),
        ),
        (
            "ActivateDomain",
            ADMINS,
            domain_call(|mut c| async move {
                c.activate_domain(pb::ActivateDomainRequest::default())
                    .await
            }),
        ),
        (
            "DeactivateDomain",
            ADMINS,
            domain_call(|mut c| async move {
                c.deactivate_domain(pb::DeactivateDomainRequest::default())
                    .await
            }),
        ),
        (
            "RemoveDomain",
            ADMINS,
            domain_call(|mut c| async move {
                c.remove_domain(pb::RemoveDomainRequest::default()).await
            }),
        ),
        (
            "CheckDomainRecords",
            ADMINS,
            domain_call(|mut c| async move {
                c.check_domain_records(pb::CheckDomainRecordsRequest::default())
                    .await
            }),
        ),
        (
            "SetCatchAll",
            ADMINS,
            domain_call(
                |mut c| async move { c.set_catch_all(pb::SetCatchAllRequest::default()).await },
            ),
        ),
        (
            "ClearCatchAll",
            ADMINS,
            domain_call(|mut c| async move {
                c.clear_catch_all(pb::ClearCatchAllRequest::default()).await
            }),
        ),
        (
            "AddDomainAlias",
            ADMINS,
            domain_call(|mut c| async move {
                c.add_domain_alias(pb::AddDomainAliasRequest::default())
                    .await
            }),
        ),
        (
            "RemoveDomainAlias",
            ADMINS,
            domain_call(|mut c| async move {
                c.remove_domain_alias(pb::RemoveDomainAliasRequest::default())
                    .await
            }),
        ),
        (
            "RotateDkimKey",
            ADMINS,
            domain_call(|mut c| async move {
                c.rotate_dkim_key(pb::RotateDkimKeyRequest::default()).await
            }),
        ),
        (
            "ListDkimKeys",
            ADMINS,
            domain_call(|mut c| async move {
                c.list_dkim_keys(pb::ListDkimKeysRequest::default()).await
            }),
        ),
        (
            "RetireDkimKey",
            ADMINS,
            domain_call(|mut c| async move {
                c.retire_dkim_key(pb::RetireDkimKeyRequest::default()).await
            }),
        ),
    ]
}
