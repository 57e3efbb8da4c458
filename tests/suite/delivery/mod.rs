//! DeliveryService, the hot path, through the typed `DeliveryClient` a mail
//! server uses (and the generated client where the typed one hides the
//! status code or the SMTP reply the server gives). This module holds what
//! its tests share: [`Mta`], a mail server's view of a test server, and
//! [`AliceAndBob`], the setup several of them start from.

mod account_events;
mod authenticate;
mod batches;
mod client;
mod failover;
mod freshness;
mod replicas;
mod senders;
mod signing_keys;
mod startup;
mod unreachable;
mod verdicts;
mod versions;

use crate::harness::*;
use mailadmin_client::{AuthOutcome, DeliveryClient, Verdict, pb};
use std::net::IpAddr;
use std::time::Duration;

/// The typed client's call timeout: generous, tests run in parallel and
/// Argon2 takes its time.
const TIMEOUT: Duration = Duration::from_secs(10);

fn ip(text: &str) -> IpAddr {
    text.parse().expect("an IP address")
}

/// What CheckRecipient answers for `user`'s addresses while it is enabled.
fn deliver(user: &pb::User) -> Verdict {
    Verdict::Deliver {
        user_id: user.id,
        primary_address: user.primary_address.clone(),
    }
}

fn allowed(user: &pb::User) -> AuthOutcome {
    AuthOutcome::Allowed {
        user_id: user.id,
        primary_address: user.primary_address.clone(),
    }
}

/// A mail server's view of one test server: the typed client and the
/// generated one, both with a DELIVERY token.
struct Mta {
    client: DeliveryClient,
    raw: DeliveryPbClient,
}

impl Mta {
    async fn new(s: &TestServer) -> Mta {
        let token = s.delivery_token().await;
        Mta {
            client: DeliveryClient::new(&format!("http://{}", s.addr), &token, TIMEOUT)
                .expect("a delivery client"),
            raw: s.delivery_pb_client(Some(&token)),
        }
    }

    /// The typed client answers `expected` for `address`, and the server's
    /// own answer carries the address as asked and the SMTP reply code and
    /// enhanced status code of that verdict.
    async fn check(&self, address: &str, expected: &Verdict) -> Result<(), String> {
        let got = self.client.check_recipient(address).await;
        if &got != expected {
            return Err(format!(
                "CheckRecipient({address:?}): expected {expected:?}, got {got:?}"
            ));
        }
        let answer = match self
            .raw
            .clone()
            .check_recipient(pb::CheckRecipientRequest {
                address: address.to_string(),
            })
            .await
        {
            Ok(answer) => answer.into_inner().result,
            Err(status) => {
                return Err(format!(
                    "CheckRecipient({address:?}) through the generated client: {:?}: {}",
                    status.code(),
                    status.message()
                ));
            }
        };
        let Some(answer) = answer else {
            return Err(format!("CheckRecipient({address:?}): no result"));
        };
        // The server's reply is the one the client crate gives for the
        // verdict (a malformed address adds its reason to the text).
        let (code, status, text) = expected.smtp_reply();
        if (answer.smtp_code, answer.enhanced_status.as_str()) != (u32::from(code), status)
            || answer.address != address
            || !answer.reply_text.starts_with(text)
        {
            return Err(format!(
                "CheckRecipient({address:?}): expected the address as asked and \
                 {code} {status} {text:?}, got {answer:?}"
            ));
        }
        Ok(())
    }

    /// [`Mta::check`] that must hold.
    async fn expect(&self, address: &str, expected: &Verdict) {
        if let Err(mismatch) = self.check(address, expected).await {
            panic!("{mismatch}");
        }
    }

    async fn authenticate(&self, login: &str, password: &str, client_ip: &str) -> AuthOutcome {
        self.client
            .authenticate(login, password, ip(client_ip))
            .await
    }
}

/// The setup several tests share: organization Acme (an Entry master)
/// with two enabled Free accounts, alice and bob, and an [`Mta`] with a
/// DELIVERY token of its own.
struct AliceAndBob {
    org: Org,
    alice: pb::User,
    bob: pb::User,
    mta: Mta,
}

impl AliceAndBob {
    async fn start(s: &TestServer) -> AliceAndBob {
        let org = s.create_org("Acme", Plan::Entry).await;
        let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
        let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
        let mta = Mta::new(s).await;
        AliceAndBob {
            org,
            alice,
            bob,
            mta,
        }
    }
}
