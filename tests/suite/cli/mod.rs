//! `mailadmin`, the command line: the real binary run against the real
//! test server, on SQLite and PostgreSQL — the README's walkthrough as
//! written, the JSON output parsed back, every exit code, and bulk import
//! (bad rows, dry run, a 2,000-row import killed half-way and run again).

mod answers;
mod import;
mod walkthrough;

use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Output;

/// The binary, built once.
async fn binary() -> PathBuf {
    client_binary("mailadmin").await
}

/// Runs `mailadmin ARGS` against `s` with `token` (none: no token at all),
/// `stdin` piped in, in `dir` (also its config home, so no session leaks
/// in from the machine).
async fn run(
    s: &TestServer,
    dir: &Path,
    token: Option<&str>,
    args: &[&str],
    stdin: &str,
) -> Output {
    run_at(&format!("http://{}", s.addr), dir, token, args, stdin).await
}

async fn run_at(url: &str, dir: &Path, token: Option<&str>, args: &[&str], stdin: &str) -> Output {
    use tokio::io::AsyncWriteExt;
    let mut command = tokio::process::Command::new(binary().await);
    command
        .args(args)
        .current_dir(dir)
        .env("MAILADMIN_URL", url)
        .env("XDG_CONFIG_HOME", dir.join("config"))
        .env_remove("MAILADMIN_TOKEN")
        .env_remove("MAILADMIN_TOKEN_FILE")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true);
    if let Some(token) = token {
        command.env("MAILADMIN_TOKEN", token);
    }
    let mut child = command.spawn().expect("starting mailadmin");
    let mut input = child.stdin.take().expect("stdin");
    input
        .write_all(stdin.as_bytes())
        .await
        .expect("writing stdin");
    drop(input);
    tokio::time::timeout(
        std::time::Duration::from_secs(300),
        child.wait_with_output(),
    )
    .await
    .expect("mailadmin finishes within 300 s")
    .expect("waiting for mailadmin")
}

/// stdout of a run that must succeed.
fn success(output: &Output, what: &str) -> String {
    assert!(
        output.status.success(),
        "{what}: {}\nstdout:\n{}\nstderr:\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}
