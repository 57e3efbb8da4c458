//! [`Coalescer`]: recipient checks asked one at a time by many callers at
//! once (a socketmap server with one connection per Postfix process), sent
//! to the control plane as batches.
//!
//! A unary call costs the same whether it carries one address or a
//! hundred, so under load the checks that arrive while earlier batches are
//! on their way go together in the next `CheckRecipients` call. Nothing
//! waits for a batch to fill: a check that arrives when a call slot is free
//! leaves at once, alone, so a quiet server sees no added latency.

use crate::{DeliveryClient, MAX_BATCH, Stamp, Verdict};
use std::sync::Arc;
use tokio::sync::{Semaphore, mpsc, oneshot};

/// One check waiting for its verdict.
struct Pending {
    address: String,
    reply: oneshot::Sender<(Verdict, Option<Stamp>)>,
}

/// Coalesces concurrent [`Coalescer::check_recipient`] calls into
/// `CheckRecipients` batches, with at most `in_flight` calls on their way
/// at once. Cheap to clone; clones share the batches. Create it within a
/// Tokio runtime: a task of its own forms the batches, and ends when the
/// last clone is dropped.
#[derive(Clone, Debug)]
pub struct Coalescer {
    sender: mpsc::UnboundedSender<Pending>,
}

impl Coalescer {
    /// Batches checks through `client`, `in_flight` calls at a time (at
    /// least 1).
    pub fn new(client: DeliveryClient, in_flight: usize) -> Self {
        let (sender, receiver) = mpsc::unbounded_channel();
        tokio::spawn(form_batches(client, receiver, in_flight.max(1)));
        Coalescer { sender }
    }

    /// The verdict for `address`, asked in the next batch to leave.
    pub async fn check_recipient(&self, address: &str) -> Verdict {
        self.check_recipient_stamped(address).await.0
    }

    /// [`Coalescer::check_recipient`] with the answer's [`Stamp`] (see
    /// [`DeliveryClient::check_recipient_stamped`]).
    pub async fn check_recipient_stamped(&self, address: &str) -> (Verdict, Option<Stamp>) {
        let (reply, verdict) = oneshot::channel();
        let pending = Pending {
            address: address.to_string(),
            reply,
        };
        let failed = |reason: &str| {
            (
                Verdict::TempFail {
                    reason: reason.into(),
                },
                None,
            )
        };
        if self.sender.send(pending).is_err() {
            return failed("the batching task has stopped");
        }
        verdict
            .await
            .unwrap_or_else(|_| failed("the batch was dropped"))
    }
}

/// Waits for a check and a free call slot, takes every check queued by
/// then (up to [`MAX_BATCH`]) and sends them as one call.
async fn form_batches(
    client: DeliveryClient,
    mut receiver: mpsc::UnboundedReceiver<Pending>,
    in_flight: usize,
) {
    let slots = Arc::new(Semaphore::new(in_flight));
    while let Some(first) = receiver.recv().await {
        let Ok(slot) = slots.clone().acquire_owned().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match receiver.try_recv() {
                Ok(pending) => batch.push(pending),
                Err(_) => break,
            }
        }
        let client = client.clone();
        tokio::spawn(async move {
            let (verdicts, stamp) = match batch.as_slice() {
                [one] => {
                    let (verdict, stamp) = client.check_recipient_stamped(&one.address).await;
                    (vec![verdict], stamp)
                }
                _ => {
                    let addresses: Vec<String> = batch.iter().map(|p| p.address.clone()).collect();
                    client.check_batch_stamped(&addresses).await
                }
            };
            for (pending, verdict) in batch.into_iter().zip(verdicts) {
                // The caller may have given up (its future dropped).
                let _ = pending.reply.send((verdict, stamp));
            }
            drop(slot);
        });
    }
}
