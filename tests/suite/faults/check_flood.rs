//! A flood of recipient checks must not stop logins (docs/rules.md,
//! "Hashing"). The server binary runs with `--hashing-priority idle`, the
//! setting that gives password hashing the least CPU: its hashing threads
//! are `SCHED_IDLE`, and while more callers than there are cores check
//! recipients as fast as answers come, a mail client's logins (right and
//! wrong passwords) are still answered, and answered correctly, within
//! their deadline. The flood runs until the last login has its answer, and
//! every check it made delivered.

use super::*;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Callers checking recipients at once: more than the machine has cores,
/// so the checks alone could keep every core busy.
const FLOODERS: usize = 16;
/// Logins made one after another under the flood.
const LOGINS: usize = 6;
/// What one login may take: a hash that only gets the CPU the checks leave
/// over, on a machine that also runs the rest of the test suite.
const LOGIN_DEADLINE: Duration = Duration::from_secs(120);
/// `SCHED_IDLE` in `/proc/<pid>/task/<tid>/stat`.
const SCHED_IDLE: u64 = 5;

/// The name and scheduling policy of each of the process's threads named
/// `argon2-*` (the hashing threads), from `/proc`.
fn hashing_threads(pid: u32) -> Vec<(String, u64)> {
    let tasks = std::fs::read_dir(format!("/proc/{pid}/task")).expect("the server's threads");
    let mut threads = Vec::new();
    for task in tasks {
        let path = task.expect("a thread").path();
        let Ok(name) = std::fs::read_to_string(path.join("comm")) else {
            continue; // the thread ended meanwhile
        };
        let name = name.trim().to_string();
        if !name.starts_with("argon2-") {
            continue;
        }
        let stat = std::fs::read_to_string(path.join("stat")).expect("the thread's stat");
        // Fields after the parenthesized name start at field 3 (state);
        // the policy is field 41 (proc(5)).
        let fields: Vec<&str> = stat[stat.rfind(')').expect("stat has a name") + 2..]
            .split_whitespace()
            .collect();
        let policy = fields[41 - 3].parse().expect("policy");
        threads.push((name, policy));
    }
    threads
}

/// Authenticate as the mail server would, within [`LOGIN_DEADLINE`]:
/// whether `password` was allowed for `login`.
async fn authenticate(
    delivery: &DeliveryPbClient,
    login: &str,
    password: String,
    client_ip: String,
) -> bool {
    let mut request = tonic::Request::new(pb::AuthenticateRequest {
        login: login.to_string(),
        password,
        client_ip,
    });
    request.set_timeout(LOGIN_DEADLINE);
    ok(delivery.clone().authenticate(request).await).allowed
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logins_finish_under_a_flood_of_checks_with_idle_hashing() {
    // Creating the master hashes its password: the hashing threads start.
    let Some(mut up) =
        start_with_organization("Flood", "flood", &["--hashing-priority", "idle"]).await
    else {
        return;
    };
    let (mut operator, organization) = (up.operator.clone(), up.organization.clone());
    let (server, channel) = (&mut up.server, up.channel.clone());
    let login = organization.master.expect("master").primary_address;
    let password = password_for("flood-admin");
    let delivery_token = create_delivery_token(&mut operator.admin).await;
    let delivery = Clients::new(&channel, &delivery_token).delivery;

    let threads = hashing_threads(server.pid());
    assert!(!threads.is_empty(), "no hashing thread in the server");
    for (name, policy) in &threads {
        assert_eq!(*policy, SCHED_IDLE, "{name} runs at policy {policy}");
    }

    // The flood, each caller on a connection of its own.
    let flooding = Arc::new(AtomicBool::new(true));
    let checked = Arc::new(AtomicU64::new(0));
    let mut flooders = Vec::new();
    for _ in 0..FLOODERS {
        let channel = server.channel().await;
        let delivery = Clients::new(&channel, &delivery_token).delivery;
        let (flooding, checked, address) = (flooding.clone(), checked.clone(), login.clone());
        flooders.push(tokio::spawn(async move {
            while flooding.load(Ordering::Relaxed) {
                let answer = verdict(&delivery, &address, Duration::from_secs(30)).await;
                assert_eq!(answer, Ok(pb::Verdict::Deliver), "a check in the flood");
                checked.fetch_add(1, Ordering::Relaxed);
            }
        }));
    }
    eventually(
        "the flood is under way",
        Duration::from_secs(30),
        Duration::from_millis(10),
        || async {
            match checked.load(Ordering::Relaxed) {
                n if n >= 1000 => Ok(()),
                n => Err(format!("{n} checks")),
            }
        },
    )
    .await;

    // Logins under the flood: every other one with a wrong password, each
    // from an address of its own (three failures stay under every limit).
    let started = Instant::now();
    for i in 0..LOGINS {
        let right = i % 2 == 0;
        let attempt = if right {
            password.clone()
        } else {
            format!("wrong {i}")
        };
        let allowed = authenticate(&delivery, &login, attempt, format!("192.0.2.{}", i + 1)).await;
        assert_eq!(allowed, right, "login {i} (right password: {right})");
        assert!(
            flooding.load(Ordering::Relaxed) && flooders.iter().all(|f| !f.is_finished()),
            "the flood stopped before login {i} was answered"
        );
    }
    let took = started.elapsed();
    let during = checked.load(Ordering::Relaxed);
    flooding.store(false, Ordering::Relaxed);
    for flooder in flooders {
        flooder.await.expect("a flooder (every check delivered)");
    }
    eprintln!("{LOGINS} logins under the flood in {took:?}; {during} checks by then");

    server.assert_running();
    server.kill().await;
    up.database.drop_database().await;
}
