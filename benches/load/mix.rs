//! The mixed workload: each worker calls as fast as answers come back and
//! picks every operation's class by weight: a recipient check, a login, or
//! an admin write. Every answer is checked, timed and counted by class and
//! status code.

use crate::common::Authed;
use crate::load::Probe;
use mailadmin_client::pb;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_client::pb::billing_service_client::BillingServiceClient;
use mailadmin_client::pb::delivery_service_client::DeliveryServiceClient;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};
use tonic::Code;

/// What the workers may do; the writes each stand for themselves in the
/// counts, and together as "admin writes" in the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    CheckRecipient,
    Authenticate,
    /// `CreateUser` with one alias: an Entry account, charged, its
    /// password hashed (Argon2id) on the server.
    CreateUser,
    AddAlias,
    /// `TopUp` with an idempotency key of its own.
    TopUp,
}

impl Kind {
    pub const ALL: [Kind; 5] = [
        Kind::CheckRecipient,
        Kind::Authenticate,
        Kind::CreateUser,
        Kind::AddAlias,
        Kind::TopUp,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Kind::CheckRecipient => "CheckRecipient",
            Kind::Authenticate => "Authenticate",
            Kind::CreateUser => "CreateUser + alias",
            Kind::AddAlias => "AddAlias",
            Kind::TopUp => "TopUp",
        }
    }

    pub fn is_write(self) -> bool {
        matches!(self, Kind::CreateUser | Kind::AddAlias | Kind::TopUp)
    }
}

/// Percent of operations per class: recipient checks, logins, admin writes
/// (the writes split evenly between `CreateUser`, `AddAlias` and `TopUp`).
#[derive(Debug, Clone, Copy)]
pub struct Weights {
    pub checks: u32,
    pub logins: u32,
    pub writes: u32,
}

impl Weights {
    pub const DELIVERY_ONLY: Weights = Weights {
        checks: 100,
        logins: 0,
        writes: 0,
    };

    /// `90,8,2`.
    pub fn parse(value: &str) -> Weights {
        let parts = crate::common::number_list(value);
        assert!(parts.len() == 3, "--mix CHECKS,LOGINS,WRITES (e.g. 90,8,2)");
        Weights {
            checks: parts[0] as u32,
            logins: parts[1] as u32,
            writes: parts[2] as u32,
        }
    }

    /// The same classes on workers of their own, as many of each as the
    /// weights give (at least one each class with a weight): worker `i`
    /// of `concurrency` does only its class.
    pub fn split(&self, concurrency: usize, i: usize) -> Weights {
        let total = (self.checks + self.logins + self.writes).max(1) as usize;
        let share = |weight: u32| match weight {
            0 => 0,
            w => ((concurrency * w as usize + total / 2) / total).max(1),
        };
        let (logins, writes) = (share(self.logins), share(self.writes));
        let only = |checks, logins, writes| Weights {
            checks,
            logins,
            writes,
        };
        if i < logins {
            only(0, 1, 0)
        } else if i < logins + writes {
            only(0, 0, 1)
        } else {
            only(1, 0, 0)
        }
    }

    fn pick(&self, rng: &mut StdRng) -> Kind {
        let total = self.checks + self.logins + self.writes;
        let n = rng.gen_range(0..total.max(1));
        if n < self.checks {
            Kind::CheckRecipient
        } else if n < self.checks + self.logins {
            Kind::Authenticate
        } else {
            [Kind::CreateUser, Kind::AddAlias, Kind::TopUp][rng.gen_range(0..3)]
        }
    }
}

/// What every worker of a run shares: the server's clients and the data
/// the operations name.
pub struct Shared {
    /// With the delivery token (`CheckRecipient`, `Authenticate`).
    pub delivery: DeliveryServiceClient<Authed>,
    /// With the operator token (the writes).
    pub admin: AdminServiceClient<Authed>,
    pub billing: BillingServiceClient<Authed>,
    pub probes: Arc<Vec<Probe>>,
    /// Accounts that log in: (login, user id); all have `password`.
    pub logins: Vec<(String, i64)>,
    pub password: String,
    /// One login in `wrong_logins_in` uses a wrong password.
    pub wrong_logins_in: u32,
    /// Accounts that get aliases.
    pub alias_owners: Vec<i64>,
    /// The organization accounts are created in and topped up.
    pub writes_organization: i64,
    /// The domain new addresses are on.
    pub domain: String,
    /// Numbers for probes, logins and names nobody used before.
    pub next_probe: AtomicUsize,
    pub next_login: AtomicUsize,
    pub next_name: AtomicU64,
}

/// How long a call may take before the client gives up (sent to the
/// server as the call's deadline).
const DEADLINE: Duration = Duration::from_secs(10);

fn request<T>(message: T) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(DEADLINE);
    request
}

/// How one operation went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Answer {
    Right,
    /// An answer, but not the one the data says (a failed run).
    Wrong,
    /// A gRPC error status.
    Failed(Code),
}

fn answer<T>(
    result: Result<tonic::Response<T>, tonic::Status>,
    right: impl FnOnce(T) -> bool,
) -> Answer {
    match result.map(|response| right(response.into_inner())) {
        Ok(true) => Answer::Right,
        Ok(false) => Answer::Wrong,
        Err(status) => Answer::Failed(status.code()),
    }
}

/// A load worker: its own random choice of classes over the shared data.
pub struct Mixer {
    shared: Arc<Shared>,
    weights: Weights,
    rng: StdRng,
}

impl Mixer {
    pub fn new(shared: Arc<Shared>, weights: Weights, seed: u64) -> Mixer {
        Mixer {
            shared,
            weights,
            rng: StdRng::seed_from_u64(seed),
        }
    }

    async fn call(&mut self, kind: Kind) -> Answer {
        let shared = &*self.shared;
        match kind {
            Kind::CheckRecipient => {
                let n = shared.next_probe.fetch_add(1, Ordering::Relaxed);
                let probe = &shared.probes[n % shared.probes.len()];
                let call = shared
                    .delivery
                    .clone()
                    .check_recipient(request(pb::CheckRecipientRequest {
                        address: probe.address.clone(),
                    }))
                    .await;
                answer(call, |response| {
                    let verdict = response.result.unwrap_or_default();
                    match pb::Verdict::try_from(verdict.verdict) {
                        Ok(pb::Verdict::Deliver) => {
                            probe.exists && verdict.primary_address == probe.address
                        }
                        Ok(pb::Verdict::RejectUnknown) => !probe.exists,
                        _ => false,
                    }
                })
            }
            Kind::Authenticate => {
                let n = shared.next_login.fetch_add(1, Ordering::Relaxed);
                let (login, user_id) = &shared.logins[n % shared.logins.len()];
                let right_password = self.rng.gen_range(0..shared.wrong_logins_in.max(1)) != 0;
                let password = if right_password {
                    shared.password.clone()
                } else {
                    format!("not the password {n}")
                };
                // Each attempt from an address of its own (a documentation
                // prefix; the address only travels in the request), so the
                // per-address throttle never adds up across the run.
                let client_ip = format!("2001:db8::{:x}:{:x}", n >> 16, n & 0xffff);
                let call = shared
                    .delivery
                    .clone()
                    .authenticate(request(pb::AuthenticateRequest {
                        login: login.clone(),
                        password,
                        client_ip,
                    }))
                    .await;
                answer(call, |response| {
                    if right_password {
                        response.allowed && response.user_id == *user_id
                    } else {
                        !response.allowed
                    }
                })
            }
            Kind::CreateUser => {
                let n = shared.next_name.fetch_add(1, Ordering::Relaxed);
                let username = format!("load{n}");
                let call = shared
                    .admin
                    .clone()
                    .create_user(request(pb::CreateUserRequest {
                        organization_id: shared.writes_organization,
                        account: Some(pb::NewAccount {
                            last_name: "Load".into(),
                            first_name: "Written".into(),
                            primary_address: format!("{username}@{}", shared.domain),
                            password: format!("a long password for {username}"),
                            plan: pb::Plan::Entry.into(),
                            username: username.clone(),
                        }),
                        request_id: format!("load-create-{n}"),
                        aliases: vec![format!("{username}.alias@{}", shared.domain)],
                        ..Default::default()
                    }))
                    .await;
                answer(call, |response| {
                    !response.already_created && response.user.is_some_and(|u| u.id > 0)
                })
            }
            Kind::AddAlias => {
                let n = shared.next_name.fetch_add(1, Ordering::Relaxed);
                let owner = shared.alias_owners[n as usize % shared.alias_owners.len()];
                let call = shared
                    .admin
                    .clone()
                    .add_alias(request(pb::AddAliasRequest {
                        user_id: owner,
                        address: format!("alias{n}@{}", shared.domain),
                        validate_only: false,
                    }))
                    .await;
                answer(call, |response| response.alias.is_some())
            }
            Kind::TopUp => {
                let n = shared.next_name.fetch_add(1, Ordering::Relaxed);
                let call = shared
                    .billing
                    .clone()
                    .top_up(request(pb::TopUpRequest {
                        organization_id: shared.writes_organization,
                        amount: Some(pb::Money {
                            amount: "10.00".into(),
                            currency: "EUR".into(),
                        }),
                        idempotency_key: format!("load-top-up-{n}"),
                        payment_reference: "load benchmark".into(),
                    }))
                    .await;
                answer(call, |response| response.entry.is_some())
            }
        }
    }
}

/// One class's calls: their times (each call sent within the measured
/// window, however long its answer took), and what came back.
#[derive(Debug, Clone, Default)]
pub struct Tally {
    nanos: Vec<u64>,
    pub wrong: u64,
    pub errors: BTreeMap<i32, u64>,
}

impl Tally {
    fn add(&mut self, answer: Answer, took: Duration) {
        self.nanos.push(took.as_nanos() as u64);
        match answer {
            Answer::Right => {}
            Answer::Wrong => self.wrong += 1,
            Answer::Failed(code) => *self.errors.entry(code as i32).or_default() += 1,
        }
    }

    pub fn merge(&mut self, other: &Tally) {
        self.nanos.extend_from_slice(&other.nanos);
        self.wrong += other.wrong;
        for (code, count) in &other.errors {
            *self.errors.entry(*code).or_default() += count;
        }
    }

    pub fn count(&self) -> usize {
        self.nanos.len()
    }

    /// Exact percentiles (`0.5`, `0.99`…) over every recorded call.
    pub fn percentiles(&self, ps: &[f64]) -> Vec<Duration> {
        let mut sorted = self.nanos.clone();
        sorted.sort_unstable();
        ps.iter()
            .map(|p| match sorted.len() {
                0 => Duration::ZERO,
                n => Duration::from_nanos(sorted[((n as f64 * p).ceil() as usize).clamp(1, n) - 1]),
            })
            .collect()
    }

    /// "UNAVAILABLE 3, RESOURCE_EXHAUSTED 1", or "0".
    pub fn error_summary(&self) -> String {
        if self.errors.is_empty() {
            return "0".into();
        }
        self.errors
            .iter()
            .map(|(code, count)| format!("{} {count}", code_name(*code)))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn code_name(code: i32) -> String {
    let name = format!("{:?}", Code::from_i32(code));
    // `ResourceExhausted` → `RESOURCE_EXHAUSTED`, as gRPC names it.
    let mut out = String::new();
    for (i, c) in name.chars().enumerate() {
        if c.is_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

/// Everything one workload measured, by kind.
#[derive(Debug, Clone, Default)]
pub struct Measured {
    pub kinds: BTreeMap<Kind, Tally>,
    pub elapsed: Duration,
}

impl Measured {
    pub fn merge(&mut self, other: &Measured) {
        for (kind, tally) in &other.kinds {
            self.kinds.entry(*kind).or_default().merge(tally);
        }
        self.elapsed += other.elapsed;
    }

    /// The kinds picked by `keep`, as one tally.
    pub fn of(&self, keep: impl Fn(Kind) -> bool) -> Tally {
        let mut all = Tally::default();
        for (_, tally) in self.kinds.iter().filter(|(kind, _)| keep(**kind)) {
            all.merge(tally);
        }
        all
    }

    pub fn per_second(&self, tally: &Tally) -> f64 {
        tally.count() as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs the workers together: `warmup` not counted, then every call sent
/// within `measure` counted. The workers come back for the next round.
async fn round(workers: Vec<Mixer>, warmup: Duration, measure: Duration) -> (Vec<Mixer>, Measured) {
    let from = Instant::now() + warmup;
    let until = from + measure;
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|mut worker| {
            tokio::spawn(async move {
                let mut kinds: BTreeMap<Kind, Tally> = BTreeMap::new();
                while Instant::now() < until {
                    let kind = worker.weights.pick(&mut worker.rng);
                    let sent = Instant::now();
                    let answer = worker.call(kind).await;
                    if sent >= from {
                        kinds.entry(kind).or_default().add(answer, sent.elapsed());
                    }
                }
                (worker, kinds)
            })
        })
        .collect();
    let mut measured = Measured {
        elapsed: measure,
        ..Measured::default()
    };
    let mut back = Vec::with_capacity(tasks.len());
    for task in tasks {
        let (worker, kinds) = task.await.expect("a load worker panicked");
        back.push(worker);
        measured.merge(&Measured {
            kinds,
            elapsed: Duration::ZERO,
        });
    }
    (back, measured)
}

/// Measures each workload for `measure` in all, in `rounds` alternating
/// rounds (the first after `warmup`), so that background load on a shared
/// machine falls on all of them alike.
pub async fn side_by_side(
    mut workloads: Vec<Vec<Mixer>>,
    warmup: Duration,
    measure: Duration,
    rounds: usize,
) -> Vec<Measured> {
    let mut results = vec![Measured::default(); workloads.len()];
    for (settle, per_round) in crate::load::schedule(warmup, measure, rounds) {
        for (workers, total) in workloads.iter_mut().zip(&mut results) {
            let (back, measured) = round(std::mem::take(workers), settle, per_round).await;
            *workers = back;
            total.merge(&measured);
        }
    }
    results
}
