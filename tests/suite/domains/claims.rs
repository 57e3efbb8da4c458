//! AddDomain and competing claims: the first verifier wins, the plan's
//! domain limit, provider domains refused.

use super::{add, get, list_domains, remove, state_of, verify};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::DomainState;
use tonic::Code;

/// Every audit event `client` sees for `organization_id` (0: its own / all).
async fn audit_events(client: &Client, organization_id: i64) -> Vec<pb::AuditEvent> {
    let mut client = client.clone();
    let mut found = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = ok(client
            .list_audit_events(pb::ListAuditEventsRequest {
                organization_id,
                page_size: 500,
                page_token: page_token.clone(),
            })
            .await);
        found.extend(page.events);
        if page.next_page_token.is_empty() {
            return found;
        }
        page_token = page.next_page_token;
    }
    panic!("ListAuditEvents never reached its last page");
}

/// Several organizations claim one domain (docs/rules.md, "Claims"); the
/// first to verify owns it, the other claims are dropped (gone for their
/// admins, an audit event `domain.claim_dropped` in their logs), and a
/// dropped claim no longer counts against the plan's domain limit.
async fn first_verifier_wins(s: &TestServer, dns: &TestDns) {
    let a = s.create_org("Alpha", Plan::Entry).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let c = s.create_org("Charlie", Plan::Pro).await;
    let claim_a = s.add_domain(&a, "shared.example").await;
    let claim_b = s.add_domain(&b, "Shared.Example").await;
    let claim_c = s.add_domain(&c, "shared.example").await;
    let (own_a, own_b, own_c) = (
        ownership_record(&claim_a),
        ownership_record(&claim_b),
        ownership_record(&claim_c),
    );
    assert_eq!(own_a.name, own_b.name);
    assert!(
        own_a.value != own_b.value && own_b.value != own_c.value && own_a.value != own_c.value,
        "every claim gets its own token"
    );

    publish(dns, &own_b);
    let answer = ok(verify(&s.domains(&a), claim_a.id).await);
    assert!(!answer.verified, "A's token is not published: {answer:?}");
    assert_eq!(
        answer.check.expect("check").found,
        vec![own_b.value.clone()]
    );

    let answer = ok(verify(&s.domains(&b), claim_b.id).await);
    assert!(answer.verified, "{answer:?}");
    assert_eq!(
        state_of(&answer.domain.expect("domain")),
        DomainState::Verified
    );

    // A's and C's claims are gone, for their admins and for the operator.
    for (org, claim) in [(&a, &claim_a), (&c, &claim_c)] {
        assert_code(get(&s.domains(org), claim.id).await, Code::NotFound);
        assert_code(get(&s.domain_operator(), claim.id).await, Code::NotFound);
        assert!(
            list_domains(&s.domains(org), 0).await.is_empty(),
            "{}'s claim is dropped",
            org.name
        );
    }
    // Even with their own token published now, a dropped claim cannot be
    // verified: it does not exist any more.
    publish(dns, &own_a);
    assert_code(verify(&s.domains(&a), claim_a.id).await, Code::NotFound);
    assert_code(verify(&s.domains(&c), claim_c.id).await, Code::NotFound);
    // The owner keeps it.
    let owned = s.get_domain(&b, claim_b.id).await;
    assert_eq!(state_of(&owned), DomainState::Verified);

    // The dropped organizations' audit logs say so, the owner's does not.
    for (org, claim) in [(&a, &claim_a), (&c, &claim_c)] {
        let events = audit_events(&org.admin, 0).await;
        let target = format!("domain:{}", claim.id);
        assert!(
            events.iter().any(|e| e.action == "domain.claim_dropped"
                && e.organization_id == org.id
                && e.target == target),
            "{}'s audit log records domain.claim_dropped on {target}: {events:#?}",
            org.name
        );
    }
    let events = audit_events(&b.admin, 0).await;
    assert!(
        !events.iter().any(|e| e.action == "domain.claim_dropped"),
        "the owner lost no claim: {events:#?}"
    );

    // The domain is taken; A's plan (1 domain) is free again for another.
    assert_code_in(
        add(&s.domains(&a), 0, "shared.example").await,
        &[Code::FailedPrecondition, Code::AlreadyExists],
    );
    s.add_domain(&a, "alpha-own.example").await;
}

/// Several organizations verifying one domain at the same time
/// (docs/rules.md, "Claims"): exactly one wins; every other answer is
/// NOT_FOUND (its claim was dropped) or FAILED_PRECONDITION (verified by
/// another organization first), never a server error; afterwards exactly
/// one organization holds the domain.
async fn concurrent_verifications_have_one_winner(s: &TestServer, dns: &TestDns) {
    let mut orgs = Vec::new();
    for i in 0..6 {
        orgs.push(s.create_org(&format!("Racer {i}"), Plan::Pro).await);
    }
    let mut failures = Vec::new();
    for round in 0..6 {
        let name = format!("race{round}.example");
        let mut claims = Vec::new();
        for org in &orgs {
            claims.push(s.add_domain(org, &name).await);
        }
        let values: Vec<String> = claims.iter().map(|c| ownership_record(c).value).collect();
        let values: Vec<&str> = values.iter().map(String::as_str).collect();
        dns.set_txt(&ownership_record(&claims[0]).name, &values);

        let answers = futures::future::join_all(
            orgs.iter()
                .zip(&claims)
                .map(|(org, claim)| verify_owned(s.domains(org), claim.id)),
        )
        .await;
        let mut winners = 0;
        for (org, answer) in orgs.iter().zip(&answers) {
            match answer {
                Ok(answer) if answer.verified => winners += 1,
                Ok(answer) => failures.push(format!(
                    "{name}: {} got verified = false with its token published: {answer:?}",
                    org.name
                )),
                Err(status)
                    if matches!(status.code(), Code::NotFound | Code::FailedPrecondition) => {}
                Err(status) => failures.push(format!(
                    "{name}: {} got {:?}: {}",
                    org.name,
                    status.code(),
                    status.message()
                )),
            }
        }
        if winners != 1 {
            failures.push(format!("{name}: {winners} winners"));
        }
        let mut holders = Vec::new();
        for (org, claim) in orgs.iter().zip(&claims) {
            if let Ok(found) = get(&s.domains(org), claim.id).await {
                let domain = found.into_inner().domain.expect("domain");
                holders.push((org.name.clone(), state_of(&domain)));
            }
        }
        if holders.len() != 1 || holders[0].1 != DomainState::Verified {
            failures.push(format!(
                "{name}: afterwards exactly one organization holds it, VERIFIED; found {holders:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

async fn verify_owned(
    mut client: DomainClient,
    domain_id: i64,
) -> Result<pb::VerifyDomainResponse, tonic::Status> {
    client
        .verify_domain(pb::VerifyDomainRequest { domain_id })
        .await
        .map(tonic::Response::into_inner)
}

/// The master plan's domain limit (docs/rules.md, "Limits"): Entry allows
/// one domain (a second is FAILED_PRECONDITION until the first is removed),
/// Pro more; a Free master has no console; the same name twice is
/// ALREADY_EXISTS.
async fn domain_limit_of_the_plan(s: &TestServer) {
    let entry = s.create_org("Entry Co", Plan::Entry).await;
    let first = s.add_domain(&entry, "one.example").await;
    let status = assert_code(
        add(&s.domains(&entry), 0, "two.example").await,
        Code::FailedPrecondition,
    );
    assert!(!status.message().is_empty());
    // The operator is held to the organization's limit as well.
    assert_code(
        add(&s.domain_operator(), entry.id, "two.example").await,
        Code::FailedPrecondition,
    );
    assert_eq!(list_domains(&s.domains(&entry), 0).await.len(), 1);
    ok(remove(&s.domains(&entry), first.id).await);
    s.add_domain(&entry, "two.example").await;

    let pro = s.create_org("Pro Co", Plan::Pro).await;
    s.add_domain(&pro, "pro-one.example").await;
    s.add_domain(&pro, "pro-two.example").await;
    assert_code(
        add(&s.domains(&pro), 0, "PRO-ONE.example").await,
        Code::AlreadyExists,
    );
    assert_eq!(list_domains(&s.domains(&pro), 0).await.len(), 2);
    assert_eq!(
        list_domains(&s.domain_operator(), pro.id).await.len(),
        2,
        "the operator lists an organization's domains"
    );

    let free = s.create_org("Free Co", Plan::Free).await;
    assert_code(
        add(&s.domains(&free), 0, "free.example").await,
        Code::FailedPrecondition,
    );
}

/// Provider domains and their subdomains cannot be claimed
/// (docs/rules.md, "Claims"): INVALID_ARGUMENT on `name`, for admins and
/// operators alike.
async fn provider_domains_cannot_be_claimed(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut failures = Vec::new();
    for name in [
        "mailadmin.example",
        "MailAdmin.EXAMPLE",
        "x.mailadmin.example",
        "deep.sub.mailadmin.example",
    ] {
        if let Err(e) = check_invalid(add(&s.domains(&org), 0, name).await, "name") {
            failures.push(format!("admin AddDomain({name:?}): {e}"));
        }
        if let Err(e) = check_invalid(add(&s.domain_operator(), org.id, name).await, "name") {
            failures.push(format!("operator AddDomain({name:?}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert!(list_domains(&s.domains(&org), 0).await.is_empty());
    // A look-alike that is not under the provider's domain is fine.
    s.add_domain(&org, "notmailadmin.example").await;
}

backend_tests!(
    first_verifier_wins: TestDns,
    concurrent_verifications_have_one_winner: TestDns,
    domain_limit_of_the_plan,
    provider_domains_cannot_be_claimed,
);
