//! The socketmap tables, asked by Postfix's own `postmap -q` (docs/rules.md,
//! "Mail-server bridge"): each map answers as `CheckRecipient` resolves,
//! Unicode and A-label keys alike, many lookups on one connection, and a
//! control plane that cannot answer is a temporary error, never "not
//! found".

use super::*;
use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_client::bridge::maps::mailbox_location;
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::AsyncWriteExt;

/// What `postmap -q` reported.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Answer {
    Found(String),
    NotFound,
    /// The server said TEMP (Postfix defers).
    Temporary(String),
    /// Anything else (PERM, a broken connection).
    Failed(String),
}

fn found(value: &str) -> Answer {
    Answer::Found(value.to_string())
}

/// Postfix's `postmap`, with an empty configuration directory of its own
/// (defaults are all a socketmap lookup needs).
struct Postmap {
    program: PathBuf,
    config: tempfile::TempDir,
}

impl Postmap {
    /// `None` when Postfix is not installed (the test is skipped with a
    /// message); under `CI` that is a failure.
    fn find() -> Option<Postmap> {
        let program = ["/usr/sbin/postmap", "/usr/bin/postmap"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists());
        let Some(program) = program else {
            skip_or_fail("postmap (Postfix) is not installed: apt-get install postfix");
            return None;
        };
        let config = tempfile::tempdir().expect("a configuration directory");
        std::fs::write(config.path().join("main.cf"), "").expect("an empty main.cf");
        Some(Postmap { program, config })
    }

    fn command(&self, table: &str, key: &str) -> tokio::process::Command {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .arg("-c")
            .arg(self.config.path())
            .args(["-q", key, table])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        command
    }

    /// `postmap -q KEY socketmap:inet:ADDR:MAP`.
    async fn query(&self, addr: SocketAddr, map: &str, key: &str) -> Answer {
        let table = format!("socketmap:inet:{addr}:{map}");
        let output = self
            .command(&table, key)
            .output()
            .await
            .expect("running postmap");
        let stdout = String::from_utf8_lossy(&output.stdout)
            .trim_end()
            .to_string();
        let stderr = String::from_utf8_lossy(&output.stderr).to_string();
        if output.status.success() {
            return Answer::Found(stdout);
        }
        if stderr.trim().is_empty() {
            return Answer::NotFound;
        }
        match stderr.split_once("socketmap server temporary error: ") {
            Some((_, reason)) => Answer::Temporary(reason.lines().next().unwrap_or("").into()),
            None => Answer::Failed(stderr),
        }
    }

    /// `postmap -q - TABLE` with `keys` on standard input: one connection,
    /// one lookup per key. The found ones, as `key → value`.
    async fn query_all(
        &self,
        addr: SocketAddr,
        map: &str,
        keys: &[String],
    ) -> Vec<(String, String)> {
        let table = format!("socketmap:inet:{addr}:{map}");
        let mut child = self.command(&table, "-").spawn().expect("running postmap");
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(keys.join("\n").as_bytes()).await.unwrap();
        stdin.write_all(b"\n").await.unwrap();
        drop(stdin);
        let output = child.wait_with_output().await.expect("postmap's output");
        assert!(
            output.stderr.is_empty(),
            "postmap -q -: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout)
            .lines()
            .map(|line| {
                let (key, value) = line.split_once('\t').expect("key<TAB>value");
                (key.to_string(), value.to_string())
            })
            .collect()
    }
}

/// Every map, every kind of key, one `postmap -q` each.
async fn every_map_answers_as_check_recipient(s: &TestServer, dns: &TestDns) {
    let Some(postmap) = Postmap::find() else {
        return;
    };
    let acme = Acme::create(s, dns).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let alice = acme.alice.primary_address.as_str();
    let master = acme.master.primary_address.as_str();
    let alice_box = "mailadmin.example/alice/";
    let master_box = mailbox_location(master);
    let hans_box = "xn--bcher-kva.example/hans/";
    assert_eq!(acme.hans.primary_address, "hans@xn--bcher-kva.example");
    let unknown = found("550 5.1.1 mailbox unavailable: no such user here");
    let disabled = found("550 5.2.1 mailbox disabled, not accepting messages");

    let cases: Vec<(&str, &str, Answer)> = vec![
        // virtual_mailbox_domains: provider and ACTIVE custom domains.
        ("domains", "mailadmin.example", found("mailadmin.example")),
        ("domains", "acme.example", found("acme.example")),
        (
            "domains",
            "xn--bcher-kva.example",
            found("xn--bcher-kva.example"),
        ),
        ("domains", "bücher.example", found("bücher.example")),
        ("domains", "elsewhere.example", Answer::NotFound),
        ("domains", "later.example", Answer::NotFound),
        ("domains", "alice@mailadmin.example", Answer::NotFound),
        // virtual_mailbox_maps: whatever delivers to an enabled account.
        ("mailboxes", alice, found(alice_box)),
        ("mailboxes", "sales@acme.example", found(alice_box)),
        (
            "mailboxes",
            "alice+news@mailadmin.example",
            found(alice_box),
        ),
        ("mailboxes", "postmaster@acme.example", found(&master_box)),
        ("mailboxes", "hans@xn--bcher-kva.example", found(hans_box)),
        ("mailboxes", "hans@bücher.example", found(hans_box)),
        ("mailboxes", "nobody@acme.example", Answer::NotFound),
        ("mailboxes", "carol@mailadmin.example", Answer::NotFound),
        ("mailboxes", "someone@elsewhere.example", Answer::NotFound),
        ("mailboxes", "dave@later.example", Answer::NotFound),
        ("mailboxes", "postmaster@later.example", Answer::NotFound),
        // Postfix's partial keys are not addresses.
        ("mailboxes", "@acme.example", Answer::NotFound),
        ("mailboxes", "alice", Answer::NotFound),
        // virtual_alias_maps: other names of an account → its primary.
        ("aliases", "sales@acme.example", found(alice)),
        ("aliases", "sales+q1@acme.example", found(alice)),
        ("aliases", "postmaster@acme.example", found(master)),
        ("aliases", "abuse@bücher.example", found(master)),
        ("aliases", alice, Answer::NotFound),
        ("aliases", "alice+news@mailadmin.example", Answer::NotFound),
        ("aliases", "hans@bücher.example", Answer::NotFound),
        ("aliases", "hans@xn--bcher-kva.example", Answer::NotFound),
        ("aliases", "nobody@acme.example", Answer::NotFound),
        // check_recipient_access: the control plane's refusals.
        ("recipient_access", "nobody@acme.example", unknown.clone()),
        ("recipient_access", "nobody@bücher.example", unknown.clone()),
        (
            "recipient_access",
            "carol@mailadmin.example",
            disabled.clone(),
        ),
        ("recipient_access", "carol+x@mailadmin.example", disabled),
        ("recipient_access", alice, found("DUNNO")),
        (
            "recipient_access",
            "someone@elsewhere.example",
            found("DUNNO"),
        ),
        ("recipient_access", "acme.example", Answer::NotFound),
        // smtpd_sender_login_maps: the login that may send as an address.
        ("senders", alice, found(alice)),
        ("senders", "sales@acme.example", found(alice)),
        (
            "senders",
            "hans@bücher.example",
            found("hans@xn--bcher-kva.example"),
        ),
        ("senders", "postmaster@acme.example", Answer::NotFound),
        ("senders", "alice+news@mailadmin.example", Answer::NotFound),
        ("senders", "nobody@acme.example", Answer::NotFound),
        ("senders", "carol@mailadmin.example", Answer::NotFound),
    ];
    let mut failures = Vec::new();
    for (map, key, expected) in &cases {
        let got = postmap.query(bridge.addr, map, key).await;
        if &got != expected {
            failures.push(format!("{map} {key:?}: expected {expected:?}, got {got:?}"));
        }
    }
    // A map that does not exist is a permanent error, not "not found".
    match postmap.query(bridge.addr, "nosuch", alice).await {
        Answer::Failed(message) if message.contains("permanent error: no map named") => {}
        other => failures.push(format!(
            "map nosuch: expected a permanent error, got {other:?}"
        )),
    }
    // A key over the protocol's 100,000-byte limit is refused, and the
    // bridge goes on answering.
    let oversized = format!("{}@acme.example", "a".repeat(100_001));
    match postmap.query(bridge.addr, "mailboxes", &oversized).await {
        Answer::Failed(message) if message.contains("over the 100000-byte limit") => {}
        other => failures.push(format!("an oversized key: {other:?}")),
    }
    let again = postmap.query(bridge.addr, "mailboxes", alice).await;
    if again != found(alice_box) {
        failures.push(format!("after the oversized key: {again:?}"));
    }
    assert!(
        failures.is_empty(),
        "{} of {} lookups wrong:\n{}",
        failures.len(),
        cases.len() + 3,
        failures.join("\n")
    );
}

/// Postfix keeps a socketmap connection open for many lookups: 200 keys
/// through one `postmap -q -` connection, each answered in turn.
async fn many_lookups_on_one_connection(s: &TestServer, dns: &TestDns) {
    let Some(postmap) = Postmap::find() else {
        return;
    };
    Acme::create(s, dns).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let keys: Vec<String> = (0..200)
        .map(|i| match i % 4 {
            0 => "alice@mailadmin.example".to_string(),
            1 => format!("alice+{i}@mailadmin.example"),
            2 => "sales@acme.example".to_string(),
            _ => format!("nobody{i}@acme.example"),
        })
        .collect();
    let answers = postmap.query_all(bridge.addr, "mailboxes", &keys).await;
    let expected: Vec<(String, String)> = keys
        .iter()
        .filter(|k| !k.starts_with("nobody"))
        .map(|k| (k.clone(), "mailadmin.example/alice/".to_string()))
        .collect();
    assert_eq!(answers, expected);
}

/// The control plane down, or refusing the bridge's token: every map is
/// a temporary error (Postfix defers the mail), never "not found".
async fn an_unanswered_lookup_is_temporary(s: &TestServer) {
    let Some(postmap) = Postmap::find() else {
        return;
    };
    s.create_org("Acme", Plan::Entry).await;
    let down = serve_socketmap(unreachable_client()).await;
    let bad_token = serve_socketmap(
        DeliveryClient::new(&format!("http://{}", s.addr), "not-a-token", TIMEOUT).unwrap(),
    )
    .await;
    let mut failures = Vec::new();
    for bridge in [&down, &bad_token] {
        for map in [
            "domains",
            "mailboxes",
            "aliases",
            "recipient_access",
            "senders",
        ] {
            let key = match map {
                "domains" => "mailadmin.example",
                _ => "nobody@mailadmin.example",
            };
            match postmap.query(bridge.addr, map, key).await {
                Answer::Temporary(_) => {}
                other => failures.push(format!("{map} via {}: {other:?}", bridge.addr)),
            }
        }
    }
    assert!(
        failures.is_empty(),
        "not temporary:\n{}",
        failures.join("\n")
    );
}

backend_tests!(
    every_map_answers_as_check_recipient: TestDns,
    many_lookups_on_one_connection: TestDns,
    an_unanswered_lookup_is_temporary,
);
