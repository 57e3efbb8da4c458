//! GetSigningKeys (docs/rules.md, "Signing keys"): the signing MTA's token
//! gets the ACTIVE key of every ACTIVE domain, an operator's or an admin's
//! token gets nothing; a caller that has the current version gets
//! `unchanged` and no key.

use crate::dns_server::TestDns;
use crate::domains::dkim::publish_key;
use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

async fn get(
    s: &TestServer,
    token: &str,
    domains: &[&str],
    known_version: u64,
) -> Result<pb::GetSigningKeysResponse, tonic::Status> {
    s.delivery_pb_client(Some(token))
        .get_signing_keys(pb::GetSigningKeysRequest {
            domains: domains.iter().map(|d| d.to_string()).collect(),
            known_version,
        })
        .await
        .map(tonic::Response::into_inner)
}

fn domains(answer: &pb::GetSigningKeysResponse) -> Vec<&str> {
    answer.keys.iter().map(|k| k.domain.as_str()).collect()
}

/// An ACTIVE domain whose first key signs.
async fn signing_domain(s: &TestServer, dns: &TestDns, org: &Org, name: &str) -> pb::Domain {
    let domain = s.active_domain(org, dns, name).await;
    let key = ok(s
        .domains(org)
        .list_dkim_keys(pb::ListDkimKeysRequest {
            domain_id: domain.id,
        })
        .await)
    .keys
    .remove(0);
    publish_key(dns, &key);
    ok(s.domains(org)
        .check_domain_records(pb::CheckDomainRecordsRequest {
            domain_id: domain.id,
        })
        .await);
    domain
}

async fn only_the_signing_mta_gets_private_keys(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    signing_domain(s, dns, &org, "alpha.example").await;
    for (who, token) in [
        ("operator", s.operator_token.clone()),
        ("org admin", org.admin_token.clone()),
    ] {
        let denied = assert_code(get(s, &token, &[], 0).await, Code::PermissionDenied);
        assert!(!denied.message().is_empty(), "{who}: {denied:?}");
    }
    let delivery = s.delivery_token().await;
    let answer = get(s, &delivery, &[], 0).await.expect("the delivery token");
    assert_eq!(domains(&answer), ["alpha.example"]);
    assert!(
        answer.keys[0]
            .private_key_pem
            .starts_with("-----BEGIN PRIVATE KEY-----")
    );
}

/// Polling: the same version answers `unchanged` with no key; a new
/// signing key (or domain) changes it; the domains asked for are
/// normalized, unknown ones left out, malformed ones named.
async fn the_version_lets_the_mta_poll_cheaply(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let alpha = signing_domain(s, dns, &org, "alpha.example").await;
    let delivery = s.delivery_token().await;
    let first = get(s, &delivery, &[], 0).await.unwrap();
    assert!(!first.unchanged && first.version != 0, "{first:?}");
    let again = get(s, &delivery, &[], first.version).await.unwrap();
    assert!(again.unchanged && again.keys.is_empty(), "{again:?}");
    assert_eq!(again.version, first.version);

    signing_domain(s, dns, &org, "bravo.example").await;
    let second = get(s, &delivery, &[], first.version).await.unwrap();
    assert!(!second.unchanged, "{second:?}");
    assert_ne!(second.version, first.version);
    assert_eq!(domains(&second), ["alpha.example", "bravo.example"]);

    let asked = get(s, &delivery, &["BRAVO.example", "unknown.example"], 0)
        .await
        .unwrap();
    assert_eq!(domains(&asked), ["bravo.example"]);
    assert_invalid(get(s, &delivery, &["not a domain"], 0).await, "domains");

    // A domain that no longer receives mail here does not sign either.
    ok(s.domains(&org)
        .deactivate_domain(pb::DeactivateDomainRequest {
            domain_id: alpha.id,
        })
        .await);
    let third = get(s, &delivery, &[], second.version).await.unwrap();
    assert_eq!(domains(&third), ["bravo.example"]);
}

backend_tests!(
    only_the_signing_mta_gets_private_keys: TestDns,
    the_version_lets_the_mta_poll_cheaply: TestDns,
);
