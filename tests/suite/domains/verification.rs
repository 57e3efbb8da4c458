//! VerifyDomain: ownership proved by the TXT record the claim lists, for
//! ASCII and Unicode names, and UNAVAILABLE when DNS does not answer.

use super::{PURPOSES, add, list_domains, state_of, verify};
use crate::dns_server::{SilentDns, TestDns};
use crate::harness::*;
use mailadmin_client::pb;
use pb::DomainState;
use std::time::{Duration, Instant};
use tonic::Code;

/// The ownership record is the first record
/// (docs/rules.md, "Ownership challenge"); a missing or wrong TXT record is an
/// answer (verified = false, with what was expected and what was found), not an
/// error; the right one (among other TXT records) verifies
/// (docs/rules.md, "VerifyDomain").
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

/// A Unicode domain is stored in IDNA ASCII form, shown in Unicode, and
/// its challenge lives under the ASCII name; both spellings are one domain
/// (docs/rules.md, "Claims").
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

/// A DNS server that never answers (500 ms timeout) makes VerifyDomain and
/// CheckDomainRecords UNAVAILABLE, quickly; the claim stays PENDING
/// (docs/rules.md, "DNS lookups").
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

backend_tests!(
    verification_needs_the_published_token: TestDns,
    unicode_domains_are_normalized: TestDns,
    dns_timeout_is_unavailable: SilentDns,
);
