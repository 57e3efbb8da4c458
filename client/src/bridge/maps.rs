//! The lookup tables Postfix asks for, answered from the control plane's
//! verdicts. Each map is documented with the `main.cf` line that uses it
//! (README, "Running it with Postfix and Dovecot"); all of them go through the one
//! resolution the server applies to `CheckRecipient`, so Postfix accepts,
//! refuses and routes exactly as the control plane says.
//!
//! A control plane that cannot answer is [`MapAnswer::TempFail`] in every
//! map, never [`MapAnswer::NotFound`]: a missing answer must defer mail,
//! not bounce it.

use crate::{Coalescer, DeliveryClient, Verdict, VerdictCache};
use std::sync::Arc;

/// One of the maps the bridge serves; its name is the socketmap `name`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Map {
    /// `virtual_mailbox_domains`: the domains delivered here (provider
    /// domains and `ACTIVE` custom domains).
    Domains,
    /// `virtual_mailbox_maps`: an address that delivers to an enabled
    /// account → `domain/local/` of the primary address (recipient
    /// validation; delivery goes through LMTP).
    Mailboxes,
    /// `virtual_alias_maps`: an alias or role address → the primary address
    /// it routes to.
    Aliases,
    /// `check_recipient_access`: the refusal the control plane gives
    /// (`550 5.1.1`, `550 5.2.1`), `DUNNO` otherwise.
    RecipientAccess,
    /// `smtpd_sender_login_maps`: a sender address → the login allowed to
    /// use it (the account's primary address).
    Senders,
}

impl Map {
    /// Every map, in the order the README lists them.
    pub const ALL: [Map; 5] = [
        Map::Domains,
        Map::Mailboxes,
        Map::Aliases,
        Map::RecipientAccess,
        Map::Senders,
    ];

    /// The socketmap name (`socketmap:inet:host:port:NAME`).
    pub fn name(self) -> &'static str {
        match self {
            Map::Domains => "domains",
            Map::Mailboxes => "mailboxes",
            Map::Aliases => "aliases",
            Map::RecipientAccess => "recipient_access",
            Map::Senders => "senders",
        }
    }

    /// The map called `name`, if there is one.
    pub fn from_name(name: &str) -> Option<Map> {
        Map::ALL.into_iter().find(|map| map.name() == name)
    }
}

/// The answer to one lookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapAnswer {
    /// The key is in the map, with this value.
    Found(String),
    /// The key is not in the map.
    NotFound,
    /// The control plane could not answer: Postfix must defer, not decide.
    TempFail(String),
}

/// Answers map lookups (and the policy service's questions) through a
/// [`DeliveryClient`], with an optional [`VerdictCache`] in front of it.
#[derive(Debug, Clone)]
pub struct Lookups {
    client: DeliveryClient,
    cache: Option<Arc<VerdictCache>>,
    coalescer: Option<Coalescer>,
}

impl Lookups {
    /// Lookups answered by `client`, every one asked anew.
    pub fn new(client: DeliveryClient) -> Self {
        Lookups {
            client,
            cache: None,
            coalescer: None,
        }
    }

    /// Lookups that keep verdicts in `cache` (shared by clones).
    pub fn with_cache(client: DeliveryClient, cache: VerdictCache) -> Self {
        Lookups {
            client,
            cache: Some(Arc::new(cache)),
            coalescer: None,
        }
    }

    /// These lookups with their recipient checks coalesced into batches,
    /// `in_flight` calls at a time ([`Coalescer`]): what lets many Postfix
    /// processes asking at once cost a few calls instead of one each.
    /// Call it within a Tokio runtime.
    pub fn coalesced(mut self, in_flight: usize) -> Self {
        self.coalescer = Some(Coalescer::new(self.client.clone(), in_flight));
        self
    }

    /// The client the lookups go through.
    pub fn client(&self) -> &DeliveryClient {
        &self.client
    }

    /// The verdict for `address`: from the cache when it has a fresh one,
    /// else from the control plane (and then kept).
    pub async fn verdict(&self, address: &str) -> Verdict {
        let freshness = |stamp| self.client.freshness(stamp);
        if let Some(verdict) = self.cache.as_ref().and_then(|c| c.get(address, freshness)) {
            return verdict;
        }
        let (verdict, stamp) = match &self.coalescer {
            Some(coalescer) => coalescer.check_recipient_stamped(address).await,
            None => self.client.check_recipient_stamped(address).await,
        };
        if let Some(cache) = &self.cache {
            cache.put(address, &verdict, stamp, freshness);
        }
        verdict
    }

    /// Looks `key` up in `map`. Keys come as Postfix sends them (lower
    /// case; a domain in Unicode or A-label form, both answered alike).
    pub async fn lookup(&self, map: Map, key: &str) -> MapAnswer {
        match map {
            Map::Domains => self.domain(key).await,
            Map::Mailboxes => self.mailbox(key).await,
            Map::Aliases => self.alias(key).await,
            Map::RecipientAccess => self.recipient_access(key).await,
            Map::Senders => self.sender_login(key).await,
        }
    }

    /// A domain is delivered here when an address on it is not "not
    /// local": the server's resolution decides, for provider and custom
    /// domains alike. `postmaster@` is the probe because RFC 5321 requires
    /// every mail domain to have it.
    async fn domain(&self, key: &str) -> MapAnswer {
        if key.is_empty() || key.contains('@') {
            return MapAnswer::NotFound;
        }
        match self.verdict(&format!("postmaster@{key}")).await {
            Verdict::Deliver { .. } | Verdict::RejectUnknown | Verdict::RejectDisabled { .. } => {
                MapAnswer::Found(key.to_string())
            }
            Verdict::NotLocal | Verdict::RejectInvalid { .. } => MapAnswer::NotFound,
            Verdict::TempFail { reason } => MapAnswer::TempFail(reason),
        }
    }

    async fn mailbox(&self, key: &str) -> MapAnswer {
        match self.verdict(key).await {
            Verdict::Deliver {
                primary_address, ..
            } => MapAnswer::Found(mailbox_location(&primary_address)),
            Verdict::TempFail { reason } => MapAnswer::TempFail(reason),
            _ => MapAnswer::NotFound,
        }
    }

    /// An address that delivers to an account under another name (an
    /// alias, a role address) is rewritten to the primary address. The
    /// primary itself, and the primary with a `+tag`, are not aliases:
    /// Postfix keeps the tag and the mailbox map takes the address as is.
    async fn alias(&self, key: &str) -> MapAnswer {
        match self.verdict(key).await {
            Verdict::Deliver {
                primary_address, ..
            } => {
                let asked = normalize(key);
                if without_tag(&asked) == primary_address.to_ascii_lowercase() {
                    MapAnswer::NotFound
                } else {
                    MapAnswer::Found(primary_address)
                }
            }
            Verdict::TempFail { reason } => MapAnswer::TempFail(reason),
            _ => MapAnswer::NotFound,
        }
    }

    /// The control plane's own refusals; everything else is `DUNNO` (no
    /// opinion: the rest of `smtpd_recipient_restrictions` decides, which
    /// also keeps Postfix from trying the key's parent domains). Postfix
    /// also asks for partial keys (a bare domain, `local@`): those are not
    /// addresses and are not found.
    async fn recipient_access(&self, key: &str) -> MapAnswer {
        let verdict = self.verdict(key).await;
        match verdict {
            Verdict::RejectUnknown | Verdict::RejectDisabled { .. } => {
                let (code, enhanced, text) = verdict.smtp_reply();
                MapAnswer::Found(format!("{code} {enhanced} {text}"))
            }
            Verdict::Deliver { .. } | Verdict::NotLocal => MapAnswer::Found("DUNNO".into()),
            Verdict::RejectInvalid { .. } => MapAnswer::NotFound,
            Verdict::TempFail { reason } => MapAnswer::TempFail(reason),
        }
    }

    /// The login that may send as `key`: the primary address of the
    /// account the address belongs to, when the account may send as it
    /// (`AllowedSenders`: its primary address and aliases, not role
    /// addresses or `+tag` forms, for which Postfix then asks the address
    /// without the tag itself).
    async fn sender_login(&self, key: &str) -> MapAnswer {
        let primary = match self.verdict(key).await {
            Verdict::Deliver {
                primary_address, ..
            } => primary_address,
            Verdict::TempFail { reason } => return MapAnswer::TempFail(reason),
            _ => return MapAnswer::NotFound,
        };
        let Some(allowed) = self.client.allowed_senders(&primary).await else {
            return MapAnswer::TempFail("no answer to AllowedSenders".into());
        };
        let asked = normalize(key);
        if allowed.iter().any(|a| a.eq_ignore_ascii_case(&asked)) {
            MapAnswer::Found(primary)
        } else {
            MapAnswer::NotFound
        }
    }
}

/// The value the `mailboxes` map answers: `domain/local/` of the primary
/// address, the conventional Maildir path under a mail store's base. It
/// only needs to be non-empty: Postfix validates recipients with it and
/// hands delivery to LMTP (its `virtual(8)` agent refuses network tables
/// for mailbox paths).
pub fn mailbox_location(primary_address: &str) -> String {
    match primary_address.rsplit_once('@') {
        Some((local, domain)) => format!("{domain}/{local}/"),
        None => format!("{primary_address}/"),
    }
}

/// `key` as the server normalizes it: lower case, the domain in A-label
/// form. Used only to compare with addresses the server returned.
fn normalize(key: &str) -> String {
    let key = key.trim();
    match key.rsplit_once('@') {
        Some((local, domain)) => {
            let domain = idna::domain_to_ascii(domain).unwrap_or_else(|_| domain.to_string());
            format!("{local}@{domain}").to_ascii_lowercase()
        }
        None => key.to_ascii_lowercase(),
    }
}

/// `local+tag@domain` → `local@domain`; other addresses as they are.
fn without_tag(address: &str) -> String {
    match address.rsplit_once('@') {
        Some((local, domain)) => match local.split_once('+') {
            Some((base, _)) if !base.is_empty() => format!("{base}@{domain}"),
            _ => address.to_string(),
        },
        None => address.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for map in Map::ALL {
            assert_eq!(Map::from_name(map.name()), Some(map));
        }
        assert_eq!(Map::from_name("Domains"), None);
    }

    #[test]
    fn mailbox_locations_are_maildirs_by_domain() {
        assert_eq!(mailbox_location("bob@acme.example"), "acme.example/bob/");
    }

    #[test]
    fn keys_compare_as_the_server_stores_them() {
        assert_eq!(normalize("Bob@Bücher.Example"), "bob@xn--bcher-kva.example");
        assert_eq!(
            normalize("bob@xn--bcher-kva.example"),
            "bob@xn--bcher-kva.example"
        );
        assert_eq!(without_tag("bob+news@a.example"), "bob@a.example");
        assert_eq!(without_tag("+news@a.example"), "+news@a.example");
        assert_eq!(without_tag("bob@a.example"), "bob@a.example");
    }
}
