//! The typed client against a stand-in control plane that answers late or
//! with a bare RESOURCE_EXHAUSTED: timeouts, broken streams, statuses and
//! deadlines (no database involved).

use super::ip;
use mailadmin_client::{AuthOutcome, DeliveryClient, Verdict, pb};
use mailadmin_server::grpc::services::delivery_service_server::{
    DeliveryService, DeliveryServiceServer,
};
use std::time::{Duration, Instant};

/// A stand-in control plane for what a real one does only now and then:
/// answer late. Each answer is DELIVER for `alice@…` and REJECT_UNKNOWN
/// for anything else; the first stream batch and every unary check wait
/// [`SLOW`] first. Authenticate for the login `calm` is a bare
/// RESOURCE_EXHAUSTED at once (what HTTP/2 flow control gives, with no
/// retry delay); AllowedSenders answers the `grpc-timeout` the call
/// carried.
struct LateControlPlane;

const SLOW: Duration = Duration::from_millis(600);

fn late_verdict(address: String) -> pb::RecipientVerdict {
    let known = address.starts_with("alice@");
    let verdict = if known {
        Verdict::Deliver {
            user_id: 7,
            primary_address: "alice@mailadmin.example".into(),
        }
    } else {
        Verdict::RejectUnknown
    };
    let (code, status, text) = verdict.smtp_reply();
    pb::RecipientVerdict {
        address,
        verdict: if known {
            pb::Verdict::Deliver
        } else {
            pb::Verdict::RejectUnknown
        } as i32,
        user_id: if known { 7 } else { 0 },
        primary_address: if known {
            "alice@mailadmin.example".into()
        } else {
            String::new()
        },
        smtp_code: u32::from(code),
        enhanced_status: status.into(),
        reply_text: text.into(),
    }
}

type Answers = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::CheckRecipientsResponse, tonic::Status>> + Send>,
>;

#[tonic::async_trait]
impl DeliveryService for LateControlPlane {
    async fn check_recipient(
        &self,
        request: tonic::Request<pb::CheckRecipientRequest>,
    ) -> Result<tonic::Response<pb::CheckRecipientResponse>, tonic::Status> {
        tokio::time::sleep(SLOW).await;
        Ok(tonic::Response::new(pb::CheckRecipientResponse {
            result: Some(late_verdict(request.into_inner().address)),
        }))
    }

    async fn check_recipients(
        &self,
        _: tonic::Request<pb::CheckRecipientsRequest>,
    ) -> Result<tonic::Response<pb::CheckRecipientsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this stand-in"))
    }

    type StreamCheckRecipientsStream = Answers;

    async fn stream_check_recipients(
        &self,
        request: tonic::Request<tonic::Streaming<pb::CheckRecipientsRequest>>,
    ) -> Result<tonic::Response<Answers>, tonic::Status> {
        let mut batches = request.into_inner();
        let (answers, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut first = true;
            while let Ok(Some(batch)) = batches.message().await {
                if std::mem::take(&mut first) {
                    tokio::time::sleep(SLOW).await;
                }
                let results = batch.addresses.into_iter().map(late_verdict).collect();
                if answers
                    .send(Ok(pb::CheckRecipientsResponse { results }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn authenticate(
        &self,
        request: tonic::Request<pb::AuthenticateRequest>,
    ) -> Result<tonic::Response<pb::AuthenticateResponse>, tonic::Status> {
        if request.get_ref().login == "calm" {
            return Err(tonic::Status::resource_exhausted("enhance your calm"));
        }
        tokio::time::sleep(SLOW).await;
        Ok(tonic::Response::new(pb::AuthenticateResponse::default()))
    }

    async fn allowed_senders(
        &self,
        request: tonic::Request<pb::AllowedSendersRequest>,
    ) -> Result<tonic::Response<pb::AllowedSendersResponse>, tonic::Status> {
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(tonic::Response::new(pb::AllowedSendersResponse {
            addresses: deadline.into_iter().collect(),
        }))
    }

    type WatchDirectoryVersionStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::DirectoryVersion, tonic::Status>> + Send>,
    >;

    async fn watch_directory_version(
        &self,
        _: tonic::Request<pb::WatchDirectoryVersionRequest>,
    ) -> Result<tonic::Response<Self::WatchDirectoryVersionStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this stand-in"))
    }

    type WatchAccountEventsStream = std::pin::Pin<
        Box<dyn tokio_stream::Stream<Item = Result<pb::AccountEvent, tonic::Status>> + Send>,
    >;

    async fn watch_account_events(
        &self,
        _: tonic::Request<pb::WatchAccountEventsRequest>,
    ) -> Result<tonic::Response<Self::WatchAccountEventsStream>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this stand-in"))
    }

    async fn get_signing_keys(
        &self,
        _: tonic::Request<pb::GetSigningKeysRequest>,
    ) -> Result<tonic::Response<pb::GetSigningKeysResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this stand-in"))
    }
}

/// Serves [`LateControlPlane`] on loopback; the client's URL.
async fn late_control_plane() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeliveryServiceServer::new(LateControlPlane))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

/// The client's timeout: no answer within it is a temporary failure
/// (docs/rules.md, "Unreachable control plane"), for one recipient and for
/// a login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_is_a_temporary_failure() {
    let url = late_control_plane().await;
    let client =
        DeliveryClient::new(&url, "mat_test", Duration::from_millis(200)).expect("a client");
    let started = Instant::now();
    let verdict = client.check_recipient("nobody@mailadmin.example").await;
    assert!(
        matches!(verdict, Verdict::TempFail { .. }),
        "a late REJECT_UNKNOWN: {verdict:?}"
    );
    assert!(
        started.elapsed() < SLOW,
        "the client waited for the late answer ({:?})",
        started.elapsed()
    );
    let outcome = client
        .authenticate("alice", "some password", ip("192.0.2.1"))
        .await;
    assert!(
        matches!(outcome, AuthOutcome::TempFail { .. }),
        "a late answer to Authenticate: {outcome:?}"
    );
}

/// A stream batch answered too late is a temporary failure, and its late
/// answer must never be taken for the answer to the next batch: each
/// batch's verdicts are its own (or temporary failures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_stream_answer_never_answers_the_next_batch() {
    let url = late_control_plane().await;
    let client =
        DeliveryClient::new(&url, "mat_test", Duration::from_millis(200)).expect("a client");
    let mut stream = client.stream().await.expect("opening a stream");
    let first = stream
        .check(&["nobody@mailadmin.example".to_string()])
        .await;
    assert!(
        first.iter().all(Verdict::is_temporary),
        "a batch answered too late: {first:?}"
    );
    // The late answer (REJECT_UNKNOWN for nobody@) arrives meanwhile.
    tokio::time::sleep(SLOW + Duration::from_millis(200)).await;
    let second = stream.check(&["alice@mailadmin.example".to_string()]).await;
    assert!(
        second.len() == 1
            && (second[0].is_temporary() || matches!(second[0], Verdict::Deliver { .. })),
        "alice@ (a valid recipient) got {second:?}: the late answer to the batch before"
    );
}

/// A batch whose caller gave up midway (its future dropped, as by the
/// MTA's own timeout) breaks the stream: the answer still on its way is
/// never read as the answer to the next batch, even the same addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_stream_batch_breaks_the_stream() {
    let url = late_control_plane().await;
    let client = DeliveryClient::new(&url, "mat_test", Duration::from_secs(10)).expect("a client");
    let mut stream = client.stream().await.expect("opening a stream");
    let batch = ["nobody@mailadmin.example".to_string()];
    let gave_up = tokio::time::timeout(Duration::from_millis(100), stream.check(&batch)).await;
    assert!(
        gave_up.is_err(),
        "the stand-in answers the first batch late"
    );
    assert!(
        stream.is_broken(),
        "a batch given up midway breaks the stream"
    );
    // The late answer (REJECT_UNKNOWN for nobody@) arrives meanwhile.
    tokio::time::sleep(SLOW + Duration::from_millis(200)).await;
    let again = stream.check(&batch).await;
    assert!(
        again.iter().all(Verdict::is_temporary),
        "the same batch again got {again:?}: the answer to the batch given up"
    );
    // A new stream works (the stand-in answers its first batch late, within
    // the client's 10 s).
    let mut fresh = client.stream().await.expect("opening a stream");
    assert_eq!(fresh.check(&batch).await, vec![Verdict::RejectUnknown]);
    assert!(!fresh.is_broken());
}

/// Only the server's throttle (RESOURCE_EXHAUSTED with a retry delay) is
/// `Throttled`; a bare RESOURCE_EXHAUSTED from the transport is a temporary
/// failure. Every call tells the server the client's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_statuses_and_sends_deadlines() {
    let url = late_control_plane().await;
    let client =
        DeliveryClient::new(&url, "mat_test", Duration::from_millis(1500)).expect("a client");
    let outcome = client
        .authenticate("calm", "some password", ip("192.0.2.1"))
        .await;
    assert!(
        matches!(outcome, AuthOutcome::TempFail { .. }),
        "a bare RESOURCE_EXHAUSTED: {outcome:?}"
    );
    let deadline = client.allowed_senders("alice").await;
    let deadline = deadline
        .as_deref()
        .and_then(|values| values.first())
        .unwrap_or_else(|| panic!("no grpc-timeout on the call: {deadline:?}"));
    // grpc-timeout is digits and a unit: 1500m (milliseconds), or finer.
    let (digits, unit) = deadline.split_at(deadline.len() - 1);
    let nanos_per_unit: u64 = match unit {
        "m" => 1_000_000,
        "u" => 1_000,
        "n" => 1,
        other => panic!("grpc-timeout {deadline:?}: unit {other:?}"),
    };
    let sent = Duration::from_nanos(digits.parse::<u64>().expect("digits") * nanos_per_unit);
    assert!(
        sent <= Duration::from_millis(1500) && sent >= Duration::from_millis(1000),
        "grpc-timeout {deadline:?}"
    );
}
