//! ActivateDomain and DeactivateDomain: the domain's MX must point at the
//! provider's MX hosts, default or configured.

use super::{activate, state_of, verify};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use mailadmin_server::Settings;
use pb::{DomainState, RecordPurpose};
use tonic::Code;

/// ActivateDomain needs every MX of the domain to point at the provider's
/// MX hosts (docs/rules.md, "Activation"): a PENDING domain is
/// FAILED_PRECONDITION, a missing or foreign MX is activated = false with
/// the problem, the right MX makes it ACTIVE; DeactivateDomain turns it
/// back to VERIFIED.
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

/// With configured MX hosts, GetDomain lists one MX record per host
/// (docs/rules.md, "Records to publish") and any of them (each MX pointing
/// at one of them) activates the domain (docs/rules.md, "Activation").
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

backend_tests!(
    activation_follows_the_mx: TestDns,
    activation_with_configured_mx_hosts: TwoMxHosts,
);
