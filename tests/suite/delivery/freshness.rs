//! The routing snapshot on one server: every change is seen by the very
//! next recipient check on the server that made it.

use super::{Mta, TIMEOUT, deliver};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use tonic::Code;

/// On the server that made a change, the very next check sees it
/// (docs/rules.md, "Freshness"): disable, enable, delete, AddAlias,
/// DeleteAlias (also of a role address), activating and deactivating a
/// domain, revoking the MTA's token.
async fn changes_are_seen_by_the_next_check(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let domain = s.active_domain(&org, dns, "acme.example").await;
    let master = org.master.clone();
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let created = ok(s
        .operator()
        .create_token(pb::CreateTokenRequest {
            role: Role::Delivery as i32,
            description: "mta".into(),
            ..Default::default()
        })
        .await);
    let client = DeliveryClient::new(&format!("http://{}", s.addr), &created.secret, TIMEOUT)
        .expect("a delivery client");
    let mta = Mta {
        client: client.clone(),
        raw: s.delivery_pb_client(Some(&created.secret)),
    };
    let address = address_for("alice");

    mta.expect(&address, &deliver(&alice)).await;
    org.disable(alice.id).await;
    mta.expect(&address, &Verdict::RejectDisabled { user_id: alice.id })
        .await;
    org.enable(alice.id).await;
    mta.expect(&address, &deliver(&alice)).await;

    mta.expect("team@acme.example", &Verdict::RejectUnknown)
        .await;
    org.add_alias(alice.id, "team@acme.example").await;
    mta.expect("team@acme.example", &deliver(&alice)).await;
    mta.expect("team+x@acme.example", &deliver(&alice)).await;
    org.delete_alias(alice.id, "team@acme.example").await;
    mta.expect("team@acme.example", &Verdict::RejectUnknown)
        .await;

    org.add_alias(alice.id, "abuse@acme.example").await;
    mta.expect("abuse@acme.example", &deliver(&alice)).await;
    org.delete_alias(alice.id, "abuse@acme.example").await;
    mta.expect("abuse@acme.example", &deliver(&master)).await;

    // Deleting an account: its provider address is refused as unknown, its
    // custom-domain aliases are freed (a role address back to the master).
    org.add_alias(alice.id, "support@acme.example").await;
    org.add_alias(alice.id, "crew@acme.example").await;
    org.disable(alice.id).await;
    let refused = Verdict::RejectDisabled { user_id: alice.id };
    mta.expect("support@acme.example", &refused).await;
    mta.expect("crew+x@acme.example", &refused).await;
    org.delete_user(alice.id).await;
    mta.expect(&address, &Verdict::RejectUnknown).await;
    mta.expect("alice+x@mailadmin.example", &Verdict::RejectUnknown)
        .await;
    mta.expect("crew@acme.example", &Verdict::RejectUnknown)
        .await;
    mta.expect("support@acme.example", &deliver(&master)).await;

    // Activating a domain: its addresses are delivered by the next check.
    let later = s.verified_domain(&org, dns, "later.example").await;
    let dave = s
        .create_user_at(&org, "dave", "dave@later.example", Plan::Free)
        .await;
    mta.expect("dave@later.example", &Verdict::NotLocal).await;
    publish_all(dns, &later, &[pb::RecordPurpose::Mx]);
    let activated = ok(s
        .domains(&org)
        .activate_domain(pb::ActivateDomainRequest {
            domain_id: later.id,
        })
        .await);
    assert!(activated.activated, "{activated:?}");
    mta.expect("dave@later.example", &deliver(&dave)).await;
    mta.expect("postmaster@later.example", &deliver(&master))
        .await;

    ok(s.domains(&org)
        .deactivate_domain(pb::DeactivateDomainRequest {
            domain_id: domain.id,
        })
        .await);
    mta.expect("postmaster@acme.example", &Verdict::NotLocal)
        .await;

    // A revoked token: the next call is refused as UNAUTHENTICATED, which
    // the client turns into a temporary failure, never a bounce.
    let token_id = created.token.expect("token metadata").id;
    ok(s.operator()
        .revoke_token(pb::RevokeTokenRequest { token_id })
        .await);
    assert_code(
        mta.raw
            .clone()
            .check_recipient(pb::CheckRecipientRequest {
                address: address_for("nobody"),
            })
            .await,
        Code::Unauthenticated,
    );
    let verdict = client.check_recipient(&address_for("nobody")).await;
    assert!(
        verdict.is_temporary(),
        "a revoked token gives a temporary failure: {verdict:?}"
    );
}

backend_tests!(changes_are_seen_by_the_next_check: TestDns);
