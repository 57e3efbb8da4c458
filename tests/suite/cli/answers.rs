//! What the CLI prints and how it exits: `--output json` and `jsonl` are
//! the server's answers in the proto's JSON names; each exit code (0 done,
//! 1 refused with the status and the field named on stderr, 2 usage, 3 no
//! answer) with a one-line message for a missing or expired token and an
//! unreachable server.

use super::{run, run_at, stderr, success};
use crate::harness::*;
use mailadmin_client::pb;

async fn json_output_is_the_servers_answer(s: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let org = s.create_org("Acme", Plan::Pro).await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
    let token = Some(org.admin_token.as_str());

    let listed: serde_json::Value = serde_json::from_str(&success(
        &run(
            s,
            dir.path(),
            token,
            &["user", "list", "--output", "json"],
            "",
        )
        .await,
        "user list -o json",
    ))
    .expect("one JSON document");
    let expected = ok(org
        .admin
        .clone()
        .list_users(pb::ListUsersRequest::default())
        .await)
    .users;
    let listed = listed.as_array().expect("a list is an array");
    assert_eq!(listed.len(), expected.len());
    for (json, user) in listed.iter().zip(&expected) {
        assert_eq!(json["id"], user.id.to_string(), "int64 as a string");
        assert_eq!(json["username"], user.username);
        assert_eq!(json["primaryAddress"], user.primary_address);
        assert_eq!(
            json["plan"],
            pb::Plan::try_from(user.plan).unwrap().as_str_name()
        );
        assert_eq!(json["state"], "ACCOUNT_STATE_ENABLED");
    }

    let lines = success(
        &run(
            s,
            dir.path(),
            token,
            &["user", "list", "-o", "jsonl", "--limit", "2"],
            "",
        )
        .await,
        "user list -o jsonl --limit 2",
    );
    let rows: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).expect("one object per line"))
        .collect();
    assert_eq!(rows.len(), 2, "--limit 2: {lines}");

    let shown: serde_json::Value = serde_json::from_str(&success(
        &run(
            s,
            dir.path(),
            token,
            &["user", "show", &bob.id.to_string(), "-o", "json"],
            "",
        )
        .await,
        "user show -o json",
    ))
    .unwrap();
    assert_eq!(shown["username"], "bob");
    assert_eq!(shown["organizationId"], org.id.to_string());

    let delivery = s.delivery_token().await;
    let version: serde_json::Value = serde_json::from_str(&success(
        &run(
            s,
            dir.path(),
            Some(&delivery),
            &["check", "version", "-o", "json"],
            "",
        )
        .await,
        "check version -o json",
    ))
    .unwrap();
    assert!(version["version"].as_str().is_some(), "{version}");
    let verdicts: serde_json::Value = serde_json::from_str(&success(
        &run(
            s,
            dir.path(),
            Some(&delivery),
            &[
                "check",
                "recipient",
                "bob@mailadmin.example",
                "nobody@mailadmin.example",
                "-o",
                "json",
            ],
            "",
        )
        .await,
        "check recipient -o json",
    ))
    .unwrap();
    assert_eq!(verdicts[0]["verdict"], "VERDICT_DELIVER", "{verdicts}");
    assert_eq!(verdicts[1]["smtpCode"], 550, "{verdicts}");

    let table = success(
        &run(s, dir.path(), token, &["billing", "balance"], "").await,
        "billing balance",
    );
    assert!(table.contains(" EUR"), "money with its currency: {table}");
}

async fn exit_codes_say_what_happened(s: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let org = s.create_org("Acme", Plan::Pro).await;
    let token = Some(org.admin_token.as_str());
    let code = |output: &std::process::Output| output.status.code();

    // 0: done.
    let done = run(
        s,
        dir.path(),
        token,
        &["user", "show", &org.master.id.to_string()],
        "",
    )
    .await;
    assert_eq!(code(&done), Some(0), "{}", stderr(&done));

    // 1: refused, the field named.
    let refused = run(
        s,
        dir.path(),
        token,
        &[
            "user",
            "create",
            "--username",
            "erin",
            "--first-name",
            "Erin",
            "--last-name",
            "E",
            "--address",
            "not-an-address",
            "--password-stdin",
        ],
        "a long enough password\n",
    )
    .await;
    assert_eq!(code(&refused), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("INVALID_ARGUMENT") && message.contains("account.primary_address"),
        "{message}"
    );
    let missing = run(s, dir.path(), token, &["user", "show", "999999"], "").await;
    assert_eq!(code(&missing), Some(1));
    assert!(
        stderr(&missing).contains("NOT_FOUND"),
        "{}",
        stderr(&missing)
    );

    // 2: the command line.
    for args in [
        &["user", "show", "abc"][..],
        &["user", "frobnicate"],
        &["--output", "xml", "org", "list"],
    ] {
        let usage = run(s, dir.path(), token, args, "").await;
        assert_eq!(code(&usage), Some(2), "{args:?}: {}", stderr(&usage));
    }

    // 1, one line: no token, an expired one.
    let anonymous = run(s, dir.path(), None, &["user", "list"], "").await;
    assert_eq!(code(&anonymous), Some(1));
    assert_eq!(
        stderr(&anonymous).trim().lines().count(),
        1,
        "{}",
        stderr(&anonymous)
    );
    assert!(
        stderr(&anonymous).contains("UNAUTHENTICATED"),
        "{}",
        stderr(&anonymous)
    );
    let short = ok(s
        .operator()
        .create_token(pb::CreateTokenRequest {
            role: Role::Operator as i32,
            ttl_seconds: 60,
            description: "short-lived".into(),
            ..Default::default()
        })
        .await)
    .secret;
    s.advance(chrono::Duration::seconds(61));
    let expired = run(s, dir.path(), Some(&short), &["org", "list"], "").await;
    assert_eq!(code(&expired), Some(1));
    assert_eq!(
        stderr(&expired).trim().lines().count(),
        1,
        "{}",
        stderr(&expired)
    );
    assert!(
        stderr(&expired).contains("UNAUTHENTICATED"),
        "{}",
        stderr(&expired)
    );

    // 3: nobody answers (a loopback port nothing listens on).
    let down = run_at(
        "http://127.0.0.1:1",
        dir.path(),
        token,
        &["user", "list"],
        "",
    )
    .await;
    assert_eq!(code(&down), Some(3), "{}", stderr(&down));
    assert_eq!(stderr(&down).trim().lines().count(), 1, "{}", stderr(&down));
    assert!(stderr(&down).contains("127.0.0.1:1"), "{}", stderr(&down));
}

/// `login` keeps a session (owner-only) that later commands use; `logout`
/// forgets it.
async fn login_keeps_a_session(s: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let org = s.create_org("Acme", Plan::Pro).await;
    let login = run(
        s,
        dir.path(),
        None,
        &["login", &org.master.username, "--password-stdin"],
        &format!("{}\n", org.master_password),
    )
    .await;
    success(&login, "login");
    let listed = success(
        &run(s, dir.path(), None, &["user", "list"], "").await,
        "with the session",
    );
    assert!(listed.contains(&org.master.username), "{listed}");
    success(&run(s, dir.path(), None, &["logout"], "").await, "logout");
    let after = run(s, dir.path(), None, &["user", "list"], "").await;
    assert_eq!(after.status.code(), Some(1), "no session any more");
    let wrong = run(
        s,
        dir.path(),
        None,
        &["login", &org.master.username, "--password-stdin"],
        "not the password\n",
    )
    .await;
    assert_eq!(wrong.status.code(), Some(1));
}

backend_tests!(
    json_output_is_the_servers_answer,
    exit_codes_say_what_happened,
    login_keeps_a_session,
);

/// docs/cli.md is what `mailadmin markdown` prints: the reference cannot
/// drift from the command line.
#[tokio::test]
async fn the_reference_is_generated_from_the_commands() {
    let printed = tokio::process::Command::new(super::binary().await)
        .arg("markdown")
        .output()
        .await
        .expect("running mailadmin markdown");
    assert!(printed.status.success());
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let file = std::fs::read_to_string(repo.join("docs/cli.md")).expect("docs/cli.md");
    assert!(
        String::from_utf8_lossy(&printed.stdout) == file,
        "docs/cli.md is stale: run `cargo run -p mailadmin-client --bin mailadmin -- markdown \
         > docs/cli.md`"
    );
    let completions = tokio::process::Command::new(super::binary().await)
        .args(["completions", "bash"])
        .output()
        .await
        .expect("running mailadmin completions");
    assert!(String::from_utf8_lossy(&completions.stdout).contains("complete -F _mailadmin"));
}
