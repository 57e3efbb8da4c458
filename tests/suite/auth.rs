//! Authentication and authorization: the role × RPC matrix, public RPCs,
//! Login, session expiry, API tokens.

use crate::harness::*;
use futures::future::BoxFuture;
use mailadmin_client::pb;
use std::future::Future;
use tonic::{Code, Status};
use tonic_types::StatusExt;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Caller {
    Operator,
    OrgAdmin,
    User,
    Delivery,
}

const CALLERS: [Caller; 4] = [
    Caller::Operator,
    Caller::OrgAdmin,
    Caller::User,
    Caller::Delivery,
];
const OPERATOR: &[Caller] = &[Caller::Operator];
const ADMINS: &[Caller] = &[Caller::Operator, Caller::OrgAdmin];
const ACCOUNT: &[Caller] = &[Caller::Operator, Caller::OrgAdmin, Caller::User];
const MAIL_SERVERS: &[Caller] = &[Caller::Operator, Caller::Delivery];

type Call = Box<dyn Fn(Client) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;
type DomainCall = Box<dyn Fn(DomainClient) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;
type BillingCall =
    Box<dyn Fn(BillingClient) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;
type DeliveryCall =
    Box<dyn Fn(DeliveryPbClient) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;

/// A call on either service.
enum Rpc {
    Admin(Call),
    Domain(DomainCall),
    Billing(BillingCall),
    Delivery(DeliveryCall),
}

impl Rpc {
    /// Calls the RPC with `token` (or none).
    fn invoke(
        &self,
        s: &TestServer,
        token: Option<&str>,
    ) -> BoxFuture<'static, Result<(), Status>> {
        match self {
            Rpc::Admin(call) => call(s.client(token)),
            Rpc::Domain(call) => call(s.domain_client(token)),
            Rpc::Billing(call) => call(s.billing_client(token)),
            Rpc::Delivery(call) => call(s.delivery_pb_client(token)),
        }
    }
}

fn call<F, Fut, T>(f: F) -> Call
where
    F: Fn(Client) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

fn domain_call<F, Fut, T>(f: F) -> DomainCall
where
    F: Fn(DomainClient) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

fn billing_call<F, Fut, T>(f: F) -> BillingCall
where
    F: Fn(BillingClient) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

fn delivery_call<F, Fut, T>(f: F) -> DeliveryCall
where
    F: Fn(DeliveryPbClient) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

/// Every DeliveryService RPC, who may call it (operators and mail
/// servers), and a call with a small request. StreamCheckRecipients sends
/// one batch and reads its answer, so a refusal that only arrives on the
/// stream is seen too.
fn delivery_rpc_table() -> Vec<(&'static str, &'static [Caller], DeliveryCall)> {
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
    ]
}

/// Every BillingService RPC, who may call it, and a call with a default
/// (empty) request: the catalog, TopUp and RunRenewals are for operators;
/// balance, ledger, notifications and previews also for org admins.
fn billing_rpc_table() -> Vec<(&'static str, &'static [Caller], BillingCall)> {
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
fn domain_rpc_table() -> Vec<(&'static str, &'static [Caller], DomainCall)> {
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
    ]
}

/// Every AdminService RPC that needs a token, who may call it, and a call
/// with a default (mostly empty) request. `own` is the id of the USER
/// caller's account (an account of the ORG_ADMIN caller's organization).
fn rpc_table(own: i64) -> Vec<(&'static str, &'static [Caller], Call)> {
    vec![
        (
            "CreateToken",
            OPERATOR,
            call(|mut c| async move { c.create_token(pb::CreateTokenRequest::default()).await }),
        ),
        (
            "RevokeToken",
            OPERATOR,
            call(|mut c| async move { c.revoke_token(pb::RevokeTokenRequest::default()).await }),
        ),
        (
            "ListTokens",
            OPERATOR,
            call(|mut c| async move { c.list_tokens(pb::ListTokensRequest::default()).await }),
        ),
        (
            "CreateOrganization",
            OPERATOR,
            call(|mut c| async move {
                c.create_organization(pb::CreateOrganizationRequest::default())
                    .await
            }),
        ),
        (
            "GetOrganization",
            OPERATOR,
            call(|mut c| async move {
                c.get_organization(pb::GetOrganizationRequest::default())
                    .await
            }),
        ),
        (
            "ListOrganizations",
            OPERATOR,
            call(|mut c| async move {
                c.list_organizations(pb::ListOrganizationsRequest::default())
                    .await
            }),
        ),
        (
            "SetMasterPlan",
            OPERATOR,
            call(
                |mut c| async move { c.set_master_plan(pb::SetMasterPlanRequest::default()).await },
            ),
        ),
        (
            "ListOutbox",
            OPERATOR,
            call(|mut c| async move { c.list_outbox(pb::ListOutboxRequest::default()).await }),
        ),
        (
            "CreateUser",
            ADMINS,
            call(|mut c| async move { c.create_user(pb::CreateUserRequest::default()).await }),
        ),
        (
            "ListUsers",
            ADMINS,
            call(|mut c| async move { c.list_users(pb::ListUsersRequest::default()).await }),
        ),
        (
            "SetPassword",
            ADMINS,
            call(|mut c| async move { c.set_password(pb::SetPasswordRequest::default()).await }),
        ),
        (
            "DisableUser",
            ADMINS,
            call(|mut c| async move { c.disable_user(pb::DisableUserRequest::default()).await }),
        ),
        (
            "EnableUser",
            ADMINS,
            call(|mut c| async move { c.enable_user(pb::EnableUserRequest::default()).await }),
        ),
        (
            "DeleteUser",
            ADMINS,
            call(|mut c| async move { c.delete_user(pb::DeleteUserRequest::default()).await }),
        ),
        (
            "CreateGroup",
            ADMINS,
            call(|mut c| async move { c.create_group(pb::CreateGroupRequest::default()).await }),
        ),
        (
            "RenameGroup",
            ADMINS,
            call(|mut c| async move { c.rename_group(pb::RenameGroupRequest::default()).await }),
        ),
        (
            "UpdateGroupSharing",
            ADMINS,
            call(|mut c| async move {
                c.update_group_sharing(pb::UpdateGroupSharingRequest::default())
                    .await
            }),
        ),
        (
            "DeleteGroup",
            ADMINS,
            call(|mut c| async move { c.delete_group(pb::DeleteGroupRequest::default()).await }),
        ),
        (
            "AddGroupMembers",
            ADMINS,
            call(|mut c| async move {
                c.add_group_members(pb::AddGroupMembersRequest::default())
                    .await
            }),
        ),
        (
            "RemoveGroupMembers",
            ADMINS,
            call(|mut c| async move {
                c.remove_group_members(pb::RemoveGroupMembersRequest::default())
                    .await
            }),
        ),
        (
            "ListGroups",
            ADMINS,
            call(|mut c| async move { c.list_groups(pb::ListGroupsRequest::default()).await }),
        ),
        (
            "ListGroupMembers",
            ADMINS,
            call(|mut c| async move {
                c.list_group_members(pb::ListGroupMembersRequest::default())
                    .await
            }),
        ),
        (
            "ListUserGroups",
            ADMINS,
            call(|mut c| async move {
                c.list_user_groups(pb::ListUserGroupsRequest::default())
                    .await
            }),
        ),
        (
            "ListAuditEvents",
            ADMINS,
            call(|mut c| async move {
                c.list_audit_events(pb::ListAuditEventsRequest::default())
                    .await
            }),
        ),
        (
            "AddAlias",
            ADMINS,
            call(|mut c| async move { c.add_alias(pb::AddAliasRequest::default()).await }),
        ),
        (
            "DeleteAlias",
            ADMINS,
            call(|mut c| async move { c.delete_alias(pb::DeleteAliasRequest::default()).await }),
        ),
        (
            "ResolveAddress",
            ADMINS,
            call(|mut c| async move {
                c.resolve_address(pb::ResolveAddressRequest::default())
                    .await
            }),
        ),
        (
            "ChangeSubscription",
            ADMINS,
            call(|mut c| async move {
                c.change_subscription(pb::ChangeSubscriptionRequest::default())
                    .await
            }),
        ),
        (
            "ListAliases",
            ACCOUNT,
            call(move |mut c| async move {
                c.list_aliases(pb::ListAliasesRequest { user_id: own })
                    .await
            }),
        ),
        (
            "GetUser",
            ACCOUNT,
            call(move |mut c| async move { c.get_user(pb::GetUserRequest { user_id: own }).await }),
        ),
        (
            "UpdateUserProfile",
            ACCOUNT,
            call(move |mut c| async move {
                c.update_user_profile(pb::UpdateUserProfileRequest {
                    user_id: own,
                    ..Default::default()
                })
                .await
            }),
        ),
        (
            "ChangeOwnPassword",
            ACCOUNT,
            call(|mut c| async move {
                c.change_own_password(pb::ChangeOwnPasswordRequest::default())
                    .await
            }),
        ),
    ]
}

/// Item 1: For every RPC: no token and a garbage token are UNAUTHENTICATED, a
/// role that may not call it is PERMISSION_DENIED whatever the body, and
/// the roles that may call it get past authentication and authorization.
async fn role_matrix(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let user = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let user_token = s.login_token("alice").await;
    let delivery = s.delivery_token().await;

    let token_for = |caller: Caller| match caller {
        Caller::Operator => s.operator_token.as_str(),
        Caller::OrgAdmin => org.admin_token.as_str(),
        Caller::User => user_token.as_str(),
        Caller::Delivery => delivery.as_str(),
    };

    let admin_table = rpc_table(user.id);
    let mut covered: Vec<&str> = admin_table.iter().map(|(name, _, _)| *name).collect();
    covered.extend(PUBLIC_RPCS);
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../proto/mailadmin/v1/admin.proto")),
        "the matrix covers every AdminService RPC of admin.proto"
    );
    let domain_table = domain_rpc_table();
    let mut covered: Vec<&str> = domain_table.iter().map(|(name, _, _)| *name).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../proto/mailadmin/v1/domain.proto")),
        "the matrix covers every DomainService RPC of domain.proto"
    );
    let billing_table = billing_rpc_table();
    let mut covered: Vec<&str> = billing_table.iter().map(|(name, _, _)| *name).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../proto/mailadmin/v1/billing.proto")),
        "the matrix covers every BillingService RPC of billing.proto"
    );
    let delivery_table = delivery_rpc_table();
    let mut covered: Vec<&str> = delivery_table.iter().map(|(name, _, _)| *name).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../proto/mailadmin/v1/delivery.proto")),
        "the matrix covers every DeliveryService RPC of delivery.proto"
    );
    let table: Vec<(&str, &[Caller], Rpc)> = admin_table
        .into_iter()
        .map(|(name, allowed, call)| (name, allowed, Rpc::Admin(call)))
        .chain(
            domain_table
                .into_iter()
                .map(|(name, allowed, call)| (name, allowed, Rpc::Domain(call))),
        )
        .chain(
            billing_table
                .into_iter()
                .map(|(name, allowed, call)| (name, allowed, Rpc::Billing(call))),
        )
        .chain(
            delivery_table
                .into_iter()
                .map(|(name, allowed, call)| (name, allowed, Rpc::Delivery(call))),
        )
        .collect();
    let mut failures = Vec::new();
    for (name, allowed, rpc) in &table {
        match rpc.invoke(s, None).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => failures.push(format!("{name} without token: {}", describe(&other))),
        }
        let garbage = Some("mat_0000000000000000000000000000000000000000");
        match rpc.invoke(s, garbage).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => failures.push(format!("{name} with a garbage token: {}", describe(&other))),
        }
        match rpc.invoke(s, Some("not even a token")).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => failures.push(format!(
                "{name} with a malformed token: {}",
                describe(&other)
            )),
        }
        for caller in CALLERS {
            let result = rpc.invoke(s, Some(token_for(caller))).await;
            let code = result.as_ref().err().map(Status::code);
            if allowed.contains(&caller) {
                if matches!(
                    code,
                    Some(Code::Unauthenticated | Code::PermissionDenied | Code::Unimplemented)
                ) {
                    failures.push(format!(
                        "{name} as {caller:?} (allowed): {}",
                        describe(&result)
                    ));
                }
            } else if code != Some(Code::PermissionDenied) {
                failures.push(format!(
                    "{name} as {caller:?} (not allowed): {}",
                    describe(&result)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} role-matrix failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const PUBLIC_RPCS: [&str; 3] = ["Login", "RequestPasswordReset", "ResetPassword"];

/// The RPC names declared in a .proto file (its one service), sorted.
fn proto_rpcs(proto: &'static str) -> Vec<&'static str> {
    let mut names: Vec<&str> = proto
        .lines()
        .filter_map(|line| line.trim().strip_prefix("rpc "))
        .filter_map(|rest| rest.split('(').next())
        .map(str::trim)
        .collect();
    names.sort_unstable();
    names
}

fn describe(result: &Result<(), Status>) -> String {
    match result {
        Ok(()) => "OK".to_string(),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

/// Item 1b: Login, RequestPasswordReset, ResetPassword and health need no token.
async fn public_rpcs_need_no_token(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let mut anonymous = s.anonymous();

    let login = ok(anonymous
        .login(pb::LoginRequest {
            login: "alice".into(),
            password: password_for("alice"),
        })
        .await);
    assert!(!login.token.is_empty());

    ok(anonymous
        .request_password_reset(pb::RequestPasswordResetRequest {
            login: "alice".into(),
        })
        .await);
    assert_invalid(
        anonymous
            .reset_password(pb::ResetPasswordRequest {
                reset_token: "mar_doesnotexist".into(),
                new_password: "a brand new password".into(),
            })
            .await,
        "reset_token",
    );

    let mut health = tonic_health::pb::health_client::HealthClient::new(s.channel());
    for service in ["", "mailadmin.v1.AdminService"] {
        let answer = health
            .check(tonic_health::pb::HealthCheckRequest {
                service: service.into(),
            })
            .await
            .unwrap_or_else(|e| panic!("health check {service:?}: {e:?}"))
            .into_inner();
        assert_eq!(
            answer.status,
            tonic_health::pb::health_check_response::ServingStatus::Serving as i32,
            "health of {service:?}"
        );
    }
}

/// Login: ORG_ADMIN for the master, USER for others, by username or
/// address; the token expires after the session TTL (12 h by default).
async fn login_roles_and_session_expiry(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;

    let master = ok(s.login(&org.master.username, &org.master_password).await);
    assert_eq!(master.role, Role::OrgAdmin as i32);
    assert_eq!(master.user_id, org.master.id);
    assert_eq!(master.organization_id, org.id);

    let by_name = ok(s.login("alice", &password_for("alice")).await);
    assert_eq!(by_name.role, Role::User as i32);
    assert_eq!(by_name.user_id, alice.id);
    assert_eq!(by_name.organization_id, org.id);
    let expected_expiry = start_instant().timestamp() + 12 * 3600;
    assert_eq!(
        by_name.expires_at.as_ref().map(|t| t.seconds),
        Some(expected_expiry),
        "a session lasts session_ttl (12 h)"
    );

    let by_address = ok(s.login(&address_for("alice"), &password_for("alice")).await);
    assert_eq!(by_address.user_id, alice.id);
    assert_ne!(
        by_address.token, by_name.token,
        "each Login makes a new token"
    );

    let mut as_alice = s.with_token(&by_name.token);
    let me = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
    assert_eq!(me.user.unwrap().username, "alice");

    s.advance(chrono::Duration::hours(12) - chrono::Duration::minutes(1));
    ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
    s.advance(chrono::Duration::minutes(2));
    assert_code(
        as_alice
            .get_user(pb::GetUserRequest { user_id: alice.id })
            .await,
        Code::Unauthenticated,
    );
    assert_code(
        s.with_token(&org.admin_token)
            .list_users(pb::ListUsersRequest::default())
            .await,
        Code::Unauthenticated,
    );
    // A fresh Login works again.
    let again = ok(s.login("alice", &password_for("alice")).await);
    ok(s.with_token(&again.token)
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
}

/// Item 12 (part): Login answers the same for an unknown login, a wrong
/// password and an empty one.
async fn login_failures_look_the_same(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;

    let wrong = assert_code(
        s.login("alice", "wrong password 123").await,
        Code::Unauthenticated,
    );
    let unknown = assert_code(
        s.login("nobody-here", "wrong password 123").await,
        Code::Unauthenticated,
    );
    let unknown_address = assert_code(
        s.login("nobody@mailadmin.example", "wrong password 123")
            .await,
        Code::Unauthenticated,
    );
    assert_eq!(wrong.message(), unknown.message());
    assert_eq!(wrong.message(), unknown_address.message());
    assert!(
        !wrong.message().to_lowercase().contains("alice"),
        "the answer does not echo the login: {:?}",
        wrong.message()
    );
    ok(s.login("alice", &password_for("alice")).await);
}

/// Login is throttled per account like Authenticate, on the same counter:
/// 10 wrong passwords (here 6 through Login by username and 4 through the
/// mail server's Authenticate by primary address) and the next Login is
/// RESOURCE_EXHAUSTED with a retry delay even with the right password; the
/// mail server's Authenticate for that account is throttled too. Other logins are
/// not, and Login has no per-address limit (its caller is often one web
/// console for many people). After the 15-minute window it works again.
async fn login_is_throttled_per_account_with_authenticate(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let mut mail_server = s.delivery_pb_client(Some(&s.operator_token));
    let authenticate = |password: String| pb::AuthenticateRequest {
        login: "alice@mailadmin.example".into(),
        password,
        client_ip: "192.0.2.1".into(),
    };

    for i in 0..6 {
        assert_code(
            s.login("alice", &format!("wrong password {i}")).await,
            Code::Unauthenticated,
        );
    }
    for i in 6..10 {
        let answer = ok(mail_server
            .authenticate(authenticate(format!("wrong password {i}")))
            .await);
        assert!(!answer.allowed, "wrong password #{}: {answer:?}", i + 1);
    }
    let throttled = assert_code(
        s.login("ALICE", &password_for("alice")).await,
        Code::ResourceExhausted,
    );
    let retry = throttled
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_else(|| panic!("RESOURCE_EXHAUSTED without RetryInfo: {throttled:?}"));
    assert!(
        !retry.is_zero() && retry <= std::time::Duration::from_secs(15 * 60),
        "{retry:?}"
    );
    assert_code(
        mail_server
            .authenticate(authenticate(password_for("alice")))
            .await,
        Code::ResourceExhausted,
    );

    // Another login through the same (only) client address still works,
    // even after more failures than Authenticate allows per address (50).
    for i in 0..51 {
        assert_code(
            s.login(&format!("nobody{i}"), "wrong password").await,
            Code::Unauthenticated,
        );
    }
    ok(s.login("bob", &password_for("bob")).await);

    s.advance(chrono::Duration::minutes(16));
    ok(s.login("alice", &password_for("alice")).await);
    let answer = ok(mail_server
        .authenticate(authenticate(password_for("alice")))
        .await);
    assert!(answer.allowed, "16 minutes later: {answer:?}");
}

/// Item 11: API tokens: the secret is shown once and works; ListTokens never
/// shows it; RevokeToken stops it; USER tokens need an account of the
/// organization; TTL is honored.
async fn api_tokens(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Entry).await;
    let b = s.create_org("Bravo", Plan::Entry).await;
    let alice = s.create_user(&a.admin, a.id, "alice", Plan::Free).await;
    let bob = s.create_user(&b.admin, b.id, "bob", Plan::Free).await;
    let mut operator = s.operator();

    let created = ok(operator
        .create_token(pb::CreateTokenRequest {
            role: Role::OrgAdmin as i32,
            organization_id: a.id,
            user_id: 0,
            description: "console backend".into(),
            ttl_seconds: 0,
        })
        .await);
    assert!(
        created.secret.starts_with("mat_"),
        "secret {:?} starts with mat_",
        created.secret
    );
    assert!(created.secret.len() >= 4 + 32, "≥ 128 bits of secret");
    let token = created.token.clone().expect("token metadata");
    assert!(token.id > 0);
    assert_eq!(token.role, Role::OrgAdmin as i32);
    assert_eq!(token.organization_id, a.id);
    assert_eq!(token.description, "console backend");
    assert!(token.revoked_at.is_none());
    assert!(token.expires_at.is_none(), "ttl 0 never expires");

    // The secret works as an org admin of A, and only A.
    let mut console = s.with_token(&created.secret);
    let users = ok(console.list_users(pb::ListUsersRequest::default()).await);
    assert!(users.users.iter().any(|u| u.id == alice.id));
    assert_code(
        console
            .get_user(pb::GetUserRequest { user_id: bob.id })
            .await,
        Code::NotFound,
    );

    // ListTokens never shows a secret.
    let listed = ok(operator
        .list_tokens(pb::ListTokensRequest {
            organization_id: a.id,
            ..Default::default()
        })
        .await);
    let listed_token = listed
        .tokens
        .iter()
        .find(|t| t.id == token.id)
        .expect("the new token is listed");
    assert_eq!(listed_token.description, "console backend");
    assert!(
        !format!("{listed:?}").contains(&created.secret),
        "ListTokens shows a secret"
    );
    let everything = ok(operator
        .list_tokens(pb::ListTokensRequest {
            include_inactive: true,
            ..Default::default()
        })
        .await);
    assert!(!format!("{everything:?}").contains(&created.secret));
    assert!(!format!("{everything:?}").contains(&s.operator_token));
    assert!(
        listed.tokens.iter().all(|t| t.organization_id == a.id),
        "organization filter"
    );

    // Revoke: stops working at once, listed only with include_inactive.
    let revoked = ok(operator
        .revoke_token(pb::RevokeTokenRequest { token_id: token.id })
        .await);
    assert!(revoked.token.expect("token").revoked_at.is_some());
    assert_code(
        console.list_users(pb::ListUsersRequest::default()).await,
        Code::Unauthenticated,
    );
    let active = ok(operator
        .list_tokens(pb::ListTokensRequest {
            organization_id: a.id,
            ..Default::default()
        })
        .await);
    assert!(active.tokens.iter().all(|t| t.id != token.id));
    let inactive = ok(operator
        .list_tokens(pb::ListTokensRequest {
            organization_id: a.id,
            include_inactive: true,
            ..Default::default()
        })
        .await);
    let shown = inactive
        .tokens
        .iter()
        .find(|t| t.id == token.id)
        .expect("revoked token listed with include_inactive");
    assert!(shown.revoked_at.is_some());
    assert_code(
        operator
            .revoke_token(pb::RevokeTokenRequest { token_id: 999_999 })
            .await,
        Code::NotFound,
    );

    // USER tokens need an account of that organization.
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::User as i32,
                organization_id: a.id,
                user_id: 0,
                description: "no user".into(),
                ttl_seconds: 0,
            })
            .await,
        &[Code::InvalidArgument],
    );
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::User as i32,
                organization_id: a.id,
                user_id: bob.id,
                description: "someone else's user".into(),
                ttl_seconds: 0,
            })
            .await,
        &[Code::InvalidArgument, Code::NotFound],
    );
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::Unspecified as i32,
                description: "no role".into(),
                ..Default::default()
            })
            .await,
        &[Code::InvalidArgument],
    );
    assert_code_in(
        operator
            .create_token(pb::CreateTokenRequest {
                role: Role::Operator as i32,
                organization_id: a.id,
                description: "operator bound to an org".into(),
                ..Default::default()
            })
            .await,
        &[Code::InvalidArgument],
    );
    let user_token = ok(operator
        .create_token(pb::CreateTokenRequest {
            role: Role::User as i32,
            organization_id: a.id,
            user_id: alice.id,
            description: "alice's app".into(),
            ttl_seconds: 60,
        })
        .await);
    assert!(user_token.secret.starts_with("mat_"));
    let meta = user_token.token.clone().expect("token");
    assert_eq!(meta.user_id, alice.id);
    assert_eq!(
        meta.expires_at.map(|t| t.seconds),
        Some(start_instant().timestamp() + 60)
    );
    let mut as_alice = s.with_token(&user_token.secret);
    let me = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await);
    assert_eq!(me.user.unwrap().id, alice.id);
    assert_code_in(
        as_alice
            .get_user(pb::GetUserRequest {
                user_id: a.master.id,
            })
            .await,
        &[Code::PermissionDenied, Code::NotFound],
    );
    // ttl_seconds 60: expired one second after.
    s.advance(chrono::Duration::seconds(61));
    assert_code(
        as_alice
            .get_user(pb::GetUserRequest { user_id: alice.id })
            .await,
        Code::Unauthenticated,
    );
}

/// Checks come in order: PERMISSION_DENIED → INVALID_ARGUMENT → NOT_FOUND
/// → FAILED_PRECONDITION / ALREADY_EXISTS.
async fn checks_come_in_order(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let b1 = s.create_user(&b.admin, b.id, "b-one", Plan::Free).await;
    s.create_user(&a.admin, a.id, "taken", Plan::Free).await;
    let user_client = s.user_client("taken").await;
    let mut admin = a.admin.clone();
    let mut failures = Vec::new();

    // A user calling an admin RPC with an invalid body: PERMISSION_DENIED.
    if let Err(e) = check_code(
        user_client
            .clone()
            .set_password(pb::SetPasswordRequest {
                user_id: -5,
                password: "x".into(),
            })
            .await,
        Code::PermissionDenied,
    ) {
        failures.push(format!("PERMISSION_DENIED before INVALID_ARGUMENT: {e}"));
    }
    // INVALID_ARGUMENT before NOT_FOUND: a bad password for a missing user.
    if let Err(e) = check_invalid(
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: 999_999,
                password: "short".into(),
            })
            .await,
        "password",
    ) {
        failures.push(format!("SetPassword(missing user, short password): {e}"));
    }
    // INVALID_ARGUMENT before NOT_FOUND: a bad group name for a missing group.
    if let Err(e) = check_invalid(
        admin
            .rename_group(pb::RenameGroupRequest {
                group_id: 999_999,
                name: String::new(),
            })
            .await,
        "name",
    ) {
        failures.push(format!("RenameGroup(missing group, empty name): {e}"));
    }
    // INVALID_ARGUMENT before FAILED_PRECONDITION: a bad password for the
    // admin's own master account.
    if let Err(e) = check_invalid(
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: a.master.id,
                password: "short".into(),
            })
            .await,
        "password",
    ) {
        failures.push(format!("SetPassword(own master, short password): {e}"));
    }
    // INVALID_ARGUMENT before ALREADY_EXISTS: a taken username with a bad
    // password.
    let mut account = new_account("taken", Plan::Free);
    account.primary_address = address_for("taken.two");
    account.password = "short".into();
    if let Err(e) = check_invalid(
        admin
            .create_user(pb::CreateUserRequest {
                organization_id: 0,
                account: Some(account),
                request_id: String::new(),
            })
            .await,
        "account.password",
    ) {
        failures.push(format!("CreateUser(taken username, short password): {e}"));
    }
    // NOT_FOUND before FAILED_PRECONDITION: deleting another organization's
    // enabled account.
    if let Err(e) = check_code(
        admin
            .delete_user(pb::DeleteUserRequest { user_id: b1.id })
            .await,
        Code::NotFound,
    ) {
        failures.push(format!("DeleteUser(B's enabled user): {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

backend_tests!(
    role_matrix,
    public_rpcs_need_no_token,
    login_roles_and_session_expiry,
    login_failures_look_the_same,
    login_is_throttled_per_account_with_authenticate,
    api_tokens,
    checks_come_in_order,
);
