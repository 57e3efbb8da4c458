//! Throttling of failed logins: at most `limit` failures per key (a login,
//! a client address) in a fixed window; past that, attempts are refused
//! until the window ends, without checking the password (no oracle, no
//! Argon2 work for an attacker to spend).
//!
//! Why not `governor`: its keyed GCRA limiter spends a cell on every check
//! and has no way to ask "would this be allowed?" without spending one,
//! whereas a sign-in must be refused *before* the password is checked and
//! counted only *after* it turned out wrong (a right password costs
//! nothing). GCRA would also change the answer: with 10 per 15 minutes it
//! lets one more guess through every 90 s instead of refusing until the
//! window ends, and its retry-after would be 90 s, not the window's end
//! (docs/rules.md, "Throttle limits"). What this needs is a counter per key,
//! which is what this is; the counters move to the database when they
//! must hold across replicas.

use std::collections::HashMap;
use std::sync::Mutex;

/// Failures per key in fixed windows.
#[derive(Debug)]
pub struct Throttle {
    limit: u32,
    window_millis: i64,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// How many keys are kept before expired windows are swept.
const SWEEP_AT: usize = 100_000;

impl Throttle {
    pub fn new(limit: u32, window: std::time::Duration) -> Self {
        Throttle {
            limit,
            window_millis: window.as_millis() as i64,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// `Err(seconds)`: `key` has failed too often; retry after that long.
    pub fn check(&self, key: &str, now_millis: i64) -> Result<(), u64> {
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some(&(start, failures))
                if failures >= self.limit && now_millis < start + self.window_millis =>
            {
                Err(((start + self.window_millis - now_millis) as u64).div_ceil(1000))
            }
            _ => Ok(()),
        }
    }

    pub fn record_failure(&self, key: &str, now_millis: i64) {
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            let window = self.window_millis;
            windows.retain(|_, (start, _)| now_millis < *start + window);
        }
        let entry = windows.entry(key.to_string()).or_insert((now_millis, 0));
        if now_millis >= entry.0 + self.window_millis {
            *entry = (now_millis, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn refuses_after_the_limit_until_the_window_ends() {
        let throttle = Throttle::new(3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(throttle.check("login:alice", 1_000).is_ok());
            throttle.record_failure("login:alice", 1_000);
        }
        assert_eq!(throttle.check("login:alice", 1_000), Err(60));
        assert_eq!(throttle.check("login:alice", 31_000), Err(30));
        assert!(
            throttle.check("login:bob", 1_000).is_ok(),
            "keys are independent"
        );
        assert!(
            throttle.check("login:alice", 61_000).is_ok(),
            "a new window"
        );
        throttle.record_failure("login:alice", 61_000);
        assert!(throttle.check("login:alice", 61_000).is_ok());
    }
}
