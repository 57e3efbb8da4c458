//! [`Observer`]: the hooks through which a [`DeliveryClient`] reports what
//! it does, for the caller's metrics and logs (the client itself keeps no
//! counters and logs nothing at `info` or above).
//!
//! [`DeliveryClient`]: crate::DeliveryClient

use std::time::Duration;
use tonic::Code;

/// How one attempt against one replica ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallOutcome {
    /// The replica answered.
    Ok,
    /// The replica, or the transport on the way to it, gave this status.
    Status(Code),
    /// No answer within the client's timeout.
    Timeout,
}

/// One attempt of one call against one replica.
#[derive(Debug, Clone, Copy)]
pub struct CallEvent<'a> {
    /// The RPC, e.g. `CheckRecipient`.
    pub method: &'static str,
    /// The replica's URL, as given to the client.
    pub replica: &'a str,
    /// How long the attempt took.
    pub elapsed: Duration,
    /// How it ended.
    pub outcome: CallOutcome,
}

/// Receives the client's events. Every method has an empty default, so an
/// implementation takes only what it needs; they are called on the task
/// making the call and must not block.
pub trait Observer: Send + Sync + 'static {
    /// An attempt finished (a call that fails over makes several).
    fn call_finished(&self, _event: &CallEvent<'_>) {}

    /// A replica stopped answering (unreachable or too slow) and is no
    /// longer asked first; it is probed in the background until it answers.
    fn replica_down(&self, _replica: &str, _reason: &str) {}

    /// A replica that was down answered a probe and takes calls again.
    fn replica_up(&self, _replica: &str) {}
}

/// Logs a replica going down (`warn`) and coming back (`info`) through
/// `tracing`, with the replica's URL: what an operator of a mail host wants
/// in the log when one control-plane replica is lost.
#[derive(Debug, Default)]
pub struct LogReplicaHealth;

impl Observer for LogReplicaHealth {
    fn replica_down(&self, replica: &str, reason: &str) {
        tracing::warn!(
            replica,
            reason,
            "control-plane replica down; asking the others"
        );
    }

    fn replica_up(&self, replica: &str) {
        tracing::info!(replica, "control-plane replica answers again");
    }
}

/// The observer of a client nobody observes.
#[derive(Debug, Default)]
pub(crate) struct Unobserved;

impl Observer for Unobserved {}
