//! Many recipients at once: CheckRecipients and its batch limit, and
//! StreamCheckRecipients answering batch after batch.

use super::{AliceAndBob, deliver};
use crate::harness::*;
use mailadmin_client::{Verdict, pb};

/// CheckRecipients answers in order (docs/rules.md, "Batches"), a
/// malformed address getting
/// REJECT_INVALID (501 5.1.3) without failing the batch; 1000 addresses
/// pass, 1001 are INVALID_ARGUMENT; a stream answers each batch in order,
/// and sees a change made between two batches.
async fn batches_and_streams(s: &TestServer) {
    let AliceAndBob {
        org,
        alice,
        bob,
        mta,
    } = AliceAndBob::start(s).await;

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
    org.disable(bob.id).await;
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

backend_tests!(batches_and_streams);
