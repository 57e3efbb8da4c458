//! [`AccountEvents`]: the control plane's account events, for the stores
//! that keep an account's data (mailboxes, calendars) and must purge it
//! exactly once when the account is deleted.
//!
//! Events are numbered in commit order without gaps. The stream remembers
//! the last number it handed out and, when the connection drops or the
//! replica restarts, opens the stream again after it, on whichever replica
//! answers: the caller sees every event once, in order. Persist
//! [`AccountEvents::cursor`] after handling an event to resume there after
//! the caller's own restart.

use crate::DeliveryClient;
use crate::pb;
use crate::replicas::{Failure, Replicas, Retry};
use std::sync::Arc;
use std::time::Duration;
use tonic::Code;

/// The first and the longest wait before opening the stream again.
const FIRST_RETRY: Duration = Duration::from_millis(250);
const LONGEST_RETRY: Duration = Duration::from_secs(10);

/// Why the events cannot go on without the caller.
#[derive(Debug, thiserror::Error)]
pub enum EventsError {
    /// Events after the cursor are no longer kept (the server's retention):
    /// resync from a full listing, then watch from the newest event.
    #[error("events after {cursor} are no longer kept: {message}")]
    Expired {
        /// The cursor that was refused.
        cursor: i64,
        /// The server's explanation.
        message: String,
    },
    /// The control plane refused the token or the request.
    #[error("refused: {0:?}: {1}")]
    Refused(Code, String),
}

/// A resuming stream of account events; see the module documentation.
pub struct AccountEvents {
    replicas: Arc<Replicas>,
    cursor: i64,
    stream: Option<tonic::Streaming<pb::AccountEvent>>,
    retry: Duration,
}

impl std::fmt::Debug for AccountEvents {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccountEvents")
            .field("cursor", &self.cursor)
            .field("open", &self.stream.is_some())
            .finish_non_exhaustive()
    }
}

impl DeliveryClient {
    /// The account events after `after` (0: every event still kept), then
    /// each new one as it commits. Nothing is asked until the first
    /// [`AccountEvents::next`].
    pub fn account_events(&self, after: i64) -> AccountEvents {
        AccountEvents {
            replicas: self.replicas(),
            cursor: after,
            stream: None,
            retry: FIRST_RETRY,
        }
    }
}

impl AccountEvents {
    /// The number of the last event handed out (the `after` given at first).
    pub fn cursor(&self) -> i64 {
        self.cursor
    }

    /// The next event, waiting as long as it takes: a dropped connection or
    /// a restarting replica is waited out (0.25 s, then twice as long each
    /// time up to 10 s) and the stream resumed after the last event.
    pub async fn next(&mut self) -> Result<pb::AccountEvent, EventsError> {
        loop {
            if self.stream.is_none() {
                match self.open().await {
                    Ok(stream) => self.stream = Some(stream),
                    Err(Failure::Status(status)) => self.give_up_on(status)?,
                    Err(Failure::Timeout(_)) => {}
                }
            }
            if let Some(stream) = &mut self.stream {
                match stream.message().await {
                    Ok(Some(event)) => {
                        self.cursor = event.seq;
                        self.retry = FIRST_RETRY;
                        return Ok(event);
                    }
                    // The replica is stopping, or the connection broke.
                    Ok(None) => self.stream = None,
                    Err(status) => {
                        self.stream = None;
                        self.give_up_on(status)?;
                    }
                }
            }
            tokio::time::sleep(self.retry).await;
            self.retry = (self.retry * 2).min(LONGEST_RETRY);
        }
    }

    /// An error for the caller when `status` is not worth waiting out: a
    /// replica away, busy or restarting is waited for; anything else (a
    /// refused token, a server without this RPC) is the caller's to see.
    fn give_up_on(&self, status: tonic::Status) -> Result<(), EventsError> {
        match status.code() {
            Code::FailedPrecondition => Err(EventsError::Expired {
                cursor: self.cursor,
                message: status.message().to_string(),
            }),
            Code::Unavailable
            | Code::DeadlineExceeded
            | Code::Cancelled
            | Code::Aborted
            | Code::ResourceExhausted
            | Code::Internal
            | Code::Unknown => Ok(()),
            code => Err(EventsError::Refused(code, status.message().to_string())),
        }
    }

    async fn open(&self) -> Result<tonic::Streaming<pb::AccountEvent>, Failure> {
        let after = self.cursor;
        self.replicas
            // No deadline is sent: it would end the stream itself.
            .call(
                "WatchAccountEvents",
                Retry::Idempotent,
                |mut stub, _| async move {
                    stub.watch_account_events(pb::WatchAccountEventsRequest { after })
                        .await
                },
            )
            .await
    }
}
