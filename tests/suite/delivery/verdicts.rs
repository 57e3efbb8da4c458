//! CheckRecipient's verdicts and their SMTP replies: every verdict against
//! a real server, in every spelling, and malformed addresses.

use super::{Mta, deliver};
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::{Verdict, pb};

/// Every verdict against a real server (docs/rules.md, "Recipient checks"):
/// DELIVER for a primary
/// address, an alias, a `+tag` and a role address (to the master, then to
/// the alias that takes it over); REJECT_UNKNOWN; REJECT_DISABLED;
/// NOT_LOCAL for a foreign domain and for a VERIFIED domain not yet
/// ACTIVE; case and IDN spellings.
async fn every_verdict(s: &TestServer, dns: &TestDns) {
    let org = s.create_org("Acme", Plan::Pro).await;
    s.active_domain(&org, dns, "acme.example").await;
    s.verified_domain(&org, dns, "later.example").await;
    let idn = s.active_domain(&org, dns, "bücher.example").await;
    assert_eq!(idn.name, "xn--bcher-kva.example");
    let master = org.master.clone();
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    org.add_alias(alice.id, "sales@acme.example").await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    org.disable(carol.id).await;
    s.create_user_at(&org, "dave", "dave@later.example", Plan::Free)
        .await;
    let hans = s
        .create_user_at(&org, "hans", "hans@xn--bcher-kva.example", Plan::Free)
        .await;
    assert_eq!(hans.primary_address, "hans@xn--bcher-kva.example");
    let mta = Mta::new(s).await;

    let cases: Vec<(&str, Verdict)> = vec![
        // Exact: primary address and alias.
        ("alice@mailadmin.example", deliver(&alice)),
        ("sales@acme.example", deliver(&alice)),
        // Sub-addresses.
        ("alice+news@mailadmin.example", deliver(&alice)),
        ("sales+q1@acme.example", deliver(&alice)),
        // Role addresses of an ACTIVE custom domain: the master account.
        ("postmaster@acme.example", deliver(&master)),
        ("Abuse@Acme.Example", deliver(&master)),
        ("support+tickets@acme.example", deliver(&master)),
        ("postmaster@bücher.example", deliver(&master)),
        // Unknown local parts, on a provider domain and a custom one.
        ("nobody@mailadmin.example", Verdict::RejectUnknown),
        ("nobody+tag@mailadmin.example", Verdict::RejectUnknown),
        ("nobody@acme.example", Verdict::RejectUnknown),
        // A disabled account, whatever the spelling.
        (
            "carol@mailadmin.example",
            Verdict::RejectDisabled { user_id: carol.id },
        ),
        (
            "Carol+x@MailAdmin.Example",
            Verdict::RejectDisabled { user_id: carol.id },
        ),
        // Not served here: a foreign domain, a VERIFIED domain not ACTIVE.
        ("someone@elsewhere.example", Verdict::NotLocal),
        ("dave@later.example", Verdict::NotLocal),
        ("postmaster@later.example", Verdict::NotLocal),
        // Case and IDN spellings.
        ("Alice@MAILADMIN.example", deliver(&alice)),
        ("ALICE+News@MailAdmin.Example", deliver(&alice)),
        ("SALES@ACME.EXAMPLE", deliver(&alice)),
        ("hans@xn--bcher-kva.example", deliver(&hans)),
        ("hans@bücher.example", deliver(&hans)),
        ("Hans@BÜCHER.Example", deliver(&hans)),
        ("hans+x@XN--BCHER-KVA.example", deliver(&hans)),
    ];
    let mut failures = Vec::new();
    for (address, expected) in &cases {
        if let Err(mismatch) = mta.check(address, expected).await {
            failures.push(mismatch);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} verdicts wrong:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );

    // An alias of the role address takes it over; the others stay the master's.
    org.add_alias(bob.id, "postmaster@acme.example").await;
    mta.expect("postmaster@acme.example", &deliver(&bob)).await;
    mta.expect("Postmaster+x@ACME.example", &deliver(&bob))
        .await;
    mta.expect("support@acme.example", &deliver(&master)).await;
}

/// A malformed address in a single check is INVALID_ARGUMENT naming
/// `address`, which the client answers as REJECT_INVALID (501 5.1.3)
/// (docs/rules.md, "Recipient checks").
async fn malformed_addresses(s: &TestServer) {
    s.create_org("Acme", Plan::Entry).await;
    let mta = Mta::new(s).await;
    let long_local = format!("{}@mailadmin.example", "a".repeat(65));
    let inputs = [
        "@@",
        "",
        "   ",
        "no-at-sign",
        "alice@",
        "@mailadmin.example",
        "a@b@",
        long_local.as_str(),
    ];
    let mut failures = Vec::new();
    for input in inputs {
        let verdict = mta.client.check_recipient(input).await;
        match &verdict {
            Verdict::RejectInvalid { reason } if reason.starts_with("address") => {
                assert_eq!(verdict.smtp_reply().0, 501);
                assert_eq!(verdict.smtp_reply().1, "5.1.3");
            }
            other => failures.push(format!(
                "CheckRecipient({input:?}) through the client: {other:?}"
            )),
        }
        if let Err(e) = check_invalid(
            mta.raw
                .clone()
                .check_recipient(pb::CheckRecipientRequest {
                    address: input.to_string(),
                })
                .await,
            "address",
        ) {
            failures.push(format!("CheckRecipient({input:?}): {e}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The server still answers.
    mta.expect("nobody@mailadmin.example", &Verdict::RejectUnknown)
        .await;
}

backend_tests!(every_verdict: TestDns, malformed_addresses);
