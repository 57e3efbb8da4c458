//! Failed sign-ins shared between replicas (PostgreSQL): each replica
//! announces its failures on the change feed's channel and counts the
//! other replicas' against the same account and address, so N replicas
//! give a guesser the limit, not N times it (docs/rules.md, "Throttle
//! limits"). On SQLite (one process) there is nothing to share.

use super::Store;
use super::snapshot::CHANNEL;
use crate::rules::DomainResult;
use sea_orm::{ConnectionTrait, DbBackend};
use tokio::sync::mpsc::UnboundedSender;

/// Marks a sign-in payload on the change feed (routing payloads never
/// start with it).
const PREFIX: &str = "signin\t";

/// A failure another replica counted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteFailure {
    pub account_key: String,
    pub address_key: Option<String>,
}

impl Store {
    /// Tells the other replicas about a failed sign-in. Best effort: a
    /// failure to announce is logged, never the caller's error.
    pub async fn announce_signin_failure(&self, account_key: &str, address_key: Option<&str>) {
        if self.backend() != DbBackend::Postgres
            || [Some(account_key), address_key]
                .into_iter()
                .flatten()
                .any(|k| k.contains(['\t', '\n']))
        {
            return;
        }
        let payload = format!(
            "{PREFIX}{:016x}\t{account_key}\t{}",
            self.replica_id,
            address_key.unwrap_or_default()
        );
        let sent: DomainResult<()> = self
            .db
            .execute_raw(sea_orm::Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_notify($1, $2)",
                [CHANNEL.into(), payload.into()],
            ))
            .await
            .map(|_| ())
            .map_err(super::db_err);
        if let Err(error) = sent {
            tracing::warn!(error = %error, "a failed sign-in was not announced to the other replicas");
        }
    }

    /// Where the failures other replicas announce go, from now on.
    pub fn follow_remote_signin_failures(&self, sink: UnboundedSender<RemoteFailure>) {
        let _ = self.signin_sink.set(sink);
    }

    /// Hands a change-feed payload that announces another replica's failed
    /// sign-in to the sink; whether it was one (of this replica or another).
    pub(super) fn take_signin_payload(&self, payload: &str) -> bool {
        let Some(rest) = payload.strip_prefix(PREFIX) else {
            return false;
        };
        let mut fields = rest.splitn(3, '\t');
        let (Some(replica), Some(account_key), Some(address_key)) =
            (fields.next(), fields.next(), fields.next())
        else {
            return true;
        };
        if replica == format!("{:016x}", self.replica_id) {
            return true;
        }
        if let Some(sink) = self.signin_sink.get() {
            let _ = sink.send(RemoteFailure {
                account_key: account_key.to_string(),
                address_key: (!address_key.is_empty()).then(|| address_key.to_string()),
            });
        }
        true
    }
}
