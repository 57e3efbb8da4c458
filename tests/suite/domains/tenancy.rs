//! Tenancy of domains: another organization's are NOT_FOUND for an org
//! admin; the operator reaches every organization's.

use super::{activate, add, get, list_domains, remove, state_of, verify};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::DomainState;
use tonic::Code;

/// Another organization's domain is NOT_FOUND for every DomainService RPC,
/// exactly like a domain that does not exist; the operator reaches every
/// organization's (docs/rules.md, "Tenancy").
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
            (
                "SetCatchAll",
                bc.set_catch_all(pb::SetCatchAllRequest {
                    domain_id,
                    user_id: b.master.id,
                })
                .await
                .map(|_| ()),
            ),
            (
                "ClearCatchAll",
                bc.clear_catch_all(pb::ClearCatchAllRequest { domain_id })
                    .await
                    .map(|_| ()),
            ),
            (
                "AddDomainAlias",
                bc.add_domain_alias(pb::AddDomainAliasRequest {
                    alias_domain_id: domain_id,
                    target_domain_id: domain_id,
                })
                .await
                .map(|_| ()),
            ),
            (
                "RemoveDomainAlias",
                bc.remove_domain_alias(pb::RemoveDomainAliasRequest {
                    alias_domain_id: domain_id,
                })
                .await
                .map(|_| ()),
            ),
            (
                "RotateDkimKey",
                bc.rotate_dkim_key(pb::RotateDkimKeyRequest {
                    domain_id,
                    ..Default::default()
                })
                .await
                .map(|_| ()),
            ),
            (
                "ListDkimKeys",
                bc.list_dkim_keys(pb::ListDkimKeysRequest { domain_id })
                    .await
                    .map(|_| ()),
            ),
            (
                "RetireDkimKey",
                bc.retire_dkim_key(pb::RetireDkimKeyRequest {
                    domain_id,
                    selector: "ma20261206".into(),
                })
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
    let keys = ok(s
        .domains(&a)
        .list_dkim_keys(pb::ListDkimKeysRequest { domain_id: id })
        .await)
    .keys;
    assert_eq!(
        keys.len(),
        1,
        "B rotated or retired none of A's keys: {keys:?}"
    );
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

backend_tests!(other_organizations_domains_are_not_found: TestDns);
