//! Accounts: creation rules, uniqueness, idempotent retries, the
//! enable/disable/delete lifecycle, listing.

use crate::harness::*;
use mailadmin_client::pb;
use std::collections::HashSet;
use tonic::Code;

fn create_request(organization_id: i64, account: pb::NewAccount) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        organization_id,
        account: Some(account),
        request_id: String::new(),
        ..Default::default()
    }
}

async fn account_count(s: &TestServer, organization_id: i64) -> i32 {
    ok(s.operator()
        .get_organization(pb::GetOrganizationRequest { organization_id })
        .await)
    .organization
    .expect("organization")
    .account_count
}

/// A username that differs only in letter case is taken (platform-wide),
/// and the refused create leaves nothing behind (docs/rules.md, "Usernames").
async fn duplicate_username_in_another_case_is_refused(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let bob = s.create_user(&a.admin, a.id, "bob.smith", Plan::Free).await;
    assert_eq!(bob.username, "bob.smith");
    let users_a = s.list_users(&a.admin, a.id).await.len();
    let users_b = s.list_users(&b.admin, b.id).await.len();

    let mut clash = new_account("other.bob", Plan::Free);
    clash.username = "Bob.SMITH".into();
    assert_code(
        a.admin
            .clone()
            .create_user(create_request(a.id, clash.clone()))
            .await,
        Code::AlreadyExists,
    );
    assert_code(
        b.admin
            .clone()
            .create_user(create_request(b.id, clash.clone()))
            .await,
        Code::AlreadyExists,
    );
    // The same address in another case is taken too.
    let mut same_address = new_account("bob.two", Plan::Free);
    same_address.primary_address = "BOB.Smith@MailAdmin.Example".into();
    assert_code(
        a.admin
            .clone()
            .create_user(create_request(a.id, same_address))
            .await,
        Code::AlreadyExists,
    );

    assert_eq!(s.list_users(&a.admin, a.id).await.len(), users_a);
    assert_eq!(s.list_users(&b.admin, b.id).await.len(), users_b);
    assert_eq!(account_count(s, a.id).await, 1);
    assert_code(
        s.login("other.bob", &password_for("other.bob")).await,
        Code::Unauthenticated,
    );
    // The refused attempt reserved nothing: its address is still free.
    let other = s.create_user(&a.admin, a.id, "other.bob", Plan::Free).await;
    assert_eq!(other.primary_address, address_for("other.bob"));
    // And the original still logs in with its own password.
    ok(s.login("bob.smith", &password_for("bob.smith")).await);
}

/// Delete needs a DISABLED account; a deleted account shows DELETED, and its
/// username and provider address stay taken
/// (docs/rules.md, "Deleting an account").
async fn delete_requires_a_disabled_account(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let other = s.create_org("Bravo", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let carol = s.create_user(&admin, org.id, "carol", Plan::Free).await;
    assert_eq!(carol.state, AccountState::Enabled as i32);
    assert_eq!(account_count(s, org.id).await, 1);

    assert_code(
        admin
            .delete_user(pb::DeleteUserRequest { user_id: carol.id })
            .await,
        Code::FailedPrecondition,
    );
    let still = ok(admin
        .get_user(pb::GetUserRequest { user_id: carol.id })
        .await)
    .user
    .unwrap();
    assert_eq!(still.state, AccountState::Enabled as i32);
    ok(s.login("carol", &password_for("carol")).await);

    let disabled = ok(admin
        .disable_user(pb::DisableUserRequest { user_id: carol.id })
        .await)
    .user
    .unwrap();
    assert_eq!(disabled.state, AccountState::Disabled as i32);
    let deleted = ok(admin
        .delete_user(pb::DeleteUserRequest { user_id: carol.id })
        .await)
    .user
    .unwrap();
    assert_eq!(deleted.id, carol.id);
    assert_eq!(deleted.state, AccountState::Deleted as i32);

    match admin
        .get_user(pb::GetUserRequest { user_id: carol.id })
        .await
    {
        Ok(answer) => assert_eq!(
            answer.into_inner().user.unwrap().state,
            AccountState::Deleted as i32
        ),
        Err(status) => assert_eq!(status.code(), Code::NotFound, "{status:?}"),
    }
    let listed = ids(&s.list_users(&admin, org.id).await);
    assert!(
        !listed.contains(&carol.id),
        "deleted accounts are not listed by default"
    );
    let tombstones = list_users_where(&admin, org.id, AccountState::Deleted as i32, 0, "").await;
    assert_eq!(ids(&tombstones), HashSet::from([carol.id]));
    assert_eq!(account_count(s, org.id).await, 0);
    assert_code(
        s.login("carol", &password_for("carol")).await,
        Code::Unauthenticated,
    );

    // Cannot be undone.
    assert_code_in(
        admin
            .enable_user(pb::EnableUserRequest { user_id: carol.id })
            .await,
        &[Code::FailedPrecondition, Code::NotFound],
    );
    assert_code(
        s.login("carol", &password_for("carol")).await,
        Code::Unauthenticated,
    );

    // The username stays taken, in any case and in any organization.
    for (client, organization_id, username) in [
        (&org.admin, org.id, "carol"),
        (&org.admin, org.id, "CAROL"),
        (&other.admin, other.id, "carol"),
    ] {
        let mut account = new_account("carol.new", Plan::Free);
        account.username = username.into();
        assert_code(
            client
                .clone()
                .create_user(create_request(organization_id, account))
                .await,
            Code::AlreadyExists,
        );
    }
    // So does its provider address.
    let mut account = new_account("carol.new", Plan::Free);
    account.primary_address = address_for("carol");
    assert_code(
        admin.create_user(create_request(org.id, account)).await,
        Code::AlreadyExists,
    );
    assert_eq!(account_count(s, org.id).await, 0);
}

/// A disabled account cannot log in and its tokens stop working; the admin
/// still reads it; enabling lets it log in again (old tokens stay revoked)
/// (docs/rules.md, "Account states").
async fn disabled_account_cannot_log_in(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let dave = s.create_user(&admin, org.id, "dave", Plan::Free).await;
    let session = s.login_token("dave").await;
    let api = ok(s
        .operator()
        .create_token(pb::CreateTokenRequest {
            role: Role::User as i32,
            organization_id: org.id,
            user_id: dave.id,
            description: "dave's phone".into(),
            ttl_seconds: 0,
        })
        .await)
    .secret;
    let get_dave = pb::GetUserRequest { user_id: dave.id };
    ok(s.with_token(&session).get_user(get_dave).await);
    ok(s.with_token(&api).get_user(get_dave).await);

    let disabled = ok(admin
        .disable_user(pb::DisableUserRequest { user_id: dave.id })
        .await)
    .user
    .unwrap();
    assert_eq!(disabled.state, AccountState::Disabled as i32);

    assert_code(
        s.login("dave", &password_for("dave")).await,
        Code::Unauthenticated,
    );
    assert_code(
        s.login(&address_for("dave"), &password_for("dave")).await,
        Code::Unauthenticated,
    );
    assert_code(
        s.with_token(&session).get_user(get_dave).await,
        Code::Unauthenticated,
    );
    assert_code(
        s.with_token(&api).get_user(get_dave).await,
        Code::Unauthenticated,
    );

    let seen = ok(admin.get_user(get_dave).await).user.unwrap();
    assert_eq!(seen.state, AccountState::Disabled as i32);
    assert_eq!(seen.username, "dave");
    assert_eq!(seen.primary_address, address_for("dave"));
    let disabled_list =
        list_users_where(&admin, org.id, AccountState::Disabled as i32, 0, "").await;
    assert_eq!(ids(&disabled_list), HashSet::from([dave.id]));

    let enabled = ok(admin
        .enable_user(pb::EnableUserRequest { user_id: dave.id })
        .await)
    .user
    .unwrap();
    assert_eq!(enabled.state, AccountState::Enabled as i32);
    let fresh = s.login_token("dave").await;
    ok(s.with_token(&fresh).get_user(get_dave).await);
    assert_code(
        s.with_token(&session).get_user(get_dave).await,
        Code::Unauthenticated,
    );
    assert_code(
        s.with_token(&api).get_user(get_dave).await,
        Code::Unauthenticated,
    );
}

/// The org admin cannot disable or delete its own master account
/// (docs/rules.md, "Master account").
async fn admin_cannot_disable_or_delete_its_master(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let master_id = org.master.id;
    assert!(org.master.is_master);

    assert_code(
        admin
            .disable_user(pb::DisableUserRequest { user_id: master_id })
            .await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin
            .delete_user(pb::DeleteUserRequest { user_id: master_id })
            .await,
        Code::FailedPrecondition,
    );
    let master = ok(admin
        .get_user(pb::GetUserRequest { user_id: master_id })
        .await)
    .user
    .unwrap();
    assert_eq!(master.state, AccountState::Enabled as i32);
    assert!(master.is_master);
    // Its session still works and it still logs in.
    ok(admin.list_users(pb::ListUsersRequest::default()).await);
    ok(s.login(&org.master.username, &org.master_password).await);
}

/// Bad input is INVALID_ARGUMENT naming the field, and changes nothing
/// (docs/rules.md, "Field violations").
async fn bad_input_is_refused_and_changes_nothing(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    s.create_user(&admin, org.id, "existing", Plan::Free).await;
    let before = ids(&s.list_users(&admin, org.id).await);

    let base = || new_account("carol.jones", Plan::Free);
    type Edit = fn(&mut pb::NewAccount);
    let cases: Vec<(&str, &str, Edit)> = vec![
        ("empty last name", "account.last_name", |a| {
            a.last_name = String::new()
        }),
        ("blank first name", "account.first_name", |a| {
            a.first_name = "   ".into()
        }),
        ("empty username", "account.username", |a| {
            a.username = String::new()
        }),
        ("short username", "account.username", |a| {
            a.username = "ab".into()
        }),
        ("username with a space", "account.username", |a| {
            a.username = "carol jones".into()
        }),
        ("username with a slash", "account.username", |a| {
            a.username = "carol/jones".into()
        }),
        ("username with an umlaut", "account.username", |a| {
            a.username = "jöhn".into()
        }),
        ("username too long", "account.username", |a| {
            a.username = "a".repeat(65)
        }),
        ("empty address", "account.primary_address", |a| {
            a.primary_address = String::new()
        }),
        ("address without @", "account.primary_address", |a| {
            a.primary_address = "carol.jones".into()
        }),
        ("address with two @", "account.primary_address", |a| {
            a.primary_address = "carol@@mailadmin.example".into()
        }),
        ("address with a +tag", "account.primary_address", |a| {
            a.primary_address = "carol+news@mailadmin.example".into()
        }),
        (
            "address on a foreign domain",
            "account.primary_address",
            |a| a.primary_address = "carol.jones@elsewhere.example".into(),
        ),
        (
            "postmaster on a provider domain",
            "account.primary_address",
            |a| a.primary_address = "postmaster@mailadmin.example".into(),
        ),
        (
            "support on a provider domain",
            "account.primary_address",
            |a| a.primary_address = "Support@MailAdmin.example".into(),
        ),
        (
            "abuse on a provider domain",
            "account.primary_address",
            |a| a.primary_address = "abuse@mailadmin.example".into(),
        ),
        ("empty password", "account.password", |a| {
            a.password = String::new()
        }),
        ("short password", "account.password", |a| {
            a.password = "short pw".into()
        }),
        ("password too long", "account.password", |a| {
            a.password = "x".repeat(129)
        }),
        ("password equal to the username", "account.password", |a| {
            a.password = "carol.jones".into()
        }),
        ("password equal to the address", "account.password", |a| {
            a.password = "carol.jones@mailadmin.example".into()
        }),
        ("unknown plan", "account.plan", |a| a.plan = 42),
        ("negative plan", "account.plan", |a| a.plan = -1),
    ];
    let mut failures = Vec::new();
    for (what, field, edit) in cases {
        let mut account = base();
        edit(&mut account);
        let result = admin.create_user(create_request(org.id, account)).await;
        if let Err(message) = check_invalid(result, field) {
            failures.push(format!("{what}: {message}"));
        }
    }
    let missing = admin
        .create_user(pb::CreateUserRequest {
            organization_id: org.id,
            account: None,
            request_id: String::new(),
            ..Default::default()
        })
        .await;
    if let Err(message) = check_invalid(missing, "account") {
        failures.push(format!("no account: {message}"));
    }
    let operator_without_org = s.operator().create_user(create_request(0, base())).await;
    if let Err(message) = check_invalid(operator_without_org, "organization_id") {
        failures.push(format!("operator without organization_id: {message}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // An organization that does not exist is NOT_FOUND, not invalid.
    assert_code(
        s.operator()
            .create_user(create_request(999_999, base()))
            .await,
        Code::NotFound,
    );

    assert_eq!(ids(&s.list_users(&admin, org.id).await), before);
    assert_eq!(account_count(s, org.id).await, 1);
    // Nothing was reserved: the valid account goes through.
    let carol = s
        .create_user(&admin, org.id, "carol.jones", Plan::Free)
        .await;
    assert_eq!(carol.username, "carol.jones");
}

/// A retried CreateUser with the same request_id returns the first result
/// and creates one account (docs/rules.md, "Idempotent create").
async fn create_user_retry_is_idempotent(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let request = pb::CreateUserRequest {
        organization_id: org.id,
        account: Some(new_account("erin", Plan::Free)),
        request_id: "create-erin-7f3a".into(),
        ..Default::default()
    };
    let first = ok(admin.create_user(request.clone()).await).user.unwrap();
    let second = ok(admin.create_user(request.clone()).await).user.unwrap();
    assert_eq!(first.id, second.id);
    assert_eq!(second.username, "erin");
    assert_eq!(second.organization_id, org.id);
    let third = ok(admin.create_user(request.clone()).await).user.unwrap();
    assert_eq!(third.id, first.id);

    let erins = list_users_where(&admin, org.id, 0, 0, "erin").await;
    assert_eq!(ids(&erins), HashSet::from([first.id]));
    assert_eq!(account_count(s, org.id).await, 1);

    // Another request_id for the same username is a new create: refused.
    let mut other = request.clone();
    other.request_id = "create-erin-other".into();
    assert_code(admin.create_user(other).await, Code::AlreadyExists);
    // And without a request_id too.
    let mut plain = request;
    plain.request_id = String::new();
    assert_code(admin.create_user(plain).await, Code::AlreadyExists);
    assert_eq!(account_count(s, org.id).await, 1);
}

/// ListUsers pages without duplicates and filters by state, plan and query
/// (docs/rules.md, "Listing accounts").
async fn list_users_paging_and_filters(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let plans = [Plan::Free, Plan::Free, Plan::Entry, Plan::Pro, Plan::Pro];
    let mut created = Vec::new();
    for (i, plan) in plans.iter().enumerate() {
        let username = format!("pager-{}", i + 1);
        let mut account = new_account(&username, *plan);
        if i == 3 {
            account.last_name = "Lovelace".into();
        }
        let user = ok(admin.create_user(create_request(org.id, account)).await)
            .user
            .unwrap();
        assert_eq!(user.plan, *plan as i32);
        created.push(user);
    }
    let id = |n: usize| created[n - 1].id;
    let all_pagers: HashSet<i64> = created.iter().map(|u| u.id).collect();

    // page_size 2 over the 5 matching users: 2 + 2 + 1.
    let mut pages = Vec::new();
    let mut seen = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = ok(admin
            .list_users(pb::ListUsersRequest {
                organization_id: 0,
                page_size: 2,
                page_token: page_token.clone(),
                query: "pager".into(),
                ..Default::default()
            })
            .await);
        pages.push(page.users.len());
        seen.extend(page.users.iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        assert!(pages.len() < 10, "paging does not end");
        page_token = page.next_page_token;
    }
    assert_eq!(pages, vec![2, 2, 1], "page sizes");
    let unique: HashSet<i64> = seen.iter().copied().collect();
    assert_eq!(unique.len(), seen.len(), "no user on two pages");
    assert_eq!(unique, all_pagers);

    // Without a query: the pages together are the whole listing.
    let everything = ids(&s.list_users(&admin, org.id).await);
    assert!(everything.contains(&org.master.id));
    assert!(everything.is_superset(&all_pagers));
    let mut paged = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = ok(admin
            .list_users(pb::ListUsersRequest {
                page_size: 4,
                page_token: page_token.clone(),
                ..Default::default()
            })
            .await);
        assert!(page.users.len() <= 4);
        paged.extend(page.users.iter().map(|u| u.id));
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(paged.len(), everything.len());
    assert_eq!(paged.into_iter().collect::<HashSet<_>>(), everything);

    // Plan filters.
    let free = list_users_where(&admin, org.id, 0, Plan::Free as i32, "pager").await;
    assert_eq!(ids(&free), HashSet::from([id(1), id(2)]));
    let entry = list_users_where(&admin, org.id, 0, Plan::Entry as i32, "").await;
    assert_eq!(ids(&entry), HashSet::from([id(3)]));
    let pro = list_users_where(&admin, org.id, 0, Plan::Pro as i32, "pager").await;
    assert_eq!(ids(&pro), HashSet::from([id(4), id(5)]));

    // Query: case-insensitive, on username, names and address.
    let q = |query: &'static str| list_users_where(&org.admin, org.id, 0, 0, query);
    assert_eq!(ids(&q("PAGER-3").await), HashSet::from([id(3)]));
    assert_eq!(ids(&q("lovelace").await), HashSet::from([id(4)]));
    assert_eq!(ids(&q("pager-5@MAILADMIN").await), HashSet::from([id(5)]));
    assert!(q("no-such-user").await.is_empty());

    // State filters.
    ok(admin
        .disable_user(pb::DisableUserRequest { user_id: id(2) })
        .await);
    ok(admin
        .disable_user(pb::DisableUserRequest { user_id: id(1) })
        .await);
    ok(admin
        .delete_user(pb::DeleteUserRequest { user_id: id(1) })
        .await);
    let disabled = list_users_where(&admin, org.id, AccountState::Disabled as i32, 0, "").await;
    assert_eq!(ids(&disabled), HashSet::from([id(2)]));
    let enabled = list_users_where(&admin, org.id, AccountState::Enabled as i32, 0, "pager").await;
    assert_eq!(ids(&enabled), HashSet::from([id(3), id(4), id(5)]));
    let deleted = list_users_where(&admin, org.id, AccountState::Deleted as i32, 0, "").await;
    assert_eq!(ids(&deleted), HashSet::from([id(1)]));
    let default = ids(&q("pager").await);
    assert_eq!(default, HashSet::from([id(2), id(3), id(4), id(5)]));
    // Filters combine.
    let disabled_free = list_users_where(
        &admin,
        org.id,
        AccountState::Disabled as i32,
        Plan::Free as i32,
        "pager",
    )
    .await;
    assert_eq!(ids(&disabled_free), HashSet::from([id(2)]));

    // Bad paging input.
    assert_invalid(
        admin
            .list_users(pb::ListUsersRequest {
                page_token: "not-a-page-token".into(),
                ..Default::default()
            })
            .await,
        "page_token",
    );
    assert_invalid(
        admin
            .list_users(pb::ListUsersRequest {
                page_size: -1,
                ..Default::default()
            })
            .await,
        "page_size",
    );
}

/// Concurrent creates of one username in different cases: exactly one
/// wins, the others are ALREADY_EXISTS, one account exists.
async fn concurrent_duplicate_usernames_create_one_account(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let spellings = ["racer", "RACER", "Racer", "rAcEr", "raceR", "RaCeR"];
    let calls: Vec<_> = spellings
        .iter()
        .enumerate()
        .map(|(i, username)| {
            let mut admin = org.admin.clone();
            let mut account = new_account(&format!("racer-{i}"), Plan::Free);
            account.username = username.to_string();
            let request = create_request(org.id, account);
            tokio::spawn(async move { admin.create_user(request).await })
        })
        .collect();
    let mut created = Vec::new();
    for call in calls {
        match call.await.expect("task") {
            Ok(answer) => created.push(answer.into_inner().user.unwrap()),
            Err(status) => assert_eq!(
                status.code(),
                Code::AlreadyExists,
                "{:?}: {}",
                status.code(),
                status.message()
            ),
        }
    }
    assert_eq!(created.len(), 1, "exactly one create wins: {created:?}");
    assert_eq!(created[0].username, "racer");
    let racers = list_users_where(&org.admin, org.id, 0, 0, "racer").await;
    assert_eq!(ids(&racers), HashSet::from([created[0].id]));
    assert_eq!(account_count(s, org.id).await, 1);
}

/// A retry that arrives while the first create is still running (a client
/// timeout) still yields one account, and every answer names it.
async fn concurrent_retries_with_one_request_id_create_one_account(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let request = pb::CreateUserRequest {
        organization_id: org.id,
        account: Some(new_account("retrier", Plan::Free)),
        request_id: "retry-me-0042".into(),
        ..Default::default()
    };
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let mut admin = org.admin.clone();
            let request = request.clone();
            tokio::spawn(async move { admin.create_user(request).await })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        let result = call.await.expect("task").map(tonic::Response::into_inner);
        answers.push(
            result
                .map(|r| r.user.unwrap().id)
                .map_err(|s| format!("{:?}: {}", s.code(), s.message())),
        );
    }
    let retriers = list_users_where(&org.admin, org.id, 0, 0, "retrier").await;
    assert_eq!(retriers.len(), 1, "one account for one request_id");
    let id = retriers[0].id;
    assert!(
        answers.iter().all(|a| a.as_ref() == Ok(&id)),
        "every retry returns the first result ({id}): {answers:?}"
    );
    assert_eq!(account_count(s, org.id).await, 1);
}

/// Concurrent creates cannot overshoot the plan's account limit.
async fn concurrent_creates_respect_the_account_limit(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    for i in 1..=8 {
        s.create_user(&org.admin, org.id, &format!("seat-{i}"), Plan::Entry)
            .await;
    }
    let calls: Vec<_> = (1..=5)
        .map(|i| {
            let mut admin = org.admin.clone();
            let request = create_request(org.id, new_account(&format!("late-{i}"), Plan::Entry));
            tokio::spawn(async move { admin.create_user(request).await })
        })
        .collect();
    let mut won = 0;
    for call in calls {
        match call.await.expect("task") {
            Ok(_) => won += 1,
            Err(status) => assert_eq!(
                status.code(),
                Code::FailedPrecondition,
                "{:?}: {}",
                status.code(),
                status.message()
            ),
        }
    }
    assert_eq!(won, 2, "10 accounts on Entry: 8 + 2");
    assert_eq!(account_count(s, org.id).await, 10);
    assert_eq!(s.list_users(&org.admin, org.id).await.len(), 11);
}

backend_tests!(
    duplicate_username_in_another_case_is_refused,
    delete_requires_a_disabled_account,
    disabled_account_cannot_log_in,
    admin_cannot_disable_or_delete_its_master,
    bad_input_is_refused_and_changes_nothing,
    create_user_retry_is_idempotent,
    list_users_paging_and_filters,
    concurrent_duplicate_usernames_create_one_account,
    concurrent_retries_with_one_request_id_create_one_account,
    concurrent_creates_respect_the_account_limit,
);
