//! DomainService: an organization's own mail domains.

use super::auth::principal;
use super::convert::{self, id, organization_id};
use super::services::domain_service_server::DomainService;
use crate::rules::domains::CheckOutcome;
use crate::rules::paging::Page;
use crate::service::App;
use mailadmin_client::pb;
use tonic::{Request, Response, Status};

pub struct DomainApi {
    app: App,
}

impl DomainApi {
    pub fn new(app: App) -> Self {
        DomainApi { app }
    }

    fn domain(&self, domain: crate::rules::model::Domain) -> pb::Domain {
        let records = self.app.records(&domain);
        convert::domain(domain, records)
    }

    fn outcome(
        &self,
        outcome: CheckOutcome,
    ) -> (bool, Option<pb::RecordCheck>, Option<pb::Domain>) {
        let CheckOutcome {
            passed,
            check,
            domain,
        } = outcome;
        (
            passed,
            Some(convert::record_check(check)),
            Some(self.domain(domain)),
        )
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl DomainService for DomainApi {
    async fn add_domain(
        &self,
        request: Request<pb::AddDomainRequest>,
    ) -> Reply<pb::AddDomainResponse> {
        let principal = principal(&request)?;
        let pb::AddDomainRequest {
            organization_id: org,
            name,
            dkim_algorithm,
        } = request.into_inner();
        let org = organization_id(org)?;
        let algorithm = convert::dkim_algorithm_from("dkim_algorithm", dkim_algorithm)?;
        let domain = self
            .app
            .add_domain(&principal, org, name, algorithm)
            .await?;
        Ok(Response::new(pb::AddDomainResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn get_domain(
        &self,
        request: Request<pb::GetDomainRequest>,
    ) -> Reply<pb::GetDomainResponse> {
        let principal = principal(&request)?;
        let pb::GetDomainRequest { domain_id } = request.into_inner();
        let domain = self
            .app
            .get_domain(&principal, id("domain_id", domain_id)?)
            .await?;
        Ok(Response::new(pb::GetDomainResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn list_domains(
        &self,
        request: Request<pb::ListDomainsRequest>,
    ) -> Reply<pb::ListDomainsResponse> {
        let principal = principal(&request)?;
        let pb::ListDomainsRequest {
            organization_id: org,
            page_size,
            page_token,
        } = request.into_inner();
        let org = organization_id(org)?;
        let page = Page::parse(page_size, &page_token)?;
        let (domains, next_page_token) = self
            .app
            .list_domains(&principal, org, page)
            .await?
            .into_wire(|d| self.domain(d));
        Ok(Response::new(pb::ListDomainsResponse {
            domains,
            next_page_token,
        }))
    }

    async fn verify_domain(
        &self,
        request: Request<pb::VerifyDomainRequest>,
    ) -> Reply<pb::VerifyDomainResponse> {
        let principal = principal(&request)?;
        let pb::VerifyDomainRequest { domain_id } = request.into_inner();
        let outcome = self
            .app
            .verify_domain(&principal, id("domain_id", domain_id)?)
            .await?;
        let (verified, check, domain) = self.outcome(outcome);
        Ok(Response::new(pb::VerifyDomainResponse {
            verified,
            check,
            domain,
        }))
    }

    async fn activate_domain(
        &self,
        request: Request<pb::ActivateDomainRequest>,
    ) -> Reply<pb::ActivateDomainResponse> {
        let principal = principal(&request)?;
        let pb::ActivateDomainRequest { domain_id } = request.into_inner();
        let outcome = self
            .app
            .activate_domain(&principal, id("domain_id", domain_id)?)
            .await?;
        let (activated, check, domain) = self.outcome(outcome);
        Ok(Response::new(pb::ActivateDomainResponse {
            activated,
            check,
            domain,
        }))
    }

    async fn deactivate_domain(
        &self,
        request: Request<pb::DeactivateDomainRequest>,
    ) -> Reply<pb::DeactivateDomainResponse> {
        let principal = principal(&request)?;
        let pb::DeactivateDomainRequest { domain_id } = request.into_inner();
        let domain = self
            .app
            .deactivate_domain(&principal, id("domain_id", domain_id)?)
            .await?;
        Ok(Response::new(pb::DeactivateDomainResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn remove_domain(
        &self,
        request: Request<pb::RemoveDomainRequest>,
    ) -> Reply<pb::RemoveDomainResponse> {
        let principal = principal(&request)?;
        let pb::RemoveDomainRequest { domain_id } = request.into_inner();
        self.app
            .remove_domain(&principal, id("domain_id", domain_id)?)
            .await?;
        Ok(Response::new(pb::RemoveDomainResponse {}))
    }

    async fn set_catch_all(
        &self,
        request: Request<pb::SetCatchAllRequest>,
    ) -> Reply<pb::SetCatchAllResponse> {
        let principal = principal(&request)?;
        let pb::SetCatchAllRequest { domain_id, user_id } = request.into_inner();
        let domain = self
            .app
            .set_catch_all(
                &principal,
                id("domain_id", domain_id)?,
                Some(id("user_id", user_id)?),
            )
            .await?;
        Ok(Response::new(pb::SetCatchAllResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn clear_catch_all(
        &self,
        request: Request<pb::ClearCatchAllRequest>,
    ) -> Reply<pb::ClearCatchAllResponse> {
        let principal = principal(&request)?;
        let pb::ClearCatchAllRequest { domain_id } = request.into_inner();
        let domain = self
            .app
            .set_catch_all(&principal, id("domain_id", domain_id)?, None)
            .await?;
        Ok(Response::new(pb::ClearCatchAllResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn add_domain_alias(
        &self,
        request: Request<pb::AddDomainAliasRequest>,
    ) -> Reply<pb::AddDomainAliasResponse> {
        let principal = principal(&request)?;
        let pb::AddDomainAliasRequest {
            alias_domain_id,
            target_domain_id,
        } = request.into_inner();
        let domain = self
            .app
            .set_domain_alias(
                &principal,
                id("alias_domain_id", alias_domain_id)?,
                Some(id("target_domain_id", target_domain_id)?),
            )
            .await?;
        Ok(Response::new(pb::AddDomainAliasResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn remove_domain_alias(
        &self,
        request: Request<pb::RemoveDomainAliasRequest>,
    ) -> Reply<pb::RemoveDomainAliasResponse> {
        let principal = principal(&request)?;
        let pb::RemoveDomainAliasRequest { alias_domain_id } = request.into_inner();
        let domain = self
            .app
            .set_domain_alias(&principal, id("alias_domain_id", alias_domain_id)?, None)
            .await?;
        Ok(Response::new(pb::RemoveDomainAliasResponse {
            domain: Some(self.domain(domain)),
        }))
    }

    async fn check_domain_records(
        &self,
        request: Request<pb::CheckDomainRecordsRequest>,
    ) -> Reply<pb::CheckDomainRecordsResponse> {
        let principal = principal(&request)?;
        let pb::CheckDomainRecordsRequest { domain_id } = request.into_inner();
        let checks = self
            .app
            .check_domain_records(&principal, id("domain_id", domain_id)?)
            .await?;
        Ok(Response::new(pb::CheckDomainRecordsResponse {
            checks: checks.into_iter().map(convert::record_check).collect(),
        }))
    }

    async fn rotate_dkim_key(
        &self,
        request: Request<pb::RotateDkimKeyRequest>,
    ) -> Reply<pb::RotateDkimKeyResponse> {
        let principal = principal(&request)?;
        let pb::RotateDkimKeyRequest {
            domain_id,
            algorithm,
        } = request.into_inner();
        let domain_id = id("domain_id", domain_id)?;
        let algorithm = convert::dkim_algorithm_from("algorithm", algorithm)?;
        let (domain, key) = self
            .app
            .rotate_dkim_key(&principal, domain_id, algorithm)
            .await?;
        Ok(Response::new(pb::RotateDkimKeyResponse {
            key: Some(convert::dkim_key(&domain.name, key)),
        }))
    }

    async fn list_dkim_keys(
        &self,
        request: Request<pb::ListDkimKeysRequest>,
    ) -> Reply<pb::ListDkimKeysResponse> {
        let principal = principal(&request)?;
        let pb::ListDkimKeysRequest { domain_id } = request.into_inner();
        let domain = self
            .app
            .get_domain(&principal, id("domain_id", domain_id)?)
            .await?;
        Ok(Response::new(pb::ListDkimKeysResponse {
            keys: domain
                .dkim_keys
                .into_iter()
                .map(|key| convert::dkim_key(&domain.name, key))
                .collect(),
        }))
    }

    async fn retire_dkim_key(
        &self,
        request: Request<pb::RetireDkimKeyRequest>,
    ) -> Reply<pb::RetireDkimKeyResponse> {
        let principal = principal(&request)?;
        let pb::RetireDkimKeyRequest {
            domain_id,
            selector,
        } = request.into_inner();
        let domain_id = id("domain_id", domain_id)?;
        if selector.trim().is_empty() {
            return Err(crate::rules::DomainError::invalid("selector", "required").into());
        }
        let (domain, key) = self
            .app
            .retire_dkim_key(&principal, domain_id, selector.trim())
            .await?;
        Ok(Response::new(pb::RetireDkimKeyResponse {
            key: Some(convert::dkim_key(&domain.name, key)),
        }))
    }
}
