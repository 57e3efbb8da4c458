//! An unmodified Dovecot (Debian's, its own configuration in a tempdir,
//! IMAP and its auth service on loopback ports) whose passdb is
//! `mailadmin-checkpassword` (docs/rules.md, "Dovecot authentication"):
//! `doveadm auth test` and IMAP `LOGIN` get the control plane's answer, a
//! throttled login is refused with its retry delay logged, the client's
//! address reaches `Authenticate`, and an outage is a temporary failure;
//! Postfix's SMTP AUTH through this Dovecot makes
//! `reject_sender_login_mismatch` follow the bridge's `senders` map.

use super::postfix::{Postfix, free_port};
use super::*;
use crate::dns_server::TestDns;
use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A Dovecot instance of the test's own.
pub(super) struct Dovecot {
    dir: tempfile::TempDir,
    config: PathBuf,
    imap: SocketAddr,
    /// Dovecot's auth service for Postfix (`smtpd_sasl_type = dovecot`).
    sasl: SocketAddr,
    _master: tokio::process::Child,
}

/// What `doveadm auth test` said.
#[derive(Debug)]
struct AuthTest {
    ok: bool,
    output: String,
}

impl Dovecot {
    /// Starts Dovecot with `mailadmin-checkpassword` asking `server` with
    /// `token`. `None` when Dovecot is not installed (skipped; a failure
    /// under CI).
    async fn start(server: SocketAddr, token: &str) -> Option<Dovecot> {
        if !Path::new("/usr/sbin/dovecot").exists() {
            skip_or_fail("Dovecot is not installed: apt-get install dovecot-core dovecot-imapd");
            return None;
        }
        if !running_as_root() {
            skip_or_fail("a Dovecot instance of the test's own needs root");
            return None;
        }
        let checkpassword = client_binary("mailadmin-checkpassword").await;
        let dir = tempfile::tempdir().expect("a tempdir");
        let root = dir.path();
        for sub in ["run", "state", "mail"] {
            std::fs::create_dir(root.join(sub)).unwrap();
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755)).unwrap();
        let status = std::process::Command::new("chown")
            .args(["dovecot:dovecot"])
            .arg(root.join("mail"))
            .status()
            .unwrap();
        assert!(status.success());
        // Read by the auth process (user dovecot); the tempdir is private
        // to the test.
        let token_file = root.join("delivery.token");
        std::fs::write(&token_file, token).unwrap();
        std::fs::set_permissions(&token_file, std::fs::Permissions::from_mode(0o644)).unwrap();
        let (imap_port, sasl_port) = (free_port(), free_port());
        let uid = user_id("dovecot");
        let config = root.join("dovecot.conf");
        std::fs::write(
            &config,
            format!(
                "base_dir = {root}/run\n\
                 state_dir = {root}/state\n\
                 instance_name = mailadmin-test-{imap_port}\n\
                 log_path = {root}/dovecot.log\n\
                 protocols = imap\n\
                 listen = 127.0.0.1\n\
                 ssl = no\n\
                 disable_plaintext_auth = no\n\
                 auth_mechanisms = plain login\n\
                 auth_verbose = yes\n\
                 auth_failure_delay = 0\n\
                 login_trusted_networks = 127.0.0.0/8\n\
                 default_internal_user = dovecot\n\
                 default_login_user = dovenull\n\
                 first_valid_uid = {uid}\n\
                 mail_location = maildir:{root}/mail/%d/%n\n\
                 service imap-login {{\n\
                   inet_listener imap {{\n    address = 127.0.0.1\n    port = {imap_port}\n  }}\n\
                   inet_listener imaps {{\n    port = 0\n  }}\n\
                 }}\n\
                 service auth {{\n\
                   inet_listener sasl {{\n    address = 127.0.0.1\n    port = {sasl_port}\n  }}\n\
                 }}\n\
                 passdb {{\n\
                   driver = checkpassword\n\
                   args = {checkpassword} --server http://{server} --token-file {token} --timeout-ms 10000\n\
                 }}\n\
                 userdb {{\n\
                   driver = static\n\
                   args = uid=dovecot gid=dovecot home={root}/mail/%d/%n allow_all_users=yes\n\
                 }}\n",
                root = root.display(),
                checkpassword = checkpassword.display(),
                token = token_file.display(),
            ),
        )
        .unwrap();
        let master = tokio::process::Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(&config)
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("starting dovecot");
        let dovecot = Dovecot {
            imap: format!("127.0.0.1:{imap_port}").parse().unwrap(),
            sasl: format!("127.0.0.1:{sasl_port}").parse().unwrap(),
            dir,
            config,
            _master: master,
        };
        for addr in [dovecot.imap, dovecot.sasl] {
            let mut up = false;
            for _ in 0..200 {
                if TcpStream::connect(addr).await.is_ok() {
                    up = true;
                    break;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            assert!(up, "Dovecot never listened on {addr}:\n{}", dovecot.log());
        }
        Some(dovecot)
    }

    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("dovecot.log")).unwrap_or_default()
    }

    /// `doveadm auth test` for `login` with `password`, from `client_ip`.
    async fn auth_test(&self, login: &str, password: &str, client_ip: &str) -> AuthTest {
        let output = tokio::process::Command::new("/usr/bin/doveadm")
            .arg("-c")
            .arg(&self.config)
            // no-penalty: Dovecot's own per-address delay after failures
            // would slow the test down; mailadmin's throttle is under test.
            .args([
                "auth",
                "test",
                "-x",
                "service=imap",
                "-x",
                "no-penalty=1",
                "-x",
            ])
            .arg(format!("rip={client_ip}"))
            .args([login, password])
            .output()
            .await
            .expect("running doveadm");
        AuthTest {
            ok: output.status.success(),
            output: format!(
                "{}{}",
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }

    /// IMAP `LOGIN` on a new connection: the tagged answer.
    async fn imap_login(&self, login: &str, password: &str) -> String {
        let (reader, mut writer) = TcpStream::connect(self.imap).await.unwrap().into_split();
        let mut reader = BufReader::new(reader);
        let mut greeting = String::new();
        reader.read_line(&mut greeting).await.unwrap();
        assert!(greeting.starts_with("* OK"), "IMAP greeting: {greeting:?}");
        writer
            .write_all(format!("a1 LOGIN \"{login}\" \"{password}\"\r\n").as_bytes())
            .await
            .unwrap();
        loop {
            let mut line = String::new();
            let read = tokio::time::timeout(Duration::from_secs(30), reader.read_line(&mut line))
                .await
                .expect("Dovecot answers LOGIN within 30 s")
                .unwrap();
            assert!(read > 0, "Dovecot closed the connection");
            if line.starts_with("a1 ") {
                return line.trim_end().to_string();
            }
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        let _ = std::process::Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(&self.config)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn user_id(name: &str) -> u32 {
    let output = std::process::Command::new("id")
        .args(["-u", name])
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout)
        .trim()
        .parse()
        .expect("a uid")
}

/// Dovecot with the bridge's passdb, for the Acme fixture.
async fn acme_dovecot(s: &TestServer, dns: &TestDns) -> Option<(Acme, Dovecot)> {
    let acme = Acme::create(s, dns).await;
    let token = s.delivery_token().await;
    let dovecot = Dovecot::start(s.addr, &token).await?;
    Some((acme, dovecot))
}

/// Right password (by username and by primary address), wrong password,
/// unknown login, disabled account; through `doveadm auth test` and IMAP.
async fn logins_get_the_control_planes_answer(s: &TestServer, dns: &TestDns) {
    let Some((acme, dovecot)) = acme_dovecot(s, dns).await else {
        return;
    };
    let alice = acme.alice.primary_address.as_str();
    let right = password_for("alice");
    let mut failures = Vec::new();
    for (login, password, allowed) in [
        ("alice", right.as_str(), true),
        (alice, right.as_str(), true),
        ("alice", "not her password", false),
        ("nobody", "whatever it is", false),
        ("carol", password_for("carol").as_str(), false),
    ] {
        let test = dovecot.auth_test(login, password, "192.0.2.7").await;
        if test.ok != allowed {
            failures.push(format!("doveadm auth test {login:?}: {}", test.output));
        }
        if allowed && !test.output.contains(&format!("user={alice}")) {
            failures.push(format!(
                "{login:?}: the session is not named {alice}: {}",
                test.output
            ));
        }
        let imap = dovecot.imap_login(login, password).await;
        let expected = if allowed {
            "a1 OK"
        } else {
            "a1 NO [AUTHENTICATIONFAILED]"
        };
        if !imap.starts_with(expected) {
            failures.push(format!("IMAP LOGIN {login:?}: {imap}"));
        }
    }
    assert!(
        failures.is_empty(),
        "{}\nDovecot's log:\n{}",
        failures.join("\n"),
        dovecot.log()
    );
}

/// Ten wrong passwords for one account: the eleventh attempt, even with
/// the right password, is refused and the retry delay is in Dovecot's log.
/// Fifty failures from one client address refuse that address, not
/// another: the address Dovecot saw reaches `Authenticate`.
async fn throttles_reach_through_dovecot(s: &TestServer, dns: &TestDns) {
    let Some((_acme, dovecot)) = acme_dovecot(s, dns).await else {
        return;
    };
    let right = password_for("alice");
    for _ in 0..10 {
        assert!(
            !dovecot
                .auth_test("alice", "wrong password!", "192.0.2.10")
                .await
                .ok
        );
    }
    let throttled = dovecot.auth_test("alice", &right, "192.0.2.11").await;
    assert!(
        !throttled.ok,
        "throttled, yet allowed: {}",
        throttled.output
    );
    let log = dovecot.log();
    assert!(
        log.contains("throttled: too many failures, retry after"),
        "no retry delay in Dovecot's log:\n{log}"
    );

    for i in 0..50 {
        let login = format!("nobody{i}");
        assert!(
            !dovecot
                .auth_test(&login, "wrong password!", "198.51.100.9")
                .await
                .ok
        );
    }
    let from_there = dovecot
        .auth_test("hans", &password_for("hans"), "198.51.100.9")
        .await;
    assert!(
        !from_there.ok,
        "the throttled address got in: {}",
        from_there.output
    );
    let elsewhere = dovecot
        .auth_test("hans", &password_for("hans"), "198.51.100.10")
        .await;
    assert!(
        elsewhere.ok,
        "another address is refused: {}",
        elsewhere.output
    );
}

/// The control plane stopped: a temporary failure (IMAP `[UNAVAILABLE]`,
/// doveadm `temp_fail`), never "wrong password"; restarted, logins work.
async fn an_outage_is_a_temporary_failure(s: &mut TestServer, dns: &TestDns) {
    let Some((_acme, dovecot)) = acme_dovecot(s, dns).await else {
        return;
    };
    let right = password_for("alice");
    s.stop().await;
    let test = dovecot.auth_test("alice", &right, "192.0.2.7").await;
    assert!(
        !test.ok && test.output.contains("temp_fail"),
        "{}",
        test.output
    );
    let imap = dovecot.imap_login("alice", &right).await;
    assert!(imap.starts_with("a1 NO [UNAVAILABLE]"), "{imap}");
    s.restart().await;
    let test = dovecot.auth_test("alice", &right, "192.0.2.7").await;
    assert!(test.ok, "after the restart: {}", test.output);
}

/// SMTP AUTH through Dovecot: alice may send as her addresses and aliases,
/// not as hans (Postfix's `reject_sender_login_mismatch` over the
/// `senders` map).
async fn senders_must_be_their_own(s: &TestServer, dns: &TestDns) {
    let Some((acme, dovecot)) = acme_dovecot(s, dns).await else {
        return;
    };
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let Some(postfix) = Postfix::start(bridge.addr, Some(dovecot.sasl)).await else {
        return;
    };
    let mut smtp = postfix.session().await;
    let credentials = plain_credentials("alice", &password_for("alice"));
    let (code, line) = smtp.command(&format!("AUTH PLAIN {credentials}")).await;
    assert_eq!(code, 235, "AUTH PLAIN as alice: {line}\n{}", dovecot.log());
    let mut failures = Vec::new();
    for (sender, allowed) in [
        (acme.alice.primary_address.as_str(), true),
        ("sales@acme.example", true),
        (acme.hans.primary_address.as_str(), false),
        (acme.master.primary_address.as_str(), false),
    ] {
        smtp.command("RSET").await;
        let (code, line) = smtp.command(&format!("MAIL FROM:<{sender}>")).await;
        // The mismatch is refused at RCPT TO (smtpd_delay_reject).
        let (rcpt, rcpt_line) = smtp.command("RCPT TO:<hans@xn--bcher-kva.example>").await;
        let accepted = code == 250 && rcpt == 250;
        if accepted != allowed {
            failures.push(format!("alice as {sender}: {line} / {rcpt_line}"));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// `\0login\0password`, base64 (RFC 4616).
fn plain_credentials(login: &str, password: &str) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let bytes = format!("\0{login}\0{password}").into_bytes();
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn plain_credentials_are_base64() {
    assert_eq!(
        plain_credentials("tim", "tanstaaftanstaaf"),
        "AHRpbQB0YW5zdGFhZnRhbnN0YWFm"
    );
}

backend_tests!(
    logins_get_the_control_planes_answer: TestDns,
    throttles_reach_through_dovecot: TestDns,
    an_outage_is_a_temporary_failure: TestDns,
    senders_must_be_their_own: TestDns,
);
