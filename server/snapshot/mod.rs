//! The in-memory routing snapshot the delivery path reads: addresses,
//! accounts, active domains and bearer tokens. Recipient checks and token
//! checks never touch the database.
//!
//! The snapshot is loaded in full at start. Every committed transaction
//! that changes routing lists what it touched as [`RoutingKey`]s; the
//! replica that made the change re-reads those rows and patches its
//! snapshot before the RPC returns, and (on PostgreSQL) announces the keys
//! with `NOTIFY`, so the other replicas do the same within milliseconds. A
//! replica whose `LISTEN` connection is lost, or falls silent (no heartbeat
//! for `store::routing::FEED_SILENCE`), listens again and reloads in full;
//! so does one whose re-read failed (`Store::request_routing_reload`).

mod accounts;
mod table;

pub use accounts::{AccountEntry, Accounts};
pub use table::{ActiveDomain, Owners, RoutingTable, Snapshot, TokenEntry};

/// Something a transaction changed that routing or authentication depends on.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum RoutingKey {
    /// Who owns this (normalized) address, if anyone.
    Address(String),
    /// An account's state and primary address.
    Account(i64),
    /// Whether this domain is ACTIVE here, and for which organization.
    Domain(String),
    /// One token, by digest.
    Token(String),
    /// Every token of an account.
    AccountTokens(i64),
}

impl RoutingKey {
    /// The form carried in a `NOTIFY` payload.
    pub fn encode(&self) -> String {
        match self {
            RoutingKey::Address(a) => format!("a:{a}"),
            RoutingKey::Account(id) => format!("u:{id}"),
            RoutingKey::Domain(d) => format!("d:{d}"),
            RoutingKey::Token(t) => format!("t:{t}"),
            RoutingKey::AccountTokens(id) => format!("ut:{id}"),
        }
    }

    pub fn decode(encoded: &str) -> Option<RoutingKey> {
        let (kind, value) = encoded.split_once(':')?;
        Some(match kind {
            "a" => RoutingKey::Address(value.to_string()),
            "u" => RoutingKey::Account(value.parse().ok()?),
            "d" => RoutingKey::Domain(value.to_string()),
            "t" => RoutingKey::Token(value.to_string()),
            "ut" => RoutingKey::AccountTokens(value.parse().ok()?),
            _ => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_round_trip() {
        for key in [
            RoutingKey::Address("a+b@x.example".into()),
            RoutingKey::Account(42),
            RoutingKey::Domain("xn--bcher-kva.example".into()),
            RoutingKey::Token("ab".repeat(32)),
            RoutingKey::AccountTokens(7),
        ] {
            assert_eq!(RoutingKey::decode(&key.encode()), Some(key));
        }
        assert_eq!(RoutingKey::decode("zz:1"), None);
        assert_eq!(RoutingKey::decode("u:notanumber"), None);
        assert_eq!(
            RoutingKey::decode("heartbeat"),
            None,
            "heartbeats touch nothing"
        );
    }
}
