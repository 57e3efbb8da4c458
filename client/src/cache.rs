//! [`VerdictCache`]: recipient verdicts kept for a short while, for mail
//! servers that ask about the same recipient several times in one SMTP
//! transaction (Postfix asks its domain, alias, mailbox and access tables
//! within milliseconds).

use crate::{Freshness, Stamp, Verdict};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One kept verdict: when it was asked, and what it was computed from.
#[derive(Debug)]
struct Entry {
    at: Instant,
    stamp: Option<Stamp>,
    verdict: Verdict,
}

impl Entry {
    /// Whether the verdict still holds: until the directory it was read
    /// from changes, when that is known; for `ttl` otherwise.
    fn holds(&self, ttl: Duration, freshness: &impl Fn(Stamp) -> Freshness) -> bool {
        match self.stamp.map(freshness) {
            Some(Freshness::Current) => true,
            Some(Freshness::Changed) => false,
            Some(Freshness::Unknown) | None => self.at.elapsed() < ttl,
        }
    }
}

/// Verdicts by address. A verdict with a [`Stamp`] whose replica's
/// directory is watched is kept exactly until that directory changes; any
/// other for `ttl`, so a change made in the control plane reaches the
/// cache's users at most `ttl` late. A temporary failure is never kept
/// (the next question asks again).
#[derive(Debug)]
pub struct VerdictCache {
    ttl: Duration,
    capacity: usize,
    entries: Mutex<HashMap<String, Entry>>,
}

impl VerdictCache {
    /// A cache keeping each verdict as above, holding at most `capacity`
    /// addresses: when full, the verdicts that no longer hold are dropped,
    /// and if that frees less than a tenth, half of the rest (a burst of
    /// new addresses costs some misses, never unbounded memory).
    pub fn new(ttl: Duration, capacity: usize) -> Self {
        VerdictCache {
            ttl,
            capacity: capacity.max(1),
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The verdict for `address` if one that still holds is kept;
    /// `freshness` tells whether a stamped one does
    /// ([`crate::DeliveryClient::freshness`]).
    pub fn get(&self, address: &str, freshness: impl Fn(Stamp) -> Freshness) -> Option<Verdict> {
        let entries = self.entries.lock().expect("cache lock");
        entries
            .get(address)
            .filter(|entry| entry.holds(self.ttl, &freshness))
            .map(|entry| entry.verdict.clone())
    }

    /// Keeps `verdict` for `address` (not a temporary failure), with the
    /// stamp of the answer it came in.
    pub fn put(
        &self,
        address: &str,
        verdict: &Verdict,
        stamp: Option<Stamp>,
        freshness: impl Fn(Stamp) -> Freshness,
    ) {
        if verdict.is_temporary() {
            return;
        }
        let mut entries = self.entries.lock().expect("cache lock");
        if entries.len() >= self.capacity && !entries.contains_key(address) {
            let ttl = self.ttl;
            entries.retain(|_, entry| entry.holds(ttl, &freshness));
            if entries.len() >= self.capacity - self.capacity / 10 {
                let mut keep = false;
                entries.retain(|_, _| {
                    keep = !keep;
                    keep
                });
            }
        }
        entries.insert(
            address.to_string(),
            Entry {
                at: Instant::now(),
                stamp,
                verdict: verdict.clone(),
            },
        );
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

    fn unwatched(_: Stamp) -> Freshness {
        Freshness::Unknown
    }

    #[test]
    fn keeps_answers_for_the_ttl_and_never_a_temporary_failure() {
        let cache = VerdictCache::new(Duration::from_millis(50), 10);
        cache.put("a@x.example", &Verdict::RejectUnknown, None, unwatched);
        let down = Verdict::TempFail {
            reason: "down".into(),
        };
        cache.put("b@x.example", &down, None, unwatched);
        assert_eq!(
            cache.get("a@x.example", unwatched),
            Some(Verdict::RejectUnknown)
        );
        assert_eq!(cache.get("b@x.example", unwatched), None);
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get("a@x.example", unwatched), None, "expired");
    }

    #[test]
    fn a_stamped_answer_holds_until_its_directory_changes() {
        let cache = VerdictCache::new(Duration::from_millis(10), 10);
        let stamp = Stamp::new(0, 7);
        cache.put("a@x.example", &Verdict::NotLocal, Some(stamp), unwatched);
        std::thread::sleep(Duration::from_millis(20));
        let current = |_: Stamp| Freshness::Current;
        let changed = |_: Stamp| Freshness::Changed;
        assert_eq!(
            cache.get("a@x.example", current),
            Some(Verdict::NotLocal),
            "past the TTL, the directory unchanged"
        );
        assert_eq!(cache.get("a@x.example", changed), None);
        assert_eq!(
            cache.get("a@x.example", unwatched),
            None,
            "the watch down: the TTL decides"
        );
    }

    #[test]
    fn a_full_cache_makes_room() {
        let cache = VerdictCache::new(Duration::from_secs(60), 10);
        for i in 0..10 {
            cache.put(
                &format!("{i}@x.example"),
                &Verdict::NotLocal,
                None,
                unwatched,
            );
        }
        cache.put("new@x.example", &Verdict::NotLocal, None, unwatched);
        assert!(cache.len() <= 6, "half made room: {}", cache.len());
        assert_eq!(
            cache.get("new@x.example", unwatched),
            Some(Verdict::NotLocal)
        );
    }
}
