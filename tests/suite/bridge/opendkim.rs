//! The bridge keeps OpenDKIM's tables (`--opendkim-dir`), and the real
//! OpenDKIM from Debian signs with them: `opendkim-testkey` matches each
//! RSA key file to the record in DNS (the test's loopback DNS server,
//! reached through OpenDKIM's libunbound), `opendkim -t` signs a message
//! with the KeyTable/SigningTable (RSA, and Ed25519 in its own instance),
//! and a verifying OpenDKIM accepts the signature. After a rotation the
//! bridge rewrites the tables and the new selector signs.

use super::skip_or_fail;
use crate::dns_server::TestDns;
use crate::domains::dkim::publish_key;
use crate::harness::*;
use mailadmin_client::pb;
use std::path::{Path, PathBuf};
use std::time::Duration;

const OPENDKIM: &str = "/usr/sbin/opendkim";
const TESTKEY: &str = "/usr/sbin/opendkim-testkey";

/// The files OpenDKIM reads: a resolver pointed at the test DNS server,
/// and configurations that sign (RSA or Ed25519) and verify.
struct Opendkim {
    dir: PathBuf,
}

impl Opendkim {
    fn new(dir: &Path, tables: &Path, dns: &TestDns) -> Opendkim {
        let unbound = dir.join("unbound.conf");
        std::fs::write(
            &unbound,
            format!(
                "server:\n    do-not-query-localhost: no\n\
                 forward-zone:\n    name: \".\"\n    forward-addr: {}@{}\n",
                dns.addr.ip(),
                dns.addr.port()
            ),
        )
        .unwrap();
        let resolver = format!("ResolverConfiguration {}\n", unbound.display());
        // The tables live under a world-writable /tmp: OpenDKIM's own
        // check of the key path would refuse them (README: use a safe directory).
        let common = format!(
            "Syslog no\n{resolver}RequireSafeKeys false\nCanonicalization relaxed/simple\n"
        );
        for (name, suffix, algorithm) in [
            ("sign-rsa.conf", "", "rsa-sha256"),
            ("sign-ed25519.conf", ".ed25519", "ed25519-sha256"),
        ] {
            std::fs::write(
                dir.join(name),
                format!(
                    "{common}Mode s\nSignatureAlgorithm {algorithm}\n\
                     KeyTable file:{tables}/KeyTable{suffix}\n\
                     SigningTable file:{tables}/SigningTable{suffix}\n",
                    tables = tables.display()
                ),
            )
            .unwrap();
        }
        std::fs::write(
            dir.join("verify.conf"),
            format!("Syslog no\n{resolver}Mode v\nInternalHosts 192.0.2.1\n"),
        )
        .unwrap();
        Opendkim {
            dir: dir.to_path_buf(),
        }
    }

    fn conf(&self, name: &str) -> String {
        self.dir.join(name).display().to_string()
    }

    /// `opendkim-testkey` over every key of the RSA KeyTable: its summary.
    fn testkey(&self) -> String {
        let out = std::process::Command::new(TESTKEY)
            .args(["-x", &self.conf("sign-rsa.conf"), "-vvv"])
            .output()
            .expect("running opendkim-testkey");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }

    /// A message from `from`, signed by OpenDKIM with `conf`: the
    /// DKIM-Signature header, then the message.
    fn sign(&self, conf: &str, from: &str) -> String {
        let message = format!(
            "From: {from}\r\nTo: bob@elsewhere.example\r\nSubject: signed by OpenDKIM\r\n\
             Date: Sun, 06 Dec 2026 09:00:00 +0000\r\nMessage-ID: <1@mailadmin.test>\r\n\r\n\
             Hello from mailadmin's tests.\r\n"
        );
        let path = self.dir.join("message.eml");
        std::fs::write(&path, &message).unwrap();
        let out = self.opendkim(conf, &path);
        let header: Vec<&str> = out.lines().skip(1).collect();
        assert!(
            header
                .first()
                .is_some_and(|l| l.starts_with("DKIM-Signature:")),
            "OpenDKIM signed nothing:\n{out}"
        );
        format!("{}\r\n{message}", header.join("\r\n"))
    }

    /// What a verifying OpenDKIM says of `signed`.
    fn verify(&self, signed: &str) -> String {
        let path = self.dir.join("signed.eml");
        std::fs::write(&path, signed).unwrap();
        self.opendkim(&self.conf("verify.conf"), &path)
    }

    fn opendkim(&self, conf: &str, message: &Path) -> String {
        let out = std::process::Command::new(OPENDKIM)
            .args(["-x", conf, "-t"])
            .arg(message)
            .output()
            .expect("running opendkim -t");
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    }
}

/// An ACTIVE domain of `org` whose signing key is ACTIVE, of `algorithm`
/// (a rotation from the first RSA key for Ed25519); its selector.
async fn signing_domain(
    s: &TestServer,
    dns: &TestDns,
    org: &Org,
    name: &str,
    algorithm: pb::DkimAlgorithm,
) -> (i64, String) {
    let domain = s.active_domain(org, dns, name).await;
    let mut key = list(s, org, domain.id).await.remove(0);
    if algorithm == pb::DkimAlgorithm::Ed25519 {
        key = rotate(s, org, domain.id, algorithm).await;
    }
    activate(s, dns, org, domain.id, &key).await;
    (domain.id, key.selector)
}

async fn list(s: &TestServer, org: &Org, domain_id: i64) -> Vec<pb::DkimKey> {
    ok(s.domains(org)
        .list_dkim_keys(pb::ListDkimKeysRequest { domain_id })
        .await)
    .keys
}

async fn rotate(
    s: &TestServer,
    org: &Org,
    domain_id: i64,
    algorithm: pb::DkimAlgorithm,
) -> pb::DkimKey {
    ok(s.domains(org)
        .rotate_dkim_key(pb::RotateDkimKeyRequest {
            domain_id,
            algorithm: algorithm as i32,
        })
        .await)
    .key
    .expect("key")
}

/// Publishes `key` and has the server see it: it signs from now on.
async fn activate(s: &TestServer, dns: &TestDns, org: &Org, domain_id: i64, key: &pb::DkimKey) {
    publish_key(dns, key);
    ok(s.domains(org)
        .check_domain_records(pb::CheckDomainRecordsRequest { domain_id })
        .await);
    let now = list(s, org, domain_id).await;
    let state = now
        .iter()
        .find(|k| k.selector == key.selector)
        .map(|k| k.state());
    assert_eq!(state, Some(pb::DkimKeyState::Active), "{now:?}");
}

/// Waits until the bridge's KeyTable names `selector`.
async fn wait_for_selector(tables: &Path, file: &str, selector: &str) {
    let path = tables.join(file);
    for _ in 0..200 {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        if text.contains(&format!("{selector}._domainkey.")) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "the bridge did not write {selector} into {} within 20 s",
        path.display()
    );
}

async fn opendkim_signs_with_the_tables_the_bridge_keeps(s: &TestServer, dns: &TestDns) {
    if !Path::new(OPENDKIM).exists() || !Path::new(TESTKEY).exists() {
        return skip_or_fail("OpenDKIM is not installed (apt-get install opendkim opendkim-tools)");
    }
    let org = s.create_org("Acme", Plan::Pro).await;
    let (rsa_domain, rsa_selector) =
        signing_domain(s, dns, &org, "rsa.example", pb::DkimAlgorithm::Rsa2048).await;
    let (_, ed_selector) =
        signing_domain(s, dns, &org, "ed.example", pb::DkimAlgorithm::Ed25519).await;

    let dir = tempfile::tempdir().unwrap();
    let tables = dir.path().join("dkim");
    let token = s.delivery_token().await;
    let mut bridge = tokio::process::Command::new(client_binary("mailadmin-bridge").await)
        .args(["--server", &format!("http://{}", s.addr), "--token", &token])
        .arg("--opendkim-dir")
        .arg(&tables)
        .args(["--signing-keys-interval-seconds", "1"])
        .kill_on_drop(true)
        .spawn()
        .expect("starting mailadmin-bridge");
    wait_for_selector(&tables, "KeyTable", &rsa_selector).await;
    wait_for_selector(&tables, "KeyTable.ed25519", &ed_selector).await;
    let opendkim = Opendkim::new(dir.path(), &tables, dns);

    let tested = opendkim.testkey();
    assert!(
        tested.contains("1 key checked; 1 pass, 0 fail"),
        "opendkim-testkey on the RSA KeyTable:\n{tested}"
    );

    let signed = opendkim.sign(&opendkim.conf("sign-rsa.conf"), "alice@rsa.example");
    assert!(
        signed.contains(&format!("s={rsa_selector};")) && signed.contains("d=rsa.example;"),
        "{signed}"
    );
    let verified = opendkim.verify(&signed);
    assert!(
        verified.contains(&format!(
            "verification (s={rsa_selector}, d=rsa.example, 2048-bit key) succeeded"
        )),
        "{verified}"
    );
    let tampered = opendkim.verify(&signed.replace("Hello from", "Hallo from"));
    assert!(
        tampered.contains("failed"),
        "a changed body fails: {tampered}"
    );

    let signed = opendkim.sign(&opendkim.conf("sign-ed25519.conf"), "erin@ed.example");
    assert!(signed.contains("a=ed25519-sha256;"), "{signed}");
    let verified = opendkim.verify(&signed);
    assert!(
        verified.contains(&format!("verification (s={ed_selector}, d=ed.example")),
        "{verified}"
    );
    assert!(verified.contains("succeeded"), "{verified}");

    // A rotation: the bridge rewrites the tables, the old key file goes,
    // and the new selector signs.
    let rotated = rotate(s, &org, rsa_domain, pb::DkimAlgorithm::Rsa2048).await;
    activate(s, dns, &org, rsa_domain, &rotated).await;
    wait_for_selector(&tables, "KeyTable", &rotated.selector).await;
    // The bridge removes a key file once the tables no longer name it: just after.
    let replaced = tables.join(format!("keys/rsa.example.{rsa_selector}.pem"));
    for _ in 0..200 {
        if !replaced.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(!replaced.exists(), "the replaced key's file is removed");
    let signed = opendkim.sign(&opendkim.conf("sign-rsa.conf"), "alice@rsa.example");
    assert!(
        signed.contains(&format!("s={};", rotated.selector)),
        "{signed}"
    );
    let verified = opendkim.verify(&signed);
    assert!(verified.contains("succeeded"), "{verified}");

    bridge.kill().await.ok();
}

backend_tests!(opendkim_signs_with_the_tables_the_bridge_keeps: TestDns);
