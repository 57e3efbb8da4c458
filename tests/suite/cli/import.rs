//! `mailadmin user import` (docs/cli.md, "User import"): bad rows are
//! reported by row and column while the good ones land; `--dry-run` writes
//! nothing; an import the credit cannot pay for does not start; and a
//! 2,000-row import interrupted (SIGINT) and killed (SIGKILL) half-way,
//! then run again, ends with exactly 2,000 accounts charged once each.

use super::{binary, run, stderr};
use crate::harness::*;
use mailadmin_client::pb;
use std::path::Path;
use std::time::Duration;

const HEADER: &str = "username,first_name,last_name,address,plan,password,aliases\n";

fn row(username: &str, plan: &str, aliases: &str) -> String {
    format!(
        "{username},First,{username},{username}@mailadmin.example,{plan},a long password for {username},{aliases}\n"
    )
}

fn write(dir: &Path, name: &str, rows: &[String]) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, format!("{HEADER}{}", rows.concat())).unwrap();
    path
}

/// The report's rows: (row, column).
fn report(path: &Path) -> Vec<(usize, String)> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("reading the report {}: {e}", path.display()));
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("row,column,reason"));
    lines
        .map(|line| {
            let mut fields = line.splitn(3, ',');
            (
                fields.next().unwrap().parse().expect("a row number"),
                fields.next().unwrap().to_string(),
            )
        })
        .collect()
}

async fn usernames(org: &Org) -> Vec<String> {
    let mut names: Vec<String> = ok(org
        .admin
        .clone()
        .list_users(pb::ListUsersRequest {
            page_size: 500,
            ..Default::default()
        })
        .await)
    .users
    .into_iter()
    .map(|u| u.username)
    .collect();
    names.sort();
    names
}

async fn bad_rows_are_reported_and_the_good_ones_land(s: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let org = s.create_org("Acme", Plan::Pro).await;
    let file = write(
        dir.path(),
        "accounts.csv",
        &[
            row("alice", "entry", "alice.a@mailadmin.example"),
            "bob,First,bob,bob@@mailadmin.example,free,a long password for bob,\n".into(),
            row("alice", "free", ""),
            row("carol", "gold", ""),
            row("fred", "free", "fred.x@mailadmin.example"),
            row("dave", "FREE", ""),
        ],
    );
    let balance_before = s.assert_ledger_balances(org.id).await.len();
    let token = Some(org.admin_token.as_str());
    let file_arg = file.to_str().unwrap();

    // A dry run checks every row and writes nothing but the report.
    let dry = run(
        s,
        dir.path(),
        token,
        &["user", "import", file_arg, "--dry-run"],
        "",
    )
    .await;
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    assert!(
        stderr(&dry).contains("2 would be created"),
        "{}",
        stderr(&dry)
    );
    let expected = [
        (3, "address".to_string()),
        (4, "username".to_string()),
        (5, "plan".to_string()),
        (6, "aliases".to_string()),
    ];
    let report_file = dir.path().join("accounts.csv.report.csv");
    assert_eq!(report(&report_file), expected);
    assert_eq!(
        usernames(&org).await,
        ["acme-admin"],
        "a dry run creates nothing"
    );
    assert_eq!(s.assert_ledger_balances(org.id).await.len(), balance_before);

    let imported = run(s, dir.path(), token, &["user", "import", file_arg], "").await;
    assert_eq!(imported.status.code(), Some(1), "{}", stderr(&imported));
    assert!(
        stderr(&imported).contains("2 created"),
        "{}",
        stderr(&imported)
    );
    assert_eq!(
        report(&report_file),
        expected,
        "the same rows, named the same"
    );
    assert_eq!(usernames(&org).await, ["acme-admin", "alice", "dave"]);
    let alice = ok(s
        .operator()
        .resolve_address(pb::ResolveAddressRequest {
            address: "alice.a@mailadmin.example".into(),
        })
        .await);
    assert_ne!(alice.user_id, 0, "the alias came with the account");

    // Run again: nothing new, nothing charged twice.
    let again = run(s, dir.path(), token, &["user", "import", file_arg], "").await;
    assert!(stderr(&again).contains("0 created"), "{}", stderr(&again));
    assert!(
        stderr(&again).contains("2 already imported"),
        "{}",
        stderr(&again)
    );
    let charges = s
        .assert_ledger_balances(org.id)
        .await
        .iter()
        .filter(|e| e.kind == pb::LedgerEntryKind::Charge as i32)
        .count();
    assert_eq!(charges, 1, "alice's Entry period, once");

    // A file with a clean bill: exit 0, no report left behind.
    let clean = write(dir.path(), "clean.csv", &[row("erin", "free", "")]);
    let fine = run(
        s,
        dir.path(),
        token,
        &["user", "import", clean.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(fine.status.code(), Some(0), "{}", stderr(&fine));
    assert!(!dir.path().join("clean.csv.report.csv").exists());

    // An operator names the organization.
    let theirs = write(dir.path(), "operator.csv", &[row("opal", "free", "")]);
    let by_operator = run(
        s,
        dir.path(),
        Some(&s.operator_token),
        &[
            "user",
            "import",
            theirs.to_str().unwrap(),
            "--org",
            &org.id.to_string(),
        ],
        "",
    )
    .await;
    assert_eq!(
        by_operator.status.code(),
        Some(0),
        "{}",
        stderr(&by_operator)
    );
    assert!(usernames(&org).await.contains(&"opal".to_string()));

    // A header the importer does not know is a usage error.
    let odd = dir.path().join("odd.csv");
    std::fs::write(&odd, "username,colour\nx,blue\n").unwrap();
    let usage = run(
        s,
        dir.path(),
        token,
        &["user", "import", odd.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(usage.status.code(), Some(2), "{}", stderr(&usage));
}

async fn an_import_the_credit_cannot_pay_does_not_start(s: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let org = s.create_org_without_credit("Broke", Plan::Pro).await;
    s.top_up(org.id, "1.00", "a little").await;
    let file = write(
        dir.path(),
        "paid.csv",
        &[row("paul", "entry", ""), row("paula", "entry", "")],
    );
    let refused = run(
        s,
        dir.path(),
        Some(&org.admin_token),
        &["user", "import", file.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(refused.status.code(), Some(1));
    let message = stderr(&refused);
    assert!(
        message.contains("the credit is 1.00 EUR") && message.contains("missing"),
        "{message}"
    );
    assert_eq!(usernames(&org).await, ["broke-admin"]);
}

/// How many accounts the organization has besides its master.
async fn accounts(s: &TestServer, org: &Org) -> i32 {
    ok(s.operator()
        .get_organization(pb::GetOrganizationRequest {
            organization_id: org.id,
        })
        .await)
    .organization
    .expect("organization")
    .account_count
}

/// Starts the import, waits until at least `at` accounts exist, sends
/// `signal`, and returns the exit status.
async fn interrupt_at(
    s: &TestServer,
    org: &Org,
    dir: &Path,
    file: &Path,
    at: i32,
    signal: &str,
) -> std::process::ExitStatus {
    let mut child = tokio::process::Command::new(binary().await)
        .args([
            "user",
            "import",
            file.to_str().unwrap(),
            "--concurrency",
            "4",
        ])
        .current_dir(dir)
        .env("MAILADMIN_URL", format!("http://{}", s.addr))
        .env("MAILADMIN_TOKEN", &org.admin_token)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("starting the import");
    let pid = child.id().expect("a pid").to_string();
    for _ in 0..1200 {
        if accounts(s, org).await >= at {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        accounts(s, org).await >= at,
        "the import never reached {at} accounts"
    );
    std::process::Command::new("kill")
        .args([signal, &pid])
        .status()
        .expect("kill");
    tokio::time::timeout(Duration::from_secs(120), child.wait())
        .await
        .expect("the import stops")
        .expect("waiting for the import")
}

async fn an_import_killed_half_way_finishes_on_a_second_run(s: &TestServer) {
    const ROWS: usize = 2000;
    let dir = tempfile::tempdir().unwrap();
    // Room for 2,000 accounts on the master's plan, and credit for them.
    let mut catalog = ok(s
        .billing_operator()
        .get_plan_catalog(pb::GetPlanCatalogRequest {})
        .await)
    .plans;
    for terms in &mut catalog {
        terms.max_accounts = 5000;
    }
    ok(s.billing_operator()
        .update_plan_catalog(pb::UpdatePlanCatalogRequest { plans: catalog })
        .await);
    let org = s.create_org("Bulk", Plan::Pro).await;
    s.top_up(org.id, "20000.00", "for the import").await;
    let rows: Vec<String> = (0..ROWS)
        .map(|i| row(&format!("bulk{i:04}"), "entry", ""))
        .collect();
    let file = write(dir.path(), "bulk.csv", &rows);

    let interrupted = interrupt_at(s, &org, dir.path(), &file, 500, "-INT").await;
    assert_eq!(interrupted.code(), Some(130), "Ctrl-C stops cleanly");
    let after_int = accounts(s, &org).await;
    assert!((500..ROWS as i32).contains(&after_int), "{after_int}");

    let killed = interrupt_at(s, &org, dir.path(), &file, after_int + 300, "-KILL").await;
    assert_eq!(killed.code(), None, "SIGKILL gives no exit code");
    assert!(
        accounts(s, &org).await < ROWS as i32,
        "killed before the end"
    );

    let finished = run(
        s,
        dir.path(),
        Some(&org.admin_token),
        &["user", "import", file.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(finished.status.code(), Some(0), "{}", stderr(&finished));
    assert_eq!(accounts(s, &org).await, ROWS as i32);
    let ledger = s.assert_ledger_balances(org.id).await;
    let mut charged: Vec<i64> = ledger
        .iter()
        .filter(|e| e.kind == pb::LedgerEntryKind::Charge as i32)
        .map(|e| e.user_id)
        .collect();
    assert_eq!(charged.len(), ROWS, "one charge per account");
    charged.sort();
    charged.dedup();
    assert_eq!(charged.len(), ROWS, "no account charged twice");
}

/// `alias import` adds one alias per row (an alias the account has counts
/// as done; an unknown account or a taken address is reported), and `user
/// export` writes the accounts in the import's columns with their aliases.
async fn aliases_import_and_accounts_export(s: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let org = s.create_org("Acme", Plan::Pro).await;
    let bob = s.create_user(&org.admin, org.id, "bob", Plan::Entry).await;
    s.create_user(&org.admin, org.id, "carol", Plan::Entry)
        .await;
    let file = dir.path().join("aliases.csv");
    std::fs::write(
        &file,
        "username,alias\nbob,sales@mailadmin.example\nnobody,x@mailadmin.example\n\
         carol,sales@mailadmin.example\ncarol,help@mailadmin.example\n",
    )
    .unwrap();
    let token = Some(org.admin_token.as_str());
    let file_arg = file.to_str().unwrap();
    let dry = run(
        s,
        dir.path(),
        token,
        &["alias", "import", file_arg, "--dry-run"],
        "",
    )
    .await;
    assert_eq!(dry.status.code(), Some(1), "{}", stderr(&dry));
    let owner = |address: &'static str| async move {
        ok(s.operator()
            .resolve_address(pb::ResolveAddressRequest {
                address: address.into(),
            })
            .await)
        .user_id
    };
    assert_eq!(
        owner("sales@mailadmin.example").await,
        0,
        "a dry run adds nothing"
    );

    let imported = run(s, dir.path(), token, &["alias", "import", file_arg], "").await;
    assert_eq!(imported.status.code(), Some(1), "{}", stderr(&imported));
    assert!(
        stderr(&imported).contains("2 added"),
        "{}",
        stderr(&imported)
    );
    assert_eq!(
        report(&dir.path().join("aliases.csv.report.csv")),
        [(3, "username".to_string()), (4, "alias".to_string())]
    );
    assert_eq!(owner("sales@mailadmin.example").await, bob.id);
    let again = run(s, dir.path(), token, &["alias", "import", file_arg], "").await;
    assert!(
        stderr(&again).contains("2 already there"),
        "{}",
        stderr(&again)
    );

    let exported = run(s, dir.path(), token, &["user", "export"], "").await;
    assert_eq!(exported.status.code(), Some(0), "{}", stderr(&exported));
    let csv = String::from_utf8_lossy(&exported.stdout).into_owned();
    let lines: Vec<&str> = csv.lines().collect();
    assert_eq!(
        lines[0],
        "username,first_name,last_name,address,plan,aliases"
    );
    assert!(
        lines.contains(&"bob,First bob,Tester,bob@mailadmin.example,entry,sales@mailadmin.example"),
        "{csv}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("carol,") && l.ends_with(",help@mailadmin.example")),
        "{csv}"
    );
}

backend_tests!(
    bad_rows_are_reported_and_the_good_ones_land,
    an_import_the_credit_cannot_pay_does_not_start,
    an_import_killed_half_way_finishes_on_a_second_run,
    aliases_import_and_accounts_export,
);
