//! Secrets handed to people (API tokens, session tokens, reset tokens) and
//! password hashing. Secrets carry 256 random bits and are stored only as a
//! SHA-256 digest, so checking one is a single indexed lookup; passwords are
//! Argon2id, hashed off the async runtime.

use super::error::{DomainError, DomainResult};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// A new random secret with a recognizable prefix (`mat_` for tokens,
/// `mar_` for reset tokens), so leaked ones are easy to spot.
pub fn new_secret(prefix: &str) -> String {
    let mut bytes = [0u8; 32];
    OsRng.fill_bytes(&mut bytes);
    format!("{prefix}{}", hex::encode(bytes))
}

/// The stored form of a secret.
pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

/// Hashes a password with Argon2id (default parameters) on a blocking thread.
pub async fn hash_password(password: String) -> DomainResult<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| DomainError::internal(format!("argon2 hash failed: {e}")))
    })
    .await
    .map_err(DomainError::internal)?
}

/// Verifies a password against a stored hash on a blocking thread. With no
/// hash (unknown login, deleted account) it verifies against a dummy hash, so
/// the work and the answer are the same as for a wrong password.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    let stored = stored
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| dummy_hash().to_string());
    let known = stored != dummy_hash();
    tokio::task::spawn_blocking(move || {
        let Ok(parsed) = PasswordHash::new(&stored) else {
            return false;
        };
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        matches && known
    })
    .await
    .unwrap_or(false)
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(b"no account has this password", &salt)
            .expect("argon2 hashes a constant")
            .to_string()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_random_and_digests_stable() {
        let a = new_secret("mat_");
        let b = new_secret("mat_");
        assert_ne!(a, b);
        assert!(a.starts_with("mat_") && a.len() == 4 + 64);
        assert_eq!(digest(&a), digest(&a));
        assert_eq!(digest(&a).len(), 64);
    }

    #[tokio::test]
    async fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse battery".into()).await.unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery".into(), Some(hash.clone())).await);
        assert!(!verify_password("wrong horse battery".into(), Some(hash)).await);
        assert!(!verify_password("anything at all".into(), None).await);
    }
}
