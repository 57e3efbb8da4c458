//! Custom domains: claim (PENDING), ownership proved by a TXT record
//! (VERIFIED, the first verifier wins), MX pointed here (ACTIVE); the
//! records to publish and their checks; and where new addresses may live.

use super::App;
use crate::dns::DnsError;
use crate::rules::address::{AddressHome, EmailAddress, normalize_domain};
use crate::rules::audit::audit;
use crate::rules::dkim::DkimAlgorithm;
use crate::rules::domains::{
    self, CheckOutcome, Provider, check_claim, check_mx, check_ownership, check_txt,
    ownership_record,
};
use crate::rules::model::{
    DnsRecord, Domain, DomainState, NewAuditEvent, RecordCheck, RecordPurpose,
};
use crate::rules::paging::{Page, Paged};
use crate::rules::{Dependency, DomainError, DomainResult, Kind, Principal};
use crate::secrets;
use crate::store::{NewDomainRow, Tx};

impl App {
    pub async fn add_domain(
        &self,
        principal: &Principal,
        organization_id: i64,
        name: String,
        dkim_algorithm: DkimAlgorithm,
    ) -> DomainResult<Domain> {
        let name = normalize_domain("name", &name)?;
        self.provider().check_claimable("name", &name)?;
        let organization_id = principal.scope_organization(organization_id)?;
        let now = self.now();
        let tx = self.store().write().await?;
        let organization = tx
            .lock_organization(organization_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Organization))?;
        self.authorize_organization(&tx, principal, organization_id)
            .await?;
        let terms = tx.plan_terms(organization.master_plan).await?;
        let held = tx.count_domains(organization_id).await?;
        let owned = tx.owned_domain(&name).await?;
        check_claim(&name, organization_id, &terms, held, owned.as_ref())?;
        let display_name = EmailAddress::parse("name", &format!("x@{name}"))
            .map(|a| a.display()[2..].to_string())
            .unwrap_or_else(|_| name.clone());
        let domain = tx
            .insert_domain(
                NewDomainRow {
                    organization_id,
                    name: &name,
                    display: &display_name,
                    verification_token: &secrets::new_secret("")[..32],
                },
                now,
            )
            .await?;
        let key = self.add_dkim_key(&tx, &domain, dkim_algorithm, now).await?;
        tx.record(
            audit(
                principal,
                Some(organization_id),
                "domain.add",
                format!("domain:{}", domain.id),
            )
            .details(format!(
                "name={name} dkim_selector={} dkim_algorithm={}",
                key.selector,
                dkim_algorithm.as_str()
            )),
            now,
        )
        .await?;
        let domain = self.authorize_domain(&tx, principal, domain.id).await?;
        tx.commit().await?;
        Ok(domain)
    }

    pub async fn get_domain(&self, principal: &Principal, domain_id: i64) -> DomainResult<Domain> {
        let tx = self.store().read().await?;
        self.authorize_domain(&tx, principal, domain_id).await
    }

    pub async fn list_domains(
        &self,
        principal: &Principal,
        organization_id: i64,
        page: Page,
    ) -> DomainResult<Paged<Domain>> {
        let organization_id = principal.scope_organization(organization_id)?;
        let tx = self.store().read().await?;
        self.authorize_organization(&tx, principal, organization_id)
            .await?;
        let items = tx.list_domains(organization_id, page).await?;
        Ok(Paged::new(page, items, |d| d.id))
    }

    /// Looks for the ownership TXT record now. Found: the claim becomes the
    /// owner (unless another organization verified first) and the other
    /// organizations' claims are dropped, their admins notified.
    pub async fn verify_domain(
        &self,
        principal: &Principal,
        domain_id: i64,
    ) -> DomainResult<CheckOutcome> {
        let domain = self.get_domain(principal, domain_id).await?;
        let expected = ownership_record(&domain);
        if domain.state != DomainState::Pending {
            return Ok(CheckOutcome {
                passed: true,
                check: RecordCheck {
                    expected,
                    ok: true,
                    found: Vec::new(),
                    problem: String::new(),
                },
                domain,
            });
        }
        let found = self
            .dns()
            .txt(&expected.name)
            .await
            .map_err(dns_unavailable)?;
        let check = check_ownership(expected, found);
        if !check.ok {
            return Ok(CheckOutcome {
                passed: false,
                check,
                domain,
            });
        }
        let now = self.now();
        let tx = self.store().write().await?;
        tx.lock_domain_name(&domain.name).await?;
        // Another organization may have won, and dropped this claim, while
        // DNS was being asked.
        let current = self.authorize_domain(&tx, principal, domain_id).await?;
        if current.state == DomainState::Pending {
            tx.mark_domain_verified(domain_id, now)
                .await
                .map_err(|e| match e {
                    DomainError::AlreadyExists { .. } => DomainError::precondition(format!(
                        "{} was verified by another organization first",
                        domain.name
                    )),
                    other => other,
                })?;
            for (dropped_id, organization_id) in
                tx.drop_other_claims(&domain.name, domain_id).await?
            {
                tx.insert_notification(
                    organization_id,
                    crate::rules::billing::NotificationKind::DomainClaimDropped.as_str(),
                    &format!(
                        "Your claim on {} was dropped: another organization proved ownership first.",
                        domain.display_name
                    ),
                    now,
                )
                .await?;
                tx.record(
                    NewAuditEvent {
                        actor: principal.actor(),
                        organization_id: Some(organization_id),
                        action: "domain.claim_dropped",
                        target: format!("domain:{dropped_id}"),
                        details: format!(
                            "name={} verified by organization {}",
                            domain.name, domain.organization_id
                        ),
                    },
                    now,
                )
                .await?;
            }
            tx.record(
                audit(
                    principal,
                    Some(domain.organization_id),
                    "domain.verify",
                    format!("domain:{domain_id}"),
                ),
                now,
            )
            .await?;
        }
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        tx.commit().await?;
        Ok(CheckOutcome {
            passed: true,
            check,
            domain,
        })
    }

    /// VERIFIED → ACTIVE once every MX record points at the provider's MX hosts.
    pub async fn activate_domain(
        &self,
        principal: &Principal,
        domain_id: i64,
    ) -> DomainResult<CheckOutcome> {
        let domain = self.get_domain(principal, domain_id).await?;
        let expected = self.provider().mx_records(&domain.name);
        let first = expected
            .first()
            .cloned()
            .ok_or_else(|| DomainError::internal("no MX hosts configured"))?;
        if domain.state == DomainState::Pending {
            return Err(DomainError::precondition(format!(
                "{} is pending: verify ownership first",
                domain.name
            )));
        }
        let found = self.dns().mx(&domain.name).await.map_err(dns_unavailable)?;
        let check = check_mx(first, &self.settings().mx_hosts, &found);
        if !check.ok || domain.state == DomainState::Active {
            return Ok(CheckOutcome {
                passed: check.ok,
                check,
                domain,
            });
        }
        let domain = self
            .set_domain_state(
                principal,
                domain_id,
                DomainState::Verified,
                DomainState::Active,
                "domain.activate",
            )
            .await?;
        Ok(CheckOutcome {
            passed: true,
            check,
            domain,
        })
    }

    /// ACTIVE → VERIFIED: mail is no longer delivered for the domain.
    pub async fn deactivate_domain(
        &self,
        principal: &Principal,
        domain_id: i64,
    ) -> DomainResult<Domain> {
        self.set_domain_state(
            principal,
            domain_id,
            DomainState::Active,
            DomainState::Verified,
            "domain.deactivate",
        )
        .await
    }

    async fn set_domain_state(
        &self,
        principal: &Principal,
        domain_id: i64,
        from: DomainState,
        to: DomainState,
        action: &'static str,
    ) -> DomainResult<Domain> {
        let now = self.now();
        let tx = self.store().write().await?;
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        if domain.state == to {
            return Ok(domain);
        }
        if domain.state != from {
            return Err(DomainError::precondition(format!(
                "{} is {}, not {}",
                domain.name,
                domain.state.as_str(),
                from.as_str()
            )));
        }
        tx.set_domain_state(domain_id, to, now).await?;
        self.finish_domain_change(tx, principal, &domain, action, String::new(), now)
            .await
    }

    pub async fn remove_domain(&self, principal: &Principal, domain_id: i64) -> DomainResult<()> {
        let now = self.now();
        let tx = self.store().write().await?;
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        if domain.address_count > 0 {
            return Err(DomainError::precondition(format!(
                "{} addresses use {}: delete them first",
                domain.address_count, domain.name
            )));
        }
        if !domain.alias_domain_ids.is_empty() {
            return Err(DomainError::precondition(format!(
                "{} alias domains point at {}: remove them first (RemoveDomainAlias)",
                domain.alias_domain_ids.len(),
                domain.name
            )));
        }
        tx.delete_domain(domain_id).await?;
        tx.record(
            audit(
                principal,
                Some(domain.organization_id),
                "domain.remove",
                format!("domain:{domain_id}"),
            )
            .details(format!("name={}", domain.name)),
            now,
        )
        .await?;
        tx.commit().await
    }

    /// Checks every record the domain should publish, in DNS, now; a
    /// PENDING DKIM key found published takes over signing.
    pub async fn check_domain_records(
        &self,
        principal: &Principal,
        domain_id: i64,
    ) -> DomainResult<Vec<RecordCheck>> {
        let domain = self.get_domain(principal, domain_id).await?;
        let mut checks = Vec::new();
        let mut dkim = Some(self.check_dkim_keys(&principal.actor(), &domain).await?);
        for expected in self.records(&domain) {
            let check = match expected.purpose {
                RecordPurpose::Ownership => {
                    let found = self
                        .dns()
                        .txt(&expected.name)
                        .await
                        .map_err(dns_unavailable)?;
                    check_ownership(expected, found)
                }
                RecordPurpose::Mx => {
                    // One MX check covers every host.
                    if checks
                        .iter()
                        .any(|c: &RecordCheck| c.expected.purpose == RecordPurpose::Mx)
                    {
                        continue;
                    }
                    let found = self.dns().mx(&domain.name).await.map_err(dns_unavailable)?;
                    check_mx(expected, &self.settings().mx_hosts, &found)
                }
                RecordPurpose::Dkim => {
                    // Checked above, one per published key, in record order.
                    checks.extend(dkim.take().unwrap_or_default());
                    continue;
                }
                RecordPurpose::Spf | RecordPurpose::Dmarc => {
                    let found = self
                        .dns()
                        .txt(&expected.name)
                        .await
                        .map_err(dns_unavailable)?;
                    check_txt(expected, found)
                }
            };
            checks.push(check);
        }
        Ok(checks)
    }

    /// Sets the domain's catch-all to `user_id`, or clears it (`None`).
    pub async fn set_catch_all(
        &self,
        principal: &Principal,
        domain_id: i64,
        user_id: Option<i64>,
    ) -> DomainResult<Domain> {
        let now = self.now();
        let tx = self.store().write().await?;
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        if domain.catch_all_user_id == user_id {
            return Ok(domain);
        }
        let (action, details) = match user_id {
            Some(user_id) => {
                let target = tx.find_user(user_id).await?;
                domains::check_catch_all(&domain, target.as_ref())?;
                ("domain.set_catch_all", format!("user:{user_id}"))
            }
            None => ("domain.clear_catch_all", String::new()),
        };
        tx.set_catch_all(domain_id, user_id).await?;
        self.finish_domain_change(tx, principal, &domain, action, details, now)
            .await
    }

    /// Makes `alias_id` an alias of `target_id`, or (`None`) no alias any more.
    pub async fn set_domain_alias(
        &self,
        principal: &Principal,
        alias_id: i64,
        target_id: Option<i64>,
    ) -> DomainResult<Domain> {
        let now = self.now();
        let tx = self.store().write().await?;
        let alias = self.authorize_domain(&tx, principal, alias_id).await?;
        if alias.alias_of_domain_id == target_id {
            return Ok(alias);
        }
        let (action, details) = match target_id {
            Some(target_id) => {
                let target = self.authorize_domain(&tx, principal, target_id).await?;
                domains::check_domain_alias(&alias, &target)?;
                ("domain.add_alias", format!("alias_of=domain:{target_id}"))
            }
            None => ("domain.remove_alias", String::new()),
        };
        tx.set_alias_of(alias_id, target_id).await?;
        self.finish_domain_change(tx, principal, &alias, action, details, now)
            .await
    }

    /// Audits a change to `domain`, commits, and returns the domain as it
    /// is now.
    async fn finish_domain_change(
        &self,
        tx: Tx,
        principal: &Principal,
        domain: &Domain,
        action: &'static str,
        details: String,
        now: chrono::DateTime<chrono::Utc>,
    ) -> DomainResult<Domain> {
        tx.record(
            audit(
                principal,
                Some(domain.organization_id),
                action,
                format!("domain:{}", domain.id),
            )
            .details(details),
            now,
        )
        .await?;
        let changed = self.authorize_domain(&tx, principal, domain.id).await?;
        tx.commit().await?;
        Ok(changed)
    }

    /// Loads a domain the caller may manage, or NotFound.
    pub(crate) async fn authorize_domain(
        &self,
        tx: &Tx,
        principal: &Principal,
        domain_id: i64,
    ) -> DomainResult<Domain> {
        let domain = tx
            .find_domain(domain_id)
            .await?
            .ok_or(DomainError::NotFound(Kind::Domain))?;
        if !principal.manages(domain.organization_id) {
            return Err(DomainError::NotFound(Kind::Domain));
        }
        self.authorize_organization(tx, principal, domain.organization_id)
            .await?;
        Ok(domain)
    }

    /// The provider's domains and MX hosts, from the settings.
    pub fn provider(&self) -> Provider<'_> {
        Provider {
            domains: &self.settings().provider_domains,
            mx_hosts: &self.settings().mx_hosts,
        }
    }

    /// Every record `domain` should publish: ownership, MX, SPF, DKIM, DMARC.
    pub fn records(&self, domain: &Domain) -> Vec<DnsRecord> {
        self.provider().records(domain)
    }

    /// Where `address` would live if an account of `organization_id` got it.
    pub(crate) async fn address_home(
        &self,
        tx: &Tx,
        organization_id: i64,
        address: &EmailAddress,
    ) -> DomainResult<AddressHome> {
        if self.provider().owns(address.domain()) {
            return Ok(AddressHome::Provider);
        }
        let domain = tx
            .find_organization_domain(organization_id, address.domain())
            .await?;
        Ok(AddressHome::Custom(domain.map(Box::new)))
    }
}

pub(crate) fn dns_unavailable(error: DnsError) -> DomainError {
    DomainError::unavailable(Dependency::Dns, error)
}
