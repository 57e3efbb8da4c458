//! The alias limit of the account's plan.

use super::{add_alias, addresses_of, alias};
use crate::harness::*;
use tonic::Code;

/// The alias limit is the account's plan's (docs/rules.md, "Limits"): an
/// Entry user gets 10 (the 11th is FAILED_PRECONDITION), a Pro user 50, a
/// Free user none; the primary address does not count.
async fn alias_limits_follow_the_plan(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    for (username, plan, limit) in [
        ("entry.user", Plan::Entry, 10),
        ("pro.user", Plan::Pro, 50),
        ("free.user", Plan::Free, 0),
    ] {
        let user = s.create_user(&org.admin, org.id, username, plan).await;
        for i in 0..limit {
            alias(
                &org.admin,
                user.id,
                &format!("{username}.{i}@mailadmin.example"),
            )
            .await;
        }
        let status = assert_code(
            add_alias(
                &org.admin,
                user.id,
                &format!("{username}.over@mailadmin.example"),
            )
            .await,
            Code::FailedPrecondition,
        );
        assert!(
            !status.message().is_empty(),
            "{username}: the refusal says why"
        );
        let listed = addresses_of(&org.admin, user.id).await;
        assert_eq!(listed.len(), limit + 1, "{username}: primary + {limit}");
        // The refused address was not taken.
        s.create_user_at(
            &org,
            &format!("{username}.o"),
            &format!("{username}.over@mailadmin.example"),
            Plan::Free,
        )
        .await;
    }
}

backend_tests!(alias_limits_follow_the_plan);
