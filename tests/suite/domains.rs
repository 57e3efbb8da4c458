//! DomainService: claims, ownership proved by a TXT record looked up in a
//! real DNS server on loopback, the first verifier winning, activation by
//! MX, the records to publish and their checks, the plan's domain limit,
//! provider domains, tenancy.

use crate::dns_server::{SilentDns, TestDns};
use crate::harness::*;
use mailadmin_client::pb;
use mailadmin_server::Settings;
use pb::{DomainState, RecordPurpose};
use std::time::{Duration, Instant};
use tonic::Code;

const PURPOSES: [RecordPurpose; 5] = [
    RecordPurpose::Ownership,
    RecordPurpose::Mx,
    RecordPurpose::Spf,
    RecordPurpose::Dkim,
    RecordPurpose::Dmarc,
];

async fn verify(
    client: &DomainClient,
    domain_id: i64,
) -> Result<tonic::Response<pb::VerifyDomainResponse>, tonic::Status> {
    client
        .clone()
        .verify_domain(pb::VerifyDomainRequest { domain_id })
        .await
}

async fn activate(
    client: &DomainClient,
    domain_id: i64,
) -> Result<tonic::Response<pb::ActivateDomainResponse>, tonic::Status> {
    client
        .clone()
        .activate_domain(pb::ActivateDomainRequest { domain_id })
        .await
}

async fn get(
    client: &DomainClient,
    domain_id: i64,
) -> Result<tonic::Response<pb::GetDomainResponse>, tonic::Status> {
    client
        .clone()
        .get_domain(pb::GetDomainRequest { domain_id })
        .await
}

async fn remove(
    client: &DomainClient,
    domain_id: i64,
) -> Result<tonic::Response<pb::RemoveDomainResponse>, tonic::Status> {
    client
        .clone()
        .remove_domain(pb::RemoveDomainRequest { domain_id })
        .await
}

async fn add(
    client: &DomainClient,
    organization_id: i64,
    name: &str,
) -> Result<tonic::Response<pb::AddDomainResponse>, tonic::Status> {
    client
        .clone()
        .add_domain(pb::AddDomainRequest {
            organization_id,
            name: name.to_string(),
        })
        .await
}

/// Every domain of the organization (all pages).
async fn list_domains(client: &DomainClient, organization_id: i64) -> Vec<pb::Domain> {
    let mut client = client.clone();
    let mut domains = Vec::new();
    let mut page_token = String::new();
    for _ in 0..100 {
        let page = ok(client
            .list_domains(pb::ListDomainsRequest {
                organization_id,
                page_size: 500,
                page_token: page_token.clone(),
            })
            .await);
        domains.extend(page.domains);
        if page.next_page_token.is_empty() {
            return domains;
        }
        page_token = page.next_page_token;
    }
    panic!("ListDomains never reached its last page");
}

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

fn state_of(domain: &pb::Domain) -> DomainState {
    DomainState::try_from(domain.state).unwrap_or(DomainState::Unspecified)
}

/// Item D1: The ownership record is the first record; a missing or wrong TXT
/// record is an answer (verified = false, with what was expected and what was
/// found), not an error; the right one (among other TXT records) verifies.
async fn verification_needs_the_published_token(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let client = s.domains(&org);
    let domain = s.add_domain(&org, "Acme-Mail.Example").await;
    assert_eq!(domain.name, "acme-mail.example", "normalized to lower case");
    assert_eq!(domain.organization_id, org.id);
    assert_eq!(domain.address_count, 0);
    assert!(domain.created_at.is_some() && domain.verified_at.is_none());

    let ownership = ownership_record(&domain);
    assert_eq!(ownership.r#type, "TXT");
    assert_eq!(ownership.name, "_mailadmin-challenge.acme-mail.example");
    let token = ownership
        .value
        .strip_prefix("mailadmin-verification=")
        .unwrap_or_else(|| panic!("ownership value: {ownership:?}"));
    assert!(token.len() >= 16, "a token worth guessing: {token:?}");
    for purpose in PURPOSES {
        assert!(
            !records_of(&domain, purpose).is_empty(),
            "the domain lists a {purpose:?} record: {:#?}",
            domain.records
        );
    }
    assert_eq!(
        s.get_domain(&org, domain.id).await.records,
        domain.records,
        "GetDomain lists the records AddDomain did"
    );

    // Nothing published yet.
    let answer = ok(verify(&client, domain.id).await);
    assert!(!answer.verified, "{answer:?}");
    let check = answer.check.clone().expect("a check in the answer");
    assert!(!check.ok);
    assert_eq!(check.expected.as_ref(), Some(&ownership));
    assert!(check.found.is_empty(), "{check:?}");
    assert!(!check.problem.is_empty(), "a failed check says why");
    assert_eq!(
        state_of(answer.domain.as_ref().expect("domain")),
        DomainState::Pending
    );

    // A wrong token.
    let wrong = "mailadmin-verification=not-the-token";
    dns.set_txt(&ownership.name, &[wrong]);
    let answer = ok(verify(&client, domain.id).await);
    assert!(!answer.verified, "{answer:?}");
    let check = answer.check.expect("a check in the answer");
    assert!(!check.ok);
    assert_eq!(
        check.expected.as_ref(),
        Some(&ownership),
        "what was expected"
    );
    assert_eq!(check.found, vec![wrong.to_string()], "what was found");
    assert!(!check.problem.is_empty());
    let pending = s.get_domain(&org, domain.id).await;
    assert_eq!(state_of(&pending), DomainState::Pending);
    assert!(pending.verified_at.is_none());

    // The right token, next to an unrelated TXT record.
    dns.set_txt(
        &ownership.name,
        &["some-other-site-verification=xyz", &ownership.value],
    );
    let answer = ok(verify(&client, domain.id).await);
    assert!(answer.verified, "{answer:?}");
    let check = answer.check.expect("a check in the answer");
    assert!(check.ok && check.problem.is_empty(), "{check:?}");
    assert!(check.found.contains(&ownership.value), "{check:?}");
    let verified = answer.domain.expect("domain");
    assert_eq!(state_of(&verified), DomainState::Verified);
    assert!(verified.verified_at.is_some());
    assert_eq!(
        state_of(&s.get_domain(&org, domain.id).await),
        DomainState::Verified
    );

    // Verifying again is harmless; the record may go once ownership is proved.
    assert!(ok(verify(&client, domain.id).await).verified);
    dns.clear(&ownership.name);
    let _ = ok(verify(&client, domain.id).await);
    assert_eq!(
        state_of(&s.get_domain(&org, domain.id).await),
        DomainState::Verified,
        "a verified domain stays verified"
    );
}

/// Item D2: A Unicode domain is stored in IDNA ASCII form, shown in Unicode,
/// and its challenge lives under the ASCII name; both spellings are one
/// domain.
async fn unicode_domains_are_normalized(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Buecher", Plan::Pro).await;
    let domain = s.add_domain(&org, "Bücher.Example").await;
    assert_eq!(domain.name, "xn--bcher-kva.example");
    assert_eq!(domain.display_name, "bücher.example");
    let ownership = ownership_record(&domain);
    assert_eq!(ownership.name, "_mailadmin-challenge.xn--bcher-kva.example");
    assert_code(
        add(&s.domains(&org), 0, "XN--BCHER-KVA.example").await,
        Code::AlreadyExists,
    );
    publish(dns, &ownership);
    let answer = ok(verify(&s.domains(&org), domain.id).await);
    assert!(answer.verified, "{answer:?}");
    assert_eq!(list_domains(&s.domains(&org), 0).await.len(), 1);
}

/// Item D3: A DNS server that never answers (500 ms timeout) makes
/// VerifyDomain and CheckDomainRecords UNAVAILABLE, quickly; the claim stays
/// PENDING.
async fn dns_timeout_is_unavailable(s: &TestServer, _silent: &SilentDns) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let client = s.domains(&org);
    let domain = s.add_domain(&org, "slow.example").await;

    let started = Instant::now();
    assert_code(verify(&client, domain.id).await, Code::Unavailable);
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(20),
        "a 500 ms DNS timeout took {elapsed:?}"
    );
    assert_eq!(
        state_of(&s.get_domain(&org, domain.id).await),
        DomainState::Pending
    );
    assert_code(
        client
            .clone()
            .check_domain_records(pb::CheckDomainRecordsRequest {
                domain_id: domain.id,
            })
            .await,
        Code::Unavailable,
    );
}

/// Item D4: Several organizations claim one domain; the first to verify owns
/// it, the other claims are dropped (gone for their admins, an audit event
/// `domain.claim_dropped` in their logs), and a dropped claim no longer
/// counts against the plan's domain limit.
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

/// Item D4b: Several organizations verifying one domain at the same time:
/// exactly one wins; every other answer is NOT_FOUND (its claim was dropped)
/// or FAILED_PRECONDITION (verified by another organization first), never a
/// server error; afterwards exactly one organization holds the domain.
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

/// Item D5: ActivateDomain needs every MX of the domain to point at the
/// provider's MX hosts: a PENDING domain is FAILED_PRECONDITION, a missing or
/// foreign MX is activated = false with the problem, the right MX makes it
/// ACTIVE; DeactivateDomain turns it back to VERIFIED.
async fn activation_follows_the_mx(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let client = s.domains(&org);
    let domain = s.add_domain(&org, "acme.example").await;
    let expected_mx = records_of(&domain, RecordPurpose::Mx);
    assert_eq!(
        expected_mx
            .iter()
            .map(|r| (r.r#type.as_str(), r.name.as_str(), r.value.as_str()))
            .collect::<Vec<_>>(),
        vec![("MX", "acme.example", "10 mx1.mailadmin.example")],
        "the default MX host"
    );
    assert_code(activate(&client, domain.id).await, Code::FailedPrecondition);

    publish(dns, &ownership_record(&domain));
    assert!(ok(verify(&client, domain.id).await).verified);

    // No MX at all.
    let answer = ok(activate(&client, domain.id).await);
    assert!(!answer.activated, "{answer:?}");
    let check = answer.check.expect("check");
    assert!(!check.ok && !check.problem.is_empty(), "{check:?}");
    assert!(check.found.is_empty(), "{check:?}");
    assert_eq!(
        state_of(&answer.domain.expect("domain")),
        DomainState::Verified
    );

    // Still at the old host.
    dns.set_mx("acme.example", &[(10, "mx.old-host.example")]);
    let answer = ok(activate(&client, domain.id).await);
    assert!(!answer.activated, "{answer:?}");
    let check = answer.check.expect("check");
    assert!(!check.ok);
    assert_eq!(check.found, vec!["10 mx.old-host.example".to_string()]);
    assert!(
        check.problem.contains("mx.old-host.example"),
        "the problem names the foreign host: {check:?}"
    );
    assert_eq!(
        check.expected.as_ref().map(|r| r.purpose),
        Some(RecordPurpose::Mx as i32)
    );

    // Half moved: one MX here, one elsewhere.
    dns.set_mx(
        "acme.example",
        &[(10, "mx1.mailadmin.example"), (20, "mx.old-host.example")],
    );
    let answer = ok(activate(&client, domain.id).await);
    assert!(!answer.activated, "every MX must point here: {answer:?}");
    assert_eq!(
        state_of(&s.get_domain(&org, domain.id).await),
        DomainState::Verified
    );

    // Moved (DNS names are case-insensitive).
    dns.set_mx("acme.example", &[(10, "MX1.MailAdmin.Example")]);
    let answer = ok(activate(&client, domain.id).await);
    assert!(answer.activated, "{answer:?}");
    assert!(answer.check.expect("check").ok);
    let active = answer.domain.expect("domain");
    assert_eq!(state_of(&active), DomainState::Active);
    assert!(active.activated_at.is_some());
    assert_eq!(
        state_of(&s.get_domain(&org, domain.id).await),
        DomainState::Active
    );

    let deactivated = ok(client
        .clone()
        .deactivate_domain(pb::DeactivateDomainRequest {
            domain_id: domain.id,
        })
        .await)
    .domain
    .expect("domain");
    assert_eq!(state_of(&deactivated), DomainState::Verified);
    assert_eq!(
        state_of(&s.get_domain(&org, domain.id).await),
        DomainState::Verified
    );
    // And on again.
    assert!(ok(activate(&client, domain.id).await).activated);
}

/// A [`TestDns`] and a server whose MX hosts are two custom ones.
struct TwoMxHosts(TestDns);

impl Fixture for TwoMxHosts {
    async fn start() -> Self {
        TwoMxHosts(TestDns::start().await)
    }
    fn configure(&self, settings: &mut Settings) {
        self.0.configure(settings);
        settings.mx_hosts = vec![
            "mx1.custom-provider.example".to_string(),
            "mx2.custom-provider.example".to_string(),
        ];
    }
}

/// Item D6: With configured MX hosts, GetDomain lists one MX record per host
/// and any of them (each MX pointing at one of them) activates the domain.
async fn activation_with_configured_mx_hosts(s: &TestServer, fixture: &TwoMxHosts) {
    let dns = &fixture.0;
    let org = s.create_org("Acme", Plan::Entry).await;
    let client = s.domains(&org);
    let domain = s.verified_domain(&org, dns, "acme.example").await;
    let values: Vec<String> = records_of(&domain, RecordPurpose::Mx)
        .into_iter()
        .map(|r| r.value)
        .collect();
    assert_eq!(
        values,
        vec![
            "10 mx1.custom-provider.example".to_string(),
            "20 mx2.custom-provider.example".to_string()
        ]
    );
    dns.set_mx("acme.example", &[(10, "mx1.mailadmin.example")]);
    assert!(
        !ok(activate(&client, domain.id).await).activated,
        "the default host is not one of the configured ones"
    );
    dns.set_mx("acme.example", &[(5, "mx2.custom-provider.example")]);
    assert!(ok(activate(&client, domain.id).await).activated);
}

/// Item D7: The master plan's domain limit: Entry allows one domain (a
/// second is FAILED_PRECONDITION until the first is removed), Pro more; a
/// Free master has no console; the same name twice is ALREADY_EXISTS.
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

/// Item D8: Provider domains and their subdomains cannot be claimed:
/// INVALID_ARGUMENT on `name`, for admins and operators alike.
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

/// Item D9: CheckDomainRecords checks every record in DNS now: MX, SPF,
/// DKIM and DMARC (and ownership) are not ok before they are published and
/// ok once the values GetDomain lists are; a wrong DKIM key is not ok.
async fn record_checks(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.add_domain(&org, "records.example").await;
    let one = |purpose| {
        let records = records_of(&domain, purpose);
        assert!(!records.is_empty(), "no {purpose:?} record: {domain:?}");
        records[0].clone()
    };
    let (mx, spf, dkim, dmarc) = (
        one(RecordPurpose::Mx),
        one(RecordPurpose::Spf),
        one(RecordPurpose::Dkim),
        one(RecordPurpose::Dmarc),
    );
    assert_eq!(
        (mx.r#type.as_str(), mx.name.as_str()),
        ("MX", "records.example")
    );
    assert_eq!(
        (spf.r#type.as_str(), spf.name.as_str()),
        ("TXT", "records.example")
    );
    assert!(spf.value.starts_with("v=spf1"), "{spf:?}");
    assert_eq!(dkim.r#type, "TXT");
    assert!(
        dkim.name.ends_with("._domainkey.records.example"),
        "{dkim:?}"
    );
    assert!(dkim.value.starts_with("v=DKIM1"), "{dkim:?}");
    assert_eq!(
        (dmarc.r#type.as_str(), dmarc.name.as_str()),
        ("TXT", "_dmarc.records.example")
    );
    assert!(dmarc.value.starts_with("v=DMARC1"), "{dmarc:?}");

    let checks = |label: &'static str| {
        let client = s.domains(&org);
        async move {
            let checks = ok(client
                .clone()
                .check_domain_records(pb::CheckDomainRecordsRequest {
                    domain_id: domain.id,
                })
                .await)
            .checks;
            let mut by_purpose = Vec::new();
            for purpose in PURPOSES {
                let of: Vec<&pb::RecordCheck> = checks
                    .iter()
                    .filter(|c| c.expected.as_ref().map(|r| r.purpose) == Some(purpose as i32))
                    .collect();
                assert_eq!(of.len(), 1, "{label}: one {purpose:?} check: {checks:#?}");
                by_purpose.push((purpose, of[0].clone()));
            }
            by_purpose
        }
    };

    for (purpose, check) in checks("nothing published").await {
        assert!(
            !check.ok && !check.problem.is_empty(),
            "{purpose:?} is not published yet: {check:?}"
        );
        assert!(check.found.is_empty(), "{purpose:?}: {check:?}");
    }

    publish_all(dns, &domain, &PURPOSES);
    for (purpose, check) in checks("all published").await {
        assert!(
            check.ok && check.problem.is_empty(),
            "{purpose:?} is published: {check:?}"
        );
        assert!(!check.found.is_empty(), "{purpose:?}: {check:?}");
        assert!(
            domain
                .records
                .contains(check.expected.as_ref().expect("expected")),
            "{purpose:?}: the check's expected record is one GetDomain lists: {check:?}"
        );
    }

    // Another key at the DKIM name.
    dns.set_txt(
        &dkim.name,
        &["v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong"],
    );
    for (purpose, check) in checks("wrong DKIM key").await {
        assert_eq!(
            check.ok,
            purpose != RecordPurpose::Dkim,
            "{purpose:?} with a wrong DKIM key: {check:?}"
        );
    }
}

/// Item D10: Another organization's domain is NOT_FOUND for every
/// DomainService RPC, exactly like a domain that does not exist; the
/// operator reaches every organization's.
async fn other_organizations_domains_are_not_found(s: &TestServer, dns: &TestDns) {
    let a = s.create_org("Alpha", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let domain = s.verified_domain(&a, dns, "alpha.example").await;
    let mut bc = s.domains(&b);
    let id = domain.id;
    let mut failures = Vec::new();
    for domain_id in [id, 9_999_999] {
        let results = [
            ("GetDomain", get(&bc, domain_id).await.map(|_| ())),
            ("VerifyDomain", verify(&bc, domain_id).await.map(|_| ())),
            ("ActivateDomain", activate(&bc, domain_id).await.map(|_| ())),
            (
                "DeactivateDomain",
                bc.deactivate_domain(pb::DeactivateDomainRequest { domain_id })
                    .await
                    .map(|_| ()),
            ),
            ("RemoveDomain", remove(&bc, domain_id).await.map(|_| ())),
            (
                "CheckDomainRecords",
                bc.check_domain_records(pb::CheckDomainRecordsRequest { domain_id })
                    .await
                    .map(|_| ()),
            ),
        ];
        for (name, result) in results {
            if let Err(e) = check_code(result, Code::NotFound) {
                failures.push(format!("B's {name}(domain {domain_id}): {e}"));
            }
        }
    }
    if let Err(e) = check_code(
        bc.list_domains(pb::ListDomainsRequest {
            organization_id: a.id,
            ..Default::default()
        })
        .await,
        Code::NotFound,
    ) {
        failures.push(format!("B's ListDomains(A): {e}"));
    }
    if let Err(e) = check_code(add(&bc, a.id, "into-alpha.example").await, Code::NotFound) {
        failures.push(format!("B's AddDomain(organization A): {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // Untouched, and B cannot claim A's verified domain.
    assert_eq!(state_of(&s.get_domain(&a, id).await), DomainState::Verified);
    assert_code_in(
        add(&bc, 0, "alpha.example").await,
        &[Code::FailedPrecondition, Code::AlreadyExists],
    );

    // The operator sees and manages every organization's domains, and must
    // name the organization when adding one.
    let seen = ok(get(&s.domain_operator(), id).await)
        .domain
        .expect("domain");
    assert_eq!(seen.organization_id, a.id);
    assert_invalid(
        add(&s.domain_operator(), 0, "ops.example").await,
        "organization_id",
    );
    let added = ok(add(&s.domain_operator(), a.id, "ops.example").await)
        .domain
        .expect("domain");
    assert_eq!(added.organization_id, a.id);
    assert_eq!(list_domains(&s.domains(&a), 0).await.len(), 2);
}

backend_tests!(
    verification_needs_the_published_token: TestDns,
    unicode_domains_are_normalized: TestDns,
    dns_timeout_is_unavailable: SilentDns,
    first_verifier_wins: TestDns,
    concurrent_verifications_have_one_winner: TestDns,
    activation_follows_the_mx: TestDns,
    activation_with_configured_mx_hosts: TwoMxHosts,
    domain_limit_of_the_plan,
    provider_domains_cannot_be_claimed,
    record_checks: TestDns,
    other_organizations_domains_are_not_found: TestDns,
);
