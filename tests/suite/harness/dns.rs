//! Domains through DomainService and a [`TestDns`]: records published,
//! claims verified and activated; and the [`Fixture`]s a test starts
//! before its server (a DNS server, among others).

use super::{DomainClient, Org, TestServer, ok};
use crate::dns_server::{SilentDns, TestDns};
use mailadmin_client::pb;
use mailadmin_server::Settings;
use std::time::Duration;

impl TestServer {
    /// A DomainService client for `org`'s admin.
    pub fn domains(&self, org: &Org) -> DomainClient {
        self.domain_client(Some(&org.admin_token))
    }

    /// Claims `name` for `org` (its admin): a PENDING domain.
    pub async fn add_domain(&self, org: &Org, name: &str) -> pb::Domain {
        let domain = ok(self
            .domains(org)
            .add_domain(pb::AddDomainRequest {
                organization_id: 0,
                name: name.to_string(),
                ..Default::default()
            })
            .await)
        .domain
        .expect("domain in the answer");
        assert_eq!(
            domain.state,
            pb::DomainState::Pending as i32,
            "a new claim is PENDING: {domain:?}"
        );
        domain
    }

    /// Claims `name` for `org`, publishes its ownership TXT record in `dns`
    /// and verifies it: a VERIFIED domain.
    pub async fn verified_domain(&self, org: &Org, dns: &TestDns, name: &str) -> pb::Domain {
        let claimed = self.add_domain(org, name).await;
        publish(dns, &ownership_record(&claimed));
        let answer = ok(self
            .domains(org)
            .verify_domain(pb::VerifyDomainRequest {
                domain_id: claimed.id,
            })
            .await);
        assert!(answer.verified, "VerifyDomain of {name}: {answer:?}");
        let domain = answer.domain.expect("domain in the answer");
        assert_eq!(domain.state, pb::DomainState::Verified as i32, "{domain:?}");
        domain
    }

    /// [`TestServer::verified_domain`], then points its MX at the
    /// provider's hosts (the MX records GetDomain lists) and activates it:
    /// an ACTIVE domain.
    pub async fn active_domain(&self, org: &Org, dns: &TestDns, name: &str) -> pb::Domain {
        let verified = self.verified_domain(org, dns, name).await;
        publish_all(dns, &verified, &[pb::RecordPurpose::Mx]);
        let answer = ok(self
            .domains(org)
            .activate_domain(pb::ActivateDomainRequest {
                domain_id: verified.id,
            })
            .await);
        assert!(answer.activated, "ActivateDomain of {name}: {answer:?}");
        let domain = answer.domain.expect("domain in the answer");
        assert_eq!(domain.state, pb::DomainState::Active as i32, "{domain:?}");
        domain
    }

    /// GetDomain through `org`'s admin.
    pub async fn get_domain(&self, org: &Org, domain_id: i64) -> pb::Domain {
        ok(self
            .domains(org)
            .get_domain(pb::GetDomainRequest { domain_id })
            .await)
        .domain
        .expect("domain in the answer")
    }
}

/// The records of `domain` with `purpose`, in the order GetDomain lists them.
pub fn records_of(domain: &pb::Domain, purpose: pb::RecordPurpose) -> Vec<pb::DnsRecord> {
    domain
        .records
        .iter()
        .filter(|r| r.purpose == purpose as i32)
        .cloned()
        .collect()
}

/// The ownership record: the first of `domain.records`, as the API promises.
pub fn ownership_record(domain: &pb::Domain) -> pb::DnsRecord {
    let record = domain
        .records
        .first()
        .unwrap_or_else(|| panic!("a domain lists its records: {domain:?}"))
        .clone();
    assert_eq!(
        record.purpose,
        pb::RecordPurpose::Ownership as i32,
        "the first record is the ownership record: {domain:?}"
    );
    record
}

/// Publishes `record` in `dns` as the only record of its type at its name.
pub fn publish(dns: &TestDns, record: &pb::DnsRecord) {
    publish_set(dns, std::slice::from_ref(record));
}

/// Publishes every record of `domain` with one of `purposes`; records of
/// one type at one name (several MX hosts) are published together.
pub fn publish_all(dns: &TestDns, domain: &pb::Domain, purposes: &[pb::RecordPurpose]) {
    let chosen: Vec<pb::DnsRecord> = domain
        .records
        .iter()
        .filter(|r| purposes.iter().any(|p| *p as i32 == r.purpose))
        .cloned()
        .collect();
    publish_set(dns, &chosen);
}

fn publish_set(dns: &TestDns, records: &[pb::DnsRecord]) {
    let mut txt: Vec<(String, Vec<&str>)> = Vec::new();
    let mut mx: Vec<(String, Vec<(u16, &str)>)> = Vec::new();
    for record in records {
        match record.r#type.as_str() {
            "TXT" => match txt.iter_mut().find(|(n, _)| *n == record.name) {
                Some((_, values)) => values.push(&record.value),
                None => txt.push((record.name.clone(), vec![&record.value])),
            },
            "MX" => {
                let (preference, host) = record
                    .value
                    .split_once(' ')
                    .unwrap_or_else(|| panic!("MX value is \"<preference> <host>\": {record:?}"));
                let preference: u16 = preference
                    .parse()
                    .unwrap_or_else(|_| panic!("MX preference is a number: {record:?}"));
                match mx.iter_mut().find(|(n, _)| *n == record.name) {
                    Some((_, hosts)) => hosts.push((preference, host)),
                    None => mx.push((record.name.clone(), vec![(preference, host)])),
                }
            }
            other => panic!("unexpected record type {other:?}: {record:?}"),
        }
    }
    for (name, values) in &txt {
        dns.set_txt(name, values);
    }
    for (name, hosts) in &mx {
        dns.set_mx(name, hosts);
    }
}

/// Something a test needs running before its server starts, and which the
/// server's settings point at (see [`backend_tests!`]'s `name: Fixture`).
pub trait Fixture: Sized {
    fn start() -> impl std::future::Future<Output = Self>;
    fn configure(&self, settings: &mut Settings);
}

/// The server resolves through a [`TestDns`] (3 s timeout).
impl Fixture for TestDns {
    async fn start() -> Self {
        TestDns::start().await
    }
    fn configure(&self, settings: &mut Settings) {
        settings.dns_server = Some(self.addr);
    }
}

/// The server asks a [`SilentDns`], with a 500 ms timeout.
impl Fixture for SilentDns {
    async fn start() -> Self {
        SilentDns::start().await
    }
    fn configure(&self, settings: &mut Settings) {
        settings.dns_server = Some(self.addr);
        settings.dns_timeout = Duration::from_millis(500);
    }
}
