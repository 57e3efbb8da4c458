//! Secrets handed to people (API tokens, session tokens, reset tokens) and
//! password hashing. Secrets carry 256 random bits and are stored only as a
//! SHA-256 digest, so checking one is a single indexed lookup; passwords are
//! Argon2id, hashed off the async runtime.

use crate::rules::{DomainError, DomainResult};
use argon2::Argon2;
use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::sync::{Arc, OnceLock};
use tokio::sync::Semaphore;

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

/// Runs Argon2 work on a blocking thread, at most one per core at a time.
/// Each run takes 19 MiB and a core for tens of milliseconds, so a burst of
/// logins waits here rather than taking every blocking thread and
/// gigabytes of memory. The slot is held until the work ends, even when
/// the caller has gone away (a cancelled RPC does not stop a running hash).
async fn argon2<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Option<T> {
    static SLOTS: OnceLock<Arc<Semaphore>> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        Arc::new(Semaphore::new(cores))
    });
    bounded(slots, work).await
}

/// [`argon2`] with any semaphore: the work runs once a permit is free, and
/// holds it until it ends. `None` if the work panicked.
async fn bounded<T: Send + 'static>(
    slots: &Arc<Semaphore>,
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    let permit = slots.clone().acquire_owned().await.ok()?;
    tokio::task::spawn_blocking(move || {
        let result = work();
        drop(permit);
        result
    })
    .await
    .ok()
}

/// Hashes a password with Argon2id (default parameters) on a blocking thread.
pub async fn hash_password(password: String) -> DomainResult<String> {
    argon2(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|e| DomainError::internal(format!("argon2 hash failed: {e}")))
    })
    .await
    .unwrap_or_else(|| Err(DomainError::internal("argon2 hash panicked")))
}

/// Verifies a password against a stored hash on a blocking thread. With no
/// hash (unknown login, deleted account) it verifies against a dummy hash, so
/// the work and the answer are the same as for a wrong password.
pub async fn verify_password(password: String, stored: Option<String>) -> bool {
    let stored = stored
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| dummy_hash().to_string());
    let known = stored != dummy_hash();
    argon2(move || {
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn argon2_work_runs_at_most_one_per_slot() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let slots = Arc::new(Semaphore::new(2));
        let running = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..8)
            .map(|i| {
                let (slots, running, most) = (slots.clone(), running.clone(), most.clone());
                tokio::spawn(async move {
                    bounded(&slots, move || {
                        let now = running.fetch_add(1, Ordering::SeqCst) + 1;
                        most.fetch_max(now, Ordering::SeqCst);
                        std::thread::sleep(std::time::Duration::from_millis(20));
                        running.fetch_sub(1, Ordering::SeqCst);
                        i
                    })
                    .await
                })
            })
            .collect();
        let mut answers = Vec::new();
        for task in tasks {
            answers.push(task.await.unwrap());
        }
        assert_eq!(answers, (0..8).map(Some).collect::<Vec<_>>());
        assert!(most.load(Ordering::SeqCst) <= 2, "{most:?} ran at once");
        assert_eq!(slots.available_permits(), 2, "every slot is given back");
    }

    #[tokio::test]
    async fn a_cancelled_caller_keeps_its_slot_until_the_work_ends() {
        let slots = Arc::new(Semaphore::new(1));
        let (started_tx, started) = std::sync::mpsc::channel();
        let (finish, finish_rx) = std::sync::mpsc::channel::<()>();
        let caller = tokio::spawn({
            let slots = slots.clone();
            async move {
                bounded(&slots, move || {
                    started_tx.send(()).unwrap();
                    finish_rx.recv().ok();
                })
                .await
            }
        });
        tokio::task::spawn_blocking(move || started.recv().unwrap())
            .await
            .unwrap();
        caller.abort();
        assert!(caller.await.unwrap_err().is_cancelled());
        assert_eq!(slots.available_permits(), 0, "the work still runs");
        finish.send(()).unwrap();
        let _permit = tokio::time::timeout(std::time::Duration::from_secs(10), slots.acquire())
            .await
            .expect("the slot comes back once the work ends");
    }

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
