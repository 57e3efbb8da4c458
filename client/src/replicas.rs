//! The replicas a [`DeliveryClient`] spreads its calls over, and what it
//! knows of their health.
//!
//! Every replica answers from its own snapshot of the same database, so any
//! of them will do. Calls go round the replicas that are up; a replica that
//! cannot be reached, or does not answer within the timeout, is marked down
//! and a background task probes it (after 0.5 s, then twice as long each
//! time, up to 10 s) until it answers again. A call whose replica refuses
//! the connection moves on to the next one within the same timeout, so
//! losing a replica costs no temporary failure; one that goes silent costs
//! the calls already waiting on it. When every replica is down, calls still
//! try them all (one may be back before its probe says so).
//!
//! [`DeliveryClient`]: crate::DeliveryClient

use crate::delivery::{BearerToken, ClientError};
use crate::observer::{CallEvent, CallOutcome, Observer};
use crate::pb;
use crate::pb::delivery_service_client::DeliveryServiceClient;
use crate::tls::ClientTls;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;
use tokio::time::Instant;
use tonic::codegen::InterceptedService;
use tonic::transport::{Channel, Endpoint};
use tonic::{Code, Status};

/// How often an idle connection is pinged, and how long a ping may go
/// unanswered before the connection is taken as dead and re-opened: a
/// connection that dies without a reset costs at most this many seconds of
/// temporary failures.
const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(5);
const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(2);

/// The first and the longest wait between two probes of a replica that is down.
const FIRST_PROBE: Duration = Duration::from_millis(500);
const LONGEST_PROBE: Duration = Duration::from_secs(10);

/// A name no provider delivers for: asking about it proves a replica
/// answers, and takes the token, without touching real data.
pub(crate) const PROBE_ADDRESS: &str = "postmaster@mailadmin-probe.invalid";

pub(crate) type Stub = DeliveryServiceClient<InterceptedService<Channel, BearerToken>>;

/// Why a call got no answer it could use.
pub(crate) enum Failure {
    /// A status from the replica or from the transport.
    Status(Status),
    /// No answer within the timeout.
    Timeout(Duration),
}

impl Failure {
    /// Why, for a temporary failure's log line.
    pub(crate) fn reason(&self) -> String {
        match self {
            Failure::Status(status) => format!("{:?}: {}", status.code(), status.message()),
            Failure::Timeout(timeout) => format!("no answer within {timeout:?}"),
        }
    }
}

/// Whether a call may be sent to the next replica after this one failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Retry {
    /// Reads: on any `UNAVAILABLE`.
    Idempotent,
    /// Logins (they count failures): only when the request never left this
    /// process, i.e. the connection could not be made.
    NotSent,
}

/// How one attempt on one replica went.
enum Attempt<T> {
    Answered(T),
    Failed(Status),
    /// No answer in time.
    Silent,
}

struct Replica {
    url: String,
    stub: Stub,
    down: AtomicBool,
    /// Whether this replica's directory version is being followed
    /// (`WatchDirectoryVersion` is open), and the last version it sent.
    watched: AtomicBool,
    version: AtomicU64,
}

/// Which replica answered, and its directory version as this client knew
/// it when the question left: an answer stamped so is at least that new.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    replica: usize,
    version: u64,
}

impl Stamp {
    /// A stamp for the `replica`-th URL given to the client at `version`
    /// (for tests of code that keeps stamped answers).
    pub fn new(replica: usize, version: u64) -> Stamp {
        Stamp { replica, version }
    }
}

/// Whether an answer stamped with a [`Stamp`] still holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The replica's directory has not changed since: the answer holds.
    Current,
    /// It has changed: ask again.
    Changed,
    /// Its changes are not being followed right now (the watch is down):
    /// only the caller's own time limit can say.
    Unknown,
}

pub(crate) struct Replicas {
    members: Vec<Arc<Replica>>,
    next: AtomicUsize,
    timeout: Duration,
    observer: Arc<dyn Observer>,
}

impl Replicas {
    /// Lazy connections to `urls` (each `http://host:port` or
    /// `https://host:port`), checked up front.
    pub(crate) fn new(
        urls: &[String],
        tls: &ClientTls,
        token: BearerToken,
        timeout: Duration,
        observer: Arc<dyn Observer>,
    ) -> Result<Self, ClientError> {
        if urls.is_empty() {
            return Err(ClientError::Endpoint("no replica URL given".into()));
        }
        let members = urls
            .iter()
            .map(|url| {
                Ok(Arc::new(Replica {
                    url: url.clone(),
                    stub: DeliveryServiceClient::with_interceptor(
                        endpoint(url, tls, timeout)?.connect_lazy(),
                        token.clone(),
                    ),
                    down: AtomicBool::new(false),
                    watched: AtomicBool::new(false),
                    version: AtomicU64::new(0),
                }))
            })
            .collect::<Result<_, ClientError>>()?;
        Ok(Replicas {
            members,
            next: AtomicUsize::new(0),
            timeout,
            observer,
        })
    }

    pub(crate) fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The replicas in the order this call tries them: those that are up,
    /// starting from the next in turn, then those that are down.
    fn in_order(&self) -> Vec<(usize, Arc<Replica>)> {
        let n = self.members.len();
        let start = self.next.fetch_add(1, Ordering::Relaxed) % n;
        let rotated = (0..n).map(|i| (start + i) % n);
        let (up, down): (Vec<_>, Vec<_>) = rotated
            .map(|i| (i, Arc::clone(&self.members[i])))
            .partition(|(_, r)| !r.down.load(Ordering::Relaxed));
        up.into_iter().chain(down).collect()
    }

    /// Whether an answer stamped `stamp` still holds.
    pub(crate) fn freshness(&self, stamp: Stamp) -> Freshness {
        let replica = &self.members[stamp.replica];
        if !replica.watched.load(Ordering::Acquire) {
            Freshness::Unknown
        } else if replica.version.load(Ordering::Acquire) == stamp.version {
            Freshness::Current
        } else {
            Freshness::Changed
        }
    }

    /// Follows every replica's directory version in the background, for
    /// as long as the replicas are in use.
    pub(crate) fn watch_versions(&self) {
        for replica in &self.members {
            tokio::spawn(watch_version(Arc::downgrade(replica)));
        }
    }

    /// Runs `attempt` on the replicas in turn until one answers, all within
    /// one timeout. `attempt` gets the stub and the time left, to send as
    /// the request's deadline.
    pub(crate) async fn call<T, F, Fut>(
        &self,
        method: &'static str,
        retry: Retry,
        attempt: F,
    ) -> Result<T, Failure>
    where
        F: FnMut(Stub, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        self.call_stamped(method, retry, attempt)
            .await
            .map(|(answer, _)| answer)
    }

    /// [`Replicas::call`], with the answer's [`Stamp`] when the replica
    /// that answered is being watched.
    pub(crate) async fn call_stamped<T, F, Fut>(
        &self,
        method: &'static str,
        retry: Retry,
        mut attempt: F,
    ) -> Result<(T, Option<Stamp>), Failure>
    where
        F: FnMut(Stub, Duration) -> Fut,
        Fut: Future<Output = Result<tonic::Response<T>, Status>>,
    {
        let deadline = Instant::now() + self.timeout;
        let mut failure = Failure::Timeout(self.timeout);
        for (index, replica) in self.in_order() {
            // Read before the question leaves: the answer is at least this new.
            let stamp = replica.watched.load(Ordering::Acquire).then(|| Stamp {
                replica: index,
                version: replica.version.load(Ordering::Acquire),
            });
            let started = Instant::now();
            let left = deadline.saturating_duration_since(started);
            if left.is_zero() {
                break;
            }
            let attempt = tokio::time::timeout_at(deadline, attempt(replica.stub.clone(), left));
            let answer = match attempt.await {
                Ok(Err(status)) if timed_out(&status) => Attempt::Silent,
                Ok(Err(status)) => Attempt::Failed(status),
                Ok(Ok(response)) => Attempt::Answered(response.into_inner()),
                Err(_) => Attempt::Silent,
            };
            self.observer.call_finished(&CallEvent {
                method,
                replica: &replica.url,
                elapsed: started.elapsed(),
                outcome: match &answer {
                    Attempt::Answered(_) => CallOutcome::Ok,
                    Attempt::Failed(status) => CallOutcome::Status(status.code()),
                    Attempt::Silent => CallOutcome::Timeout,
                },
            });
            match answer {
                Attempt::Answered(answer) => return Ok((answer, stamp)),
                Attempt::Failed(status) if from_transport(&status) => {
                    self.mark_down(&replica, status.message());
                    failure = Failure::Status(status);
                }
                Attempt::Failed(status)
                    if status.code() == Code::Unavailable && retry == Retry::Idempotent =>
                {
                    failure = Failure::Status(status);
                }
                Attempt::Failed(status) => return Err(Failure::Status(status)),
                Attempt::Silent => {
                    self.mark_down(&replica, &format!("no answer within {:?}", self.timeout));
                    return Err(Failure::Timeout(self.timeout));
                }
            }
            if retry == Retry::NotSent && !matches!(&failure, Failure::Status(s) if not_sent(s)) {
                break;
            }
        }
        Err(failure)
    }

    /// Marks `replica` down and starts probing it, unless it already was.
    fn mark_down(&self, replica: &Arc<Replica>, reason: &str) {
        if replica.down.swap(true, Ordering::Relaxed) {
            return;
        }
        self.observer.replica_down(&replica.url, reason);
        tracing::debug!(replica = %replica.url, reason, "replica down");
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            // No runtime to probe from: the next call in turn tries it.
            replica.down.store(false, Ordering::Relaxed);
            return;
        };
        runtime.spawn(probe(
            Arc::downgrade(replica),
            self.timeout,
            Arc::clone(&self.observer),
        ));
    }
}

/// Keeps `replica.version` current from its `WatchDirectoryVersion`
/// stream, re-opening the stream (0.5 s after a failure, then twice as long
/// each time up to 10 s) until the replica is dropped. While the stream is
/// not open, `watched` is false.
async fn watch_version(replica: Weak<Replica>) {
    let mut wait = FIRST_PROBE;
    loop {
        let Some(current) = replica.upgrade() else {
            return;
        };
        let mut stub = current.stub.clone();
        drop(current);
        if let Ok(response) = stub
            .watch_directory_version(pb::WatchDirectoryVersionRequest {})
            .await
        {
            let mut versions = response.into_inner();
            while let Ok(Some(message)) = versions.message().await {
                let Some(current) = replica.upgrade() else {
                    return;
                };
                current.version.store(message.version, Ordering::Release);
                current.watched.store(true, Ordering::Release);
                wait = FIRST_PROBE;
            }
        }
        if let Some(current) = replica.upgrade() {
            current.watched.store(false, Ordering::Release);
        }
        tokio::time::sleep(wait).await;
        wait = (wait * 2).min(LONGEST_PROBE);
    }
}

/// Asks a replica that is down, less and less often, until it answers
/// (then marks it up) or the client is dropped.
async fn probe(replica: Weak<Replica>, timeout: Duration, observer: Arc<dyn Observer>) {
    let mut wait = FIRST_PROBE;
    loop {
        tokio::time::sleep(wait).await;
        let Some(replica) = replica.upgrade() else {
            return;
        };
        let mut stub = replica.stub.clone();
        let mut request = tonic::Request::new(pb::CheckRecipientRequest {
            address: PROBE_ADDRESS.into(),
        });
        request.set_timeout(timeout);
        let answered = match tokio::time::timeout(timeout, stub.check_recipient(request)).await {
            Ok(Ok(_)) => true,
            Ok(Err(status)) => !from_transport(&status),
            Err(_) => false,
        };
        if answered {
            replica.down.store(false, Ordering::Relaxed);
            observer.replica_up(&replica.url);
            tracing::debug!(replica = %replica.url, "replica up");
            return;
        }
        wait = (wait * 2).min(LONGEST_PROBE);
    }
}

/// Whether `status` was made by the transport (no connection, connection
/// lost) rather than sent by a replica.
fn from_transport(status: &Status) -> bool {
    status.code() == Code::Unavailable && std::error::Error::source(status).is_some()
}

/// Whether `status` says the request could not have reached the replica:
/// the connection was never made.
fn not_sent(status: &Status) -> bool {
    caused_by::<tonic::ConnectError>(status)
}

/// Whether `status` says the deadline passed: the replica gave up at the
/// deadline it was sent, or the transport did.
fn timed_out(status: &Status) -> bool {
    status.code() == Code::DeadlineExceeded || caused_by::<tonic::TimeoutExpired>(status)
}

fn caused_by<E: std::error::Error + 'static>(status: &Status) -> bool {
    let mut source = std::error::Error::source(status);
    while let Some(error) = source {
        if error.is::<E>() {
            return true;
        }
        source = error.source();
    }
    false
}

/// `url` as an endpoint, with the client's TLS, timeouts and keepalive.
fn endpoint(url: &str, tls: &ClientTls, timeout: Duration) -> Result<Endpoint, ClientError> {
    let endpoint = crate::tls::endpoint(url, tls)?;
    // No request timeout on the endpoint: `Replicas::call` keeps the one
    // deadline across failovers, and tells it to each replica.
    Ok(endpoint
        .connect_timeout(timeout)
        .tcp_nodelay(true)
        .http2_keep_alive_interval(KEEPALIVE_INTERVAL)
        .keep_alive_timeout(KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::observer::Unobserved;

    #[tokio::test]
    async fn a_refused_connection_is_known_not_to_have_been_sent() {
        // Nothing listens on port 9 of loopback (the discard service is not run).
        let token = BearerToken("Bearer t".parse().unwrap());
        let replicas = Replicas::new(
            &["http://127.0.0.1:9".to_string()],
            &ClientTls::default(),
            token,
            Duration::from_secs(2),
            Arc::new(Unobserved),
        )
        .unwrap();
        let mut stub = replicas.members[0].stub.clone();
        let status = stub
            .check_recipient(pb::CheckRecipientRequest {
                address: PROBE_ADDRESS.into(),
            })
            .await
            .unwrap_err();
        assert!(from_transport(&status), "{status:?}");
        assert!(not_sent(&status), "{status:?}");
        assert!(!from_transport(&Status::unavailable("database down")));
        assert!(!not_sent(&Status::unavailable("database down")));
    }
}
