//! DKIM private keys at rest (docs/rules.md, "Keys at rest"): sealed under
//! a key from an owner-only key file, never stored, logged or answered in
//! plain text; a server given another key file refuses to start and says
//! why; `rotate-key` re-seals every key while replicas keep serving; keys
//! an earlier version stored in plain text are sealed at the next start.

use crate::dns_server::TestDns;
use crate::domains::dkim::{publish_key, signing};
use crate::harness::*;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use mailadmin_client::pb;
use sea_orm::{ConnectionTrait, Statement};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// (key_id, private_key) of every stored DKIM key, read straight from the
/// database.
async fn stored_keys(url: &str) -> Vec<(Option<String>, String)> {
    let db = sea_orm::Database::connect(url)
        .await
        .expect("connecting to the test database");
    let rows = db
        .query_all_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT key_id, private_key FROM dkim_keys ORDER BY id",
        ))
        .await
        .expect("reading dkim_keys");
    let keys = rows
        .iter()
        .map(|row| {
            (
                row.try_get::<Option<String>>("", "key_id").expect("key_id"),
                row.try_get::<String>("", "private_key")
                    .expect("private_key"),
            )
        })
        .collect();
    let _ = db.close().await;
    keys
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path)
        .expect("the key file exists")
        .permissions()
        .mode()
        & 0o777
}

/// An ACTIVE domain whose first key is ACTIVE, and that key's PEM as the
/// MTA gets it.
async fn signing_domain(s: &TestServer, dns: &TestDns, name: &str) -> (Org, String, String) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, name).await;
    let key = ok(s
        .domains(&org)
        .list_dkim_keys(pb::ListDkimKeysRequest {
            domain_id: domain.id,
        })
        .await)
    .keys
    .remove(0);
    publish_key(dns, &key);
    ok(s.domains(&org)
        .check_domain_records(pb::CheckDomainRecordsRequest {
            domain_id: domain.id,
        })
        .await);
    let delivery = s.delivery_token().await;
    let pem = signing_pem(s, &delivery).await;
    (org, delivery, pem)
}

async fn signing_pem(s: &TestServer, delivery: &str) -> String {
    let keys = ok(s
        .delivery_pb_client(Some(delivery))
        .get_signing_keys(pb::GetSigningKeysRequest::default())
        .await)
    .keys;
    assert_eq!(keys.len(), 1, "{keys:?}");
    keys[0].private_key_pem.clone()
}

/// The body of a PEM: what must appear nowhere else.
fn pem_body(pem: &str) -> String {
    pem.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// The first start creates the key file, owner-only; what the database
/// holds is ciphertext under that file's key, not the PEM; the private key
/// shows up in no admin answer and no audit event.
async fn keys_are_sealed_under_an_owner_only_key_file(s: &TestServer, dns: &TestDns) {
    let key_file = s.settings().key_file.clone();
    assert_eq!(mode(&key_file), 0o600, "created owner-only");
    let (org, _, pem) = signing_domain(s, dns, "sealed.example").await;
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----"), "PKCS#8 PEM");

    let stored = stored_keys(&s.settings().database_url).await;
    assert_eq!(stored.len(), 1);
    let (key_id, ciphertext) = &stored[0];
    let key_id = key_id
        .as_deref()
        .expect("sealed keys name their server key");
    assert_eq!(key_id.len(), 16, "{key_id}");
    assert!(!ciphertext.contains("PRIVATE KEY"), "{ciphertext}");
    assert!(!ciphertext.contains(&pem_body(&pem)[..40]));
    let sealed = STANDARD.decode(ciphertext).expect("base64 ciphertext");
    assert!(
        sealed.len() > pem.len(),
        "nonce and tag around the whole PEM"
    );

    let answers = format!(
        "{:?}{:?}",
        ok(s.domains(&org)
            .list_domains(pb::ListDomainsRequest::default())
            .await),
        crate::audit::events(&s.operator(), org.id).await
    );
    assert!(!answers.contains("PRIVATE KEY"));
    assert!(!answers.contains(&pem_body(&pem)[..40]));
    let key = pb::SigningKey {
        private_key_pem: pem.clone(),
        ..Default::default()
    };
    assert!(
        !format!("{key:?}").contains("PRIVATE"),
        "a logged SigningKey hides its key"
    );
}

/// A key file that group or others may read stops the start, with the fix
/// in the message; once it is owner-only again the server starts.
async fn a_key_file_others_can_read_is_refused(s: &mut TestServer) {
    let key_file = s.settings().key_file.clone();
    s.stop().await;
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o644)).unwrap();
    let refused = s
        .try_restart()
        .await
        .expect_err("a world-readable key file is refused")
        .to_string();
    assert!(
        refused.contains(&format!("chmod 600 {}", key_file.display())),
        "{refused}"
    );
    assert!(refused.contains("mode 0644"), "{refused}");
    std::fs::set_permissions(&key_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    s.restart().await;
}

/// A server given another key file (a new one, created on the spot) cannot
/// read the stored keys: it does not start, and names the key it lacks.
async fn another_key_file_cannot_open_the_keys(s: &mut TestServer, dns: &TestDns) {
    let (_, delivery, pem) = signing_domain(s, dns, "other.example").await;
    let stored = stored_keys(&s.settings().database_url).await;
    let key_id = stored[0].0.clone().expect("sealed");
    s.stop().await;
    let right = s.settings().key_file.clone();
    let wrong = right.with_file_name("another.key");
    s.settings_mut().key_file = wrong.clone();
    let refused = s
        .try_restart()
        .await
        .expect_err("another key file")
        .to_string();
    assert!(
        refused.contains(&key_id),
        "names the missing key: {refused}"
    );
    assert!(
        refused.contains(&wrong.display().to_string()),
        "names the file: {refused}"
    );
    assert!(refused.contains("does not hold"), "{refused}");

    s.settings_mut().key_file = right;
    s.restart().await;
    assert_eq!(signing_pem(s, &delivery).await, pem);
}

/// `rotate-key` while the server runs: every key is sealed again under a
/// new server key; the running server, meeting the new key id, reads the
/// file again and keeps answering; so does a restarted one.
async fn rotate_key_reseals_while_the_server_runs(s: &mut TestServer, dns: &TestDns) {
    let (_, delivery, pem) = signing_domain(s, dns, "rotating.example").await;
    let before = stored_keys(&s.settings().database_url).await;
    let done =
        mailadmin_server::server::rotate_key(s.settings(), std::sync::Arc::new(s.clock.clone()))
            .await
            .expect("rotate-key");
    assert_eq!(done.keys, 1);
    let after = stored_keys(&s.settings().database_url).await;
    assert_eq!(after[0].0.as_deref(), Some(done.key_id.as_str()));
    assert_ne!(after[0].0, before[0].0);
    assert_ne!(after[0].1, before[0].1);
    let key_file = s.settings().key_file.clone();
    assert_eq!(mode(&key_file), 0o600);
    let lines = std::fs::read_to_string(&key_file)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .count();
    assert_eq!(lines, 2, "the new key first, the old one kept to decrypt");

    assert_eq!(signing_pem(s, &delivery).await, pem, "the running server");
    s.stop().await;
    s.restart().await;
    assert_eq!(signing_pem(s, &delivery).await, pem, "after a restart");
}

/// A database from before keys were sealed: the migration moves the
/// domain's key into its own table (PENDING), the first start seals it,
/// and once its record is seen the MTA gets exactly the key it had.
async fn keys_stored_in_plain_text_are_sealed_at_start(backend: Backend) {
    use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
    use sea_orm_migration::MigratorTrait;
    let Some(database) = FreshDatabase::create(backend).await else {
        return;
    };
    let legacy = rsa::RsaPrivateKey::new(&mut rand::rngs::OsRng, 2048).unwrap();
    let legacy_pem = legacy.to_pkcs8_pem(LineEnding::LF).unwrap().to_string();
    let legacy_public = STANDARD.encode(
        legacy
            .to_public_key()
            .to_public_key_der()
            .unwrap()
            .as_bytes(),
    );
    {
        let db = sea_orm::Database::connect(database.url.as_str())
            .await
            .unwrap();
        // The schema as it was before migration 8, and a domain written then.
        mailadmin_migrations::Migrator::up(&db, Some(7))
            .await
            .unwrap();
        let backend = db.get_database_backend();
        for sql in [
            "INSERT INTO organizations (id, name, master_user_id, created_at) \
             VALUES (500, 'Legacy', NULL, 0)",
            "INSERT INTO users (id, organization_id, username, first_name, last_name, \
             primary_address, plan, state, is_master, password_hash, created_at, updated_at) \
             VALUES (700, 500, 'legacy-master', 'Lee', 'Gacy', 'lee@mailadmin.example', 'pro', \
             'enabled', TRUE, '', 0, 0)",
            "UPDATE organizations SET master_user_id = 700 WHERE id = 500",
        ] {
            db.execute_raw(Statement::from_string(backend, sql))
                .await
                .unwrap();
        }
        db.execute_raw(Statement::from_sql_and_values(
            backend,
            match backend {
                sea_orm::DbBackend::Postgres => {
                    "INSERT INTO domains (id, organization_id, name, display, state, \
                     verification_token, dkim_selector, dkim_private_key, dkim_public_key, \
                     created_at, verified_at, activated_at) \
                     VALUES (600, 500, 'legacy.example', 'legacy.example', 'active', 'tok', \
                     'mailadmin', $1, $2, 0, 0, 0)"
                }
                _ => {
                    "INSERT INTO domains (id, organization_id, name, display, state, \
                     verification_token, dkim_selector, dkim_private_key, dkim_public_key, \
                     created_at, verified_at, activated_at) \
                     VALUES (600, 500, 'legacy.example', 'legacy.example', 'active', 'tok', \
                     'mailadmin', ?, ?, 0, 0, 0)"
                }
            },
            [legacy_pem.clone().into(), legacy_public.clone().into()],
        ))
        .await
        .unwrap();
        let _ = db.close().await;
    }

    let dns = TestDns::start().await;
    let s = TestServer::start_on(database, backend, |settings| dns.configure(settings)).await;
    let stored = stored_keys(&s.settings().database_url).await;
    assert_eq!(stored.len(), 1);
    assert!(stored[0].0.is_some(), "sealed at start");
    assert!(!stored[0].1.contains("PRIVATE KEY"));

    let operator = s.domain_operator();
    let keys = ok(operator
        .clone()
        .list_dkim_keys(pb::ListDkimKeysRequest { domain_id: 600 })
        .await)
    .keys;
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].selector, "mailadmin");
    assert_eq!(keys[0].state(), pb::DkimKeyState::Pending);
    assert!(
        keys[0]
            .record
            .as_ref()
            .unwrap()
            .value
            .ends_with(&legacy_public)
    );
    publish_key(&dns, &keys[0]);
    ok(operator
        .clone()
        .check_domain_records(pb::CheckDomainRecordsRequest { domain_id: 600 })
        .await);
    let delivery = s.delivery_token().await;
    assert_eq!(
        signing(&s, &delivery).await,
        [("legacy.example".to_string(), "mailadmin".to_string())]
    );
    assert_eq!(signing_pem(&s, &delivery).await, legacy_pem);
    s.finish().await;
}

backend_tests!(
    keys_are_sealed_under_an_owner_only_key_file: TestDns,
    a_key_file_others_can_read_is_refused,
    another_key_file_cannot_open_the_keys: TestDns,
    rotate_key_reseals_while_the_server_runs: TestDns,
);

mod legacy {
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn sqlite_keys_stored_in_plain_text_are_sealed_at_start() {
        super::keys_stored_in_plain_text_are_sealed_at_start(crate::harness::Backend::Sqlite).await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn postgres_keys_stored_in_plain_text_are_sealed_at_start() {
        super::keys_stored_in_plain_text_are_sealed_at_start(crate::harness::Backend::Postgres)
            .await;
    }
}
