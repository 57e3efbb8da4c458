//! DeliveryService: recipient verdicts (with the SMTP reply to give),
//! Authenticate and AllowedSenders, for mail servers.

use super::auth::principal;
use super::convert;
use super::services::delivery_service_server::DeliveryService;
use crate::rules::DomainError;
use crate::rules::delivery::Checked;
use crate::rules::resolution::Route;
use crate::service::App;
use mailadmin_client::pb;
use std::pin::Pin;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

pub struct DeliveryApi {
    app: App,
}

impl DeliveryApi {
    pub fn new(app: App) -> Self {
        DeliveryApi { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

/// A route as the MTA needs it: verdict, account, and the SMTP reply
/// (from the table in `mailadmin_client`, which the client reads too).
fn verdict(address: String, checked: Checked) -> pb::RecipientVerdict {
    let (verdict, user_id, primary_address, reason) = match checked {
        Ok(Route::Deliver {
            user_id,
            primary_address,
            ..
        }) => (pb::Verdict::Deliver, user_id, primary_address, None),
        Ok(Route::Disabled {
            user_id,
            primary_address,
            ..
        }) => (pb::Verdict::RejectDisabled, user_id, primary_address, None),
        Ok(Route::Unknown) => (pb::Verdict::RejectUnknown, 0, String::new(), None),
        Ok(Route::NotLocal) => (pb::Verdict::NotLocal, 0, String::new(), None),
        Err(reason) => (pb::Verdict::RejectInvalid, 0, String::new(), Some(reason)),
    };
    let (code, status, text) = verdict.smtp_reply();
    pb::RecipientVerdict {
        address,
        verdict: verdict.into(),
        user_id,
        primary_address,
        smtp_code: code.into(),
        enhanced_status: status.to_string(),
        reply_text: match reason {
            Some(reason) => format!("{text}: {reason}"),
            None => text.to_string(),
        },
    }
}

fn check_batch(app: &App, addresses: Vec<String>) -> Result<pb::CheckRecipientsResponse, Status> {
    let checked = app.check_recipients(&addresses)?;
    Ok(pb::CheckRecipientsResponse {
        results: addresses
            .into_iter()
            .zip(checked)
            .map(|(a, c)| verdict(a, c))
            .collect(),
    })
}

#[tonic::async_trait]
impl DeliveryService for DeliveryApi {
    async fn check_recipient(
        &self,
        request: Request<pb::CheckRecipientRequest>,
    ) -> Reply<pb::CheckRecipientResponse> {
        let pb::CheckRecipientRequest { address } = request.into_inner();
        let route = self.app.check_recipient(&address)?;
        Ok(Response::new(pb::CheckRecipientResponse {
            result: Some(verdict(address, Ok(route))),
        }))
    }

    async fn check_recipients(
        &self,
        request: Request<pb::CheckRecipientsRequest>,
    ) -> Reply<pb::CheckRecipientsResponse> {
        let pb::CheckRecipientsRequest { addresses } = request.into_inner();
        Ok(Response::new(check_batch(&self.app, addresses)?))
    }

    type StreamCheckRecipientsStream =
        Pin<Box<dyn Stream<Item = Result<pb::CheckRecipientsResponse, Status>> + Send + 'static>>;

    async fn stream_check_recipients(
        &self,
        request: Request<Streaming<pb::CheckRecipientsRequest>>,
    ) -> Reply<Self::StreamCheckRecipientsStream> {
        let app = self.app.clone();
        let batches = request.into_inner();
        let answers = batches.map(move |batch| {
            let pb::CheckRecipientsRequest { addresses } = batch?;
            check_batch(&app, addresses)
        });
        Ok(Response::new(Box::pin(answers)))
    }

    type WatchDirectoryVersionStream =
        Pin<Box<dyn Stream<Item = Result<pb::DirectoryVersion, Status>> + Send + 'static>>;

    async fn watch_directory_version(
        &self,
        _request: Request<pb::WatchDirectoryVersionRequest>,
    ) -> Reply<Self::WatchDirectoryVersionStream> {
        let versions = tokio_stream::wrappers::WatchStream::new(self.app.watch_directory_version())
            .take_while(Option::is_some)
            .map(|version| {
                Ok(pb::DirectoryVersion {
                    version: version.unwrap_or_default(),
                })
            });
        Ok(Response::new(Box::pin(versions)))
    }

    type WatchAccountEventsStream =
        Pin<Box<dyn Stream<Item = Result<pb::AccountEvent, Status>> + Send + 'static>>;

    async fn watch_account_events(
        &self,
        request: Request<pb::WatchAccountEventsRequest>,
    ) -> Reply<Self::WatchAccountEventsStream> {
        let pb::WatchAccountEventsRequest { after } = request.into_inner();
        // An expired cursor fails the call itself, not a stream already open.
        let first = self.app.account_events_after(after, EVENT_PAGE).await?;
        let (sender, receiver) = tokio::sync::mpsc::channel(EVENT_PAGE as usize);
        tokio::spawn(follow_account_events(
            self.app.clone(),
            after,
            first,
            sender,
        ));
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn authenticate(
        &self,
        request: Request<pb::AuthenticateRequest>,
    ) -> Reply<pb::AuthenticateResponse> {
        let pb::AuthenticateRequest {
            login,
            password,
            client_ip,
        } = request.into_inner();
        let client_ip = client_ip
            .trim()
            .parse()
            .map_err(|_| DomainError::invalid("client_ip", "is not an IPv4 or IPv6 address"))?;
        let answer = self.app.authenticate(&login, password, client_ip).await?;
        Ok(Response::new(match answer {
            Some(account) => pb::AuthenticateResponse {
                allowed: true,
                user_id: account.user_id,
                primary_address: account.primary_address,
            },
            None => pb::AuthenticateResponse::default(),
        }))
    }

    async fn allowed_senders(
        &self,
        request: Request<pb::AllowedSendersRequest>,
    ) -> Reply<pb::AllowedSendersResponse> {
        let _caller = principal(&request)?;
        let pb::AllowedSendersRequest { login } = request.into_inner();
        let addresses = self.app.allowed_senders(&login).await?;
        Ok(Response::new(pb::AllowedSendersResponse { addresses }))
    }

    async fn get_signing_keys(
        &self,
        request: Request<pb::GetSigningKeysRequest>,
    ) -> Reply<pb::GetSigningKeysResponse> {
        let _caller = principal(&request)?;
        let pb::GetSigningKeysRequest {
            domains,
            known_version,
        } = request.into_inner();
        let answer = self.app.signing_keys(&domains, known_version).await?;
        Ok(Response::new(pb::GetSigningKeysResponse {
            version: answer.version,
            unchanged: answer.unchanged,
            keys: answer
                .keys
                .into_iter()
                .map(|key| pb::SigningKey {
                    domain: key.domain,
                    selector: key.selector,
                    algorithm: convert::dkim_algorithm_to(key.algorithm).into(),
                    private_key_pem: key.private_pem.to_string(),
                })
                .collect(),
        }))
    }
}

/// Account events read per query.
const EVENT_PAGE: u64 = 500;

/// How often a watcher looks for new events when nothing woke it: the
/// directory version moves with every account change a replica applies, so
/// this only bounds the delay if a wake-up is missed.
const EVENT_POLL: std::time::Duration = std::time::Duration::from_secs(1);

/// Sends `first`, then every later event, until the watcher hangs up or the
/// server stops. Every account change also changes the routing snapshot, on
/// this replica at commit and on the others through the change feed, so the
/// snapshot's version is the wake-up.
async fn follow_account_events(
    app: App,
    mut cursor: i64,
    first: Vec<crate::rules::model::AccountEvent>,
    sender: tokio::sync::mpsc::Sender<Result<pb::AccountEvent, Status>>,
) {
    let mut versions = app.watch_directory_version();
    let mut batch = first;
    loop {
        let full = batch.len() as u64 == EVENT_PAGE;
        for event in batch {
            cursor = event.seq;
            if sender
                .send(Ok(convert::account_event(event)))
                .await
                .is_err()
            {
                return;
            }
        }
        if !full {
            tokio::select! {
                changed = versions.changed() => {
                    if changed.is_err() || versions.borrow_and_update().is_none() {
                        return;
                    }
                }
                () = tokio::time::sleep(EVENT_POLL) => {}
                () = sender.closed() => return,
            }
        }
        batch = match app.account_events_after(cursor, EVENT_PAGE).await {
            Ok(batch) => batch,
            Err(error) => {
                let _ = sender.send(Err(error.into())).await;
                return;
            }
        };
    }
}
