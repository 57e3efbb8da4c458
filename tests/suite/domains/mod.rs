//! DomainService: claims, ownership proved by a TXT record looked up in a
//! real DNS server on loopback, the first verifier winning, activation by
//! MX, the records to publish and their checks, the plan's domain limit,
//! provider domains, tenancy. This module holds the calls the domain tests
//! share.

mod activation;
mod catch_all;
mod claims;
pub(crate) mod dkim;
mod domain_aliases;
mod records;
mod tenancy;
mod verification;

use crate::harness::*;
use mailadmin_client::pb;
use pb::{DomainState, RecordPurpose};

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
            ..Default::default()
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

fn state_of(domain: &pb::Domain) -> DomainState {
    DomainState::try_from(domain.state).unwrap_or(DomainState::Unspecified)
}
