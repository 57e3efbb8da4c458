//! CreateUser's options for bulk tools (docs/rules.md, "Validate only"):
//! `validate_only` answers exactly as a create would (the charge included)
//! and writes nothing; `aliases` come with the account in one transaction,
//! all or nothing, a bad one named `aliases[i]`; a retried `request_id`
//! says so (`already_created`) and charges nothing.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

async fn create(
    org: &Org,
    username: &str,
    plan: Plan,
    aliases: &[&str],
    request_id: &str,
    validate_only: bool,
) -> Result<pb::CreateUserResponse, tonic::Status> {
    org.admin
        .clone()
        .create_user(pb::CreateUserRequest {
            organization_id: 0,
            account: Some(new_account(username, plan)),
            request_id: request_id.into(),
            validate_only,
            aliases: aliases.iter().map(|a| a.to_string()).collect(),
        })
        .await
        .map(tonic::Response::into_inner)
}

async fn balance(s: &TestServer, org: &Org) -> String {
    amount(
        &ok(s
            .billing_operator()
            .get_balance(pb::GetBalanceRequest {
                organization_id: org.id,
            })
            .await)
        .balance,
    )
}

async fn usernames(org: &Org) -> Vec<String> {
    ok(org
        .admin
        .clone()
        .list_users(pb::ListUsersRequest::default())
        .await)
    .users
    .into_iter()
    .map(|u| u.username)
    .collect()
}

async fn validate_only_answers_like_a_create_and_writes_nothing(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let (before, users_before) = (balance(s, &org).await, usernames(&org).await);
    let events_before = crate::audit::events(&s.operator(), org.id).await.len();

    let checked = create(
        &org,
        "erin",
        Plan::Entry,
        &["erin.work@mailadmin.example"],
        "",
        true,
    )
    .await
    .expect("a valid account validates");
    let user = checked.user.expect("user");
    assert_eq!(user.id, 0, "nothing was created");
    assert_eq!(user.username, "erin");
    assert!(!checked.already_created);
    let would_charge = amount(&checked.charged);
    assert_ne!(
        cents(&would_charge),
        0,
        "an Entry account costs its first period"
    );
    assert_eq!(balance(s, &org).await, before);
    assert_eq!(usernames(&org).await, users_before);
    assert_eq!(
        crate::audit::events(&s.operator(), org.id).await.len(),
        events_before
    );

    // The real create charges what validation said, with its alias.
    let created = create(
        &org,
        "erin",
        Plan::Entry,
        &["erin.work@mailadmin.example"],
        "r-1",
        false,
    )
    .await
    .expect("the create");
    let erin = created.user.expect("user");
    assert!(erin.id > 0);
    assert_eq!(amount(&created.charged), would_charge);
    assert_eq!(
        cents(&balance(s, &org).await),
        cents(&before) - cents(&would_charge)
    );
    let addresses: Vec<String> = ok(org
        .admin
        .clone()
        .list_aliases(pb::ListAliasesRequest { user_id: erin.id })
        .await)
    .addresses
    .into_iter()
    .map(|a| a.address)
    .collect();
    assert!(
        addresses.contains(&"erin.work@mailadmin.example".to_string()),
        "{addresses:?}"
    );

    // A retry, or its validation, is the first call's account, for free.
    for validate_only in [false, true] {
        let again = create(&org, "erin", Plan::Entry, &[], "r-1", validate_only)
            .await
            .expect("a retried request id");
        assert!(again.already_created, "validate_only={validate_only}");
        assert_eq!(again.user.expect("user").id, erin.id);
        assert_eq!(cents(&amount(&again.charged)), 0);
    }
    assert_eq!(
        cents(&balance(s, &org).await),
        cents(&before) - cents(&would_charge)
    );
    s.assert_ledger_balances(org.id).await;

    // Validation sees the credit too.
    let broke = s.create_org_without_credit("Broke", Plan::Pro).await;
    assert_code(
        create(&broke, "penny", Plan::Entry, &[], "", true).await,
        Code::FailedPrecondition,
    );
}

async fn aliases_come_with_the_account_or_not_at_all(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let before = usernames(&org).await;
    let over = assert_invalid(
        create(
            &org,
            "fred",
            Plan::Free,
            &["fred.x@mailadmin.example"],
            "",
            false,
        )
        .await,
        "aliases",
    );
    assert!(over.message().contains("aliases"), "{over:?}");
    assert_invalid(
        create(
            &org,
            "gina",
            Plan::Entry,
            &["gina.a@mailadmin.example", "not an address"],
            "",
            false,
        )
        .await,
        "aliases[1]",
    );
    s.create_user(&org.admin, org.id, "taken", Plan::Entry)
        .await;
    assert_code(
        create(
            &org,
            "hugo",
            Plan::Entry,
            &["hugo.a@mailadmin.example", &address_for("taken")],
            "",
            false,
        )
        .await,
        Code::AlreadyExists,
    );
    let after: Vec<String> = usernames(&org).await;
    assert_eq!(after.len(), before.len() + 1, "only 'taken': {after:?}");
    for username in ["fred", "gina", "hugo"] {
        create(&org, username, Plan::Free, &[], "", false)
            .await
            .unwrap_or_else(|e| panic!("{username} was never created, its name is free: {e:?}"));
    }
    let gina_a = ok(s
        .operator()
        .resolve_address(pb::ResolveAddressRequest {
            address: "gina.a@mailadmin.example".into(),
        })
        .await);
    assert_eq!(
        gina_a.user_id, 0,
        "the refused create left no alias: {gina_a:?}"
    );
}

backend_tests!(
    validate_only_answers_like_a_create_and_writes_nothing,
    aliases_come_with_the_account_or_not_at_all,
);
