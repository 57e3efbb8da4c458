//! The socketmap server on raw sockets, as a broken or busy client would
//! use it: bad framing, an oversized length, a connection closed
//! mid-request, 1,000 pipelined requests, many connections at once. The
//! bridge answers or hangs up on the offender, and the next well-formed
//! request gets its answer.

use super::*;
use crate::harness::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

fn netstring(payload: &str) -> Vec<u8> {
    format!("{}:{payload},", payload.len()).into_bytes()
}

/// Reads one netstring reply; `None` when the bridge closed the connection.
async fn reply<R: tokio::io::AsyncBufRead + Unpin>(reader: &mut R) -> Option<String> {
    mailadmin_client::bridge::netstring::read(reader)
        .await
        .expect("a well-formed reply")
        .map(|bytes| String::from_utf8(bytes).expect("UTF-8"))
}

/// A lookup on a fresh connection.
pub(super) async fn lookup(addr: SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    stream.write_all(&netstring(request)).await.unwrap();
    let mut reader = BufReader::new(stream);
    reply(&mut reader).await.expect("a reply")
}

/// Sends `bytes` on a fresh connection; the bridge's answer before it
/// hung up (if any), read until the end of the connection.
async fn send_raw(addr: SocketAddr, bytes: &[u8], then_close: bool) -> String {
    let mut stream = TcpStream::connect(addr).await.expect("connecting");
    stream.write_all(bytes).await.unwrap();
    if then_close {
        stream.shutdown().await.unwrap();
    }
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer))
        .await
        .expect("the bridge hangs up on a bad request")
        .unwrap_or_default();
    String::from_utf8_lossy(&answer).into_owned()
}

const ALICE: &str = "alice@mailadmin.example";
const ALICE_BOX: &str = "OK mailadmin.example/alice/";

async fn bad_requests_do_not_hurt_the_next(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let well_formed = format!("mailboxes {ALICE}");
    assert_eq!(lookup(bridge.addr, &well_formed).await, ALICE_BOX);

    let cases: Vec<(&str, Vec<u8>, bool, &str)> = vec![
        (
            "a non-digit length",
            b"abc:mailboxes x,".to_vec(),
            false,
            "malformed netstring length",
        ),
        ("no terminator", b"3:abc;".to_vec(), false, "not terminated"),
        (
            "a length over the limit",
            b"100001:".to_vec(),
            true,
            "100000-byte limit",
        ),
        (
            "a whole request over the limit",
            oversized(),
            false,
            "100000-byte limit",
        ),
        (
            "a seven-digit length",
            b"1000000:".to_vec(),
            false,
            "malformed netstring length",
        ),
        (
            "closed mid-request",
            b"30:mailboxes alice@mail".to_vec(),
            true,
            "",
        ),
        ("closed mid-length", b"12".to_vec(), true, ""),
        (
            "not UTF-8",
            netstring_bytes(b"mailboxes \xff\xfe"),
            true,
            "PERM request is not UTF-8",
        ),
        (
            "no key",
            netstring("mailboxes").to_vec(),
            true,
            "PERM expected",
        ),
    ];
    let mut failures = Vec::new();
    for (what, bytes, close, expected) in cases {
        let answer = send_raw(bridge.addr, &bytes, close).await;
        if !answer.contains(expected) {
            failures.push(format!("{what}: expected {expected:?} in {answer:?}"));
        }
        let next = lookup(bridge.addr, &well_formed).await;
        if next != ALICE_BOX {
            failures.push(format!("after {what}: {next:?}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// A well-framed request one byte over the limit, sent whole: the bridge
/// reads it to its end before it answers, so the sender is not cut off
/// mid-write and sees why.
fn oversized() -> Vec<u8> {
    netstring(&format!(
        "mailboxes {}",
        "a".repeat(100_001 - "mailboxes ".len())
    ))
}

fn netstring_bytes(payload: &[u8]) -> Vec<u8> {
    let mut framed = format!("{}:", payload.len()).into_bytes();
    framed.extend_from_slice(payload);
    framed.push(b',');
    framed
}

/// 1,000 requests written at once on one connection: 1,000 replies, in
/// order.
async fn pipelined_requests_answer_in_order(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let requests: Vec<String> = (0..1000)
        .map(|i| match i % 2 {
            0 => format!("mailboxes alice+{i}@mailadmin.example"),
            _ => format!("mailboxes nobody{i}@mailadmin.example"),
        })
        .collect();
    let (reader, mut writer) = TcpStream::connect(bridge.addr).await.unwrap().into_split();
    let all: Vec<u8> = requests.iter().flat_map(|r| netstring(r)).collect();
    let send = tokio::spawn(async move {
        writer.write_all(&all).await.unwrap();
        writer
    });
    let mut reader = BufReader::new(reader);
    for (i, request) in requests.iter().enumerate() {
        let expected = if i % 2 == 0 { ALICE_BOX } else { "NOTFOUND " };
        let got = reply(&mut reader).await.expect("a reply");
        assert_eq!(got, expected, "reply {i} to {request:?}");
    }
    send.await.unwrap();
}

/// 200 connections at once, 5 lookups each.
async fn many_connections_at_once(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let addr = bridge.addr;
    let clients: Vec<_> = (0..200)
        .map(|_| {
            tokio::spawn(async move {
                let stream = TcpStream::connect(addr).await.expect("connecting");
                let (reader, mut writer) = stream.into_split();
                let mut reader = BufReader::new(reader);
                for _ in 0..5 {
                    writer
                        .write_all(&netstring(&format!("mailboxes {ALICE}")))
                        .await
                        .unwrap();
                    assert_eq!(reply(&mut reader).await.as_deref(), Some(ALICE_BOX));
                }
            })
        })
        .collect();
    for client in clients {
        client.await.expect("every connection answered");
    }
}

backend_tests!(
    bad_requests_do_not_hurt_the_next,
    pipelined_requests_answer_in_order,
    many_connections_at_once,
);
