//! 10,000 connections at once (docs/rules.md, "Time limits"). The server
//! binary is flooded with [`CONNECTIONS`] TCP connections, all open at the
//! same time: most say nothing, some send the HTTP/2 preface and settings
//! and stop there, and [`HTTP2_CLIENTS`] are real gRPC clients that each make
//! a call. While they are all open the server still answers a recipient
//! check and an admin call; once they are dropped, its open files (one per
//! connection) come back to what they were, and it answers reads and
//! writes as before. The test raises its own limit on open files, which
//! the server inherits (and raises to its hard limit by itself).

use super::*;
use futures::StreamExt as _;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tonic::transport::Endpoint;

const CONNECTIONS: usize = 10_000;
const HTTP2_CLIENTS: usize = 200;
/// Connections being opened at any moment.
const CONCURRENT_CONNECTS: usize = 256;
const DEADLINE: Duration = Duration::from_secs(60);

/// An HTTP/2 client preface and an empty SETTINGS frame.
pub(super) const PREFACE_AND_SETTINGS: &[u8] =
    b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x00\x04\x00\x00\x00\x00\x00";

/// The number of files the process has open (sockets included).
pub(super) fn open_files(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|entries| entries.count())
        .unwrap_or_else(|e| panic!("reading /proc/{pid}/fd: {e}"))
}

/// The process's soft limit on open files, from `/proc/<pid>/limits`.
fn open_files_limit(pid: u32) -> u64 {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).expect("limits");
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .expect("a Max open files line");
    line["Max open files".len()..]
        .split_whitespace()
        .next()
        .and_then(|soft| soft.parse().ok())
        .unwrap_or(u64::MAX)
}

/// A recipient check and an admin call, each answered within 10 s.
async fn answers(c: &Clients, delivery: &DeliveryPbClient, address: &str) -> Result<(), String> {
    match verdict(delivery, address, Duration::from_secs(10)).await? {
        pb::Verdict::Deliver => {}
        other => return Err(format!("verdict {other:?}")),
    }
    let mut request = tonic::Request::new(pb::ListOrganizationsRequest::default());
    request.set_timeout(Duration::from_secs(10));
    c.admin
        .clone()
        .list_organizations(request)
        .await
        .map_err(|s| format!("ListOrganizations: {:?} {}", s.code(), s.message()))?;
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_connections_come_and_go() {
    // This process holds one end of every connection, the server (its own
    // process) the other: each needs room for them all.
    let limit = raise_open_files(CONNECTIONS as u64 + 8192);
    assert!(
        limit >= CONNECTIONS as u64 + 2048,
        "the open files limit ({limit}) leaves no room for {CONNECTIONS} connections"
    );
    // Idle connections must outlive the flood: the preface deadline is not under test here.
    let Some(mut up) =
        start_with_organization("Flood", "flood", &["--handshake-timeout-ms", "300000"]).await
    else {
        return;
    };
    let (mut c, created) = (up.operator.clone(), up.organization.clone());
    let (server, channel) = (&mut up.server, up.channel.clone());
    let org = created.organization.expect("organization").id;
    let address = created.master.expect("master").primary_address;
    let delivery_token = create_delivery_token(&mut c.admin).await;
    let delivery = Clients::new(&channel, &delivery_token).delivery;
    answers(&c, &delivery, &address)
        .await
        .expect("answers before the flood");
    let pid = server.pid();
    assert!(
        open_files_limit(pid) > CONNECTIONS as u64 + 1024,
        "the server may hold every connection: its limit is {}",
        open_files_limit(pid)
    );
    let baseline = open_files(pid);

    // The flood: every connection opened, none closed.
    let addr = server.addr;
    let raw = CONNECTIONS - HTTP2_CLIENTS;
    let started = Instant::now();
    let opened: Vec<Result<TcpStream, String>> = futures::stream::iter(0..raw)
        .map(|i| async move {
            let mut stream = tokio::time::timeout(DEADLINE, TcpStream::connect(addr))
                .await
                .map_err(|_| format!("connection {i}: no answer within {DEADLINE:?}"))?
                .map_err(|e| format!("connection {i}: {e}"))?;
            if i % 4 == 0 {
                stream
                    .write_all(PREFACE_AND_SETTINGS)
                    .await
                    .map_err(|e| format!("connection {i}: {e}"))?;
            }
            Ok(stream)
        })
        .buffer_unordered(CONCURRENT_CONNECTS)
        .collect()
        .await;
    let failures: Vec<&String> = opened.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(
        failures.is_empty(),
        "{} of {raw} connections failed, e.g. {:?}\n{}",
        failures.len(),
        failures.first(),
        server.log_tail()
    );
    let url = server.url();
    let clients: Vec<Result<Channel, String>> = futures::stream::iter(0..HTTP2_CLIENTS)
        .map(|i| {
            let url = url.clone();
            let token = delivery_token.clone();
            let address = address.clone();
            async move {
                let channel = Endpoint::from_shared(url)
                    .expect("endpoint")
                    .connect_timeout(DEADLINE)
                    .connect()
                    .await
                    .map_err(|e| format!("client {i}: {e}"))?;
                let delivery = Clients::new(&channel, &token).delivery;
                verdict(&delivery, &address, DEADLINE)
                    .await
                    .map_err(|e| format!("client {i}: {e}"))?;
                Ok(channel)
            }
        })
        .buffer_unordered(CONCURRENT_CONNECTS)
        .collect()
        .await;
    let failures: Vec<&String> = clients.iter().filter_map(|r| r.as_ref().err()).collect();
    assert!(failures.is_empty(), "gRPC clients failed: {failures:?}");
    eprintln!(
        "{CONNECTIONS} connections open after {:?}",
        started.elapsed()
    );

    // All open at once, held by the server; it still answers.
    server.assert_running();
    eventually(
        "the server holds every connection",
        DEADLINE,
        Duration::from_millis(100),
        || async {
            let open = open_files(pid);
            if open >= baseline + CONNECTIONS {
                Ok(())
            } else {
                Err(format!("{open} open files (baseline {baseline})"))
            }
        },
    )
    .await;
    answers(&c, &delivery, &address)
        .await
        .expect("answers with 10,000 connections open");

    // All dropped: the server lets go of every one.
    drop(opened);
    drop(clients);
    let settled = eventually(
        "the server closes the dropped connections",
        DEADLINE,
        Duration::from_millis(100),
        || async {
            let open = open_files(pid);
            if open <= baseline + 16 {
                Ok(open)
            } else {
                Err(format!("{open} open files (baseline {baseline})"))
            }
        },
    )
    .await;
    eprintln!("open files: {baseline} before, {settled} after the flood");
    server.assert_running();
    answers(&c, &delivery, &address)
        .await
        .expect("answers after the flood");
    ok(c.billing
        .top_up(top_up_request(
            org,
            1234,
            "after-flood",
            Duration::from_secs(10),
        ))
        .await);
    assert_ledger_balances(&c.billing, org).await;
    server.kill().await;
    up.database.drop_database().await;
}
