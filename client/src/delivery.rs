//! [`DeliveryClient`]: what a mail server calls for every recipient and
//! every login.
//!
//! The one rule it keeps: a control plane that cannot be reached, or that
//! answers too slowly, never turns into a refusal. Those cases come back as
//! [`Verdict::TempFail`] (SMTP 451 4.4.3), so the sending server retries and
//! no mail is lost.

use crate::observer::{Observer, Unobserved};
use crate::pb;
use crate::replicas::{Failure, Freshness, Replicas, Retry, Stamp};
use crate::tls::ClientTls;
use std::sync::Arc;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::Interceptor;
use tonic::{Code, Status};

/// The most recipients the server takes in one call.
pub const MAX_BATCH: usize = 1000;

/// What to do with one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Deliver to this account.
    Deliver {
        /// The account the address belongs to.
        user_id: i64,
        /// Its primary address (the mailbox to deliver into).
        primary_address: String,
    },
    /// No such recipient (550 5.1.1).
    RejectUnknown,
    /// The account is disabled (550 5.2.1).
    RejectDisabled {
        /// The disabled account.
        user_id: i64,
    },
    /// Not a domain this provider delivers for (550 5.7.1 unless relayed).
    NotLocal,
    /// The address is malformed (501 5.1.3).
    RejectInvalid {
        /// What is wrong with it.
        reason: String,
    },
    /// The control plane could not answer: retry later (451 4.4.3).
    TempFail {
        /// Why, for the log.
        reason: String,
    },
}

/// The reply for [`Verdict::TempFail`], which the control plane never sends.
const TEMP_FAIL_REPLY: (u16, &str, &str) = (
    451,
    "4.4.3",
    "directory server unavailable, try again later",
);

impl pb::Verdict {
    /// The SMTP reply code, enhanced status code and text that go with this
    /// verdict. The server fills every `RecipientVerdict` from this table
    /// (adding the reason to `REJECT_INVALID`'s text), and
    /// [`Verdict::smtp_reply`] reads the same one, so a mail server answers
    /// alike whichever it uses. `UNSPECIFIED` gets the temporary failure.
    pub fn smtp_reply(self) -> (u16, &'static str, &'static str) {
        match self {
            pb::Verdict::Deliver => (250, "2.1.5", "recipient ok"),
            pb::Verdict::RejectUnknown => (550, "5.1.1", "mailbox unavailable: no such user here"),
            pb::Verdict::RejectDisabled => {
                (550, "5.2.1", "mailbox disabled, not accepting messages")
            }
            pb::Verdict::NotLocal => (550, "5.7.1", "relaying denied: not a domain served here"),
            pb::Verdict::RejectInvalid => (501, "5.1.3", "bad recipient address syntax"),
            pb::Verdict::Unspecified => TEMP_FAIL_REPLY,
        }
    }
}

impl Verdict {
    /// The SMTP reply code, enhanced status code and text to give.
    pub fn smtp_reply(&self) -> (u16, &'static str, &'static str) {
        match self {
            Verdict::Deliver { .. } => pb::Verdict::Deliver.smtp_reply(),
            Verdict::RejectUnknown => pb::Verdict::RejectUnknown.smtp_reply(),
            Verdict::RejectDisabled { .. } => pb::Verdict::RejectDisabled.smtp_reply(),
            Verdict::NotLocal => pb::Verdict::NotLocal.smtp_reply(),
            Verdict::RejectInvalid { .. } => pb::Verdict::RejectInvalid.smtp_reply(),
            Verdict::TempFail { .. } => TEMP_FAIL_REPLY,
        }
    }

    /// Whether the sending server should retry rather than bounce.
    pub fn is_temporary(&self) -> bool {
        matches!(self, Verdict::TempFail { .. })
    }

    fn from_proto(v: pb::RecipientVerdict) -> Verdict {
        match pb::Verdict::try_from(v.verdict) {
            Ok(pb::Verdict::Deliver) => Verdict::Deliver {
                user_id: v.user_id,
                primary_address: v.primary_address,
            },
            Ok(pb::Verdict::RejectUnknown) => Verdict::RejectUnknown,
            Ok(pb::Verdict::RejectDisabled) => Verdict::RejectDisabled { user_id: v.user_id },
            Ok(pb::Verdict::NotLocal) => Verdict::NotLocal,
            Ok(pb::Verdict::RejectInvalid) => Verdict::RejectInvalid {
                reason: v.reply_text,
            },
            // A verdict this client does not know: never refuse on a guess.
            Ok(pb::Verdict::Unspecified) | Err(_) => Verdict::TempFail {
                reason: format!("unknown verdict {}", v.verdict),
            },
        }
    }
}

/// The answer to a login attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The login may sign in.
    Allowed {
        /// The account signing in.
        user_id: i64,
        /// Its primary address.
        primary_address: String,
    },
    /// Wrong password, unknown login or disabled account (deliberately not
    /// told apart).
    Denied,
    /// Too many failures for this login or client address.
    Throttled {
        /// When to allow another attempt, if the server said.
        retry_after: Option<Duration>,
    },
    /// The control plane could not answer: tell the client to retry.
    TempFail {
        /// Why, for the log.
        reason: String,
    },
}

/// Errors that are the caller's to fix (never the control plane's state).
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// The URL is not an `http://host:port` or `https://host:port`
    /// endpoint, or its TLS settings cannot be used.
    #[error("invalid endpoint: {0}")]
    Endpoint(String),
    /// The token is empty or not printable ASCII (it travels in a header).
    #[error("invalid token: it must be printable ASCII without spaces")]
    Token,
}

/// Adds the bearer token to every call.
#[derive(Clone)]
pub struct BearerToken(pub(crate) MetadataValue<Ascii>);

impl Interceptor for BearerToken {
    fn call(&mut self, mut request: tonic::Request<()>) -> Result<tonic::Request<()>, Status> {
        request
            .metadata_mut()
            .insert("authorization", self.0.clone());
        Ok(request)
    }
}

/// A typed client for `mailadmin.v1.DeliveryService`.
///
/// Cheap to clone; clones share the connections, which are opened on first
/// use and re-opened after a failure, including one that went silent
/// (keepalive pings: a dead connection is noticed within seconds). Built
/// over several replicas ([`DeliveryClient::builder`]), it spreads calls
/// over those that answer and moves a call on to the next replica when one
/// refuses the connection.
#[derive(Clone)]
pub struct DeliveryClient {
    replicas: Arc<Replicas>,
}

impl std::fmt::Debug for DeliveryClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryClient")
            .field("timeout", &self.replicas.timeout())
            .finish_non_exhaustive()
    }
}

/// Builds a [`DeliveryClient`] over one or more replicas.
#[derive(Clone)]
pub struct DeliveryClientBuilder {
    urls: Vec<String>,
    token: String,
    timeout: Duration,
    observer: Arc<dyn Observer>,
    watch_directory: bool,
    tls: ClientTls,
}

impl std::fmt::Debug for DeliveryClientBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeliveryClientBuilder")
            .field("urls", &self.urls)
            .field("timeout", &self.timeout)
            .field("tls", &self.tls)
            .finish_non_exhaustive()
    }
}

impl DeliveryClientBuilder {
    /// Adds a replica (`http://host:port`, or `https://host:port` for TLS);
    /// calls go round all of them.
    pub fn replica(mut self, url: &str) -> Self {
        self.urls.push(url.to_string());
        self
    }

    /// How long a call may take, failing over included, before its answer
    /// is a temporary failure (default 1 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Reports every attempt and every change of a replica's health to
    /// `observer` (for metrics and logs).
    pub fn observer(mut self, observer: Arc<dyn Observer>) -> Self {
        self.observer = observer;
        self
    }

    /// Follows every replica's directory version (`WatchDirectoryVersion`)
    /// in the background, so that answers carry a [`Stamp`] saying how long
    /// they hold ([`DeliveryClient::freshness`]): what lets a cache keep a
    /// verdict exactly until the directory changes. Needs a Tokio runtime
    /// when the client is built.
    pub fn watch_directory(mut self, watch: bool) -> Self {
        self.watch_directory = watch;
        self
    }

    /// The CA to trust and the client certificate to show on `https://`
    /// replicas (default: the system's roots, no certificate).
    pub fn tls(mut self, tls: ClientTls) -> Self {
        self.tls = tls;
        self
    }

    /// The client. Checks every URL and the token; connects lazily.
    pub fn build(self) -> Result<DeliveryClient, ClientError> {
        let token = &self.token;
        if token.is_empty() || !token.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(ClientError::Token);
        }
        let token = format!("Bearer {token}")
            .parse::<MetadataValue<Ascii>>()
            .map_err(|_| ClientError::Token)?;
        let replicas = Replicas::new(
            &self.urls,
            &self.tls,
            BearerToken(token),
            self.timeout,
            self.observer,
        )?;
        if self.watch_directory {
            replicas.watch_versions();
        }
        Ok(DeliveryClient {
            replicas: Arc::new(replicas),
        })
    }
}

impl DeliveryClient {
    /// A client for `url` (`http://host:port`, e.g.
    /// `http://127.0.0.1:50051`, or `https://host:port` trusting the
    /// system's roots) with a token of role `delivery`. For a private CA
    /// or a client certificate, use [`DeliveryClient::builder`] and
    /// [`DeliveryClientBuilder::tls`].
    ///
    /// Connects lazily: a control plane that is down at start-up gives
    /// [`Verdict::TempFail`] answers until it is back. Each call times out
    /// after `timeout` (a few hundred milliseconds is usual for an MTA),
    /// and the server is told that deadline so it stops working on a call
    /// nobody waits for. Call it within a Tokio runtime.
    pub fn new(url: &str, token: &str, timeout: Duration) -> Result<Self, ClientError> {
        Self::builder(token).replica(url).timeout(timeout).build()
    }

    /// A builder for a client with a token of role `delivery`, over the
    /// replicas added to it (see [`DeliveryClient::new`] for what a URL
    /// and the timeout mean).
    pub fn builder(token: &str) -> DeliveryClientBuilder {
        DeliveryClientBuilder {
            urls: Vec::new(),
            token: token.to_string(),
            timeout: Duration::from_secs(1),
            observer: Arc::new(Unobserved),
            watch_directory: false,
            tls: ClientTls::default(),
        }
    }

    /// The replicas this client calls, shared with the streams it opens.
    pub(crate) fn replicas(&self) -> Arc<Replicas> {
        Arc::clone(&self.replicas)
    }

    /// Whether an answer stamped `stamp` still holds (see
    /// [`DeliveryClientBuilder::watch_directory`]).
    pub fn freshness(&self, stamp: Stamp) -> Freshness {
        self.replicas.freshness(stamp)
    }

    /// The verdict for one recipient address.
    pub async fn check_recipient(&self, address: &str) -> Verdict {
        self.check_recipient_stamped(address).await.0
    }

    /// [`DeliveryClient::check_recipient`], with the answer's [`Stamp`]
    /// when the directory is watched and the answer came from a replica.
    pub async fn check_recipient_stamped(&self, address: &str) -> (Verdict, Option<Stamp>) {
        let answer = self
            .replicas
            .call_stamped("CheckRecipient", Retry::Idempotent, |mut stub, left| {
                let request = pb::CheckRecipientRequest {
                    address: address.to_string(),
                };
                async move { stub.check_recipient(with_deadline(request, left)).await }
            })
            .await;
        match answer {
            Ok((response, stamp)) => match response.result {
                Some(verdict) => (Verdict::from_proto(verdict), stamp),
                None => (
                    Verdict::TempFail {
                        reason: "empty answer".into(),
                    },
                    None,
                ),
            },
            Err(Failure::Status(status)) if status.code() == Code::InvalidArgument => (
                Verdict::RejectInvalid {
                    reason: status.message().to_string(),
                },
                None,
            ),
            Err(failure) => (
                Verdict::TempFail {
                    reason: failure.reason(),
                },
                None,
            ),
        }
    }

    /// Verdicts for recipients, in order; sent in calls of at most
    /// [`MAX_BATCH`] addresses, each with its own `timeout`.
    pub async fn check_recipients(&self, addresses: &[String]) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(MAX_BATCH) {
            verdicts.extend(self.check_batch(chunk).await);
        }
        verdicts
    }

    async fn check_batch(&self, addresses: &[String]) -> Vec<Verdict> {
        self.check_batch_stamped(addresses).await.0
    }

    /// One `CheckRecipients` call (at most [`MAX_BATCH`] addresses), with
    /// the answer's [`Stamp`].
    pub(crate) async fn check_batch_stamped(
        &self,
        addresses: &[String],
    ) -> (Vec<Verdict>, Option<Stamp>) {
        let answer = self
            .replicas
            .call_stamped("CheckRecipients", Retry::Idempotent, |mut stub, left| {
                let request = pb::CheckRecipientsRequest {
                    addresses: addresses.to_vec(),
                };
                async move { stub.check_recipients(with_deadline(request, left)).await }
            })
            .await;
        let all = |reason: String| vec![Verdict::TempFail { reason }; addresses.len()];
        match answer {
            Ok((response, stamp)) if response.results.len() == addresses.len() => (
                response
                    .results
                    .into_iter()
                    .map(Verdict::from_proto)
                    .collect(),
                stamp,
            ),
            Ok(_) => (all("answer does not match the batch".into()), None),
            Err(failure) => (all(failure.reason()), None),
        }
    }

    /// Opens a stream for many batches over one call, for MTAs that check
    /// recipients all day: send each batch with [`RecipientStream::check`]
    /// and get its verdicts back. An `Err` means the control plane could
    /// not be reached: treat it as a temporary failure (or fall back to
    /// [`DeliveryClient::check_recipients`]).
    pub async fn stream(&self) -> Result<RecipientStream, Status> {
        // Each attempt gets its own channel: the one that answers is kept.
        let sender = std::sync::Mutex::new(None);
        let answer = self
            .replicas
            .call("StreamCheckRecipients", Retry::Idempotent, |mut stub, _| {
                let (batches, receiver) = tokio::sync::mpsc::channel(64);
                *sender.lock().expect("sender lock") = Some(batches);
                let receiver = tokio_stream::wrappers::ReceiverStream::new(receiver);
                async move { stub.stream_check_recipients(receiver).await }
            })
            .await;
        let sender = sender.into_inner().expect("sender lock");
        match answer {
            Ok(responses) => Ok(RecipientStream {
                sender: sender.expect("an attempt was made"),
                responses,
                timeout: self.replicas.timeout(),
                broken: false,
            }),
            Err(Failure::Status(status)) => Err(status),
            Err(Failure::Timeout(timeout)) => Err(Status::deadline_exceeded(format!(
                "no answer within {timeout:?}"
            ))),
        }
    }

    /// May `login` sign in with `password`, seen from `client_ip`?
    ///
    /// A login counts toward the control plane's failure throttle, so it is
    /// sent to another replica only when the first could not be connected
    /// to at all.
    pub async fn authenticate(
        &self,
        login: &str,
        password: &str,
        client_ip: std::net::IpAddr,
    ) -> AuthOutcome {
        let answer = self
            .replicas
            .call("Authenticate", Retry::NotSent, |mut stub, left| {
                let request = pb::AuthenticateRequest {
                    login: login.to_string(),
                    password: password.to_string(),
                    client_ip: client_ip.to_string(),
                };
                async move { stub.authenticate(with_deadline(request, left)).await }
            })
            .await;
        match answer {
            Ok(answer) if answer.allowed => AuthOutcome::Allowed {
                user_id: answer.user_id,
                primary_address: answer.primary_address,
            },
            Ok(_) => AuthOutcome::Denied,
            // The server's throttle always says when to retry; a bare
            // RESOURCE_EXHAUSTED is the transport's (HTTP/2 "enhance your
            // calm", a message too large) and tells nothing about the login.
            Err(Failure::Status(status)) if status.code() == Code::ResourceExhausted => {
                use tonic_types::StatusExt;
                match status.get_details_retry_info().and_then(|r| r.retry_delay) {
                    Some(delay) => AuthOutcome::Throttled {
                        retry_after: Some(delay),
                    },
                    None => AuthOutcome::TempFail {
                        reason: Failure::Status(status).reason(),
                    },
                }
            }
            // A malformed login can never sign in.
            Err(Failure::Status(status)) if status.code() == Code::InvalidArgument => {
                AuthOutcome::Denied
            }
            Err(failure) => AuthOutcome::TempFail {
                reason: failure.reason(),
            },
        }
    }

    /// The addresses `login` may send as; `None` when the control plane
    /// could not answer (treat as a temporary failure).
    pub async fn allowed_senders(&self, login: &str) -> Option<Vec<String>> {
        let answer = self
            .replicas
            .call("AllowedSenders", Retry::Idempotent, |mut stub, left| {
                let request = pb::AllowedSendersRequest {
                    login: login.to_string(),
                };
                async move { stub.allowed_senders(with_deadline(request, left)).await }
            })
            .await;
        match answer {
            Ok(response) => Some(response.addresses),
            Err(Failure::Status(status)) if status.code() == Code::InvalidArgument => {
                Some(Vec::new())
            }
            Err(_) => None,
        }
    }

    /// The signing keys (`GetSigningKeys`): the ACTIVE DKIM key of every
    /// ACTIVE domain, or of `domains` only. Pass the version of the copy
    /// you hold (0 for none): while nothing changed the answer is
    /// `unchanged` and carries no key. Needs a token of role DELIVERY.
    /// A replica that does not answer in time is a `DEADLINE_EXCEEDED`.
    pub async fn signing_keys(
        &self,
        domains: &[String],
        known_version: u64,
    ) -> Result<pb::GetSigningKeysResponse, Status> {
        self.replicas
            .call("GetSigningKeys", Retry::Idempotent, |mut stub, left| {
                let request = pb::GetSigningKeysRequest {
                    domains: domains.to_vec(),
                    known_version,
                };
                async move { stub.get_signing_keys(with_deadline(request, left)).await }
            })
            .await
            .map_err(|failure| match failure {
                Failure::Status(status) => status,
                Failure::Timeout(timeout) => {
                    Status::deadline_exceeded(format!("no answer within {timeout:?}"))
                }
            })
    }
}

/// `message` as a request that tells the server the time it has left
/// (`grpc-timeout`), so it stops working on a call nobody waits for.
fn with_deadline<T>(message: T, left: Duration) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request.set_timeout(left);
    request
}

/// Recipient checks over one long-lived stream, one batch at a time.
///
/// Once a batch times out, is cancelled (its future dropped before it
/// finished) or the stream fails, the stream is broken: a late answer must
/// never be taken for the next batch's, so every later
/// [`RecipientStream::check`] answers [`Verdict::TempFail`] until the
/// caller opens a new stream with [`DeliveryClient::stream`].
pub struct RecipientStream {
    sender: tokio::sync::mpsc::Sender<pb::CheckRecipientsRequest>,
    responses: tonic::Streaming<pb::CheckRecipientsResponse>,
    timeout: Duration,
    broken: bool,
}

impl std::fmt::Debug for RecipientStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RecipientStream")
            .field("timeout", &self.timeout)
            .field("broken", &self.broken)
            .finish_non_exhaustive()
    }
}

impl RecipientStream {
    /// Whether this stream can still be used.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// Sends a batch and waits for its verdicts, in order; a batch larger
    /// than [`MAX_BATCH`] goes as several, each with its own `timeout`.
    pub async fn check(&mut self, addresses: &[String]) -> Vec<Verdict> {
        let mut verdicts = Vec::with_capacity(addresses.len());
        for chunk in addresses.chunks(MAX_BATCH) {
            verdicts.extend(self.check_batch(chunk).await);
        }
        verdicts
    }

    async fn check_batch(&mut self, addresses: &[String]) -> Vec<Verdict> {
        let all = |reason: &str| {
            vec![
                Verdict::TempFail {
                    reason: reason.to_string()
                };
                addresses.len()
            ]
        };
        if self.broken {
            return all("stream broken by an earlier failure; open a new one");
        }
        let request = pb::CheckRecipientsRequest {
            addresses: addresses.to_vec(),
        };
        // Broken until this batch's answer is in: if the caller drops this
        // future midway, the answer still on its way must not be read as
        // the next batch's.
        self.broken = true;
        if self.sender.send(request).await.is_err() {
            return all("stream closed");
        }
        let answer = tokio::time::timeout(self.timeout, self.responses.message()).await;
        match answer {
            Ok(Ok(Some(response)))
                if response.results.len() == addresses.len()
                    && response
                        .results
                        .iter()
                        .zip(addresses)
                        .all(|(r, a)| &r.address == a) =>
            {
                self.broken = false;
                response
                    .results
                    .into_iter()
                    .map(Verdict::from_proto)
                    .collect()
            }
            Ok(Ok(_)) => all("stream ended or answered another batch"),
            Ok(Err(status)) => vec![temp_fail(&status); addresses.len()],
            Err(_) => all(&format!("no answer within {:?}", self.timeout)),
        }
    }
}

fn temp_fail(status: &Status) -> Verdict {
    Verdict::TempFail {
        reason: format!("{:?}: {}", status.code(), status.message()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn endpoints_and_tokens_are_checked_up_front() {
        let second = Duration::from_secs(1);
        let refused = |url: &str| match DeliveryClient::new(url, "mat_x", second) {
            Err(ClientError::Endpoint(message)) => message,
            other => panic!("{url:?}: expected an endpoint error, got {other:?}"),
        };
        assert!(refused("127.0.0.1:50051").contains("http://host:port"));
        assert!(DeliveryClient::new("https://mailadmin.internal:443", "mat_x", second).is_ok());
        assert!(refused("unix:///run/mailadmin.sock").contains("http://host:port"));
        assert!(refused("not a url").contains("not a url"));
        for token in ["", "mat x", "mat_é", "mat_\n"] {
            assert!(
                matches!(
                    DeliveryClient::new("http://127.0.0.1:50051", token, second),
                    Err(ClientError::Token)
                ),
                "token {token:?}"
            );
        }
        assert!(DeliveryClient::new("http://127.0.0.1:50051", "mat_x", second).is_ok());
        assert!(DeliveryClient::new("http://[::1]:50051", "mat_x", second).is_ok());
    }

    #[test]
    fn replies() {
        assert_eq!(Verdict::RejectUnknown.smtp_reply().0, 550);
        assert_eq!(Verdict::RejectUnknown.smtp_reply().1, "5.1.1");
        assert_eq!(
            Verdict::RejectDisabled { user_id: 1 }.smtp_reply().1,
            "5.2.1"
        );
        let temp = Verdict::TempFail {
            reason: "down".into(),
        };
        assert_eq!(
            temp.smtp_reply(),
            (
                451,
                "4.4.3",
                "directory server unavailable, try again later"
            )
        );
        assert!(temp.is_temporary());
    }

    #[tokio::test]
    async fn an_unreachable_control_plane_is_a_temporary_failure() {
        // Nothing listens on port 9 of loopback (discard service is not run).
        let client =
            DeliveryClient::new("http://127.0.0.1:9", "token", Duration::from_millis(300)).unwrap();
        assert!(
            client
                .check_recipient("alice@example.com")
                .await
                .is_temporary()
        );
        assert!(matches!(
            client
                .authenticate("alice", "pw", "127.0.0.1".parse().unwrap())
                .await,
            AuthOutcome::TempFail { .. }
        ));
        assert!(client.check_recipients(&["a@b.example".into()]).await[0].is_temporary());
    }
}
