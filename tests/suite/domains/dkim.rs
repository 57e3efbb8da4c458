//! DKIM keys (docs/rules.md, "DKIM keys"): a key is PENDING until its TXT
//! record is seen in the (real, loopback) DNS server, then ACTIVE and
//! signing; a rotation keeps the old key signing until the new one is seen;
//! the signing key cannot be retired before another took over; the
//! published values are the public halves of the keys the MTA gets.

use crate::dns_server::TestDns;
use crate::harness::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mailadmin_client::pb;
use mailadmin_server::Settings;
use pb::{DkimAlgorithm, DkimKeyState};
use std::time::Duration;
use tonic::Code;

async fn keys(s: &TestServer, org: &Org, domain_id: i64) -> Vec<pb::DkimKey> {
    ok(s.domains(org)
        .list_dkim_keys(pb::ListDkimKeysRequest { domain_id })
        .await)
    .keys
}

fn states(keys: &[pb::DkimKey]) -> Vec<(String, DkimKeyState)> {
    keys.iter()
        .map(|k| (k.selector.clone(), k.state()))
        .collect()
}

async fn rotate(
    s: &TestServer,
    org: &Org,
    domain_id: i64,
    algorithm: DkimAlgorithm,
) -> Result<pb::DkimKey, tonic::Status> {
    s.domains(org)
        .rotate_dkim_key(pb::RotateDkimKeyRequest {
            domain_id,
            algorithm: algorithm as i32,
        })
        .await
        .map(|r| r.into_inner().key.expect("key in the answer"))
}

async fn retire(
    s: &TestServer,
    org: &Org,
    domain_id: i64,
    selector: &str,
) -> Result<pb::DkimKey, tonic::Status> {
    s.domains(org)
        .retire_dkim_key(pb::RetireDkimKeyRequest {
            domain_id,
            selector: selector.into(),
        })
        .await
        .map(|r| r.into_inner().key.expect("key in the answer"))
}

/// CheckDomainRecords; the DKIM checks, by record name.
async fn check(s: &TestServer, org: &Org, domain_id: i64) -> Vec<(String, bool)> {
    ok(s.domains(org)
        .check_domain_records(pb::CheckDomainRecordsRequest { domain_id })
        .await)
    .checks
    .into_iter()
    .filter_map(|c| {
        let expected = c.expected?;
        (expected.purpose == pb::RecordPurpose::Dkim as i32).then_some((expected.name, c.ok))
    })
    .collect()
}

pub(crate) fn publish_key(dns: &TestDns, key: &pb::DkimKey) {
    let record = key.record.as_ref().expect("a key carries its record");
    dns.set_txt(&record.name, &[&record.value]);
}

/// The selectors GetSigningKeys hands the MTA, by domain.
pub(crate) async fn signing(s: &TestServer, token: &str) -> Vec<(String, String)> {
    ok(s.delivery_pb_client(Some(token))
        .get_signing_keys(pb::GetSigningKeysRequest::default())
        .await)
    .keys
    .into_iter()
    .map(|k| (k.domain, k.selector))
    .collect()
}

/// The whole rotation: the first key waits for DNS, a rotation keeps the
/// old key signing until the new record is seen, then the new key signs and
/// the old one is RETIRING until retired; every step is audited.
async fn a_rotated_key_signs_once_dns_shows_it(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, "rotate.example").await;
    let delivery = s.delivery_token().await;
    let first = keys(s, &org, domain.id).await.remove(0);
    assert_eq!(first.state(), DkimKeyState::Pending, "{first:?}");
    assert_eq!(first.algorithm(), DkimAlgorithm::Rsa2048, "{first:?}");
    let record = first.record.clone().expect("record");
    assert_eq!(
        record.name,
        format!("{}._domainkey.rotate.example", first.selector)
    );
    assert!(
        record.value.starts_with("v=DKIM1; k=rsa; p=MII"),
        "{record:?}"
    );
    assert!(
        signing(s, &delivery).await.is_empty(),
        "a PENDING key does not sign"
    );

    publish_key(dns, &first);
    assert_eq!(
        check(s, &org, domain.id).await,
        [(record.name.clone(), true)]
    );
    let first = keys(s, &org, domain.id).await.remove(0);
    assert_eq!(first.state(), DkimKeyState::Active);
    assert!(first.activated_at.is_some(), "{first:?}");
    let signs_first = vec![("rotate.example".to_string(), first.selector.clone())];
    assert_eq!(signing(s, &delivery).await, signs_first);

    // Rotate: the new key is PENDING, the old one keeps signing.
    let second = rotate(s, &org, domain.id, DkimAlgorithm::Unspecified)
        .await
        .expect("rotation");
    assert_ne!(second.selector, first.selector);
    assert_eq!(second.state(), DkimKeyState::Pending);
    assert_eq!(second.algorithm(), DkimAlgorithm::Rsa2048, "the default");
    let refused = assert_code(
        retire(s, &org, domain.id, &first.selector).await,
        Code::FailedPrecondition,
    );
    assert!(refused.message().contains("signs"), "{refused:?}");
    let second_name = second.record.clone().expect("record").name;
    assert_eq!(
        check(s, &org, domain.id).await,
        [(record.name.clone(), true), (second_name.clone(), false)],
        "not published yet"
    );
    assert_eq!(
        states(&keys(s, &org, domain.id).await),
        [
            (first.selector.clone(), DkimKeyState::Active),
            (second.selector.clone(), DkimKeyState::Pending)
        ]
    );
    assert_eq!(signing(s, &delivery).await, signs_first);
    let listed = s.get_domain(&org, domain.id).await;
    assert_eq!(
        records_of(&listed, pb::RecordPurpose::Dkim).len(),
        2,
        "both keys are to be published: {listed:?}"
    );

    // Published: the new key signs, the old one is RETIRING.
    publish_key(dns, &second);
    assert_eq!(
        check(s, &org, domain.id).await,
        [(record.name.clone(), true), (second_name.clone(), true)]
    );
    assert_eq!(
        states(&keys(s, &org, domain.id).await),
        [
            (first.selector.clone(), DkimKeyState::Retiring),
            (second.selector.clone(), DkimKeyState::Active)
        ]
    );
    assert_eq!(
        signing(s, &delivery).await,
        [("rotate.example".to_string(), second.selector.clone())]
    );
    assert_code(
        retire(s, &org, domain.id, &second.selector).await,
        Code::FailedPrecondition,
    );

    // Retired: its record is no longer listed; retiring again changes nothing.
    let retired = retire(s, &org, domain.id, &first.selector)
        .await
        .expect("retiring the replaced key");
    assert_eq!(retired.state(), DkimKeyState::Retired);
    assert!(retired.retired_at.is_some(), "{retired:?}");
    let again = retire(s, &org, domain.id, &first.selector)
        .await
        .expect("retiring twice");
    assert_eq!(again.retired_at, retired.retired_at);
    let listed = s.get_domain(&org, domain.id).await;
    let dkim = records_of(&listed, pb::RecordPurpose::Dkim);
    assert_eq!(dkim.len(), 1, "{listed:?}");
    assert_eq!(dkim[0].name, second_name);
    assert_eq!(
        check(s, &org, domain.id).await,
        [(second_name, true)],
        "a retired key is not checked"
    );

    let actions: Vec<String> = crate::audit::events(&s.operator(), org.id)
        .await
        .into_iter()
        .filter(|e| e.action.starts_with("dkim."))
        .map(|e| e.action)
        .collect();
    assert_eq!(
        actions,
        [
            "dkim.retire",
            "dkim.retiring",
            "dkim.activate",
            "dkim.rotate",
            "dkim.activate"
        ],
        "newest first"
    );
}

/// A rotation can be abandoned (its PENDING key retired) but the only key
/// cannot; unknown selectors are named; at most four keys are published.
async fn rotations_are_bounded_and_can_be_abandoned(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, "bounded.example").await;
    let first = keys(s, &org, domain.id).await.remove(0);
    assert_code(
        retire(s, &org, domain.id, &first.selector).await,
        Code::FailedPrecondition,
    );
    assert_invalid(retire(s, &org, domain.id, "nosuch").await, "selector");
    assert_invalid(retire(s, &org, domain.id, " ").await, "selector");
    assert_invalid(
        s.domains(&org)
            .rotate_dkim_key(pb::RotateDkimKeyRequest {
                domain_id: domain.id,
                algorithm: 99,
            })
            .await,
        "algorithm",
    );

    let abandoned = rotate(s, &org, domain.id, DkimAlgorithm::Ed25519)
        .await
        .expect("rotation");
    let retired = retire(s, &org, domain.id, &abandoned.selector)
        .await
        .expect("an abandoned rotation");
    assert_eq!(retired.state(), DkimKeyState::Retired);

    for _ in 0..3 {
        rotate(s, &org, domain.id, DkimAlgorithm::Rsa2048)
            .await
            .expect("up to four published keys");
    }
    let over = assert_code(
        rotate(s, &org, domain.id, DkimAlgorithm::Rsa2048).await,
        Code::FailedPrecondition,
    );
    assert!(over.message().contains("retire one first"), "{over:?}");
    let all = keys(s, &org, domain.id).await;
    assert_eq!(all.len(), 5, "{all:?}");
    let mut selectors: Vec<&str> = all.iter().map(|k| k.selector.as_str()).collect();
    selectors.dedup();
    assert_eq!(selectors.len(), 5, "selectors never repeat: {selectors:?}");
}

/// The TXT values parse back to the public halves of the private keys the
/// MTA gets, for RSA (SubjectPublicKeyInfo) and Ed25519 (the raw 32 bytes,
/// RFC 8463); a domain can start with an Ed25519 key.
async fn published_values_are_the_signing_keys_public_halves(s: &TestServer, dns: &TestDns) {
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};
    use rsa::traits::PublicKeyParts;
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, "halves.example").await;
    let delivery = s.delivery_token().await;
    let rsa_key = keys(s, &org, domain.id).await.remove(0);
    publish_key(dns, &rsa_key);
    check(s, &org, domain.id).await;
    let pem = signing_pem(s, &delivery, "halves.example").await;
    let private = rsa::RsaPrivateKey::from_pkcs8_pem(&pem).expect("an RSA PKCS#8 PEM");
    let published = rsa::RsaPublicKey::from_public_key_der(&p_tag(&rsa_key)).expect("an SPKI");
    assert_eq!(published, private.to_public_key());
    assert_eq!(published.size(), 256, "RSA-2048");

    let ed_key = rotate(s, &org, domain.id, DkimAlgorithm::Ed25519)
        .await
        .expect("rotation");
    assert!(
        ed_key
            .record
            .as_ref()
            .expect("record")
            .value
            .contains("k=ed25519;"),
        "{ed_key:?}"
    );
    publish_key(dns, &ed_key);
    check(s, &org, domain.id).await;
    let pem = signing_pem(s, &delivery, "halves.example").await;
    let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&pem).expect("an Ed25519 PKCS#8 PEM");
    assert_eq!(
        p_tag(&ed_key).as_slice(),
        private.verifying_key().as_bytes(),
        "p= is the bare 32-byte key"
    );

    // Chosen when the domain is claimed.
    let claimed = ok(s
        .domains(&org)
        .add_domain(pb::AddDomainRequest {
            organization_id: 0,
            name: "edwards.example".into(),
            dkim_algorithm: DkimAlgorithm::Ed25519 as i32,
        })
        .await)
    .domain
    .expect("domain");
    let first = keys(s, &org, claimed.id).await.remove(0);
    assert_eq!(first.algorithm(), DkimAlgorithm::Ed25519);
    assert_eq!(p_tag(&first).len(), 32);
}

async fn signing_pem(s: &TestServer, token: &str, domain: &str) -> String {
    let keys = ok(s
        .delivery_pb_client(Some(token))
        .get_signing_keys(pb::GetSigningKeysRequest {
            domains: vec![domain.into()],
            known_version: 0,
        })
        .await)
    .keys;
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].private_key_pem.clone()
}

/// The decoded `p=` of a key's record.
fn p_tag(key: &pb::DkimKey) -> Vec<u8> {
    let value = &key.record.as_ref().expect("record").value;
    let p = value
        .split(';')
        .find_map(|tag| tag.trim().strip_prefix("p="))
        .unwrap_or_else(|| panic!("no p= in {value}"));
    STANDARD.decode(p).expect("p= is base64")
}

/// The server looks for PENDING keys in DNS by itself
/// (`--dkim-check-interval-seconds`): no CheckDomainRecords needed.
async fn published_keys_activate_on_schedule(s: &TestServer, dns: &ScheduledDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, &dns.0, "scheduled.example").await;
    let first = keys(s, &org, domain.id).await.remove(0);
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(
        keys(s, &org, domain.id).await[0].state(),
        DkimKeyState::Pending,
        "nothing published yet"
    );
    publish_key(&dns.0, &first);
    for _ in 0..100 {
        if keys(s, &org, domain.id).await[0].state() == DkimKeyState::Active {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the scheduled check did not activate the published key within 10 s");
}

/// A [`TestDns`] and a server that checks PENDING keys every 200 ms.
pub struct ScheduledDns(TestDns);

impl Fixture for ScheduledDns {
    async fn start() -> Self {
        ScheduledDns(TestDns::start().await)
    }
    fn configure(&self, settings: &mut Settings) {
        self.0.configure(settings);
        settings.dkim_check_interval = Some(Duration::from_millis(200));
    }
}

backend_tests!(
    a_rotated_key_signs_once_dns_shows_it: TestDns,
    rotations_are_bounded_and_can_be_abandoned: TestDns,
    published_values_are_the_signing_keys_public_halves: TestDns,
    published_keys_activate_on_schedule: ScheduledDns,
);
