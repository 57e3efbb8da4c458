//! [`VerdictCache`]: recipient verdicts kept for a short while, for mail
//! servers that ask about the same recipient several times in one SMTP
//! transaction (Postfix asks its domain, alias, mailbox and access tables
//! within milliseconds).

use crate::Verdict;
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Verdicts by address, each kept for `ttl`. A temporary failure is never
/// kept (the next question asks again), and a change made in the control
/// plane reaches the cache's users at most `ttl` late.
#[derive(Debug)]
pub struct VerdictCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, (Instant, Verdict)>>,
}

impl VerdictCache {
    /// A cache keeping each verdict for `ttl`, holding at most `capacity`
    /// addresses (when full, expired entries are dropped, and if none had
    /// expired, all of them: a burst of new addresses costs one round of
    /// misses, never unbounded memory).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        VerdictCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict for `address` if one younger than the TTL is kept.
    pub fn get(&self, address: &str) -> Option<Verdict> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(address)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, verdict)| verdict.clone())
    }

    /// Keeps `verdict` for `address` (not a temporary failure).
    pub fn put(&self, address: &str, verdict: &Verdict) {
        if verdict.is_temporary() {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity && !entries.contains_key(address) {
            let ttl = self.ttl;
            entries.retain(|_, (at, _)| at.elapsed() < ttl);
            if entries.len() >= self.capacity {
                entries.clear();
            }
        }
        entries.insert(address.to_string(), (Instant::now(), verdict.clone()));
    }

    /// How many verdicts are kept (expired ones included until swept).
    pub fn len(&self) -> usize {
        self.entries.lock().expect("cache lock").len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_answers_for_the_ttl_and_never_a_temporary_failure() {
        let cache = VerdictCache::new(Duration::from_millis(50), 10);
        cache.put("a@x.example", &Verdict::RejectUnknown);
        cache.put(
            "b@x.example",
            &Verdict::TempFail {
                reason: "down".into(),
            },
        );
        assert_eq!(cache.get("a@x.example"), Some(Verdict::RejectUnknown));
        assert_eq!(cache.get("b@x.example"), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("a@x.example"), None, "expired");
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = VerdictCache::new(Duration::from_secs(60), 3);
        for i in 0..3 {
            cache.put(&format!("{i}@x.example"), &Verdict::NotLocal);
        }
        cache.put("new@x.example", &Verdict::NotLocal);
        assert!(cache.len() <= 3);
        assert_eq!(cache.get("new@x.example"), Some(Verdict::NotLocal));
    }
}
