//! DKIM keys: the first key of a new domain, rotation, retirement, the DNS
//! check that activates a published key, the signing keys handed to the
//! MTA, and the sealing of private keys with the server key
//! (docs/rules.md, "DKIM keys" and "Keys at rest").

use super::App;
use crate::dkim;
use crate::keyring::{Keyring, Sealed};
use crate::rules::audit::audit;
use crate::rules::dkim::{
    self as rules, DkimAlgorithm, DkimKey, DkimKeyState, check_retirement, check_rotation,
    next_selector,
};
use crate::rules::model::{Domain, NewAuditEvent, RecordCheck};
use crate::rules::{DomainError, DomainResult, Principal};
use crate::store::{NewDkimKey, StoredPrivateKey, Tx};
use chrono::{DateTime, Utc};
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

/// One domain's signing key, for the MTA.
pub struct SigningKey {
    pub domain: String,
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    /// PKCS#8 PEM.
    pub private_pem: Zeroizing<String>,
}

/// What GetSigningKeys answers.
pub struct SigningKeys {
    /// Changes whenever the set of (domain, selector) pairs does; the same
    /// on every replica.
    pub version: u64,
    /// Empty when the caller already had `version`.
    pub keys: Vec<SigningKey>,
    pub unchanged: bool,
}

/// What `rotate-key` did.
pub struct Resealed {
    pub key_id: String,
    pub keys: usize,
}

impl App {
    /// Generates a key for `domain` and stores it, PENDING, in `tx`.
    pub(crate) async fn add_dkim_key(
        &self,
        tx: &Tx,
        domain: &Domain,
        algorithm: DkimAlgorithm,
        now: DateTime<Utc>,
    ) -> DomainResult<DkimKey> {
        let generated = dkim::generate(algorithm).await?;
        let selector = next_selector(now, &domain.dkim_keys);
        let sealed = self.keyring().seal(
            generated.private_pem.as_bytes(),
            &context(domain.id, &selector),
        );
        tx.insert_dkim_key(
            NewDkimKey {
                domain_id: domain.id,
                selector: &selector,
                algorithm,
                public_key: &generated.public_base64,
                private_key: &sealed,
            },
            now,
        )
        .await
    }

    /// A new PENDING key beside the current one, which keeps signing until
    /// the new key's record is seen in DNS.
    pub async fn rotate_dkim_key(
        &self,
        principal: &Principal,
        domain_id: i64,
        algorithm: DkimAlgorithm,
    ) -> DomainResult<(Domain, DkimKey)> {
        let now = self.now();
        let tx = self.store().write().await?;
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        check_rotation(&domain.dkim_keys)?;
        let key = self.add_dkim_key(&tx, &domain, algorithm, now).await?;
        tx.record(
            audit(
                principal,
                Some(domain.organization_id),
                "dkim.rotate",
                format!("domain:{domain_id}"),
            )
            .details(format!(
                "selector={} algorithm={}",
                key.selector,
                algorithm.as_str()
            )),
            now,
        )
        .await?;
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        tx.commit().await?;
        Ok((domain, key))
    }

    /// The key `selector` is RETIRED: it no longer signs and its record may
    /// be removed from DNS.
    pub async fn retire_dkim_key(
        &self,
        principal: &Principal,
        domain_id: i64,
        selector: &str,
    ) -> DomainResult<(Domain, DkimKey)> {
        let now = self.now();
        let tx = self.store().write().await?;
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        let key = check_retirement(&domain.dkim_keys, selector)?.clone();
        if key.state != DkimKeyState::Retired {
            tx.set_dkim_key_state(key.id, DkimKeyState::Retired, now)
                .await?;
            tx.record(
                audit(
                    principal,
                    Some(domain.organization_id),
                    "dkim.retire",
                    format!("domain:{domain_id}"),
                )
                .details(format!("selector={selector} was={}", key.state.as_str())),
                now,
            )
            .await?;
        }
        let domain = self.authorize_domain(&tx, principal, domain_id).await?;
        tx.commit().await?;
        let key = find(&domain, key.id)?;
        Ok((domain, key))
    }

    /// Looks up every published key of `domain` in DNS, and carries out
    /// what the rules make of what was seen (a PENDING key found takes
    /// over signing). Returns one check per published key.
    pub(crate) async fn check_dkim_keys(
        &self,
        actor: &str,
        domain: &Domain,
    ) -> DomainResult<Vec<RecordCheck>> {
        let mut checks = Vec::new();
        let mut seen = Vec::new();
        for key in domain.dkim_keys.iter().filter(|k| k.state.is_published()) {
            let expected = rules::record(&domain.name, key);
            let found = self
                .dns()
                .txt(&expected.name)
                .await
                .map_err(super::domains::dns_unavailable)?;
            let check = crate::rules::domains::check_txt(expected, found);
            if check.ok {
                seen.push(key.id);
            }
            checks.push(check);
        }
        if rules::after_dns_check(&domain.dkim_keys, &seen).is_empty() {
            return Ok(checks);
        }
        let now = self.now();
        let tx = self.store().write().await?;
        // Decide again on the keys as they are now: a concurrent check may
        // have done this already, or the admin retired a key meanwhile.
        let keys = tx.dkim_keys(domain.id).await?;
        for transition in rules::after_dns_check(&keys, &seen) {
            tx.set_dkim_key_state(transition.key_id, transition.to, now)
                .await?;
            let selector = keys
                .iter()
                .find(|k| k.id == transition.key_id)
                .map(|k| k.selector.as_str())
                .unwrap_or_default();
            tx.record(
                NewAuditEvent {
                    actor: actor.to_string(),
                    organization_id: Some(domain.organization_id),
                    action: match transition.to {
                        DkimKeyState::Active => "dkim.activate",
                        _ => "dkim.retiring",
                    },
                    target: format!("domain:{}", domain.id),
                    details: format!("selector={selector}"),
                },
                now,
            )
            .await?;
        }
        tx.commit().await?;
        Ok(checks)
    }

    /// The scheduled DNS check of every PENDING key (of domains whose
    /// ownership is proved). A domain whose DNS does not answer waits for
    /// the next run. Returns how many domains were checked.
    pub async fn check_pending_dkim_keys(&self, actor: &str) -> DomainResult<usize> {
        let ids = {
            let tx = self.store().read().await?;
            tx.domains_with_pending_keys().await?
        };
        for &id in &ids {
            let domain = {
                let tx = self.store().read().await?;
                tx.find_domain(id).await?
            };
            let Some(domain) = domain else { continue };
            if let Err(error) = self.check_dkim_keys(actor, &domain).await {
                tracing::warn!(domain = %domain.name, error = %error, "DKIM key check");
            }
        }
        Ok(ids.len())
    }

    /// The ACTIVE key of every ACTIVE domain (`names`: only those), unless
    /// the caller already has `known_version`.
    pub async fn signing_keys(
        &self,
        names: &[String],
        known_version: u64,
    ) -> DomainResult<SigningKeys> {
        let names = names
            .iter()
            .map(|name| crate::rules::address::normalize_domain("domains", name))
            .collect::<DomainResult<Vec<_>>>()?;
        let tx = self.store().read().await?;
        let stored = tx
            .signing_keys((!names.is_empty()).then_some(names.as_slice()))
            .await?;
        drop(tx);
        let version = signing_version(&stored);
        if version == known_version {
            return Ok(SigningKeys {
                version,
                keys: Vec::new(),
                unchanged: true,
            });
        }
        let keys = stored
            .into_iter()
            .map(|key| {
                let private_pem = self.open_private_key(&key)?;
                Ok(SigningKey {
                    domain: key.domain,
                    selector: key.selector,
                    algorithm: key.algorithm,
                    private_pem,
                })
            })
            .collect::<DomainResult<Vec<_>>>()?;
        Ok(SigningKeys {
            version,
            keys,
            unchanged: false,
        })
    }

    fn open_private_key(&self, key: &StoredPrivateKey) -> DomainResult<Zeroizing<String>> {
        let Some(sealed) = &key.sealed else {
            return Err(DomainError::internal(format!(
                "dkim key {} is not sealed yet",
                key.key_row
            )));
        };
        let opened = self
            .keyring()
            .open_sealed(sealed, &context(key.domain_id, &key.selector))
            .map_err(|e| {
                DomainError::internal(format!(
                    "opening the DKIM key of {} ({}): {e}",
                    key.domain, key.selector
                ))
            })?;
        String::from_utf8(opened.to_vec())
            .map(Zeroizing::new)
            .map_err(|_| DomainError::internal("a DKIM private key is not text"))
    }

    /// At start: every sealed key must be readable with the key file, and
    /// keys a migration left in plain text are sealed now. An error names
    /// the key ids the file lacks.
    pub async fn prepare_keys_at_rest(&self) -> anyhow::Result<usize> {
        let tx = self.store().write().await?;
        let missing: Vec<String> = tx
            .dkim_sealing_key_ids()
            .await?
            .into_iter()
            .filter(|id| !self.keyring().holds(id))
            .collect();
        if !missing.is_empty() {
            anyhow::bail!(
                "the database holds DKIM private keys sealed under server key {}, which the key \
                 file {} does not hold (it holds {}): start with the key file this database was \
                 written with, or restore that file from the backup",
                missing.join(", "),
                self.keyring().path().display(),
                self.keyring().current_id()
            );
        }
        let plain: Vec<StoredPrivateKey> = tx
            .private_keys_not_under(&self.keyring().current_id())
            .await?
            .into_iter()
            .filter(|k| k.sealed.is_none())
            .collect();
        for key in &plain {
            let sealed = self.keyring().seal(
                key.stored.as_bytes(),
                &context(key.domain_id, &key.selector),
            );
            tx.reseal_private_key(key.key_row, &sealed).await?;
        }
        tx.commit().await?;
        if !plain.is_empty() {
            tracing::info!(
                keys = plain.len(),
                "sealed DKIM private keys stored in plain text"
            );
        }
        Ok(plain.len())
    }

    /// `rotate-key`: a new server key first in the key file, then every
    /// private key sealed again under it, in one transaction. The older
    /// keys stay in the file (they decrypt for replicas that have not
    /// re-read it yet, and keep the file valid if the transaction fails).
    pub async fn rotate_server_key(&self) -> anyhow::Result<Resealed> {
        self.prepare_keys_at_rest().await?;
        let key_id = self.keyring().add_new_key()?;
        let tx = self.store().write().await?;
        let stored = tx.private_keys_not_under(&key_id).await?;
        for key in &stored {
            let pem = self.open_private_key(key)?;
            let sealed: Sealed = self
                .keyring()
                .seal(pem.as_bytes(), &context(key.domain_id, &key.selector));
            tx.reseal_private_key(key.key_row, &sealed).await?;
        }
        tx.commit().await?;
        Ok(Resealed {
            key_id,
            keys: stored.len(),
        })
    }

    fn keyring(&self) -> &Keyring {
        &self.keyring
    }
}

/// What a sealed private key is bound to.
fn context(domain_id: i64, selector: &str) -> String {
    format!("dkim:{domain_id}:{selector}")
}

fn find(domain: &Domain, key_id: i64) -> DomainResult<DkimKey> {
    domain
        .dkim_keys
        .iter()
        .find(|k| k.id == key_id)
        .cloned()
        .ok_or_else(|| DomainError::internal(format!("dkim key {key_id} vanished")))
}

/// A digest of the (domain, selector, algorithm) triples: equal on every
/// replica for the same keys, different when any key changes. Never 0 (the
/// "I have nothing" a first call sends).
fn signing_version(keys: &[StoredPrivateKey]) -> u64 {
    let mut digest = Sha256::new();
    for key in keys {
        digest.update(key.domain.as_bytes());
        digest.update([0]);
        digest.update(key.selector.as_bytes());
        digest.update([0]);
        digest.update(key.algorithm.as_str().as_bytes());
        digest.update([0]);
    }
    let bytes: [u8; 8] = digest.finalize()[..8].try_into().expect("8 bytes");
    u64::from_be_bytes(bytes).max(1)
}
