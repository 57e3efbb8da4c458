//! Addresses and aliases: platform-wide uniqueness after normalization
//! (IDNA included), where addresses may live, provider addresses reserved
//! forever, custom addresses freed, the plan's alias limit, domains in use,
//! role addresses, and ResolveAddress's verdicts.

use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::{AddressKind, MatchKind, Resolution};
use tonic::{Code, Status};

type Answer<T> = Result<tonic::Response<T>, Status>;

async fn add_alias(client: &Client, user_id: i64, address: &str) -> Answer<pb::AddAliasResponse> {
    client
        .clone()
        .add_alias(pb::AddAliasRequest {
            user_id,
            address: address.to_string(),
        })
        .await
}

/// An alias that must be added.
async fn alias(client: &Client, user_id: i64, address: &str) -> pb::Address {
    match add_alias(client, user_id, address).await {
        Ok(response) => response.into_inner().alias.expect("alias in the answer"),
        Err(status) => panic!(
            "AddAlias({user_id}, {address:?}): expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

async fn delete_alias(
    client: &Client,
    user_id: i64,
    address: &str,
) -> Answer<pb::DeleteAliasResponse> {
    client
        .clone()
        .delete_alias(pb::DeleteAliasRequest {
            user_id,
            address: address.to_string(),
        })
        .await
}

async fn list_aliases(client: &Client, user_id: i64) -> Answer<pb::ListAliasesResponse> {
    client
        .clone()
        .list_aliases(pb::ListAliasesRequest { user_id })
        .await
}

/// The addresses (normalized) of an account, as ListAliases gives them.
async fn addresses_of(client: &Client, user_id: i64) -> Vec<String> {
    ok(list_aliases(client, user_id).await)
        .addresses
        .into_iter()
        .map(|a| a.address)
        .collect()
}

async fn try_resolve(client: &Client, address: &str) -> Answer<pb::ResolveAddressResponse> {
    client
        .clone()
        .resolve_address(pb::ResolveAddressRequest {
            address: address.to_string(),
        })
        .await
}

#[track_caller]
fn resolved(
    answer: Answer<pb::ResolveAddressResponse>,
    address: &str,
) -> pb::ResolveAddressResponse {
    match answer {
        Ok(response) => response.into_inner(),
        Err(status) => panic!(
            "ResolveAddress({address:?}): expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

async fn resolve(client: &Client, address: &str) -> pb::ResolveAddressResponse {
    resolved(try_resolve(client, address).await, address)
}

/// Asserts `address` resolves to `resolution` (and, for DELIVER and
/// DISABLED, to `user` by `matched`).
async fn assert_resolves(
    client: &Client,
    address: &str,
    resolution: Resolution,
    target: Option<(&pb::User, MatchKind)>,
) -> pb::ResolveAddressResponse {
    let answer = resolve(client, address).await;
    assert_eq!(
        answer.resolution, resolution as i32,
        "ResolveAddress({address:?}) resolution: {answer:?}"
    );
    match target {
        Some((user, matched)) => {
            assert_eq!(
                answer.r#match, matched as i32,
                "ResolveAddress({address:?}) match: {answer:?}"
            );
            assert_eq!(
                answer.user_id, user.id,
                "ResolveAddress({address:?}) reaches {}: {answer:?}",
                user.username
            );
            assert_eq!(
                answer.primary_address, user.primary_address,
                "ResolveAddress({address:?}) primary address: {answer:?}"
            );
        }
        None => assert_eq!(
            answer.user_id, 0,
            "ResolveAddress({address:?}) reaches nobody: {answer:?}"
        ),
    }
    answer
}

/// CreateUser in `org` with the primary address `address`.
async fn create_at(
    org: &Org,
    username: &str,
    address: &str,
    plan: Plan,
) -> Answer<pb::CreateUserResponse> {
    let mut account = new_account(username, plan);
    account.primary_address = address.to_string();
    org.admin
        .clone()
        .create_user(pb::CreateUserRequest {
            organization_id: org.id,
            account: Some(account),
            request_id: String::new(),
        })
        .await
}

async fn disable(org: &Org, user_id: i64) {
    ok(org
        .admin
        .clone()
        .disable_user(pb::DisableUserRequest { user_id })
        .await);
}

async fn delete_user(org: &Org, user_id: i64) {
    ok(org
        .admin
        .clone()
        .delete_user(pb::DeleteUserRequest { user_id })
        .await);
}

async fn disable_and_delete(org: &Org, user_id: i64) {
    disable(org, user_id).await;
    delete_user(org, user_id).await;
}

async fn remove_domain(
    s: &TestServer,
    org: &Org,
    domain_id: i64,
) -> Answer<pb::RemoveDomainResponse> {
    s.domains(org)
        .remove_domain(pb::RemoveDomainRequest { domain_id })
        .await
}

/// Item A1: `John.Doe@Bücher.Example` and `john.doe@xn--bcher-kva.example`
/// are one address: the second is ALREADY_EXISTS as a primary address or as
/// an alias; addresses are stored normalized and shown in Unicode.
async fn idn_addresses_collide(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Buecher", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "Bücher.Example").await;
    assert_eq!(domain.name, "xn--bcher-kva.example");

    let john = s
        .create_user_at(&org, "john.doe", "John.Doe@Bücher.Example", Plan::Entry)
        .await;
    assert_eq!(john.primary_address, "john.doe@xn--bcher-kva.example");
    assert_code(
        create_at(
            &org,
            "john.two",
            "john.doe@xn--bcher-kva.example",
            Plan::Free,
        )
        .await,
        Code::AlreadyExists,
    );
    let mary = s.create_user(&org.admin, org.id, "mary", Plan::Entry).await;
    assert_code(
        add_alias(&org.admin, mary.id, "JOHN.DOE@BÜCHER.EXAMPLE").await,
        Code::AlreadyExists,
    );
    assert_code(
        add_alias(&org.admin, mary.id, "john.doe@XN--BCHER-KVA.example").await,
        Code::AlreadyExists,
    );

    let info = alias(&org.admin, mary.id, "Info@Bücher.Example").await;
    assert_eq!(info.address, "info@xn--bcher-kva.example");
    assert_eq!(info.display, "info@bücher.example");
    assert_eq!(info.kind, AddressKind::Alias as i32);
    assert!(!info.provider_domain);
    assert_code(
        create_at(&org, "info.user", "info@xn--bcher-kva.example", Plan::Free).await,
        Code::AlreadyExists,
    );
    assert_code(
        add_alias(&org.admin, john.id, "INFO@bücher.example").await,
        Code::AlreadyExists,
    );

    let listed = ok(list_aliases(&org.admin, john.id).await).addresses;
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0].display, "john.doe@bücher.example");
    assert_eq!(listed[0].kind, AddressKind::Primary as i32);
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 2);

    // The Unicode spelling logs in too.
    let login = ok(s
        .login("John.Doe@BÜCHER.example", &password_for("john.doe"))
        .await);
    assert_eq!(login.user_id, john.id);
}

/// Item A2: Addresses live on the provider domain or on a VERIFIED/ACTIVE
/// domain of the organization: a PENDING domain is FAILED_PRECONDITION, an
/// unknown or another organization's domain INVALID_ARGUMENT naming the
/// field; `+` is refused in a new address.
async fn where_addresses_may_live(s: &TestServer, dns: &TestDns) {
    let a = s.create_org("Alpha", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    s.add_domain(&a, "pending.example").await;
    s.verified_domain(&a, dns, "verified.example").await;
    s.active_domain(&a, dns, "active.example").await;
    s.verified_domain(&b, dns, "bravo.example").await;
    let alice = s.create_user(&a.admin, a.id, "alice", Plan::Entry).await;

    assert_code(
        create_at(&a, "pat", "pat@pending.example", Plan::Free).await,
        Code::FailedPrecondition,
    );
    assert_code(
        add_alias(&a.admin, alice.id, "alice@pending.example").await,
        Code::FailedPrecondition,
    );
    for domain in ["nowhere.example", "bravo.example"] {
        assert_invalid(
            create_at(&a, "nina", &format!("nina@{domain}"), Plan::Free).await,
            "account.primary_address",
        );
        assert_invalid(
            add_alias(&a.admin, alice.id, &format!("alice@{domain}")).await,
            "address",
        );
    }
    assert_invalid(
        add_alias(&a.admin, alice.id, "alice+news@mailadmin.example").await,
        "address",
    );
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![address_for("alice")],
        "nothing was added"
    );

    let vera = s
        .create_user_at(&a, "vera", "Vera@Verified.Example", Plan::Entry)
        .await;
    assert_eq!(vera.primary_address, "vera@verified.example");
    s.create_user_at(&a, "andy", "andy@active.example", Plan::Free)
        .await;
    alias(&a.admin, alice.id, "alice@verified.example").await;
    alias(&a.admin, alice.id, "alice@active.example").await;
    let extra = alias(&a.admin, alice.id, "alice.extra@mailadmin.example").await;
    assert!(extra.provider_domain);
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![
            address_for("alice"),
            "alice@verified.example".to_string(),
            "alice@active.example".to_string(),
            "alice.extra@mailadmin.example".to_string(),
        ]
    );
}

/// Item A3: Provider-domain addresses can never be deleted, and stay
/// reserved after the account is deleted: nobody (in any organization) gets
/// them again, as primary or alias; mail to them is UNKNOWN.
async fn provider_addresses_stay_reserved(s: &TestServer) {
    let a = s.create_org("Alpha", Plan::Entry).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let alice = s.create_user(&a.admin, a.id, "alice", Plan::Entry).await;
    let bob = s.create_user(&a.admin, a.id, "bob", Plan::Entry).await;
    let extra = alias(&a.admin, alice.id, "Alice.Extra@MailAdmin.Example").await;
    assert_eq!(extra.address, "alice.extra@mailadmin.example");
    assert_eq!(extra.kind, AddressKind::Alias as i32);
    assert!(extra.provider_domain);

    assert_code(
        delete_alias(&a.admin, alice.id, "alice.extra@mailadmin.example").await,
        Code::FailedPrecondition,
    );
    assert_code(
        delete_alias(&s.operator(), alice.id, "alice.extra@mailadmin.example").await,
        Code::FailedPrecondition,
    );
    assert_code(
        delete_alias(&a.admin, alice.id, &address_for("alice")).await,
        Code::FailedPrecondition,
    );
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![
            address_for("alice"),
            "alice.extra@mailadmin.example".to_string()
        ]
    );

    disable_and_delete(&a, alice.id).await;
    for (org, username, address) in [
        (&b, "alice.again", "alice@mailadmin.example"),
        (&a, "alice.three", "Alice.Extra@mailadmin.example"),
        (&b, "alice.four", "ALICE.EXTRA@MAILADMIN.EXAMPLE"),
    ] {
        assert_code(
            create_at(org, username, address, Plan::Free).await,
            Code::AlreadyExists,
        );
    }
    for address in ["alice@mailadmin.example", "ALICE.EXTRA@mailadmin.example"] {
        assert_code(
            add_alias(&a.admin, bob.id, address).await,
            Code::AlreadyExists,
        );
    }
    for address in ["alice@mailadmin.example", "alice.extra@mailadmin.example"] {
        assert_resolves(&s.operator(), address, Resolution::Unknown, None).await;
    }
}

/// Item A4: An alias on the organization's own domain may be deleted and the
/// address is free again at once; deleting an account frees its
/// custom-domain addresses (primary and aliases) for others.
async fn custom_addresses_are_freed(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "team.example").await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;

    let sales = alias(&org.admin, alice.id, "sales@team.example").await;
    assert!(!sales.provider_domain);
    assert_code(
        add_alias(&org.admin, bob.id, "Sales@Team.Example").await,
        Code::AlreadyExists,
    );
    assert_code(
        delete_alias(&org.admin, bob.id, "sales@team.example").await,
        Code::NotFound,
    );
    ok(delete_alias(&org.admin, alice.id, "SALES@team.example").await);
    assert_eq!(
        addresses_of(&org.admin, alice.id).await,
        vec![address_for("alice")]
    );
    assert_code(
        delete_alias(&org.admin, alice.id, "sales@team.example").await,
        Code::NotFound,
    );
    alias(&org.admin, bob.id, "sales@team.example").await;

    // A deleted account's custom addresses go back to the pool.
    let carol = s
        .create_user_at(&org, "carol", "carol@team.example", Plan::Entry)
        .await;
    alias(&org.admin, carol.id, "c.extra@team.example").await;
    disable_and_delete(&org, carol.id).await;
    let dave = s
        .create_user_at(&org, "dave", "carol@team.example", Plan::Entry)
        .await;
    assert_eq!(dave.primary_address, "carol@team.example");
    alias(&org.admin, bob.id, "c.extra@team.example").await;
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 3);

    // The new holder of the address logs in with it.
    match s.login("carol@team.example", &password_for("dave")).await {
        Ok(login) => assert_eq!(
            login.into_inner().user_id,
            dave.id,
            "Login by primary address reaches its current holder"
        ),
        Err(status) => panic!(
            "Login(carol@team.example) as its new holder dave: expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

/// Item A5: The alias limit is the account's plan's: an Entry user gets 10
/// (the 11th is FAILED_PRECONDITION), a Pro user 50, a Free user none; the
/// primary address does not count.
async fn alias_limits_follow_the_plan(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    for (username, plan, limit) in [
        ("entry.user", Plan::Entry, 10),
        ("pro.user", Plan::Pro, 50),
        ("free.user", Plan::Free, 0),
    ] {
        let user = s.create_user(&org.admin, org.id, username, plan).await;
        for i in 0..limit {
            alias(
                &org.admin,
                user.id,
                &format!("{username}.{i}@mailadmin.example"),
            )
            .await;
        }
        let status = assert_code(
            add_alias(
                &org.admin,
                user.id,
                &format!("{username}.over@mailadmin.example"),
            )
            .await,
            Code::FailedPrecondition,
        );
        assert!(
            !status.message().is_empty(),
            "{username}: the refusal says why"
        );
        let listed = addresses_of(&org.admin, user.id).await;
        assert_eq!(listed.len(), limit + 1, "{username}: primary + {limit}");
        // The refused address was not taken.
        s.create_user_at(
            &org,
            &format!("{username}.o"),
            &format!("{username}.over@mailadmin.example"),
            Plan::Free,
        )
        .await;
    }
}

/// Item A6: A domain with addresses cannot be removed (FAILED_PRECONDITION
/// with the count); once they are gone it can.
async fn removing_a_domain_in_use(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "busy.example").await;
    let alice = s
        .create_user_at(&org, "alice", "alice@busy.example", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    alias(&org.admin, bob.id, "b1@busy.example").await;
    alias(&org.admin, bob.id, "b2@busy.example").await;
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 3);

    let status = assert_code(
        remove_domain(s, &org, domain.id).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains('3'),
        "the refusal gives the count (3): {:?}",
        status.message()
    );
    ok(delete_alias(&org.admin, bob.id, "b1@busy.example").await);
    ok(delete_alias(&org.admin, bob.id, "b2@busy.example").await);
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 1);
    let status = assert_code(
        remove_domain(s, &org, domain.id).await,
        Code::FailedPrecondition,
    );
    assert!(
        status.message().contains('1'),
        "the refusal gives the count (1): {:?}",
        status.message()
    );
    assert_eq!(
        s.get_domain(&org, domain.id).await.state,
        pb::DomainState::Verified as i32,
        "a refused removal changes nothing"
    );

    disable_and_delete(&org, alice.id).await;
    assert_eq!(s.get_domain(&org, domain.id).await.address_count, 0);
    ok(remove_domain(s, &org, domain.id).await);
    assert_code(
        s.domains(&org)
            .get_domain(pb::GetDomainRequest {
                domain_id: domain.id,
            })
            .await,
        Code::NotFound,
    );
    // Gone for good: no address may be created on it, and it can be claimed
    // again from scratch.
    assert_invalid(
        add_alias(&org.admin, bob.id, "b3@busy.example").await,
        "address",
    );
    s.add_domain(&org, "busy.example").await;
}

/// Item A7: Role addresses: never a primary address (custom or provider
/// domain), refused as aliases on the provider domain; on an ACTIVE custom
/// domain they reach the master account (ROLE_DEFAULT) until an alias takes
/// one over (EXACT), and again once that alias is deleted.
async fn role_addresses(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    s.active_domain(&org, dns, "acme.example").await;
    let master = org.master.clone();
    let alice = s
        .create_user_at(&org, "alice", "alice@acme.example", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;

    let mut failures = Vec::new();
    for (i, address) in [
        "postmaster@acme.example",
        "Support@Acme.Example",
        "abuse@acme.example",
        "postmaster@mailadmin.example",
        "abuse@MailAdmin.Example",
    ]
    .into_iter()
    .enumerate()
    {
        if let Err(e) = check_invalid(
            create_at(&org, &format!("role{i}"), address, Plan::Free).await,
            "account.primary_address",
        ) {
            failures.push(format!("CreateUser(primary {address:?}): {e}"));
        }
    }
    for address in [
        "postmaster@mailadmin.example",
        "support@mailadmin.example",
        "ABUSE@mailadmin.example",
    ] {
        if let Err(e) = check_invalid(add_alias(&org.admin, bob.id, address).await, "address") {
            failures.push(format!("AddAlias({address:?}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    let admin = &org.admin;
    let answer = assert_resolves(
        admin,
        "postmaster@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    assert_eq!(answer.normalized, "postmaster@acme.example");
    let answer = assert_resolves(
        admin,
        "Abuse@ACME.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    assert_eq!(answer.normalized, "abuse@acme.example");
    assert_resolves(
        admin,
        "abuse+report@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;

    alias(admin, alice.id, "Postmaster@acme.example").await;
    assert_resolves(
        admin,
        "postmaster@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(
        admin,
        "support@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    assert_code(
        add_alias(admin, bob.id, "postmaster@acme.example").await,
        Code::AlreadyExists,
    );

    ok(delete_alias(admin, alice.id, "postmaster@acme.example").await);
    assert_resolves(
        admin,
        "postmaster@acme.example",
        Resolution::Deliver,
        Some((&master, MatchKind::RoleDefault)),
    )
    .await;
    // Free again: another user may take it over.
    alias(admin, bob.id, "postmaster@acme.example").await;
    assert_resolves(
        &s.operator(),
        "POSTMASTER@acme.example",
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
}

/// Item A8: `local+tag@domain` reaches the owner of `local@domain`
/// (SUBADDRESS), for primary addresses and aliases, custom and provider
/// domains; the exact address is EXACT.
async fn subaddress_resolution(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    s.active_domain(&org, dns, "acme.example").await;
    let alice = s
        .create_user_at(&org, "alice", "alice@acme.example", Plan::Entry)
        .await;
    alias(&org.admin, alice.id, "sales@acme.example").await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    let admin = &org.admin;

    assert_resolves(
        admin,
        "alice@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    let answer = assert_resolves(
        admin,
        "Alice+News@Acme.Example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Subaddress)),
    )
    .await;
    assert_eq!(answer.normalized, "alice+news@acme.example");
    assert_resolves(
        admin,
        "sales@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(
        admin,
        "sales+q1@acme.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Subaddress)),
    )
    .await;
    assert_resolves(
        admin,
        "bob+lists@mailadmin.example",
        Resolution::Deliver,
        Some((&bob, MatchKind::Subaddress)),
    )
    .await;
    assert_resolves(admin, "nobody+x@acme.example", Resolution::Unknown, None).await;
}

/// Item A9: The verdicts: NOT_LOCAL for a domain that is VERIFIED but not
/// ACTIVE (and for a foreign domain), UNKNOWN for an unknown local part,
/// DISABLED for a disabled account, UNKNOWN for a deleted account's provider
/// address.
async fn resolution_verdicts(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.verified_domain(&org, dns, "later.example").await;
    let alice = s
        .create_user_at(&org, "alice", "alice@later.example", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    let admin = &org.admin;

    for address in ["alice@later.example", "postmaster@later.example"] {
        assert_resolves(admin, address, Resolution::NotLocal, None).await;
    }
    assert_resolves(
        &s.operator(),
        "someone@elsewhere.example",
        Resolution::NotLocal,
        None,
    )
    .await;

    publish_all(dns, &domain, &[pb::RecordPurpose::Mx]);
    let activated = ok(s
        .domains(&org)
        .activate_domain(pb::ActivateDomainRequest {
            domain_id: domain.id,
        })
        .await);
    assert!(activated.activated, "{activated:?}");
    assert_resolves(
        admin,
        "alice@later.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(admin, "nobody@later.example", Resolution::Unknown, None).await;

    disable(&org, alice.id).await;
    assert_resolves(
        admin,
        "alice@later.example",
        Resolution::Disabled,
        Some((&alice, MatchKind::Exact)),
    )
    .await;
    assert_resolves(
        admin,
        "alice+x@later.example",
        Resolution::Disabled,
        Some((&alice, MatchKind::Subaddress)),
    )
    .await;
    ok(admin
        .clone()
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    assert_resolves(
        admin,
        "alice@later.example",
        Resolution::Deliver,
        Some((&alice, MatchKind::Exact)),
    )
    .await;

    ok(s.domains(&org)
        .deactivate_domain(pb::DeactivateDomainRequest {
            domain_id: domain.id,
        })
        .await);
    assert_resolves(admin, "alice@later.example", Resolution::NotLocal, None).await;

    assert_resolves(
        admin,
        &address_for("bob"),
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
    disable(&org, bob.id).await;
    assert_resolves(
        admin,
        &address_for("bob"),
        Resolution::Disabled,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
    delete_user(&org, bob.id).await;
    assert_resolves(admin, &address_for("bob"), Resolution::Unknown, None).await;
    assert_resolves(
        &s.operator(),
        &address_for("bob"),
        Resolution::Unknown,
        None,
    )
    .await;
}

/// Item A10: Another organization's accounts, domains and addresses are
/// NOT_FOUND for an org admin (GetDomain, VerifyDomain, AddAlias,
/// DeleteAlias, ListAliases, ResolveAddress); the operator may resolve
/// anything.
async fn other_organizations_addresses_are_not_found(s: &TestServer, dns: &TestDns) {
    let a = s.create_org("Alpha", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let domain = s.active_domain(&a, dns, "alpha.example").await;
    let alice = s
        .create_user_at(&a, "alice", "alice@alpha.example", Plan::Entry)
        .await;
    alias(&a.admin, alice.id, "alice.a@mailadmin.example").await;
    let bob = s.create_user(&b.admin, b.id, "bob", Plan::Entry).await;
    let bc = &b.admin;

    let mut failures = Vec::new();
    let mut expect = |what: String, result: Result<(), Status>, code: Code| {
        if let Err(e) = check_code(result, code) {
            failures.push(format!("{what}: {e}"));
        }
    };
    expect(
        "B GetDomain(A's)".into(),
        s.domains(&b)
            .get_domain(pb::GetDomainRequest {
                domain_id: domain.id,
            })
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B VerifyDomain(A's)".into(),
        s.domains(&b)
            .verify_domain(pb::VerifyDomainRequest {
                domain_id: domain.id,
            })
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B AddAlias(alice)".into(),
        add_alias(bc, alice.id, "alice.b@mailadmin.example")
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B DeleteAlias(alice)".into(),
        delete_alias(bc, alice.id, "alice.a@mailadmin.example")
            .await
            .map(|_| ()),
        Code::NotFound,
    );
    expect(
        "B ListAliases(alice)".into(),
        list_aliases(bc, alice.id).await.map(|_| ()),
        Code::NotFound,
    );
    for address in [
        "alice@alpha.example",
        "alice+x@alpha.example",
        "postmaster@alpha.example",
        "nobody@alpha.example",
        "alice.a@mailadmin.example",
    ] {
        expect(
            format!("B ResolveAddress({address:?})"),
            try_resolve(bc, address).await.map(|_| ()),
            Code::NotFound,
        );
    }
    if let Err(e) = check_invalid(add_alias(bc, bob.id, "bob@alpha.example").await, "address") {
        failures.push(format!("B AddAlias(bob, on A's domain): {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Nothing changed.
    assert_eq!(
        addresses_of(&a.admin, alice.id).await,
        vec![
            "alice@alpha.example".to_string(),
            "alice.a@mailadmin.example".to_string()
        ]
    );
    // B resolves its own; A and the operator resolve A's.
    assert_resolves(
        bc,
        &address_for("bob"),
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
    for client in [&a.admin, &s.operator()] {
        assert_resolves(
            client,
            "alice@alpha.example",
            Resolution::Deliver,
            Some((&alice, MatchKind::Exact)),
        )
        .await;
        assert_resolves(
            client,
            "postmaster@alpha.example",
            Resolution::Deliver,
            Some((&a.master, MatchKind::RoleDefault)),
        )
        .await;
    }
    assert_resolves(
        &s.operator(),
        &address_for("bob"),
        Resolution::Deliver,
        Some((&bob, MatchKind::Exact)),
    )
    .await;
}

/// Item A11: A user lists its own addresses (primary first, then aliases in
/// creation order), not another account's; it cannot change them.
async fn list_aliases_as_the_user(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    alias(&org.admin, alice.id, "alice.zed@mailadmin.example").await;
    alias(&org.admin, alice.id, "alice.abc@mailadmin.example").await;

    let own = s.user_client("alice").await;
    let listed = ok(list_aliases(&own, alice.id).await).addresses;
    let summary: Vec<(&str, i32, bool)> = listed
        .iter()
        .map(|a| (a.address.as_str(), a.kind, a.provider_domain))
        .collect();
    assert_eq!(
        summary,
        vec![
            ("alice@mailadmin.example", AddressKind::Primary as i32, true),
            (
                "alice.zed@mailadmin.example",
                AddressKind::Alias as i32,
                true
            ),
            (
                "alice.abc@mailadmin.example",
                AddressKind::Alias as i32,
                true
            ),
        ]
    );
    for address in &listed {
        assert_eq!(address.display, address.address, "ASCII shows as is");
        assert!(address.created_at.is_some(), "{address:?}");
    }
    assert_eq!(
        ok(list_aliases(&org.admin, alice.id).await).addresses,
        listed,
        "the admin sees the same list"
    );

    assert_code(list_aliases(&own, bob.id).await, Code::NotFound);
    assert_code(list_aliases(&own, org.master.id).await, Code::NotFound);
    assert_code(
        add_alias(&own, alice.id, "alice.more@mailadmin.example").await,
        Code::PermissionDenied,
    );
    assert_code(
        delete_alias(&own, alice.id, "alice.abc@mailadmin.example").await,
        Code::PermissionDenied,
    );
    assert_code(
        try_resolve(&own, "alice@mailadmin.example").await,
        Code::PermissionDenied,
    );
}

backend_tests!(
    idn_addresses_collide: TestDns,
    where_addresses_may_live: TestDns,
    provider_addresses_stay_reserved,
    custom_addresses_are_freed: TestDns,
    alias_limits_follow_the_plan,
    removing_a_domain_in_use: TestDns,
    role_addresses: TestDns,
    subaddress_resolution: TestDns,
    resolution_verdicts: TestDns,
    other_organizations_addresses_are_not_found: TestDns,
    list_aliases_as_the_user,
);
