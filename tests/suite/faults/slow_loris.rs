//! Clients that hold connections and streams without finishing them must
//! not starve the others (docs/rules.md, "Time limits"). The server binary
//! runs with short connection limits; at the same time:
//!
//! - [`SILENT`] connections say nothing and [`TRICKLING`] send the HTTP/2
//!   preface one byte at a time: each is closed by the server once the
//!   handshake timeout passes without a complete preface;
//! - [`STALLED`] connections send the preface and settings, then trickle
//!   the bytes of a frame they never finish and never answer a ping: each
//!   is closed once a keepalive ping goes unanswered;
//! - [`HOARDERS`] gRPC clients each try to open more streams
//!   (`WatchDirectoryVersion`, which stay open) than the per-connection
//!   limit: exactly that many are served on each connection, the rest wait;
//!
//! and meanwhile a normal client, on connections of its own, gets every
//! recipient check and admin call answered within its deadline. Once the
//! attackers are gone the server holds no more connections than before.

use super::connection_flood::{PREFACE_AND_SETTINGS, open_files};
use super::*;
use futures::StreamExt as _;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tonic::transport::Endpoint;

const SILENT: usize = 200;
const TRICKLING: usize = 100;
const STALLED: usize = 100;
const HOARDERS: usize = 4;
/// `--http2-max-concurrent-streams` in this test.
const MAX_STREAMS: usize = 50;
/// Streams each hoarder asks for.
const HOARDED: usize = MAX_STREAMS + 10;
const TRICKLE_PAUSE: Duration = Duration::from_millis(300);
/// How long an attacker connection may survive: the limits under test are
/// 1 s; the rest is room for a loaded machine.
const CLOSE_DEADLINE: Duration = Duration::from_secs(20);
const SERVER_FLAGS: &[&str] = &[
    "--handshake-timeout-ms",
    "1000",
    "--http2-keepalive-interval-seconds",
    "1",
    "--http2-keepalive-timeout-seconds",
    "1",
    "--http2-max-concurrent-streams",
    "50",
];

/// Writes `script` one byte every [`TRICKLE_PAUSE`] (then keeps trickling
/// `filler`), reading and discarding what the server sends, until the
/// server closes the connection; returns how long that took, or `Err` if
/// it is still open after [`CLOSE_DEADLINE`].
async fn trickle(
    mut stream: TcpStream,
    script: Vec<u8>,
    filler: Option<u8>,
) -> Result<Duration, String> {
    let started = Instant::now();
    let mut next = 0;
    let mut buf = [0u8; 4096];
    let mut ticks = tokio::time::interval(TRICKLE_PAUSE);
    loop {
        if started.elapsed() > CLOSE_DEADLINE {
            return Err(format!("still open after {CLOSE_DEADLINE:?}"));
        }
        tokio::select! {
            read = stream.read(&mut buf) => match read {
                Ok(0) | Err(_) => return Ok(started.elapsed()),
                Ok(_) => {}
            },
            _ = ticks.tick() => {
                let byte = script.get(next).copied().or(filler);
                next += 1;
                if let Some(byte) = byte
                    && stream.write_all(&[byte]).await.is_err()
                {
                    return Ok(started.elapsed());
                }
            }
        }
    }
}

/// Opens [`HOARDED`] `WatchDirectoryVersion` streams on one connection and
/// keeps those that start; returns how many started, and the open streams.
async fn hoard(url: String, token: String) -> (usize, Vec<tonic::Streaming<pb::DirectoryVersion>>) {
    let channel = Endpoint::from_shared(url)
        .expect("endpoint")
        .connect()
        .await
        .expect("a hoarder connects");
    let delivery = Clients::new(&channel, &token).delivery;
    let opened: Vec<_> = futures::stream::iter(0..HOARDED)
        .map(|_| {
            let mut delivery = delivery.clone();
            async move {
                let call = async {
                    let mut stream = delivery
                        .watch_directory_version(pb::WatchDirectoryVersionRequest {})
                        .await?
                        .into_inner();
                    stream.message().await?;
                    Ok::<_, tonic::Status>(stream)
                };
                // A stream past the limit waits in the client for one to end.
                tokio::time::timeout(Duration::from_secs(10), call).await
            }
        })
        .buffer_unordered(HOARDED)
        .collect()
        .await;
    let streams: Vec<_> = opened
        .into_iter()
        .filter_map(|r| r.ok().and_then(|r| r.ok()))
        .collect();
    (streams.len(), streams)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unfinished_connections_and_streams_do_not_starve_others() {
    let Some(mut up) = start_with_organization("Loris", "loris", SERVER_FLAGS).await else {
        return;
    };
    let (mut c, created) = (up.operator.clone(), up.organization.clone());
    let (server, channel) = (&mut up.server, up.channel.clone());
    let token = up.operator_token.clone();
    let address = created.master.expect("master").primary_address;
    let delivery_token = create_delivery_token(&mut c.admin).await;
    let pid = server.pid();
    let baseline = open_files(pid);
    drop(channel);
    let addr = server.addr;

    // The attackers.
    let mut closers = Vec::new();
    for i in 0..SILENT + TRICKLING + STALLED {
        let stream = TcpStream::connect(addr)
            .await
            .expect("an attacker connects");
        let (script, filler) = if i < SILENT {
            (Vec::new(), None)
        } else if i < SILENT + TRICKLING {
            (PREFACE_AND_SETTINGS[..24].to_vec(), None)
        } else {
            // After the preface and settings: a HEADERS frame of 16 KiB on
            // stream 1 whose bytes come three a second.
            (
                vec![0x00, 0x40, 0x00, 0x01, 0x04, 0x00, 0x00, 0x00, 0x01],
                Some(0),
            )
        };
        let stalled = i >= SILENT + TRICKLING;
        closers.push(tokio::spawn(async move {
            let mut stream = stream;
            if stalled {
                stream
                    .write_all(PREFACE_AND_SETTINGS)
                    .await
                    .map_err(|e| format!("writing the preface: {e}"))?;
            }
            trickle(stream, script, filler).await
        }));
    }
    let hoarders: Vec<_> = (0..HOARDERS)
        .map(|_| tokio::spawn(hoard(server.url(), delivery_token.clone())))
        .collect();

    // A normal client, each time on a new connection, meanwhile.
    let started = Instant::now();
    let mut probes = 0;
    while started.elapsed() < Duration::from_secs(4) || probes < 10 {
        let probe_started = Instant::now();
        let channel = Endpoint::from_shared(server.url())
            .expect("endpoint")
            .connect_timeout(Duration::from_secs(5))
            .connect()
            .await
            .unwrap_or_else(|e| panic!("a normal client cannot connect: {e}"));
        let delivery = Clients::new(&channel, &delivery_token).delivery;
        assert_eq!(
            verdict(&delivery, &address, Duration::from_secs(5)).await,
            Ok(pb::Verdict::Deliver),
            "a normal client's recipient check under attack"
        );
        let mut admin = Clients::new(&channel, &token).admin;
        let mut request = tonic::Request::new(pb::ListOrganizationsRequest::default());
        request.set_timeout(Duration::from_secs(5));
        ok(admin.list_organizations(request).await);
        assert!(
            probe_started.elapsed() < Duration::from_secs(10),
            "a normal client answered within its deadline: {:?}",
            probe_started.elapsed()
        );
        probes += 1;
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(probes < 1000);
    }

    // Each hoarder got exactly the per-connection limit.
    let mut held = Vec::new();
    for hoarder in hoarders {
        let (started, streams) = hoarder.await.expect("a hoarder task");
        assert_eq!(
            started, MAX_STREAMS,
            "streams served on one connection (limit {MAX_STREAMS})"
        );
        held.push(streams);
    }
    // Every unfinished connection was closed by the server.
    let mut lifetimes = Vec::new();
    for (i, closer) in closers.into_iter().enumerate() {
        let lifetime = closer
            .await
            .expect("an attacker task")
            .unwrap_or_else(|e| panic!("attacker {i}: {e}\n{}", server.log_tail()));
        lifetimes.push(lifetime);
    }
    eprintln!(
        "{probes} normal probes answered; attackers closed after at most {:?}",
        lifetimes.iter().max()
    );

    // Gone: the server holds what it held before.
    drop(held);
    let baseline_bound = baseline + 8;
    eventually(
        "the server lets go of the attackers' connections",
        Duration::from_secs(30),
        Duration::from_millis(100),
        || async {
            let open = open_files(pid);
            if open <= baseline_bound {
                Ok(())
            } else {
                Err(format!("{open} open files"))
            }
        },
    )
    .await;
    server.assert_running();
    server.kill().await;
    up.database.drop_database().await;
}
