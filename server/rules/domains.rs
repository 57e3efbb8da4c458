//! Custom domains: claim (PENDING), ownership proved by a TXT record
//! (VERIFIED, the first verifier wins), MX pointed here (ACTIVE); the
//! records to publish and their checks; and where new addresses may live.

use super::model::{
    AccountState, DnsRecord, Domain, DomainState, RecordCheck, RecordPurpose, RecordType, User,
};
use super::plans::PlanTerms;
use super::{DomainError, DomainResult, Kind};

/// The provider's side of every custom domain: its own mail domains (never
/// claimable; their addresses are the provider's to give) and the MX hosts
/// custom domains must point at.
#[derive(Debug, Clone, Copy)]
pub struct Provider<'a> {
    pub domains: &'a [String],
    pub mx_hosts: &'a [String],
}

impl Provider<'_> {
    /// Whether `domain` (IDNA ASCII) is one of the provider's own domains.
    pub fn owns(&self, domain: &str) -> bool {
        self.domains.iter().any(|d| d == domain)
    }

    /// A provider domain, or a name under one, cannot be claimed.
    pub fn check_claimable(&self, field: &str, name: &str) -> DomainResult<()> {
        let under = self
            .domains
            .iter()
            .find(|p| name == p.as_str() || name.ends_with(&format!(".{p}")));
        match under {
            Some(provider) => Err(DomainError::invalid(
                field,
                format!("{name} is under the provider's domain {provider} and cannot be claimed"),
            )),
            None => Ok(()),
        }
    }

    /// The MX records a custom domain `name` points at the provider with,
    /// preferences 10, 20, … in the configured order.
    pub fn mx_records(&self, name: &str) -> Vec<DnsRecord> {
        self.mx_hosts
            .iter()
            .enumerate()
            .map(|(i, host)| DnsRecord {
                purpose: RecordPurpose::Mx,
                record_type: RecordType::Mx,
                name: name.to_string(),
                value: format!("{} {host}", 10 * (i + 1)),
            })
            .collect()
    }

    /// Every record `domain` should publish: ownership, MX, SPF, one DKIM
    /// record per key that is not retired, DMARC (docs/rules.md, "Records
    /// to publish").
    pub fn records(&self, domain: &Domain) -> Vec<DnsRecord> {
        let mut records = vec![ownership_record(domain)];
        records.extend(self.mx_records(&domain.name));
        let spf_domain = self
            .domains
            .first()
            .map(String::as_str)
            .unwrap_or("invalid");
        records.push(txt(
            RecordPurpose::Spf,
            &domain.name,
            format!("v=spf1 mx include:_spf.{spf_domain} ~all"),
        ));
        records.extend(
            domain
                .dkim_keys
                .iter()
                .filter(|key| key.state.is_published())
                .map(|key| super::dkim::record(&domain.name, key)),
        );
        records.push(txt(
            RecordPurpose::Dmarc,
            &format!("_dmarc.{}", domain.name),
            "v=DMARC1; p=quarantine; adkim=r; aspf=r".to_string(),
        ));
        records
    }
}

/// May `organization_id`, holding `held` domains, claim `name`, which
/// `owned` (if any) already owns? Within its plan's domain limit, and not
/// a domain some organization has verified (docs/rules.md, "Claims").
pub fn check_claim(
    name: &str,
    organization_id: i64,
    terms: &PlanTerms,
    held: u32,
    owned: Option<&Domain>,
) -> DomainResult<()> {
    if held >= terms.max_domains {
        return Err(DomainError::precondition(format!(
            "the organization has {held} of {} domains its {} plan allows",
            terms.max_domains,
            terms.plan.as_str()
        )));
    }
    match owned {
        Some(owned) if owned.organization_id == organization_id => {
            Err(DomainError::AlreadyExists {
                kind: Kind::Domain,
                detail: format!("{name} is already this organization's"),
            })
        }
        Some(_) => Err(DomainError::precondition(format!(
            "{name} is in use by another organization"
        ))),
        None => Ok(()),
    }
}

/// Where the ownership token is published, under the domain.
pub const CHALLENGE_LABEL: &str = "_mailadmin-challenge";

const CHALLENGE_PREFIX: &str = "mailadmin-verification=";

/// The outcome of VerifyDomain or ActivateDomain: a failed check is an
/// answer, not an error.
pub struct CheckOutcome {
    pub passed: bool,
    pub check: RecordCheck,
    pub domain: Domain,
}

/// May `alias` become an alias of `target` (docs/rules.md, "Domain
/// aliases")? Both must be domains of one organization (another's is not
/// found), ownership proved (not PENDING); the alias holds no addresses, is
/// no other domain's target, and the target is not an alias itself (no
/// chains).
pub fn check_domain_alias(alias: &Domain, target: &Domain) -> DomainResult<()> {
    if alias.organization_id != target.organization_id {
        return Err(DomainError::NotFound(Kind::Domain));
    }
    if alias.id == target.id {
        return Err(DomainError::invalid(
            "target_domain_id",
            "a domain cannot be an alias of itself",
        ));
    }
    for domain in [alias, target] {
        if domain.state == DomainState::Pending {
            return Err(DomainError::precondition(format!(
                "{} is pending: verify ownership first",
                domain.name
            )));
        }
    }
    if alias.address_count > 0 {
        return Err(DomainError::precondition(format!(
            "{} addresses use {}: an alias domain has none of its own; delete them first",
            alias.address_count, alias.name
        )));
    }
    if !alias.alias_domain_ids.is_empty() {
        return Err(DomainError::precondition(format!(
            "{} has alias domains of its own: an alias cannot have aliases",
            alias.name
        )));
    }
    if target.alias_of_domain_id.is_some() {
        return Err(DomainError::precondition(format!(
            "{} is itself an alias: name the domain it is an alias of",
            target.name
        )));
    }
    if alias.catch_all_user_id.is_some() {
        return Err(DomainError::precondition(format!(
            "{} has a catch-all: clear it first (the target's applies)",
            alias.name
        )));
    }
    Ok(())
}

/// May `target` be `domain`'s catch-all? It must be an account of the
/// domain's organization (another organization's account is not found, as
/// everywhere) that is not deleted (docs/rules.md, "Catch-all").
pub fn check_catch_all(domain: &Domain, target: Option<&User>) -> DomainResult<()> {
    if domain.alias_of_domain_id.is_some() {
        return Err(DomainError::precondition(format!(
            "{} is an alias domain: set the catch-all on the domain it is an alias of",
            domain.name
        )));
    }
    match target {
        Some(user) if user.organization_id == domain.organization_id => {
            if user.state == AccountState::Deleted {
                Err(DomainError::precondition(format!(
                    "account {} is deleted",
                    user.id
                )))
            } else {
                Ok(())
            }
        }
        _ => Err(DomainError::NotFound(Kind::User)),
    }
}

pub fn txt(purpose: RecordPurpose, name: &str, value: String) -> DnsRecord {
    DnsRecord {
        purpose,
        record_type: RecordType::Txt,
        name: name.to_string(),
        value,
    }
}

pub fn ownership_record(domain: &Domain) -> DnsRecord {
    txt(
        RecordPurpose::Ownership,
        &format!("{CHALLENGE_LABEL}.{}", domain.name),
        format!("{CHALLENGE_PREFIX}{}", domain.verification_token),
    )
}

pub fn outcome(expected: DnsRecord, found: Vec<String>, problem: Option<String>) -> RecordCheck {
    RecordCheck {
        expected,
        ok: problem.is_none(),
        found,
        problem: problem.unwrap_or_default(),
    }
}

pub fn check_ownership(expected: DnsRecord, found: Vec<String>) -> RecordCheck {
    let problem = if found.iter().any(|v| v.trim() == expected.value) {
        None
    } else if found.is_empty() {
        Some(format!("no TXT record at {}", expected.name))
    } else {
        Some(format!(
            "no TXT record at {} has the value {}",
            expected.name, expected.value
        ))
    };
    outcome(expected, found, problem)
}

/// Every MX record must point at one of the provider's hosts.
pub fn check_mx(expected: DnsRecord, hosts: &[String], found: &[(u16, String)]) -> RecordCheck {
    let shown: Vec<String> = found
        .iter()
        .map(|(pref, host)| format!("{pref} {host}"))
        .collect();
    let foreign: Vec<&str> = found
        .iter()
        .map(|(_, host)| host.as_str())
        .filter(|host| !hosts.iter().any(|h| h == host))
        .collect();
    let problem = if found.is_empty() {
        Some(format!("no MX record at {}", expected.name))
    } else if !foreign.is_empty() {
        Some(format!(
            "MX points at {} instead of {}",
            foreign.join(", "),
            hosts.join(", ")
        ))
    } else {
        None
    };
    outcome(expected, shown, problem)
}

/// SPF, DKIM and DMARC: the record must be there with the parts that matter.
pub fn check_txt(expected: DnsRecord, found: Vec<String>) -> RecordCheck {
    let problem = match expected.purpose {
        RecordPurpose::Spf => {
            let spf: Vec<&String> = found
                .iter()
                .filter(|v| v.to_ascii_lowercase().starts_with("v=spf1"))
                .collect();
            let include = expected
                .value
                .split_whitespace()
                .find(|part| part.starts_with("include:"))
                .unwrap_or_default()
                .to_ascii_lowercase();
            match spf.as_slice() {
                [] => Some(format!("no SPF record at {}", expected.name)),
                [one]
                    if one
                        .to_ascii_lowercase()
                        .split_whitespace()
                        .any(|p| p == include) =>
                {
                    None
                }
                [_] => Some(format!("the SPF record does not {include}")),
                _ => {
                    Some("more than one SPF record (receivers treat that as an error)".to_string())
                }
            }
        }
        RecordPurpose::Dkim => {
            if found
                .iter()
                .any(|v| super::dkim::same_key(&expected.value, v))
            {
                None
            } else if found.is_empty() {
                Some(format!("no DKIM record at {}", expected.name))
            } else {
                Some("the DKIM record does not carry this domain's key".to_string())
            }
        }
        RecordPurpose::Dmarc => {
            if found
                .iter()
                .any(|v| v.to_ascii_lowercase().starts_with("v=dmarc1"))
            {
                None
            } else {
                Some(format!("no DMARC policy at {}", expected.name))
            }
        }
        RecordPurpose::Ownership | RecordPurpose::Mx => {
            return check_ownership(expected, found);
        }
    };
    outcome(expected, found, problem)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::rules::model::DomainState;
    use crate::rules::plans::Plan;

    pub(crate) fn domain(organization_id: i64, name: &str, state: DomainState) -> Domain {
        Domain {
            id: 1,
            organization_id,
            name: name.into(),
            display_name: name.into(),
            state,
            verification_token: "tok".into(),
            dkim_keys: vec![crate::rules::dkim::DkimKey {
                id: 1,
                domain_id: 1,
                selector: "ma20261206".into(),
                algorithm: crate::rules::dkim::DkimAlgorithm::Rsa2048,
                state: crate::rules::dkim::DkimKeyState::Active,
                public_key: "MIIB".into(),
                created_at: chrono::DateTime::UNIX_EPOCH,
                activated_at: None,
                retired_at: None,
            }],
            address_count: 0,
            created_at: chrono::DateTime::UNIX_EPOCH,
            verified_at: None,
            activated_at: None,
            catch_all_user_id: None,
            alias_of_domain_id: None,
            alias_domain_ids: Vec::new(),
        }
    }

    fn entry_terms() -> PlanTerms {
        PlanTerms {
            plan: Plan::Entry,
            price_cents: 250,
            aliases_per_user: 10,
            max_accounts: 10,
            max_free_accounts: 2,
            max_domains: 1,
            console: true,
        }
    }

    #[test]
    fn provider_domains_and_their_subdomains_cannot_be_claimed() {
        let domains = ["mailadmin.example".to_string()];
        let provider = Provider {
            domains: &domains,
            mx_hosts: &[],
        };
        assert!(
            provider
                .check_claimable("name", "mailadmin.example")
                .is_err()
        );
        assert!(
            provider
                .check_claimable("name", "eu.mailadmin.example")
                .is_err()
        );
        assert!(
            provider
                .check_claimable("name", "notmailadmin.example")
                .is_ok()
        );
    }

    #[test]
    fn a_claim_needs_room_in_the_plan_and_an_unowned_domain() {
        let terms = entry_terms();
        assert!(check_claim("acme.example", 1, &terms, 0, None).is_ok());
        assert!(matches!(
            check_claim("acme.example", 1, &terms, 1, None),
            Err(DomainError::FailedPrecondition(_))
        ));
        let ours = domain(1, "acme.example", DomainState::Verified);
        assert!(matches!(
            check_claim("acme.example", 1, &terms, 0, Some(&ours)),
            Err(DomainError::AlreadyExists { .. })
        ));
        let theirs = domain(2, "acme.example", DomainState::Active);
        assert!(matches!(
            check_claim("acme.example", 1, &terms, 0, Some(&theirs)),
            Err(DomainError::FailedPrecondition(_))
        ));
    }

    #[test]
    fn the_records_to_publish() {
        let domains = ["mailadmin.example".to_string()];
        let hosts = [
            "mx1.mailadmin.example".to_string(),
            "mx2.mailadmin.example".to_string(),
        ];
        let provider = Provider {
            domains: &domains,
            mx_hosts: &hosts,
        };
        let records = provider.records(&domain(1, "acme.example", DomainState::Pending));
        let values: Vec<_> = records
            .iter()
            .map(|r| (r.name.as_str(), r.value.as_str()))
            .collect();
        assert_eq!(
            values,
            [
                (
                    "_mailadmin-challenge.acme.example",
                    "mailadmin-verification=tok"
                ),
                ("acme.example", "10 mx1.mailadmin.example"),
                ("acme.example", "20 mx2.mailadmin.example"),
                (
                    "acme.example",
                    "v=spf1 mx include:_spf.mailadmin.example ~all"
                ),
                (
                    "ma20261206._domainkey.acme.example",
                    "v=DKIM1; k=rsa; p=MIIB"
                ),
                (
                    "_dmarc.acme.example",
                    "v=DMARC1; p=quarantine; adkim=r; aspf=r"
                ),
            ]
        );
    }

    fn record(purpose: RecordPurpose, value: &str) -> DnsRecord {
        DnsRecord {
            purpose,
            record_type: RecordType::Txt,
            name: "example.com".into(),
            value: value.into(),
        }
    }

    #[test]
    fn mx_must_point_only_at_the_provider() {
        let hosts = vec![
            "mx1.mailadmin.example".to_string(),
            "mx2.mailadmin.example".to_string(),
        ];
        let expected = record(RecordPurpose::Mx, "10 mx1.mailadmin.example");
        assert!(
            check_mx(
                expected.clone(),
                &hosts,
                &[(10, "mx1.mailadmin.example".into())]
            )
            .ok
        );
        let mixed = check_mx(
            expected.clone(),
            &hosts,
            &[
                (10, "mx1.mailadmin.example".into()),
                (20, "mx.old-host.example".into()),
            ],
        );
        assert!(!mixed.ok && mixed.problem.contains("mx.old-host.example"));
        assert!(!check_mx(expected, &hosts, &[]).ok);
    }

    #[test]
    fn txt_checks() {
        let spf = record(
            RecordPurpose::Spf,
            "v=spf1 mx include:_spf.mailadmin.example ~all",
        );
        assert!(
            check_txt(
                spf.clone(),
                vec!["v=spf1 include:_spf.mailadmin.example -all".into()]
            )
            .ok
        );
        assert!(!check_txt(spf.clone(), vec!["v=spf1 -all".into()]).ok);
        let two = check_txt(
            spf,
            vec![
                "v=spf1 include:_spf.mailadmin.example ~all".into(),
                "v=spf1 -all".into(),
            ],
        );
        assert!(!two.ok && two.problem.contains("more than one"));
        let dkim = record(RecordPurpose::Dkim, "v=DKIM1; k=rsa; p=ABC");
        assert!(check_txt(dkim.clone(), vec!["v=DKIM1;  k=rsa;  p=ABC".into()]).ok);
        assert!(!check_txt(dkim, vec!["v=DKIM1; k=rsa; p=XYZ".into()]).ok);
        let dmarc = record(RecordPurpose::Dmarc, "v=DMARC1; p=quarantine");
        assert!(check_txt(dmarc.clone(), vec!["v=DMARC1; p=none".into()]).ok);
        assert!(!check_txt(dmarc, vec![]).ok);
    }

    #[test]
    fn ownership_needs_the_exact_token() {
        let expected = record(RecordPurpose::Ownership, "mailadmin-verification=abc");
        assert!(
            check_ownership(
                expected.clone(),
                vec!["other".into(), "mailadmin-verification=abc".into()]
            )
            .ok
        );
        let wrong = check_ownership(expected.clone(), vec!["mailadmin-verification=abd".into()]);
        assert!(!wrong.ok && wrong.found == vec!["mailadmin-verification=abd".to_string()]);
        assert!(
            check_ownership(expected, vec![])
                .problem
                .contains("no TXT record")
        );
    }
}
