//! Custom domains: claim (PENDING), ownership proved by a TXT record
//! (VERIFIED, the first verifier wins), MX pointed here (ACTIVE); the
//! records to publish and their checks; and where new addresses may live.

use super::model::{DnsRecord, Domain, RecordCheck, RecordPurpose, RecordType};

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
    let compact = |s: &str| {
        s.split_whitespace()
            .collect::<String>()
            .to_ascii_lowercase()
    };
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
            let key = compact(&expected.value);
            if found.iter().any(|v| compact(v) == key) {
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
mod tests {
    use super::*;

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
