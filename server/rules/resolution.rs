//! Where mail to an address goes: the one resolution function, shared by
//! `ResolveAddress` (admin) and the delivery path. It reads facts through
//! [`Directory`], so it runs the same over rows loaded for one query or over
//! the in-memory routing snapshot.
//!
//! Order (docs/rules.md, "Resolution order"): the exact address (primary or alias) → the
//! same without its `+tag` → the role-address default (postmaster@,
//! support@, abuse@ on a custom domain → the master account) → the custom
//! domain's catch-all → unknown. On an alias domain (which holds no
//! addresses of its own) the same address on its target domain is resolved
//! instead. A resolved account that is disabled refuses; a deleted one is
//! unknown.

use super::address::EmailAddress;
use super::model::AccountState;

/// The local parts that belong to a domain's operator, not to a user.
pub const ROLE_LOCAL_PARTS: [&str; 3] = ["postmaster", "support", "abuse"];

/// How a domain is served here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainRoute {
    /// One of the provider's own domains.
    Provider,
    /// An organization's domain in the ACTIVE state, with its catch-all
    /// account if it has one.
    Active {
        master_user_id: i64,
        catch_all: Option<i64>,
    },
}

/// What resolution needs to know about an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountRoute {
    pub state: AccountState,
    pub primary_address: String,
}

/// The facts resolution reads.
pub trait Directory {
    /// `None`: mail for this domain is not delivered here.
    fn domain(&self, domain: &str) -> Option<DomainRoute>;
    /// The account owning a normalized address (primary or alias).
    fn owner(&self, address: &str) -> Option<i64>;
    fn account(&self, user_id: i64) -> Option<AccountRoute>;
    /// When `domain` is an ACTIVE alias domain: the domain it is an alias of.
    fn alias_target(&self, domain: &str) -> Option<String>;
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MatchKind {
    Exact,
    Subaddress,
    RoleDefault,
    CatchAll,
    /// Found through an alias domain, on its target.
    DomainAlias,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    Deliver {
        user_id: i64,
        primary_address: String,
        matched: MatchKind,
    },
    Disabled {
        user_id: i64,
        primary_address: String,
        matched: MatchKind,
    },
    Unknown,
    NotLocal,
}

/// Resolves one (already normalized) address.
pub fn resolve(directory: &impl Directory, address: &EmailAddress) -> Route {
    let Some(target) = directory.alias_target(address.domain()) else {
        return resolve_here(directory, address);
    };
    // user@alias reaches whatever user@target reaches; a target that does
    // not take mail here leaves the alias's addresses unknown.
    match resolve_here(directory, &address.on_domain(&target)) {
        Route::Deliver {
            user_id,
            primary_address,
            ..
        } => Route::Deliver {
            user_id,
            primary_address,
            matched: MatchKind::DomainAlias,
        },
        Route::Disabled {
            user_id,
            primary_address,
            ..
        } => Route::Disabled {
            user_id,
            primary_address,
            matched: MatchKind::DomainAlias,
        },
        Route::Unknown | Route::NotLocal => Route::Unknown,
    }
}

/// Resolution on the address's own domain.
fn resolve_here(directory: &impl Directory, address: &EmailAddress) -> Route {
    let Some(domain) = directory.domain(address.domain()) else {
        return Route::NotLocal;
    };
    if let Some(user_id) = directory.owner(address.as_str()) {
        return account_route(directory, user_id, MatchKind::Exact);
    }
    let base = address.without_subaddress();
    if let Some(base) = &base
        && let Some(user_id) = directory.owner(base.as_str())
    {
        return account_route(directory, user_id, MatchKind::Subaddress);
    }
    let local = base.as_ref().unwrap_or(address).local();
    if let DomainRoute::Active { master_user_id, .. } = domain
        && ROLE_LOCAL_PARTS.contains(&local)
    {
        return account_route(directory, master_user_id, MatchKind::RoleDefault);
    }
    if let DomainRoute::Active {
        catch_all: Some(user_id),
        ..
    } = domain
    {
        return account_route(directory, user_id, MatchKind::CatchAll);
    }
    Route::Unknown
}

fn account_route(directory: &impl Directory, user_id: i64, matched: MatchKind) -> Route {
    match directory.account(user_id) {
        // A suspended account cannot log in but keeps receiving its mail.
        Some(AccountRoute {
            state: AccountState::Enabled | AccountState::Suspended,
            primary_address,
        }) => Route::Deliver {
            user_id,
            primary_address,
            matched,
        },
        Some(AccountRoute {
            state: AccountState::Disabled,
            primary_address,
        }) => Route::Disabled {
            user_id,
            primary_address,
            matched,
        },
        // Deleted accounts keep their provider addresses reserved, and mail
        // to them is refused as unknown.
        Some(AccountRoute {
            state: AccountState::Deleted,
            ..
        })
        | None => Route::Unknown,
    }
}

/// The addresses whose owners resolution of `address` (on its own domain,
/// or on an alias domain's target) may ask about: the
/// address itself and the address without its `+tag`.
pub fn candidates(address: &EmailAddress) -> Vec<String> {
    let mut out = vec![address.to_string()];
    if let Some(base) = address.without_subaddress() {
        out.push(base.to_string());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[derive(Default)]
    struct Facts {
        domains: HashMap<String, DomainRoute>,
        owners: HashMap<String, i64>,
        accounts: HashMap<i64, AccountRoute>,
        aliases: HashMap<String, String>,
    }

    impl Directory for Facts {
        fn domain(&self, domain: &str) -> Option<DomainRoute> {
            self.domains.get(domain).copied()
        }
        fn owner(&self, address: &str) -> Option<i64> {
            self.owners.get(address).copied()
        }
        fn account(&self, user_id: i64) -> Option<AccountRoute> {
            self.accounts.get(&user_id).cloned()
        }
        fn alias_target(&self, domain: &str) -> Option<String> {
            self.aliases.get(domain).cloned()
        }
    }

    fn facts() -> Facts {
        let mut f = Facts::default();
        f.domains
            .insert("mailadmin.example".into(), DomainRoute::Provider);
        f.domains.insert(
            "acme.example".into(),
            DomainRoute::Active {
                master_user_id: 1,
                catch_all: None,
            },
        );
        let mut account = |id: i64, address: &str, state| {
            f.owners.insert(address.into(), id);
            f.accounts.insert(
                id,
                AccountRoute {
                    state,
                    primary_address: address.into(),
                },
            );
        };
        account(1, "boss@acme.example", AccountState::Enabled);
        account(2, "alice@acme.example", AccountState::Enabled);
        account(3, "gone@mailadmin.example", AccountState::Deleted);
        account(4, "off@acme.example", AccountState::Disabled);
        account(5, "held@acme.example", AccountState::Suspended);
        // catch.example: every address nothing else takes goes to bin@.
        f.domains.insert(
            "catch.example".into(),
            DomainRoute::Active {
                master_user_id: 1,
                catch_all: Some(6),
            },
        );
        account(6, "bin@catch.example", AccountState::Enabled);
        account(7, "carol@catch.example", AccountState::Enabled);
        account(8, "off@catch.example", AccountState::Disabled);
        // acme.test is an alias of acme.example; dead.test of a domain not
        // served here.
        f.aliases.insert("acme.test".into(), "acme.example".into());
        f.aliases.insert("dead.test".into(), "gone.example".into());
        f.owners.insert("sales@acme.example".into(), 2);
        f
    }

    fn route(f: &Facts, address: &str) -> Route {
        resolve(f, &EmailAddress::parse("address", address).unwrap())
    }

    fn delivered(user_id: i64, primary: &str, matched: MatchKind) -> Route {
        Route::Deliver {
            user_id,
            primary_address: primary.into(),
            matched,
        }
    }

    #[test]
    fn resolution_order() {
        let f = facts();
        assert_eq!(
            route(&f, "Alice@ACME.example"),
            delivered(2, "alice@acme.example", MatchKind::Exact)
        );
        assert_eq!(
            route(&f, "sales@acme.example"),
            delivered(2, "alice@acme.example", MatchKind::Exact)
        );
        assert_eq!(
            route(&f, "alice+news@acme.example"),
            delivered(2, "alice@acme.example", MatchKind::Subaddress)
        );
        assert_eq!(
            route(&f, "postmaster@acme.example"),
            delivered(1, "boss@acme.example", MatchKind::RoleDefault)
        );
        assert_eq!(
            route(&f, "abuse+report@acme.example"),
            delivered(1, "boss@acme.example", MatchKind::RoleDefault)
        );
        assert_eq!(route(&f, "nobody@acme.example"), Route::Unknown);
        assert_eq!(route(&f, "someone@elsewhere.example"), Route::NotLocal);
    }

    #[test]
    fn an_alias_takes_a_role_address_over() {
        let mut f = facts();
        assert!(matches!(
            route(&f, "support@acme.example"),
            Route::Deliver { user_id: 1, .. }
        ));
        f.owners.insert("support@acme.example".into(), 2);
        assert_eq!(
            route(&f, "support@acme.example"),
            delivered(2, "alice@acme.example", MatchKind::Exact)
        );
    }

    #[test]
    fn provider_role_addresses_are_not_defaulted() {
        let f = facts();
        assert_eq!(route(&f, "postmaster@mailadmin.example"), Route::Unknown);
    }

    #[test]
    fn a_catch_all_takes_only_what_nothing_else_takes() {
        let f = facts();
        assert_eq!(
            route(&f, "anything@catch.example"),
            delivered(6, "bin@catch.example", MatchKind::CatchAll)
        );
        assert_eq!(
            route(&f, "carol@catch.example"),
            delivered(7, "carol@catch.example", MatchKind::Exact),
            "an exact address wins"
        );
        assert_eq!(
            route(&f, "carol+news@catch.example"),
            delivered(7, "carol@catch.example", MatchKind::Subaddress),
            "a sub-address wins"
        );
        assert_eq!(
            route(&f, "postmaster@catch.example"),
            delivered(1, "boss@acme.example", MatchKind::RoleDefault),
            "a role address wins"
        );
        assert!(
            matches!(
                route(&f, "off@catch.example"),
                Route::Disabled { user_id: 8, .. }
            ),
            "a disabled account's own address is not caught"
        );
        assert_eq!(
            route(&f, "nobody@acme.example"),
            Route::Unknown,
            "no catch-all, no catch"
        );
    }

    #[test]
    fn an_alias_domain_reaches_what_its_target_reaches() {
        let f = facts();
        let via_alias = |user_id, primary: &str| Route::Deliver {
            user_id,
            primary_address: primary.into(),
            matched: MatchKind::DomainAlias,
        };
        assert_eq!(
            route(&f, "alice@acme.test"),
            via_alias(2, "alice@acme.example")
        );
        assert_eq!(
            route(&f, "alice+x@acme.test"),
            via_alias(2, "alice@acme.example")
        );
        assert_eq!(
            route(&f, "sales@acme.test"),
            via_alias(2, "alice@acme.example")
        );
        assert_eq!(
            route(&f, "postmaster@acme.test"),
            via_alias(1, "boss@acme.example")
        );
        assert!(matches!(
            route(&f, "off@acme.test"),
            Route::Disabled {
                user_id: 4,
                matched: MatchKind::DomainAlias,
                ..
            }
        ));
        assert_eq!(route(&f, "nobody@acme.test"), Route::Unknown);
        assert_eq!(
            route(&f, "alice@dead.test"),
            Route::Unknown,
            "a target not served here: unknown, not relayed"
        );
    }

    #[test]
    fn account_states() {
        let f = facts();
        assert!(matches!(
            route(&f, "off@acme.example"),
            Route::Disabled { user_id: 4, .. }
        ));
        assert!(matches!(
            route(&f, "off+x@acme.example"),
            Route::Disabled { user_id: 4, .. }
        ));
        assert_eq!(route(&f, "gone@mailadmin.example"), Route::Unknown);
        assert_eq!(
            route(&f, "held+x@acme.example"),
            delivered(5, "held@acme.example", MatchKind::Subaddress),
            "a suspended account keeps receiving mail"
        );
    }
}
