//! The records GetDomain lists for publishing, and CheckDomainRecords
//! checking each of them in DNS.

use super::PURPOSES;
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::pb;
use pb::RecordPurpose;

/// CheckDomainRecords checks every record in DNS now
/// (docs/rules.md, "Record checks"): MX, SPF, DKIM and DMARC (and ownership)
/// are not ok before they are published and ok once the values GetDomain lists
/// are; a wrong DKIM key is not ok.
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

backend_tests!(record_checks: TestDns);
