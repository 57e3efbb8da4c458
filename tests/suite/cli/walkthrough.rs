//! The README's "Using the CLI" block, run as written by `bash -euo
//! pipefail` in the directory where a fresh server wrote its operator
//! token. The test changes three things: `cargo install` lines are skipped
//! (a `mailadmin` shell function runs the binary this test built), the
//! line `export MAILADMIN_URL=http://127.0.0.1:50051` points at the test
//! server, and the session goes to a config directory of the test's own.
//! Then the balance and the ledger are checked to the cent.

use crate::harness::*;
use crate::readme::{Workdir, run_script, sh_block_under};
use mailadmin_client::pb;
use std::path::{Path, PathBuf};

const HEADING: &str = "## Using the CLI";
const URL_LINE: &str = "export MAILADMIN_URL=http://127.0.0.1:50051";

fn prepare(block: &str, addr: &str, binary: &Path, config: &Path) -> Result<String, String> {
    let mut script = format!(
        "# Added by tests/suite/cli/walkthrough.rs: the binary this test built, its own config.\n\
         mailadmin() {{ \"{}\" \"$@\"; }}\nexport XDG_CONFIG_HOME=\"{}\"\n\n",
        binary.display(),
        config.display()
    );
    let mut url_lines = 0;
    for line in block.lines() {
        if line.starts_with("cargo install ") {
            script.push_str("# (skipped by the test) ");
            script.push_str(line);
        } else if line.trim_end() == URL_LINE {
            url_lines += 1;
            script.push_str(&format!("export MAILADMIN_URL=http://{addr}"));
        } else if line.contains("127.0.0.1:50051") {
            return Err(format!(
                "the block names 127.0.0.1:50051 outside {URL_LINE:?}: {line}"
            ));
        } else {
            script.push_str(line);
        }
        script.push('\n');
    }
    if url_lines != 1 {
        return Err(format!("the block must set {URL_LINE:?} exactly once"));
    }
    Ok(script)
}

async fn cli_walkthrough_runs_verbatim(s: &TestServer, workdir: &Workdir) {
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("reading README.md");
    let block = sh_block_under(&readme, HEADING).unwrap_or_else(|e| panic!("README.md: {e}"));
    let binary = super::binary().await;
    let script = prepare(
        &block,
        &s.addr.to_string(),
        &binary,
        &workdir.path().join("config"),
    )
    .unwrap_or_else(|e| panic!("{e}"));
    let path = workdir.path().join("cli-walkthrough.sh");
    std::fs::write(&path, &script).unwrap();
    let output = run_script(&path, workdir.path(), &repo).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "README.md's CLI walkthrough failed ({}):\n--- script ---\n{script}\n--- stdout ---\n\
         {stdout}\n--- stderr ---\n{stderr}",
        output.status
    );

    // The money, to the cent: 50.00, three Entry first periods charged,
    // dave's unused period (all of it: no time passed) refunded.
    let entry = ok(s
        .billing_operator()
        .get_plan_catalog(pb::GetPlanCatalogRequest {})
        .await)
    .plans
    .into_iter()
    .find(|p| p.plan == Plan::Entry as i32)
    .expect("an Entry plan");
    let price = cents(&amount(&entry.price));
    let ledger = s.assert_ledger_balances(1).await;
    let kinds = |kind: pb::LedgerEntryKind| {
        ledger
            .iter()
            .filter(|e| e.kind == kind as i32)
            .map(|e| cents(&amount(&e.amount)))
            .collect::<Vec<_>>()
    };
    assert_eq!(kinds(pb::LedgerEntryKind::Topup), [5000]);
    assert_eq!(kinds(pb::LedgerEntryKind::Charge), [-price, -price, -price]);
    assert_eq!(kinds(pb::LedgerEntryKind::Refund), [price]);
    let balance = ok(s
        .billing_operator()
        .get_balance(pb::GetBalanceRequest { organization_id: 1 })
        .await);
    assert_eq!(cents(&amount(&balance.balance)), 5000 - 2 * price);
    assert!(
        stdout.contains(&format!("{} EUR", euros(5000 - 2 * price))),
        "`billing balance` printed the balance with its currency:\n{stdout}"
    );

    // The JSON at its end lists the accounts left.
    let json_start = stdout.rfind("\n[").map_or(0, |i| i + 1);
    let users: serde_json::Value =
        serde_json::from_str(&stdout[json_start..]).expect("`user list -o json` printed JSON");
    let names: Vec<&str> = users
        .as_array()
        .expect("an array")
        .iter()
        .map(|u| u["username"].as_str().expect("username"))
        .collect();
    assert_eq!(names, ["ann", "bob", "carol"]);
    let session = workdir.path().join("config/mailadmin/session");
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&session)
        .expect("login kept a session")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "the session file is the user's only");
}

backend_tests!(cli_walkthrough_runs_verbatim: Workdir);
