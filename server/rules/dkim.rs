//! DKIM keys of a domain and their lifecycle (docs/rules.md, "DKIM keys"):
//! a key is PENDING until its TXT record is seen in DNS, then ACTIVE (it
//! signs; one per domain); when a newer key becomes ACTIVE the older one is
//! RETIRING (no longer signs, its record stays published for mail in
//! flight); RetireDkimKey makes a key RETIRED (its record may go).

use super::domains::txt;
use super::model::{DnsRecord, RecordPurpose};
use super::{DomainError, DomainResult};
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DkimKeyState {
    Pending,
    Active,
    Retiring,
    Retired,
}

impl DkimKeyState {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimKeyState::Pending => "pending",
            DkimKeyState::Active => "active",
            DkimKeyState::Retiring => "retiring",
            DkimKeyState::Retired => "retired",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        Some(match stored {
            "pending" => DkimKeyState::Pending,
            "active" => DkimKeyState::Active,
            "retiring" => DkimKeyState::Retiring,
            "retired" => DkimKeyState::Retired,
            _ => return None,
        })
    }

    /// Whether the key's record belongs in DNS: every state but RETIRED.
    pub fn is_published(self) -> bool {
        self != DkimKeyState::Retired
    }
}

/// RSA-2048 (the default: every verifier knows it) or Ed25519 (RFC 8463).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DkimAlgorithm {
    #[default]
    Rsa2048,
    Ed25519,
}

impl DkimAlgorithm {
    pub fn as_str(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa2048 => "rsa2048",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        Some(match stored {
            "rsa2048" => DkimAlgorithm::Rsa2048,
            "ed25519" => DkimAlgorithm::Ed25519,
            _ => return None,
        })
    }

    /// The `k=` tag of the DNS record.
    pub fn key_type(self) -> &'static str {
        match self {
            DkimAlgorithm::Rsa2048 => "rsa",
            DkimAlgorithm::Ed25519 => "ed25519",
        }
    }
}

/// A domain's DKIM key, public half only: the private half never leaves
/// the store except sealed, or through GetSigningKeys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DkimKey {
    pub id: i64,
    pub domain_id: i64,
    /// A DNS label, unique within the domain.
    pub selector: String,
    pub algorithm: DkimAlgorithm,
    pub state: DkimKeyState,
    /// The `p=` value: base64 of the DER SubjectPublicKeyInfo (RSA) or of
    /// the raw 32-byte public key (Ed25519, RFC 8463).
    pub public_key: String,
    pub created_at: DateTime<Utc>,
    pub activated_at: Option<DateTime<Utc>>,
    pub retired_at: Option<DateTime<Utc>>,
}

/// The TXT record publishing `key` for `domain` (IDNA ASCII).
pub fn record(domain: &str, key: &DkimKey) -> DnsRecord {
    txt(
        RecordPurpose::Dkim,
        &format!("{}._domainkey.{domain}", key.selector),
        format!(
            "v=DKIM1; k={}; p={}",
            key.algorithm.key_type(),
            key.public_key
        ),
    )
}

/// Whether two DKIM record values publish the same key: the same `p=` and
/// the same `k=` (default `rsa`, RFC 6376 §3.6.1). Other tags (`t=`, `h=`,
/// `n=`) do not matter; whitespace inside values is ignored, as verifiers
/// do.
pub fn same_key(expected: &str, found: &str) -> bool {
    fn key_tags(value: &str) -> (String, Option<String>) {
        let mut key_type = "rsa".to_string();
        let mut public_key = None;
        for tag in value.split(';') {
            let Some((name, value)) = tag.split_once('=') else {
                continue;
            };
            let value: String = value.split_whitespace().collect();
            match name.trim() {
                "k" => key_type = value.to_ascii_lowercase(),
                "p" => public_key = Some(value),
                _ => {}
            }
        }
        (key_type, public_key)
    }
    let (expected, found) = (key_tags(expected), key_tags(found));
    expected.1.as_ref().is_some_and(|p| !p.is_empty()) && expected == found
}

/// Whether a TXT value found in DNS publishes `key`.
pub fn publishes(found: &str, key: &DkimKey) -> bool {
    same_key(&record("", key).value, found)
}

/// The selector for a key created on `today`: `ma` and the date, with
/// `-2`, `-3`… when the domain already has that one (rotated twice a day).
pub fn next_selector(today: DateTime<Utc>, existing: &[DkimKey]) -> String {
    let base = format!("ma{}", today.format("%Y%m%d"));
    let taken = |s: &str| existing.iter().any(|k| k.selector == s);
    if !taken(&base) {
        return base;
    }
    (2..)
        .map(|n| format!("{base}-{n}"))
        .find(|s| !taken(s))
        .expect("an unbounded range has a free selector")
}

/// A domain holds at most this many keys that are not RETIRED: a rotation
/// beyond it waits until an older key is retired.
pub const MAX_PUBLISHED_KEYS: usize = 4;

/// May the domain, holding `keys`, get another one?
pub fn check_rotation(keys: &[DkimKey]) -> DomainResult<()> {
    let published = keys.iter().filter(|k| k.state.is_published()).count();
    if published >= MAX_PUBLISHED_KEYS {
        return Err(DomainError::precondition(format!(
            "the domain already has {published} DKIM keys that are not retired (at most \
             {MAX_PUBLISHED_KEYS}): retire one first (RetireDkimKey)"
        )));
    }
    Ok(())
}

/// What RetireDkimKey may do with `selector` among `keys`: a key that signs
/// is retired only when another ACTIVE key has taken over; a PENDING key
/// (a rotation abandoned) only when the domain keeps another key.
pub fn check_retirement<'k>(keys: &'k [DkimKey], selector: &str) -> DomainResult<&'k DkimKey> {
    let key = keys
        .iter()
        .find(|k| k.selector == selector)
        .ok_or_else(|| {
            DomainError::invalid("selector", format!("the domain has no DKIM key {selector}"))
        })?;
    let others = || keys.iter().filter(move |k| k.id != key.id);
    match key.state {
        DkimKeyState::Retired | DkimKeyState::Retiring => Ok(key),
        DkimKeyState::Active => {
            if others().any(|k| k.state == DkimKeyState::Active) {
                Ok(key)
            } else {
                Err(DomainError::precondition(format!(
                    "{selector} is the key that signs the domain's mail: rotate first \
                     (RotateDkimKey), publish the new key's record, and retire {selector} \
                     once the new key is ACTIVE"
                )))
            }
        }
        DkimKeyState::Pending => {
            if others().any(|k| k.state.is_published()) {
                Ok(key)
            } else {
                Err(DomainError::precondition(format!(
                    "{selector} is the domain's only DKIM key: publish its record instead"
                )))
            }
        }
    }
}

/// A key's new state after a DNS check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transition {
    pub key_id: i64,
    pub to: DkimKeyState,
}

/// What the keys become once DNS was asked: `seen` holds the ids of the
/// keys whose record was found. The newest seen PENDING key becomes ACTIVE
/// and takes over signing; the key that signed before, and any older
/// PENDING key seen, become RETIRING. Nothing changes when no PENDING key
/// newer than the ACTIVE one was seen.
pub fn after_dns_check(keys: &[DkimKey], seen: &[i64]) -> Vec<Transition> {
    let Some(newest) = keys
        .iter()
        .filter(|k| k.state == DkimKeyState::Pending && seen.contains(&k.id))
        .max_by_key(|k| (k.created_at, k.id))
    else {
        return Vec::new();
    };
    let mut transitions = vec![Transition {
        key_id: newest.id,
        to: DkimKeyState::Active,
    }];
    for key in keys.iter().filter(|k| k.id != newest.id) {
        let replaced = key.state == DkimKeyState::Active
            || (key.state == DkimKeyState::Pending
                && seen.contains(&key.id)
                && (key.created_at, key.id) < (newest.created_at, newest.id));
        if replaced {
            transitions.push(Transition {
                key_id: key.id,
                to: DkimKeyState::Retiring,
            });
        }
    }
    transitions
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn key(id: i64, selector: &str, state: DkimKeyState, day: u32) -> DkimKey {
        DkimKey {
            id,
            domain_id: 7,
            selector: selector.into(),
            algorithm: DkimAlgorithm::Rsa2048,
            state,
            public_key: format!("KEY{id}"),
            created_at: Utc.with_ymd_and_hms(2026, 12, day, 0, 0, 0).unwrap(),
            activated_at: None,
            retired_at: None,
        }
    }

    #[test]
    fn the_record_names_the_selector_and_the_key_type() {
        let mut k = key(1, "ma20261206", DkimKeyState::Pending, 6);
        let r = record("example.com", &k);
        assert_eq!(r.name, "ma20261206._domainkey.example.com");
        assert_eq!(r.value, "v=DKIM1; k=rsa; p=KEY1");
        k.algorithm = DkimAlgorithm::Ed25519;
        assert_eq!(
            record("example.com", &k).value,
            "v=DKIM1; k=ed25519; p=KEY1"
        );
    }

    #[test]
    fn a_record_publishes_a_key_by_its_type_and_public_key() {
        let k = key(1, "s", DkimKeyState::Pending, 6);
        assert!(publishes("v=DKIM1; k=rsa; p=KEY1", &k));
        assert!(publishes("v=DKIM1;t=s;p=KE Y1", &k), "k= defaults to rsa");
        assert!(!publishes("v=DKIM1; k=rsa; p=KEY2", &k));
        assert!(!publishes("v=DKIM1; k=ed25519; p=KEY1", &k));
        assert!(!publishes("v=DKIM1; k=rsa; p=", &k), "a revoked key");
    }

    #[test]
    fn selectors_carry_the_date_and_never_repeat() {
        let today = Utc.with_ymd_and_hms(2026, 12, 6, 9, 0, 0).unwrap();
        assert_eq!(next_selector(today, &[]), "ma20261206");
        let keys = vec![
            key(1, "ma20261206", DkimKeyState::Active, 6),
            key(2, "ma20261206-2", DkimKeyState::Pending, 6),
        ];
        assert_eq!(next_selector(today, &keys), "ma20261206-3");
    }

    #[test]
    fn the_signing_key_is_retired_only_after_another_took_over() {
        let keys = vec![
            key(1, "old", DkimKeyState::Active, 1),
            key(2, "new", DkimKeyState::Pending, 2),
        ];
        assert!(matches!(
            check_retirement(&keys, "old"),
            Err(DomainError::FailedPrecondition(_))
        ));
        assert_eq!(check_retirement(&keys, "new").unwrap().id, 2);
        assert!(matches!(
            check_retirement(&keys, "nope"),
            Err(DomainError::Invalid { field, .. }) if field == "selector"
        ));
        let rotated = vec![
            key(1, "old", DkimKeyState::Retiring, 1),
            key(2, "new", DkimKeyState::Active, 2),
        ];
        assert_eq!(check_retirement(&rotated, "old").unwrap().id, 1);
        assert!(check_retirement(&rotated, "new").is_err());
        let only = vec![key(1, "first", DkimKeyState::Pending, 1)];
        assert!(check_retirement(&only, "first").is_err());
    }

    #[test]
    fn a_seen_pending_key_takes_over_from_the_active_one() {
        let keys = vec![
            key(1, "old", DkimKeyState::Active, 1),
            key(2, "new", DkimKeyState::Pending, 2),
        ];
        assert_eq!(after_dns_check(&keys, &[1]), vec![]);
        assert_eq!(
            after_dns_check(&keys, &[1, 2]),
            vec![
                Transition {
                    key_id: 2,
                    to: DkimKeyState::Active
                },
                Transition {
                    key_id: 1,
                    to: DkimKeyState::Retiring
                },
            ]
        );
    }

    #[test]
    fn of_two_seen_pending_keys_the_newest_signs() {
        let keys = vec![
            key(1, "a", DkimKeyState::Pending, 1),
            key(2, "b", DkimKeyState::Pending, 2),
            key(3, "c", DkimKeyState::Pending, 3),
        ];
        let t = after_dns_check(&keys, &[1, 2]);
        assert_eq!(
            t,
            vec![
                Transition {
                    key_id: 2,
                    to: DkimKeyState::Active
                },
                Transition {
                    key_id: 1,
                    to: DkimKeyState::Retiring
                },
            ],
            "the unseen newer key stays PENDING"
        );
    }

    #[test]
    fn rotation_is_bounded_by_the_published_keys() {
        let mut keys: Vec<DkimKey> = (1..=4)
            .map(|i| key(i, &format!("s{i}"), DkimKeyState::Retiring, 1))
            .collect();
        assert!(check_rotation(&keys).is_err());
        keys[0].state = DkimKeyState::Retired;
        assert!(check_rotation(&keys).is_ok());
    }
}
