//! The `mailadmin-bridge` binary as an operator runs it: `--check` says
//! which replicas answer (exit 0 or 1), and a bridge given a dead replica
//! before the live one serves Postfix as if the dead one were not there.

use super::edges::lookup;
use super::postfix::free_port;
use super::*;
use crate::harness::*;
use std::process::Stdio;

fn token_file(dir: &tempfile::TempDir, token: &str) -> std::path::PathBuf {
    let path = dir.path().join("delivery.token");
    std::fs::write(&path, format!("{token}\n")).expect("writing the token file");
    path
}

/// `--check`: 0 and one "ok" line per replica when all answer; 1 and the
/// silent replica named when one does not.
async fn check_names_every_replica(s: &TestServer) {
    let bridge = client_binary("mailadmin-bridge").await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(&dir, &s.delivery_token().await);
    let live = format!("http://{}", s.addr);
    let check = |servers: String| {
        let bridge = bridge.clone();
        let token = token.clone();
        async move {
            tokio::process::Command::new(&bridge)
                .arg("--server")
                .arg(servers)
                .arg("--token-file")
                .arg(&token)
                .args(["--timeout-ms", "3000", "--check"])
                .env_remove("MAILADMIN_BRIDGE_SERVER")
                .output()
                .await
                .expect("running mailadmin-bridge --check")
        }
    };

    let all_up = check(live.clone()).await;
    let stdout = String::from_utf8_lossy(&all_up.stdout);
    assert!(all_up.status.success(), "{all_up:?}");
    assert!(stdout.contains(&format!("ok: {live} answers")), "{stdout}");

    let one_down = check(format!("{live},{DEAD_SERVER}")).await;
    let stdout = String::from_utf8_lossy(&one_down.stdout);
    let stderr = String::from_utf8_lossy(&one_down.stderr);
    assert_eq!(one_down.status.code(), Some(1), "{one_down:?}");
    assert!(stdout.contains(&format!("ok: {live} answers")), "{stdout}");
    assert!(
        stdout.contains(&format!("FAILED: {DEAD_SERVER} does not answer")),
        "{stdout}"
    );
    assert!(stderr.contains(DEAD_SERVER), "{stderr}");
}

/// A bridge started with a dead replica first answers every lookup from
/// the live one, and logs the dead one as down.
async fn a_dead_replica_does_not_reach_postfix(s: &TestServer) {
    let bridge = client_binary("mailadmin-bridge").await;
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(&dir, &s.delivery_token().await);
    let port = free_port();
    let log = dir.path().join("bridge.log");
    let mut child = tokio::process::Command::new(&bridge)
        .arg("--server")
        .arg(format!("{DEAD_SERVER},http://{}", s.addr))
        .arg("--token-file")
        .arg(&token)
        .arg("--socketmap")
        .arg(format!("inet:127.0.0.1:{port}"))
        .args(["--cache-ttl-ms", "0"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .expect("starting mailadmin-bridge");
    let addr: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
    let mut listening = false;
    for _ in 0..200 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            listening = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(
        listening,
        "the bridge never listened: {}",
        std::fs::read_to_string(&log).unwrap_or_default()
    );

    for _ in 0..5 {
        assert_eq!(
            lookup(addr, "mailboxes postmaster@mailadmin.example").await,
            "NOTFOUND "
        );
        assert_eq!(
            lookup(addr, "domains mailadmin.example").await,
            "OK mailadmin.example"
        );
    }
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    let log = std::fs::read_to_string(&log).unwrap();
    assert!(
        log.contains("control-plane replica down") && log.contains(DEAD_SERVER),
        "{log}"
    );
}

backend_tests!(
    check_names_every_replica,
    a_dead_replica_does_not_reach_postfix
);
