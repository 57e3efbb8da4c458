//! The three ways of asking "does this recipient exist?": a unary gRPC
//! call, a batch on a pipelining stream (both through the mail server's
//! client crate), and a prepared SQL query, as SQL-backed MTAs do.

use crate::load::{Outcome, Probe, Worker};
use mailadmin_client::{DeliveryClient, RecipientStream, Verdict};
use sea_orm::sqlx::{self, PgPool};
use std::sync::Arc;

fn right(probe: &Probe, verdict: &Verdict) -> bool {
    match verdict {
        Verdict::Deliver {
            primary_address, ..
        } => probe.exists && *primary_address == probe.address,
        Verdict::RejectUnknown => !probe.exists,
        _ => false,
    }
}

fn probe(probes: &[Probe], at: usize) -> &Probe {
    &probes[at % probes.len()]
}

/// `CheckRecipient`, one address per call.
pub struct Unary {
    pub client: DeliveryClient,
    pub probes: Arc<Vec<Probe>>,
}

impl Worker for Unary {
    async fn call(&mut self, at: usize) -> Outcome {
        let probe = probe(&self.probes, at);
        let verdict = self.client.check_recipient(&probe.address).await;
        Outcome {
            checked: 1,
            wrong: u64::from(!right(probe, &verdict)),
        }
    }
}

/// `StreamCheckRecipients`: one batch per call on this worker's stream.
pub struct Stream {
    pub stream: RecipientStream,
    pub batch: usize,
    pub probes: Arc<Vec<Probe>>,
    addresses: Vec<String>,
}

impl Stream {
    pub async fn open(
        client: &DeliveryClient,
        batch: usize,
        probes: Arc<Vec<Probe>>,
    ) -> anyhow::Result<Stream> {
        Ok(Stream {
            stream: client.stream().await?,
            batch,
            probes,
            addresses: Vec::with_capacity(batch),
        })
    }
}

impl Worker for Stream {
    async fn call(&mut self, at: usize) -> Outcome {
        self.addresses.clear();
        self.addresses
            .extend((at..at + self.batch).map(|n| probe(&self.probes, n).address.clone()));
        let verdicts = self.stream.check(&self.addresses).await;
        let wrong = verdicts
            .iter()
            .enumerate()
            .filter(|(i, verdict)| !right(probe(&self.probes, at + i), verdict))
            .count();
        Outcome {
            checked: verdicts.len() as u64,
            wrong: wrong as u64,
        }
    }
}

/// The lookup a SQL-backed MTA map makes (Postfix `pgsql:` tables,
/// Dovecot's `passdb sql`): address → account and its state, one prepared
/// statement per connection (sqlx caches it), on a pool as large as the
/// concurrency.
pub const LOOKUP: &str = "SELECT u.id, u.primary_address, u.state \
     FROM addresses a JOIN users u ON u.id = a.user_id WHERE a.address = $1";

pub struct Sql {
    pub pool: PgPool,
    pub probes: Arc<Vec<Probe>>,
}

impl Worker for Sql {
    async fn call(&mut self, at: usize) -> Outcome {
        let probe = probe(&self.probes, at);
        let row: Option<(i64, String, String)> = sqlx::query_as(LOOKUP)
            .bind(&probe.address)
            .fetch_optional(&self.pool)
            .await
            .expect("the SQL lookup failed");
        let right = match &row {
            Some((_, primary, state)) => {
                probe.exists && *primary == probe.address && state == "enabled"
            }
            None => !probe.exists,
        };
        Outcome {
            checked: 1,
            wrong: u64::from(!right),
        }
    }
}

/// Any of the above, so that contenders can take turns.
pub enum Client {
    Unary(Unary),
    Stream(Box<Stream>),
    Sql(Sql),
}

impl Worker for Client {
    async fn call(&mut self, at: usize) -> Outcome {
        match self {
            Client::Unary(worker) => worker.call(at).await,
            Client::Stream(worker) => worker.call(at).await,
            Client::Sql(worker) => worker.call(at).await,
        }
    }
}
