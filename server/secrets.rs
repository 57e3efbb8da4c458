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

/// Runs Argon2 work on a hashing thread, at most one per core at a time.
/// Each run takes 19 MiB and a core for tens of milliseconds, so a burst of
/// logins waits here rather than taking every thread and gigabytes of
/// memory. The slot is held until the work ends, even when the caller has
/// gone away (a cancelled RPC does not stop a running hash).
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
    let (done, result) = tokio::sync::oneshot::channel();
    on_hashing_thread(Box::new(move || {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(work));
        drop(permit);
        let _ = done.send(result);
    }));
    result.await.ok()?.ok()
}

type Job = Box<dyn FnOnce() + Send>;

/// How the hashing threads share the CPU with the rest of the server
/// (`--hashing-priority`; docs/rules.md, "Hashing").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum HashingPriority {
    /// Nice +10 and the shortest time slice the kernel grants: when every
    /// core is busy, recipient checks run first and logins get a small,
    /// steady share.
    #[default]
    Low,
    /// `SCHED_IDLE`: hashing runs only on cores nothing else wants. Mail
    /// keeps more of the CPU under overload; logins may slow to a crawl
    /// while anything else keeps the cores busy.
    Idle,
}

static PRIORITY: OnceLock<HashingPriority> = OnceLock::new();

/// Sets the priority of the hashing threads, which are the process's own
/// and start on first use: the first call decides. `Err` with the
/// priority in force if an earlier call (or a hash) chose another one.
pub fn set_hashing_priority(priority: HashingPriority) -> Result<(), HashingPriority> {
    match *PRIORITY.get_or_init(|| priority) {
        chosen if chosen == priority => Ok(()),
        chosen => Err(chosen),
    }
}

/// How far below the rest of the server the hashing threads run (added to
/// their nice value): when every core is busy, the delivery path's
/// recipient checks run first and logins wait (docs/rules.md, "Hashing").
const HASHING_NICENESS: libc::c_int = 10;

/// The time slice the hashing threads ask the scheduler for: the shortest
/// it grants (Linux 6.12 and later; older kernels ignore it). A thread
/// that wakes to answer a call then takes the core back after at most this
/// long, instead of waiting out a hash's full slice of a few milliseconds.
#[cfg(target_os = "linux")]
const HASHING_SLICE_NS: u64 = 100_000;

/// The nice value of the calling thread (Linux keeps one per thread).
#[cfg(target_os = "linux")]
fn niceness() -> libc::c_int {
    // SAFETY: getpriority only reads the calling thread's nice value.
    unsafe { libc::getpriority(libc::PRIO_PROCESS, 0) }
}

/// `struct sched_attr` of sched_setattr(2), its first version.
#[cfg(target_os = "linux")]
#[repr(C)]
#[derive(Default)]
struct SchedAttr {
    size: u32,
    policy: u32,
    flags: u64,
    nice: i32,
    priority: u32,
    runtime: u64,
    deadline: u64,
    period: u64,
}

/// Lowers the calling thread for good (lowering is always allowed; raising
/// it back would need privileges, hence threads of their own rather than
/// the runtime's blocking pool): [`HASHING_NICENESS`] below its nice value,
/// the [`HASHING_SLICE_NS`] slice, and `SCHED_IDLE` if asked. A kernel
/// without sched_setattr gets the nice value and policy the old way.
#[cfg(target_os = "linux")]
fn lower_this_thread(priority: HashingPriority) {
    let nice = (niceness() + HASHING_NICENESS).min(19);
    let policy = match priority {
        HashingPriority::Low => libc::SCHED_OTHER,
        HashingPriority::Idle => libc::SCHED_IDLE,
    };
    let attr = SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy: policy as u32,
        nice,
        runtime: HASHING_SLICE_NS,
        ..SchedAttr::default()
    };
    // SAFETY: sched_setattr(0, ...) changes only the calling thread and
    // reads `attr`, which outlives the call; a failure changes nothing.
    let set = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, &attr, 0) } == 0;
    if !set {
        let param = libc::sched_param { sched_priority: 0 };
        // SAFETY: both change only the calling thread; a failure leaves it.
        unsafe {
            libc::setpriority(libc::PRIO_PROCESS, 0, nice);
            libc::sched_setscheduler(0, policy, &param);
        }
    }
}

/// Hands `job` to the hashing threads: one per core, started on first use,
/// each lowered by [`lower_this_thread`] at the priority in force.
fn on_hashing_thread(job: Job) {
    static JOBS: OnceLock<std::sync::mpsc::Sender<Job>> = OnceLock::new();
    let jobs = JOBS.get_or_init(|| {
        let priority = *PRIORITY.get_or_init(HashingPriority::default);
        let (jobs, queue) = std::sync::mpsc::channel::<Job>();
        let queue = Arc::new(std::sync::Mutex::new(queue));
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        for i in 0..cores {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("argon2-{i}"))
                .spawn(move || {
                    #[cfg(target_os = "linux")]
                    lower_this_thread(priority);
                    #[cfg(not(target_os = "linux"))]
                    let _ = priority;
                    loop {
                        let next = queue.lock().unwrap_or_else(|p| p.into_inner()).recv();
                        match next {
                            Ok(job) => job(),
                            Err(_) => return,
                        }
                    }
                })
                .expect("starting a hashing thread");
        }
        jobs
    });
    jobs.send(job)
        .expect("the hashing threads live as long as the process");
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

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_runs_below_the_runtimes_priority() {
        let runtime = niceness();
        let hashing = argon2(niceness).await.expect("the work ran");
        assert_eq!(hashing, (runtime + HASHING_NICENESS).min(19));
        assert!(
            runtime < hashing,
            "the runtime's own threads are not lowered"
        );
        assert_eq!(niceness(), runtime);
    }

    /// The calling thread's policy and custom slice, from sched_getattr(2).
    #[cfg(target_os = "linux")]
    fn scheduling() -> (u32, u64) {
        let mut attr = SchedAttr::default();
        let size = std::mem::size_of::<SchedAttr>() as libc::c_uint;
        // SAFETY: sched_getattr writes at most `size` bytes into `attr`.
        let read = unsafe { libc::syscall(libc::SYS_sched_getattr, 0, &mut attr, size, 0) };
        assert_eq!(read, 0, "sched_getattr");
        (attr.policy, attr.runtime)
    }

    /// Whether the running kernel is `major.minor` or later.
    #[cfg(target_os = "linux")]
    fn kernel_at_least(major: u32, minor: u32) -> bool {
        // SAFETY: uname fills the zeroed struct it is given.
        let release = unsafe {
            let mut names: libc::utsname = std::mem::zeroed();
            assert_eq!(libc::uname(&mut names), 0);
            std::ffi::CStr::from_ptr(names.release.as_ptr())
                .to_string_lossy()
                .into_owned()
        };
        let mut numbers = release
            .split(|c: char| !c.is_ascii_digit())
            .map(|n| n.parse::<u32>().unwrap_or(0));
        let found = (numbers.next().unwrap_or(0), numbers.next().unwrap_or(0));
        found >= (major, minor)
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashing_asks_for_the_shortest_slice_at_normal_policy() {
        let (policy, slice) = argon2(scheduling).await.expect("the work ran");
        assert_eq!(policy, libc::SCHED_OTHER as u32, "the default is not idle");
        if kernel_at_least(6, 12) {
            assert_eq!(slice, HASHING_SLICE_NS, "the hashing thread's slice");
        } else {
            eprintln!("this kernel has no custom slices: the slice is not checked");
        }
        assert_ne!(
            scheduling().1,
            HASHING_SLICE_NS,
            "the runtime's own threads keep the kernel's slice"
        );
    }

    #[tokio::test]
    async fn a_panicking_hash_is_an_answer_not_a_lost_slot() {
        let slots = Arc::new(Semaphore::new(1));
        assert_eq!(bounded(&slots, || panic!("argon2 broke")).await, None::<()>);
        assert_eq!(slots.available_permits(), 1);
        assert_eq!(bounded(&slots, || 7).await, Some(7), "the thread survives");
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
