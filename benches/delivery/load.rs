//! The load generator: N workers call as fast as answers come back, each
//! call checked for the right answer and timed; a warm-up is not counted.

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// One recipient of the workload and whether it exists.
#[derive(Debug, Clone)]
pub struct Probe {
    pub address: String,
    pub exists: bool,
}

/// The workload: `hits` of 10 probes name seeded addresses, the rest
/// addresses nobody has, in a fixed pseudo-random order.
pub fn workload(seeded: &[String], probes: usize, hits_per_ten: u64) -> Arc<Vec<Probe>> {
    let mut state = 0x9E37_79B9_7F4A_7C15_u64;
    let mut next = move || {
        // xorshift64*: deterministic, good enough to spread the keys.
        state ^= state >> 12;
        state ^= state << 25;
        state ^= state >> 27;
        state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    };
    let list = (0..probes)
        .map(|n| {
            if next() % 10 < hits_per_ten {
                let address = seeded[(next() % seeded.len() as u64) as usize].clone();
                Probe {
                    address,
                    exists: true,
                }
            } else {
                Probe {
                    address: format!("nobody-{n}@{}", mailadmin_server::store::SEED_DOMAIN),
                    exists: false,
                }
            }
        })
        .collect();
    Arc::new(list)
}

/// A client-side worker: one call (one address, or one batch) at a time.
pub trait Worker: Send + 'static {
    /// Makes one call starting at probe number `at`; returns how many
    /// addresses it checked and how many answers were wrong.
    fn call(&mut self, at: usize) -> impl Future<Output = Outcome> + Send;
}

#[derive(Debug, Default, Clone, Copy)]
pub struct Outcome {
    pub checked: u64,
    pub wrong: u64,
}

/// What one scenario measured, over one or more rounds.
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Nanoseconds per call.
    latencies: Vec<u64>,
    pub addresses: u64,
    pub wrong: u64,
    pub elapsed: Duration,
}

impl Stats {
    pub fn calls_per_second(&self) -> f64 {
        self.latencies.len() as f64 / self.elapsed.as_secs_f64()
    }

    pub fn addresses_per_second(&self) -> f64 {
        self.addresses as f64 / self.elapsed.as_secs_f64()
    }

    pub fn percentile(&self, p: f64) -> Duration {
        let mut sorted = self.latencies.clone();
        sorted.sort_unstable();
        match sorted.len() {
            0 => Duration::ZERO,
            n => Duration::from_nanos(sorted[((n as f64 * p) as usize).min(n - 1)]),
        }
    }

    /// Timings measured elsewhere (one call each), for their percentiles.
    pub fn from_samples(samples: &[Duration]) -> Stats {
        Stats {
            latencies: samples.iter().map(|d| d.as_nanos() as u64).collect(),
            ..Stats::default()
        }
    }

    pub fn count(&self) -> usize {
        self.latencies.len()
    }

    /// Adds another round of the same scenario.
    pub fn merge(&mut self, round: Stats) {
        self.latencies.extend(round.latencies);
        self.addresses += round.addresses;
        self.wrong += round.wrong;
        self.elapsed += round.elapsed;
    }
}

/// Runs `workers` concurrently: `warmup` untimed, then `measure` timed.
/// Each call takes the next `step` probes, from probe number `start` on.
/// The workers come back for the next round, with where it should start.
pub async fn run<W: Worker>(
    workers: Vec<W>,
    start: usize,
    step: usize,
    warmup: Duration,
    measure: Duration,
) -> (Vec<W>, Stats, usize) {
    let next = Arc::new(AtomicUsize::new(start));
    let start = Instant::now();
    let timed_from = start + warmup;
    let end = timed_from + measure;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            let next = next.clone();
            tokio::spawn(async move {
                let mut latencies = Vec::with_capacity(64 * 1024);
                let mut total = Outcome::default();
                loop {
                    let at = next.fetch_add(step, Ordering::Relaxed);
                    let sent = Instant::now();
                    if sent >= end {
                        break;
                    }
                    let outcome = worker.call(at).await;
                    let done = Instant::now();
                    if sent >= timed_from && done <= end {
                        latencies.push((done - sent).as_nanos() as u64);
                        total.checked += outcome.checked;
                    }
                    total.wrong += outcome.wrong;
                }
                (worker, latencies, total)
            })
        })
        .collect();
    let mut workers = Vec::with_capacity(tasks.len());
    let mut stats = Stats {
        elapsed: measure,
        ..Stats::default()
    };
    for task in tasks {
        let (worker, latencies, outcome) = task.await.expect("a load worker panicked");
        workers.push(worker);
        stats.latencies.extend(latencies);
        stats.addresses += outcome.checked;
        stats.wrong += outcome.wrong;
    }
    (workers, stats, next.load(Ordering::Relaxed))
}

/// Alternating rounds: `measure` split into `rounds` rounds, each with
/// how long to warm up before it is timed (`warmup` for the first, a
/// moment for the others) and how long it is timed.
pub fn schedule(
    warmup: Duration,
    measure: Duration,
    rounds: usize,
) -> impl Iterator<Item = (Duration, Duration)> {
    let per_round = measure / rounds.max(1) as u32;
    (0..rounds.max(1)).map(move |round| {
        let settle = if round == 0 {
            warmup
        } else {
            Duration::from_millis(200)
        };
        (settle, per_round)
    })
}

/// Measures each contender for `measure` in all, in `rounds` alternating
/// rounds (the first after `warmup`): the machine is shared, and
/// background load that comes and goes then falls on every contender alike.
pub async fn alternate<W: Worker>(
    mut contenders: Vec<Vec<W>>,
    step: usize,
    warmup: Duration,
    measure: Duration,
    rounds: usize,
) -> Vec<Stats> {
    let mut results = vec![Stats::default(); contenders.len()];
    // Each contender goes on through the probes where its last round
    // stopped, so rounds do not ask the same probes again.
    let mut positions = vec![0; contenders.len()];
    for (warmup, per_round) in schedule(warmup, measure, rounds) {
        for ((workers, total), position) in
            contenders.iter_mut().zip(&mut results).zip(&mut positions)
        {
            let taken = std::mem::take(workers);
            let (back, stats, end) = run(taken, *position, step, warmup, per_round).await;
            *workers = back;
            *position = end;
            total.merge(stats);
        }
    }
    results
}
