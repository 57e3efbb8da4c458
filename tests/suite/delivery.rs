//! DeliveryService, the hot path, through the typed `DeliveryClient` a mail
//! server uses (and the generated client where the typed one hides the
//! status code or the SMTP reply the server gives): every verdict, the
//! snapshot's freshness on one server, batches and streams, malformed
//! addresses, Authenticate and its throttling, AllowedSenders, the
//! client's temporary failure when the control plane is gone or answers
//! late (a stand-in server for the late answers), and two server processes
//! on one PostgreSQL database following each other.

use crate::dns_server::TestDns;
use crate::harness::*;
use futures::future::join_all;
use mailadmin_client::{AuthOutcome, DeliveryClient, Verdict, pb};
use mailadmin_server::grpc::services::delivery_service_server::{
    DeliveryService, DeliveryServiceServer,
};
use std::net::IpAddr;
use std::time::{Duration, Instant};
use tonic::Code;
use tonic_types::StatusExt;

/// The typed client's call timeout: generous, tests run in parallel and
/// Argon2 takes its time.
const TIMEOUT: Duration = Duration::from_secs(10);

/// How long another replica may take to follow a change in these tests
/// (SPEC: at most 1 s; the tests only record the lag).
const REPLICA_DEADLINE: Duration = Duration::from_secs(10);

/// The throttling window (SPEC: 15 minutes).
const WINDOW: Duration = Duration::from_secs(15 * 60);

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

async fn add_alias(org: &Org, user_id: i64, address: &str) {
    ok(org
        .admin
        .clone()
        .add_alias(pb::AddAliasRequest {
            user_id,
            address: address.to_string(),
        })
        .await);
}

async fn delete_alias(org: &Org, user_id: i64, address: &str) {
    ok(org
        .admin
        .clone()
        .delete_alias(pb::DeleteAliasRequest {
            user_id,
            address: address.to_string(),
        })
        .await);
}

async fn disable(org: &Org, user_id: i64) {
    ok(org
        .admin
        .clone()
        .disable_user(pb::DisableUserRequest { user_id })
        .await);
}

async fn enable(org: &Org, user_id: i64) {
    ok(org
        .admin
        .clone()
        .enable_user(pb::EnableUserRequest { user_id })
        .await);
}

async fn delete_user(org: &Org, user_id: i64) {
    ok(org
        .admin
        .clone()
        .delete_user(pb::DeleteUserRequest { user_id })
        .await);
}

/// Item 2: every verdict against a real server: DELIVER for a primary
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
    add_alias(&org, alice.id, "sales@acme.example").await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    disable(&org, carol.id).await;
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
    add_alias(&org, bob.id, "postmaster@acme.example").await;
    mta.expect("postmaster@acme.example", &deliver(&bob)).await;
    mta.expect("Postmaster+x@ACME.example", &deliver(&bob))
        .await;
    mta.expect("support@acme.example", &deliver(&master)).await;
}

/// Item 3: on the server that made a change, the very next check sees it:
/// disable, enable, delete, AddAlias, DeleteAlias (also of a role address),
/// deactivating a domain, revoking the MTA's token.
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
    disable(&org, alice.id).await;
    mta.expect(&address, &Verdict::RejectDisabled { user_id: alice.id })
        .await;
    enable(&org, alice.id).await;
    mta.expect(&address, &deliver(&alice)).await;

    mta.expect("team@acme.example", &Verdict::RejectUnknown)
        .await;
    add_alias(&org, alice.id, "team@acme.example").await;
    mta.expect("team@acme.example", &deliver(&alice)).await;
    mta.expect("team+x@acme.example", &deliver(&alice)).await;
    delete_alias(&org, alice.id, "team@acme.example").await;
    mta.expect("team@acme.example", &Verdict::RejectUnknown)
        .await;

    add_alias(&org, alice.id, "abuse@acme.example").await;
    mta.expect("abuse@acme.example", &deliver(&alice)).await;
    delete_alias(&org, alice.id, "abuse@acme.example").await;
    mta.expect("abuse@acme.example", &deliver(&master)).await;

    // Deleting an account: its provider address is refused as unknown, its
    // custom-domain aliases are freed (a role address back to the master).
    add_alias(&org, alice.id, "support@acme.example").await;
    add_alias(&org, alice.id, "crew@acme.example").await;
    disable(&org, alice.id).await;
    let refused = Verdict::RejectDisabled { user_id: alice.id };
    mta.expect("support@acme.example", &refused).await;
    mta.expect("crew+x@acme.example", &refused).await;
    delete_user(&org, alice.id).await;
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

/// Item 4: CheckRecipients answers in order, a malformed address getting
/// REJECT_INVALID (501 5.1.3) without failing the batch; 1000 addresses
/// pass, 1001 are INVALID_ARGUMENT; a stream answers each batch in order,
/// and sees a change made between two batches.
async fn batches_and_streams(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let mta = Mta::new(s).await;

    let batch: Vec<String> = [
        "alice@mailadmin.example",
        "nobody@mailadmin.example",
        "not an address",
        "someone@elsewhere.example",
        "Bob+x@MailAdmin.Example",
    ]
    .map(String::from)
    .to_vec();
    let verdicts = mta.client.check_recipients(&batch).await;
    assert_eq!(verdicts.len(), batch.len(), "{verdicts:?}");
    assert_eq!(verdicts[0], deliver(&alice));
    assert_eq!(verdicts[1], Verdict::RejectUnknown);
    assert!(
        matches!(&verdicts[2], Verdict::RejectInvalid { reason } if !reason.is_empty()),
        "a malformed address in a batch: {:?}",
        verdicts[2]
    );
    assert_eq!(verdicts[3], Verdict::NotLocal);
    assert_eq!(verdicts[4], deliver(&bob));
    let raw = ok(mta
        .raw
        .clone()
        .check_recipients(pb::CheckRecipientsRequest {
            addresses: batch.clone(),
        })
        .await)
    .results;
    let asked: Vec<&str> = raw.iter().map(|r| r.address.as_str()).collect();
    assert_eq!(asked, batch, "the addresses as asked, in order");
    let replies: Vec<(u32, &str, i32)> = raw
        .iter()
        .map(|r| (r.smtp_code, r.enhanced_status.as_str(), r.verdict))
        .collect();
    assert_eq!(
        replies,
        vec![
            (250, "2.1.5", pb::Verdict::Deliver as i32),
            (550, "5.1.1", pb::Verdict::RejectUnknown as i32),
            (501, "5.1.3", pb::Verdict::RejectInvalid as i32),
            (550, "5.7.1", pb::Verdict::NotLocal as i32),
            (250, "2.1.5", pb::Verdict::Deliver as i32),
        ],
        "{raw:#?}"
    );
    assert!(mta.client.check_recipients(&[]).await.is_empty());

    // The batch limit: 1000 pass, 1001 are INVALID_ARGUMENT (addresses).
    let many: Vec<String> = (0..1001)
        .map(|i| format!("user{i}@mailadmin.example"))
        .collect();
    let thousand = ok(mta
        .raw
        .clone()
        .check_recipients(pb::CheckRecipientsRequest {
            addresses: many[..1000].to_vec(),
        })
        .await);
    assert_eq!(thousand.results.len(), 1000);
    assert!(
        thousand
            .results
            .iter()
            .all(|r| r.verdict == pb::Verdict::RejectUnknown as i32)
    );
    assert_invalid(
        mta.raw
            .clone()
            .check_recipients(pb::CheckRecipientsRequest {
                addresses: many.clone(),
            })
            .await,
        "addresses",
    );
    // The typed client sends at most MAX_BATCH per call, so a long batch
    // still gets a real verdict for every recipient.
    let verdicts = mta.client.check_recipients(&many).await;
    assert_eq!(verdicts.len(), 1001);
    assert!(
        verdicts.iter().all(|v| *v == Verdict::RejectUnknown),
        "an over-long batch through the client: {:?}",
        verdicts.first()
    );

    // Three batches over one stream, answered in order.
    let mut stream = mta.client.stream().await.expect("opening a stream");
    let first = stream.check(&[address_for("alice")]).await;
    assert_eq!(first, vec![deliver(&alice)]);
    let second = stream
        .check(&[address_for("nobody"), "@@".to_string(), address_for("bob")])
        .await;
    assert_eq!(second.len(), 3, "{second:?}");
    assert_eq!(second[0], Verdict::RejectUnknown);
    assert!(
        matches!(second[1], Verdict::RejectInvalid { .. }),
        "{second:?}"
    );
    assert_eq!(second[2], deliver(&bob));
    disable(&org, bob.id).await;
    let third = stream
        .check(&[
            address_for("bob"),
            "alice+x@mailadmin.example".to_string(),
            "x@elsewhere.example".to_string(),
        ])
        .await;
    assert_eq!(
        third,
        vec![
            Verdict::RejectDisabled { user_id: bob.id },
            deliver(&alice),
            Verdict::NotLocal,
        ]
    );
    // A batch over MAX_BATCH goes over the stream as two, and the stream
    // stays usable (the server alone would refuse it and end the stream).
    let long = stream.check(&many).await;
    assert_eq!(long.len(), 1001);
    assert!(
        long.iter().all(|v| *v == Verdict::RejectUnknown),
        "an over-long batch over the stream: {:?}",
        long.first()
    );
    assert!(
        !stream.is_broken(),
        "the stream survives an over-long batch"
    );
    assert_eq!(
        stream.check(&[address_for("alice")]).await,
        vec![deliver(&alice)]
    );
}

/// Item 5: a malformed address in a single check is INVALID_ARGUMENT naming
/// `address`, which the client answers as REJECT_INVALID (501 5.1.3).
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

/// Item 6: Authenticate: the right password by username or primary address
/// (any case, IPv4 or IPv6 client) is allowed with the account; a wrong
/// password, an unknown login, an alias used as login and a disabled
/// account are denied; a malformed client_ip is INVALID_ARGUMENT.
async fn authenticate_answers(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    add_alias(&org, alice.id, "ali@mailadmin.example").await;
    let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    disable(&org, carol.id).await;
    let mta = Mta::new(s).await;
    let password = password_for("alice");
    let carol_password = password_for("carol");

    let cases: Vec<(&str, &str, &str, AuthOutcome)> = vec![
        ("alice", &password, "192.0.2.1", allowed(&alice)),
        ("ALICE", &password, "192.0.2.1", allowed(&alice)),
        (
            "alice@mailadmin.example",
            &password,
            "2001:db8::1",
            allowed(&alice),
        ),
        (
            "Alice@MailAdmin.Example",
            &password,
            "192.0.2.1",
            allowed(&alice),
        ),
        (
            "alice",
            "wrong password 123",
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        (
            "nobody",
            "wrong password 123",
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        (
            "nobody@mailadmin.example",
            &password,
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        (
            "ali@mailadmin.example",
            &password,
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
        ("carol", &carol_password, "192.0.2.1", AuthOutcome::Denied),
        (
            "carol@mailadmin.example",
            &carol_password,
            "192.0.2.1",
            AuthOutcome::Denied,
        ),
    ];
    let mut failures = Vec::new();
    for (login, password, client_ip, expected) in &cases {
        let got = mta.authenticate(login, password, client_ip).await;
        if &got != expected {
            failures.push(format!(
                "Authenticate({login:?}, {client_ip}): expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    // The generated client: allowed carries the account; a bad client_ip
    // is INVALID_ARGUMENT naming it.
    let answer = ok(mta
        .raw
        .clone()
        .authenticate(pb::AuthenticateRequest {
            login: "alice".into(),
            password: password.clone(),
            client_ip: "192.0.2.1".into(),
        })
        .await);
    assert!(answer.allowed);
    assert_eq!(
        (answer.user_id, answer.primary_address.as_str()),
        (alice.id, alice.primary_address.as_str())
    );
    let denied = ok(mta
        .raw
        .clone()
        .authenticate(pb::AuthenticateRequest {
            login: "alice".into(),
            password: "wrong password 123".into(),
            client_ip: "192.0.2.1".into(),
        })
        .await);
    assert_eq!(
        denied,
        pb::AuthenticateResponse::default(),
        "a denial says nothing about the account"
    );
    for client_ip in ["not-an-ip", "", "192.0.2.300", "192.0.2.1:25"] {
        assert_invalid(
            mta.raw
                .clone()
                .authenticate(pb::AuthenticateRequest {
                    login: "alice".into(),
                    password: password.clone(),
                    client_ip: client_ip.into(),
                })
                .await,
            "client_ip",
        );
    }
}

#[track_caller]
fn assert_throttled(outcome: &AuthOutcome, at_most: Duration, what: &str) {
    match outcome {
        AuthOutcome::Throttled {
            retry_after: Some(delay),
        } if !delay.is_zero() && *delay <= at_most => {}
        other => panic!(
            "{what}: expected Throttled with a retry delay of at most {at_most:?}, got {other:?}"
        ),
    }
}

/// Item 6, per login: 10 wrong passwords for one login; the 11th attempt is
/// throttled even with the right password, from any address, with a retry
/// delay (RESOURCE_EXHAUSTED + RetryInfo on the wire); other logins are
/// not; once the 15-minute window is over the right password works again.
async fn authenticate_throttles_per_login(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let mta = Mta::new(s).await;
    let password = password_for("alice");

    for i in 0..10 {
        let outcome = mta
            .authenticate("alice", &format!("wrong password {i}"), "192.0.2.1")
            .await;
        assert_eq!(outcome, AuthOutcome::Denied, "wrong password #{}", i + 1);
    }
    let eleventh = mta.authenticate("alice", &password, "192.0.2.1").await;
    assert_throttled(&eleventh, WINDOW, "the 11th attempt, right password");
    let elsewhere = mta.authenticate("alice", &password, "2001:db8::7").await;
    assert_throttled(&elsewhere, WINDOW, "the same login from another address");
    let status = assert_code(
        mta.raw
            .clone()
            .authenticate(pb::AuthenticateRequest {
                login: "alice".into(),
                password: password.clone(),
                client_ip: "192.0.2.1".into(),
            })
            .await,
        Code::ResourceExhausted,
    );
    let retry = status
        .get_details_retry_info()
        .and_then(|r| r.retry_delay)
        .unwrap_or_else(|| panic!("RESOURCE_EXHAUSTED without RetryInfo: {status:?}"));
    assert!(!retry.is_zero() && retry <= WINDOW, "{retry:?}");

    // Another login works, from another address and from the same one.
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), "192.0.2.2")
            .await,
        allowed(&bob)
    );
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), "192.0.2.1")
            .await,
        allowed(&bob)
    );

    // Still throttled a minute before the window ends, with a shorter delay.
    s.advance(chrono::Duration::minutes(14));
    let late = mta.authenticate("alice", &password, "192.0.2.1").await;
    assert_throttled(&late, Duration::from_secs(60), "14 minutes later");
    // After the window: the right password works again.
    s.advance(chrono::Duration::minutes(2));
    assert_eq!(
        mta.authenticate("alice", &password, "192.0.2.1").await,
        allowed(&alice),
        "16 minutes after the failures"
    );
}

/// Item 6, per client address: 50 failures across different logins from
/// one address throttle any login from it, while another address works;
/// the window ends after 15 minutes.
async fn authenticate_throttles_per_client_address(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let mta = Mta::new(s).await;
    let attacker = "198.51.100.7";

    // 5 wrong passwords for alice and 45 unknown logins: no login reaches
    // its own limit, the address reaches 50.
    let logins: Vec<String> = (0..5)
        .map(|_| "alice".to_string())
        .chain((0..45).map(|i| format!("ghost-{i}")))
        .collect();
    for chunk in logins.chunks(10) {
        let outcomes = join_all(
            chunk
                .iter()
                .map(|login| mta.authenticate(login, "wrong password 123", attacker)),
        )
        .await;
        for (login, outcome) in chunk.iter().zip(outcomes) {
            assert_eq!(outcome, AuthOutcome::Denied, "{login} from {attacker}");
        }
    }

    let blocked = mta
        .authenticate("bob", &password_for("bob"), attacker)
        .await;
    assert_throttled(&blocked, WINDOW, "a new login from the throttled address");
    let blocked = mta
        .authenticate("alice", &password_for("alice"), attacker)
        .await;
    assert_throttled(&blocked, WINDOW, "alice from the throttled address");
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), "198.51.100.8")
            .await,
        allowed(&bob),
        "another address"
    );
    assert_eq!(
        mta.authenticate("alice", &password_for("alice"), "2001:db8::8")
            .await,
        allowed(&alice),
        "alice (5 failures) from another address"
    );

    s.advance(chrono::Duration::minutes(16));
    assert_eq!(
        mta.authenticate("bob", &password_for("bob"), attacker)
            .await,
        allowed(&bob),
        "after the window"
    );
}

/// Item 7: AllowedSenders: the primary address and the aliases of an
/// enabled account, by username or primary address; nothing for an unknown
/// login, an alias used as login, a disabled or a deleted account.
async fn allowed_senders(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    add_alias(&org, alice.id, "alice.smith@mailadmin.example").await;
    add_alias(&org, alice.id, "Ali@MailAdmin.Example").await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    let mta = Mta::new(s).await;

    let sorted = |mut addresses: Vec<String>| {
        addresses.sort();
        addresses
    };
    let mut expected = vec![
        "alice@mailadmin.example".to_string(),
        "alice.smith@mailadmin.example".to_string(),
        "ali@mailadmin.example".to_string(),
    ];
    expected.sort();
    for login in [
        "alice",
        "ALICE",
        "alice@mailadmin.example",
        "Alice@MailAdmin.Example",
    ] {
        let senders = mta
            .client
            .allowed_senders(login)
            .await
            .unwrap_or_else(|| panic!("AllowedSenders({login:?}) got no answer"));
        assert_eq!(sorted(senders), expected, "AllowedSenders({login:?})");
    }
    assert_eq!(
        mta.client.allowed_senders("bob").await,
        Some(vec![bob.primary_address.clone()])
    );
    for login in [
        "nobody",
        "nobody@mailadmin.example",
        "ali@mailadmin.example",
    ] {
        assert_eq!(
            mta.client.allowed_senders(login).await,
            Some(vec![]),
            "AllowedSenders({login:?})"
        );
    }
    disable(&org, bob.id).await;
    assert_eq!(
        mta.client.allowed_senders("bob").await,
        Some(vec![]),
        "a disabled account"
    );
    assert_eq!(
        mta.client.allowed_senders(&address_for("bob")).await,
        Some(vec![]),
        "a disabled account, by address"
    );
    disable(&org, carol.id).await;
    delete_user(&org, carol.id).await;
    assert_eq!(
        mta.client.allowed_senders("carol").await,
        Some(vec![]),
        "a deleted account"
    );
    // The raw answer for an enabled account, primary address included.
    let raw = ok(mta
        .raw
        .clone()
        .allowed_senders(pb::AllowedSendersRequest {
            login: "alice".into(),
        })
        .await);
    assert!(raw.addresses.contains(&alice.primary_address), "{raw:?}");
}

/// Item 8: once the control plane is gone (shut down, or never there), the
/// client answers temporary failures (451 4.4.3), never a refusal; a
/// token the server does not accept is a temporary failure too.
async fn unreachable_control_plane_is_a_temporary_failure(s: &mut TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let token = s.delivery_token().await;
    let url = format!("http://{}", s.addr);
    let client = DeliveryClient::new(&url, &token, Duration::from_secs(2)).expect("a client");
    let address = address_for("alice");
    let password = password_for("alice");
    assert_eq!(client.check_recipient(&address).await, deliver(&alice));
    assert_eq!(
        client
            .authenticate("alice", &password, ip("192.0.2.1"))
            .await,
        allowed(&alice)
    );

    // A token the server refuses (UNAUTHENTICATED): retry, don't bounce.
    let stranger = DeliveryClient::new(
        &url,
        "mat_0000000000000000000000000000000000000000",
        Duration::from_secs(2),
    )
    .expect("a client");
    assert_temporary(&stranger, "a token the server refuses").await;

    tokio::time::timeout(Duration::from_secs(30), s.take_running().shutdown())
        .await
        .expect("the server stops within 30 s")
        .expect("the server stops cleanly");
    assert_temporary(&client, "after the server shut down").await;

    // A port where nothing listens.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let nowhere = DeliveryClient::new(
        &format!("http://127.0.0.1:{port}"),
        &token,
        Duration::from_millis(500),
    )
    .expect("a client");
    let started = Instant::now();
    assert_temporary(&nowhere, "nothing listening").await;
    eprintln!(
        "the unreachable control plane's answers took {:?}",
        started.elapsed()
    );
}

/// Every question through `client` gets a temporary failure.
async fn assert_temporary(client: &DeliveryClient, when: &str) {
    for address in [
        "alice@mailadmin.example",
        "nobody@mailadmin.example",
        "someone@elsewhere.example",
    ] {
        let verdict = client.check_recipient(address).await;
        assert!(
            matches!(verdict, Verdict::TempFail { .. }) && verdict.is_temporary(),
            "{when}: CheckRecipient({address:?}) = {verdict:?}, not a temporary failure"
        );
        let (code, status, _) = verdict.smtp_reply();
        assert_eq!((code, status), (451, "4.4.3"), "{when}");
    }
    let batch = [address_for("alice"), address_for("nobody")];
    let verdicts = client.check_recipients(&batch).await;
    assert!(
        verdicts.len() == 2 && verdicts.iter().all(Verdict::is_temporary),
        "{when}: CheckRecipients = {verdicts:?}"
    );
    match client.stream().await {
        Ok(mut stream) => {
            let verdicts = stream.check(&batch).await;
            assert!(
                verdicts.len() == 2 && verdicts.iter().all(Verdict::is_temporary),
                "{when}: a stream's batch = {verdicts:?}"
            );
        }
        Err(status) => eprintln!("{when}: opening a stream fails: {:?}", status.code()),
    }
    let outcome = client
        .authenticate("alice", &password_for("alice"), ip("192.0.2.1"))
        .await;
    assert!(
        matches!(outcome, AuthOutcome::TempFail { .. }),
        "{when}: Authenticate = {outcome:?}"
    );
    assert_eq!(
        client.allowed_senders("alice").await,
        None,
        "{when}: AllowedSenders"
    );
}

/// A stand-in control plane for what a real one does only now and then:
/// answer late. Each answer is DELIVER for `alice@…` and REJECT_UNKNOWN
/// for anything else; the first stream batch and every unary check wait
/// [`SLOW`] first. Authenticate for the login `calm` is a bare
/// RESOURCE_EXHAUSTED at once (what HTTP/2 flow control gives, with no
/// retry delay); AllowedSenders answers the `grpc-timeout` the call
/// carried.
struct LateControlPlane;

const SLOW: Duration = Duration::from_millis(600);

fn late_verdict(address: String) -> pb::RecipientVerdict {
    let known = address.starts_with("alice@");
    let verdict = if known {
        Verdict::Deliver {
            user_id: 7,
            primary_address: "alice@mailadmin.example".into(),
        }
    } else {
        Verdict::RejectUnknown
    };
    let (code, status, text) = verdict.smtp_reply();
    pb::RecipientVerdict {
        address,
        verdict: if known {
            pb::Verdict::Deliver
        } else {
            pb::Verdict::RejectUnknown
        } as i32,
        user_id: if known { 7 } else { 0 },
        primary_address: if known {
            "alice@mailadmin.example".into()
        } else {
            String::new()
        },
        smtp_code: u32::from(code),
        enhanced_status: status.into(),
        reply_text: text.into(),
    }
}

type Answers = std::pin::Pin<
    Box<dyn tokio_stream::Stream<Item = Result<pb::CheckRecipientsResponse, tonic::Status>> + Send>,
>;

#[tonic::async_trait]
impl DeliveryService for LateControlPlane {
    async fn check_recipient(
        &self,
        request: tonic::Request<pb::CheckRecipientRequest>,
    ) -> Result<tonic::Response<pb::CheckRecipientResponse>, tonic::Status> {
        tokio::time::sleep(SLOW).await;
        Ok(tonic::Response::new(pb::CheckRecipientResponse {
            result: Some(late_verdict(request.into_inner().address)),
        }))
    }

    async fn check_recipients(
        &self,
        _: tonic::Request<pb::CheckRecipientsRequest>,
    ) -> Result<tonic::Response<pb::CheckRecipientsResponse>, tonic::Status> {
        Err(tonic::Status::unimplemented("not in this stand-in"))
    }

    type StreamCheckRecipientsStream = Answers;

    async fn stream_check_recipients(
        &self,
        request: tonic::Request<tonic::Streaming<pb::CheckRecipientsRequest>>,
    ) -> Result<tonic::Response<Answers>, tonic::Status> {
        let mut batches = request.into_inner();
        let (answers, receiver) = tokio::sync::mpsc::channel(16);
        tokio::spawn(async move {
            let mut first = true;
            while let Ok(Some(batch)) = batches.message().await {
                if std::mem::take(&mut first) {
                    tokio::time::sleep(SLOW).await;
                }
                let results = batch.addresses.into_iter().map(late_verdict).collect();
                if answers
                    .send(Ok(pb::CheckRecipientsResponse { results }))
                    .await
                    .is_err()
                {
                    return;
                }
            }
        });
        Ok(tonic::Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(receiver),
        )))
    }

    async fn authenticate(
        &self,
        request: tonic::Request<pb::AuthenticateRequest>,
    ) -> Result<tonic::Response<pb::AuthenticateResponse>, tonic::Status> {
        if request.get_ref().login == "calm" {
            return Err(tonic::Status::resource_exhausted("enhance your calm"));
        }
        tokio::time::sleep(SLOW).await;
        Ok(tonic::Response::new(pb::AuthenticateResponse::default()))
    }

    async fn allowed_senders(
        &self,
        request: tonic::Request<pb::AllowedSendersRequest>,
    ) -> Result<tonic::Response<pb::AllowedSendersResponse>, tonic::Status> {
        let deadline = request
            .metadata()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok(tonic::Response::new(pb::AllowedSendersResponse {
            addresses: deadline.into_iter().collect(),
        }))
    }
}

/// Serves [`LateControlPlane`] on loopback; the client's URL.
async fn late_control_plane() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("binding 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(DeliveryServiceServer::new(LateControlPlane))
            .serve_with_incoming(tokio_stream::wrappers::TcpListenerStream::new(listener)),
    );
    format!("http://{addr}")
}

/// The client's timeout (SPEC: "never turns 'control plane unreachable'
/// into a refusal"; the client: "or that answers too slowly"): a late
/// answer is a temporary failure, for one recipient and for a login.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_answer_is_a_temporary_failure() {
    let url = late_control_plane().await;
    let client =
        DeliveryClient::new(&url, "mat_test", Duration::from_millis(200)).expect("a client");
    let started = Instant::now();
    let verdict = client.check_recipient("nobody@mailadmin.example").await;
    assert!(
        matches!(verdict, Verdict::TempFail { .. }),
        "a late REJECT_UNKNOWN: {verdict:?}"
    );
    assert!(
        started.elapsed() < SLOW,
        "the client waited for the late answer ({:?})",
        started.elapsed()
    );
    let outcome = client
        .authenticate("alice", "some password", ip("192.0.2.1"))
        .await;
    assert!(
        matches!(outcome, AuthOutcome::TempFail { .. }),
        "a late answer to Authenticate: {outcome:?}"
    );
}

/// A stream batch answered too late is a temporary failure, and its late
/// answer must never be taken for the answer to the next batch: each
/// batch's verdicts are its own (or temporary failures).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_stream_answer_never_answers_the_next_batch() {
    let url = late_control_plane().await;
    let client =
        DeliveryClient::new(&url, "mat_test", Duration::from_millis(200)).expect("a client");
    let mut stream = client.stream().await.expect("opening a stream");
    let first = stream
        .check(&["nobody@mailadmin.example".to_string()])
        .await;
    assert!(
        first.iter().all(Verdict::is_temporary),
        "a batch answered too late: {first:?}"
    );
    // The late answer (REJECT_UNKNOWN for nobody@) arrives meanwhile.
    tokio::time::sleep(SLOW + Duration::from_millis(200)).await;
    let second = stream.check(&["alice@mailadmin.example".to_string()]).await;
    assert!(
        second.len() == 1
            && (second[0].is_temporary() || matches!(second[0], Verdict::Deliver { .. })),
        "alice@ (a valid recipient) got {second:?}: the late answer to the batch before"
    );
}

/// A batch whose caller gave up midway (its future dropped, as by the
/// MTA's own timeout) breaks the stream: the answer still on its way is
/// never read as the answer to the next batch, even the same addresses.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_stream_batch_breaks_the_stream() {
    let url = late_control_plane().await;
    let client = DeliveryClient::new(&url, "mat_test", Duration::from_secs(10)).expect("a client");
    let mut stream = client.stream().await.expect("opening a stream");
    let batch = ["nobody@mailadmin.example".to_string()];
    let gave_up = tokio::time::timeout(Duration::from_millis(100), stream.check(&batch)).await;
    assert!(
        gave_up.is_err(),
        "the stand-in answers the first batch late"
    );
    assert!(
        stream.is_broken(),
        "a batch given up midway breaks the stream"
    );
    // The late answer (REJECT_UNKNOWN for nobody@) arrives meanwhile.
    tokio::time::sleep(SLOW + Duration::from_millis(200)).await;
    let again = stream.check(&batch).await;
    assert!(
        again.iter().all(Verdict::is_temporary),
        "the same batch again got {again:?}: the answer to the batch given up"
    );
    // A new stream works (the stand-in answers its first batch late, within
    // the client's 10 s).
    let mut fresh = client.stream().await.expect("opening a stream");
    assert_eq!(fresh.check(&batch).await, vec![Verdict::RejectUnknown]);
    assert!(!fresh.is_broken());
}

/// Only the server's throttle (RESOURCE_EXHAUSTED with a retry delay) is
/// `Throttled`; a bare RESOURCE_EXHAUSTED from the transport is a temporary
/// failure. Every call tells the server the client's deadline.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_client_reads_statuses_and_sends_deadlines() {
    let url = late_control_plane().await;
    let client =
        DeliveryClient::new(&url, "mat_test", Duration::from_millis(1500)).expect("a client");
    let outcome = client
        .authenticate("calm", "some password", ip("192.0.2.1"))
        .await;
    assert!(
        matches!(outcome, AuthOutcome::TempFail { .. }),
        "a bare RESOURCE_EXHAUSTED: {outcome:?}"
    );
    let deadline = client.allowed_senders("alice").await;
    let deadline = deadline
        .as_deref()
        .and_then(|values| values.first())
        .unwrap_or_else(|| panic!("no grpc-timeout on the call: {deadline:?}"));
    // grpc-timeout is digits and a unit: 1500m (milliseconds), or finer.
    let (digits, unit) = deadline.split_at(deadline.len() - 1);
    let nanos_per_unit: u64 = match unit {
        "m" => 1_000_000,
        "u" => 1_000,
        "n" => 1,
        other => panic!("grpc-timeout {deadline:?}: unit {other:?}"),
    };
    let sent = Duration::from_nanos(digits.parse::<u64>().expect("digits") * nanos_per_unit);
    assert!(
        sent <= Duration::from_millis(1500) && sent >= Duration::from_millis(1000),
        "grpc-timeout {deadline:?}"
    );
}

backend_tests!(
    every_verdict: TestDns,
    changes_are_seen_by_the_next_check: TestDns,
    batches_and_streams,
    malformed_addresses,
    authenticate_answers,
    authenticate_throttles_per_login,
    authenticate_throttles_per_client_address,
    allowed_senders,
    unreachable_control_plane_is_a_temporary_failure,
);

/// Item 9 (PostgreSQL only): two `mailadmin-server` processes on one
/// database follow each other's changes through LISTEN/NOTIFY; a replica
/// killed with SIGKILL and restarted answers from the database's state at
/// once.
mod replicas {
    mod postgres {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn two_server_processes_follow_each_other() {
            super::super::two_server_processes_follow_each_other().await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn a_silent_change_feed_is_replaced() {
            super::super::a_silent_change_feed_is_replaced().await;
        }
    }
}

/// Runs `test` on a fresh PostgreSQL database (skipped without one, as
/// the harness decides), and drops the database whether it passes or not.
async fn on_fresh_postgres<F: std::future::Future<Output = ()>>(test: impl FnOnce(String) -> F) {
    let Some(database) = FreshDatabase::create(Backend::Postgres).await else {
        return;
    };
    let outcome =
        futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(test(database.url.clone())))
            .await;
    database.drop_database().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

async fn two_server_processes_follow_each_other() {
    on_fresh_postgres(|url| async move { two_replicas(&url).await }).await;
}

/// A replica's change feed can die without a word (a NAT or failover drops
/// the connection, and PostgreSQL sends nothing to an idle listener): here
/// B's listening backend is frozen with SIGSTOP, so its connection stays
/// open and silent. B notices the missing heartbeats, listens again and
/// reloads, and then refuses an account disabled on A meanwhile — and
/// follows A's later changes through the new connection.
async fn a_silent_change_feed_is_replaced() {
    on_fresh_postgres(|url| async move { silent_feed(&url).await }).await;
}

/// The PostgreSQL backends that serve `application`'s LISTEN and run on
/// this machine (SIGSTOP needs a local process).
async fn listening_backends(db: &sea_orm::DatabaseConnection, application: &str) -> Vec<u32> {
    use sea_orm::ConnectionTrait;
    let rows = db
        .query_all_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT pid FROM pg_stat_activity WHERE application_name = '{application}' \
                 AND query LIKE 'LISTEN%'"
            ),
        ))
        .await
        .expect("reading pg_stat_activity");
    rows.iter()
        .filter_map(|row| u32::try_from(row.try_get::<i32>("", "pid").ok()?).ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .is_ok_and(|comm| comm.starts_with("postgres"))
        })
        .collect()
}

fn signal(pid: u32, signal: &str) {
    let status = std::process::Command::new("kill")
        .args([signal, &pid.to_string()])
        .status()
        .expect("running kill");
    assert!(status.success(), "kill {signal} {pid}");
}

async fn silent_feed(url: &str) {
    let separator = if url.contains('?') { '&' } else { '?' };
    let url_b = format!("{url}{separator}application_name=mailadmin-b");
    let Replicas {
        dir: _dir,
        mut a,
        mut b,
        channel_a,
        mut admin_a,
        org_id,
        mta_token,
        ..
    } = Replicas::start(url, &url_b, "Silence").await;
    let create = |username: &str| free_user(org_id, username);
    let alice = ok(admin_a.create_user(create("alice")).await)
        .user
        .expect("user");
    let mta_b = DeliveryClient::new(&b.url(), &mta_token, TIMEOUT).expect("a client for B");
    let address = address_for("alice");
    wait_for(&mta_b, &address, &deliver(&alice), &mut b, "B follows A").await;

    let db = sea_orm::Database::connect(url)
        .await
        .expect("connecting to PostgreSQL");
    let Some(&pid) = listening_backends(&db, "mailadmin-b").await.first() else {
        eprintln!("PostgreSQL does not run on this machine: no SIGSTOP, nothing to check");
        b.kill().await;
        a.kill().await;
        return;
    };
    signal(pid, "-STOP");
    let outcome = futures::FutureExt::catch_unwind(std::panic::AssertUnwindSafe(async {
        ok(admin_a
            .disable_user(pb::DisableUserRequest { user_id: alice.id })
            .await);
        let disabled = Verdict::RejectDisabled { user_id: alice.id };
        wait_for(
            &mta_b,
            &address,
            &disabled,
            &mut b,
            "B, its change feed frozen, refuses after a disable on A",
        )
        .await;
        let listening = listening_backends(&db, "mailadmin-b").await;
        assert!(
            listening.iter().any(|&fresh| fresh != pid),
            "B listens on a new connection (frozen: {pid}, listening: {listening:?})"
        );
        let bob = ok(admin_a.create_user(create("bob")).await)
            .user
            .expect("user");
        wait_for(
            &mta_b,
            &address_for("bob"),
            &deliver(&bob),
            &mut b,
            "B follows A through its new change feed",
        )
        .await;
    }))
    .await;
    signal(pid, "-CONT");
    drop(channel_a);
    b.kill().await;
    a.kill().await;
    if let Err(panic) = outcome {
        std::panic::resume_unwind(panic);
    }
}

fn admin_client(channel: &tonic::transport::Channel, token: &str) -> Client {
    pb::admin_service_client::AdminServiceClient::with_interceptor(
        channel.clone(),
        Bearer::token(token),
    )
}

/// Polls `client` until `address` gets `expected` (within
/// [`REPLICA_DEADLINE`]); returns how long that took.
async fn wait_for(
    client: &DeliveryClient,
    address: &str,
    expected: &Verdict,
    replica: &mut ServerProcess,
    what: &str,
) -> Duration {
    let started = Instant::now();
    loop {
        let got = client.check_recipient(address).await;
        if &got == expected {
            let lag = started.elapsed();
            eprintln!("{what}: after {lag:?}");
            return lag;
        }
        replica.assert_running();
        assert!(
            started.elapsed() < REPLICA_DEADLINE,
            "{what}: CheckRecipient({address:?}) still {got:?} (expected {expected:?}) after \
             {REPLICA_DEADLINE:?}; the replica's log:\n{}",
            replica.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Two server processes on one database, as the replica tests start them:
/// A creates the schema and the operator token; B (on `url_b`, the same
/// database) starts after it, finds that token in the database, and is
/// called with it too. Made through A: an organization with a Pro master,
/// and a DELIVERY token.
struct Replicas {
    dir: tempfile::TempDir,
    a: ServerProcess,
    b: ServerProcess,
    token_file_b: std::path::PathBuf,
    token: String,
    channel_a: tonic::transport::Channel,
    admin_a: Client,
    org_id: i64,
    mta_token: String,
}

impl Replicas {
    async fn start(url: &str, url_b: &str, organization: &str) -> Replicas {
        let dir = tempfile::tempdir().expect("tempdir");
        let token_file_a = dir.path().join("a.token");
        let token_file_b = dir.path().join("b.token");
        let mut a = ServerProcess::start(url, dir.path(), &token_file_a, "a", &[]);
        let token = read_token_file(&mut a, &token_file_a).await;
        let channel_a = a.channel().await;
        let b = ServerProcess::start(url_b, dir.path(), &token_file_b, "b", &[]);
        let mut admin_a = admin_client(&channel_a, &token);
        let master = format!("{}-admin", organization.to_lowercase());
        let created = ok(admin_a
            .create_organization(pb::CreateOrganizationRequest {
                name: organization.into(),
                master: Some(new_account(&master, Plan::Pro)),
            })
            .await);
        let org_id = created.organization.expect("organization").id;
        let mta_token = create_delivery_token(&mut admin_a).await;
        Replicas {
            dir,
            a,
            b,
            token_file_b,
            token,
            channel_a,
            admin_a,
            org_id,
            mta_token,
        }
    }
}

/// A Free account `username` for organization `org_id`.
fn free_user(org_id: i64, username: &str) -> pb::CreateUserRequest {
    pb::CreateUserRequest {
        organization_id: org_id,
        account: Some(new_account(username, Plan::Free)),
        request_id: String::new(),
    }
}

async fn two_replicas(url: &str) {
    let Replicas {
        dir,
        mut a,
        mut b,
        token_file_b,
        token,
        channel_a,
        mut admin_a,
        org_id,
        mta_token,
    } = Replicas::start(url, url, "Replicas").await;
    let channel_b = b.channel().await;
    let mut admin_b = admin_client(&channel_b, &token);
    let create = |username: &str| free_user(org_id, username);
    let alice = ok(admin_a.create_user(create("alice")).await)
        .user
        .expect("user");
    let mta_a = DeliveryClient::new(&a.url(), &mta_token, TIMEOUT).expect("a client for A");
    let mta_b = DeliveryClient::new(&b.url(), &mta_token, TIMEOUT).expect("a client for B");
    let address = address_for("alice");
    let disabled = Verdict::RejectDisabled { user_id: alice.id };

    // A answers at once; B once the token and the account reach it.
    assert_eq!(mta_a.check_recipient(&address).await, deliver(&alice));
    wait_for(
        &mta_b,
        &address,
        &deliver(&alice),
        &mut b,
        "B delivers for an account created on A",
    )
    .await;

    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    assert_eq!(
        mta_a.check_recipient(&address).await,
        disabled,
        "A, which disabled the account, refuses at once"
    );
    wait_for(
        &mta_b,
        &address,
        &disabled,
        &mut b,
        "B refuses after a disable on A",
    )
    .await;

    ok(admin_b
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    assert_eq!(
        mta_b.check_recipient(&address).await,
        deliver(&alice),
        "B, which enabled the account, delivers at once"
    );
    wait_for(
        &mta_a,
        &address,
        &deliver(&alice),
        &mut a,
        "A delivers after an enable on B",
    )
    .await;

    // An alias added on B reaches A; deleting its account on A reaches B.
    let mut billing_a = pb::billing_service_client::BillingServiceClient::with_interceptor(
        channel_a.clone(),
        Bearer::token(&token),
    );
    ok(billing_a
        .top_up(pb::TopUpRequest {
            organization_id: org_id,
            amount: Some(eur("100.00")),
            idempotency_key: "replicas".into(),
            payment_reference: "test".into(),
        })
        .await);
    let carol = ok(admin_a
        .create_user(pb::CreateUserRequest {
            organization_id: org_id,
            account: Some(new_account("carol", Plan::Entry)),
            request_id: String::new(),
        })
        .await)
    .user
    .expect("user");
    ok(admin_b
        .add_alias(pb::AddAliasRequest {
            user_id: carol.id,
            address: "carol.alias@mailadmin.example".into(),
        })
        .await);
    assert_eq!(
        mta_b.check_recipient("carol.alias@mailadmin.example").await,
        deliver(&carol)
    );
    wait_for(
        &mta_a,
        "carol.alias@mailadmin.example",
        &deliver(&carol),
        &mut a,
        "A delivers to an alias added on B",
    )
    .await;
    wait_for(
        &mta_b,
        &address_for("carol"),
        &deliver(&carol),
        &mut b,
        "B delivers for an account created on A (2)",
    )
    .await;
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: carol.id })
        .await);
    ok(admin_a
        .delete_user(pb::DeleteUserRequest { user_id: carol.id })
        .await);
    assert_eq!(
        mta_a.check_recipient("carol.alias@mailadmin.example").await,
        Verdict::RejectUnknown
    );
    wait_for(
        &mta_b,
        "carol.alias@mailadmin.example",
        &Verdict::RejectUnknown,
        &mut b,
        "B refuses a deleted account's alias",
    )
    .await;

    // Tokens: alice's session token works on B; disabling alice on A
    // revokes it there too; a revoked MTA token stops working on B.
    let session = ok(
        pb::admin_service_client::AdminServiceClient::new(channel_a.clone())
            .login(pb::LoginRequest {
                login: "alice".into(),
                password: password_for("alice"),
            })
            .await,
    )
    .token;
    let mut alice_on_b = admin_client(&channel_b, &session);
    let get_alice = pb::GetUserRequest { user_id: alice.id };
    let started = Instant::now();
    loop {
        match alice_on_b.get_user(get_alice).await {
            Ok(_) => break,
            Err(status) => assert!(
                started.elapsed() < REPLICA_DEADLINE,
                "a session made on A never works on B: {status:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    let started = Instant::now();
    loop {
        match alice_on_b.get_user(get_alice).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            other => assert!(
                started.elapsed() < REPLICA_DEADLINE,
                "B still accepts a session of an account disabled on A: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "B refuses a disabled account's session after {:?}",
        started.elapsed()
    );
    ok(admin_a
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    wait_for(
        &mta_b,
        &address,
        &deliver(&alice),
        &mut b,
        "B delivers after an enable on A",
    )
    .await;

    let spare = create_delivery_token(&mut admin_a).await;
    let mut spare_on_b = pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
        channel_b.clone(),
        Bearer::token(&spare),
    );
    let ask = pb::CheckRecipientRequest {
        address: address.clone(),
    };
    let started = Instant::now();
    while let Err(status) = spare_on_b.check_recipient(ask.clone()).await {
        assert!(
            started.elapsed() < REPLICA_DEADLINE,
            "a DELIVERY token made on A never works on B: {status:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let spare_id = ok(admin_a.list_tokens(pb::ListTokensRequest::default()).await)
        .tokens
        .into_iter()
        .filter(|t| t.role == Role::Delivery as i32)
        .map(|t| t.id)
        .max()
        .expect("the DELIVERY tokens are listed");
    ok(admin_a
        .revoke_token(pb::RevokeTokenRequest { token_id: spare_id })
        .await);
    let started = Instant::now();
    loop {
        match spare_on_b.check_recipient(ask.clone()).await {
            Err(status) if status.code() == Code::Unauthenticated => break,
            other => assert!(
                started.elapsed() < REPLICA_DEADLINE,
                "B still accepts a DELIVERY token revoked on A: {other:?}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    eprintln!(
        "B refuses a token revoked on A after {:?}",
        started.elapsed()
    );

    // B dies (SIGKILL); meanwhile A disables alice and creates bob. The
    // restarted B answers from that state with its very first answers.
    b.kill().await;
    drop(admin_b);
    drop(channel_b);
    ok(admin_a
        .disable_user(pb::DisableUserRequest { user_id: alice.id })
        .await);
    let bob = ok(admin_a.create_user(create("bob")).await)
        .user
        .expect("user");
    let mut b = ServerProcess::start(url, dir.path(), &token_file_b, "b-restarted", &[]);
    let channel_b = b.channel().await;
    let mta_b = DeliveryClient::new(&b.url(), &mta_token, TIMEOUT).expect("a client for B");
    let started = Instant::now();
    assert_eq!(
        mta_b.check_recipient(&address_for("bob")).await,
        deliver(&bob),
        "the restarted B knows an account created while it was down\n{}",
        b.log_tail()
    );
    assert_eq!(
        mta_b.check_recipient(&address).await,
        disabled,
        "the restarted B knows a disable made while it was down"
    );
    assert_eq!(
        mta_b
            .authenticate("bob", &password_for("bob"), ip("192.0.2.1"))
            .await,
        allowed(&bob)
    );
    eprintln!(
        "the restarted B's first answers took {:?}",
        started.elapsed()
    );

    // And it follows A again.
    ok(admin_a
        .enable_user(pb::EnableUserRequest { user_id: alice.id })
        .await);
    wait_for(
        &mta_b,
        &address,
        &deliver(&alice),
        &mut b,
        "the restarted B delivers after an enable on A",
    )
    .await;

    drop(channel_b);
    drop(channel_a);
    b.kill().await;
    a.kill().await;
}
