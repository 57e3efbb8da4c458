//! An unmodified Postfix (Debian's, its own configuration and queue
//! directories in a tempdir, SMTP on a loopback port) whose tables are the
//! bridge's socketmaps (docs/rules.md, "Mail-server bridge"): RCPT TO gets
//! the control plane's answers, a stopped control plane defers and a
//! restarted one is used again with the bridge left running, a message is
//! delivered into the mailbox the `mailboxes` map names, and
//! `reject_sender_login_mismatch` follows the `senders` map.

use super::*;
use crate::dns_server::TestDns;
use crate::harness::*;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A Postfix instance of the test's own.
pub(super) struct Postfix {
    dir: tempfile::TempDir,
    smtp: SocketAddr,
    /// Where Postfix delivers (`virtual_transport`).
    sink: LmtpSink,
}

impl Postfix {
    /// Starts Postfix with its tables on the bridge at `bridge` and, given
    /// `sasl`, SMTP AUTH through Dovecot's auth service there. `None` when
    /// Postfix is not installed (skipped; a failure under CI).
    pub(super) async fn start(bridge: SocketAddr, sasl: Option<SocketAddr>) -> Option<Postfix> {
        if !Path::new("/usr/sbin/postfix").exists() {
            skip_or_fail("Postfix is not installed: apt-get install postfix");
            return None;
        }
        if !running_as_root() {
            skip_or_fail("a Postfix instance of the test's own needs root");
            return None;
        }
        let dir = tempfile::tempdir().expect("a tempdir");
        let root = dir.path();
        let (etc, queue, data) = (root.join("etc"), root.join("queue"), root.join("data"));
        for d in [&etc, &queue, &data] {
            std::fs::create_dir(d).expect("creating Postfix's directories");
        }
        // Postfix checks ownership: the tree root-owned and not writable by
        // others, its data directory the postfix user's.
        set_mode(root, 0o755);
        chown(&data, "postfix:postfix");
        let sink = LmtpSink::start().await;
        let port = free_port();
        let smtp: SocketAddr = format!("127.0.0.1:{port}").parse().unwrap();
        let master = std::fs::read_to_string("/etc/postfix/master.cf").expect("Debian's master.cf");
        let master: String = master
            .lines()
            .map(|line| {
                if line.starts_with("smtp ") && line.contains(" inet ") {
                    format!("{smtp} inet n - n - - smtpd")
                } else {
                    line.to_string()
                }
            })
            .collect::<Vec<_>>()
            .join("\n");
        std::fs::write(etc.join("master.cf"), master + "\n").unwrap();
        let table = |name: &str| format!("socketmap:inet:{bridge}:{name}");
        let main = format!(
            "compatibility_level = 3.6\n\
             queue_directory = {queue}\n\
             data_directory = {data}\n\
             inet_interfaces = loopback-only\n\
             inet_protocols = ipv4\n\
             myhostname = mx.test.example\n\
             mydestination =\n\
             mynetworks = 127.0.0.0/8\n\
             maillog_file_prefixes = {root}\n\
             maillog_file = {root}/maillog\n\
             smtputf8_enable = yes\n\
             biff = no\n\
             virtual_mailbox_domains = {domains}\n\
             virtual_mailbox_maps = {mailboxes}\n\
             virtual_alias_maps = {aliases}\n\
             virtual_transport = lmtp:inet:{lmtp}\n\
             smtpd_sender_login_maps = {senders}\n\
             smtpd_sender_restrictions = reject_sender_login_mismatch\n\
             smtpd_recipient_restrictions = reject_unauth_destination, \
               check_recipient_access {recipient_access}\n",
            root = root.display(),
            queue = queue.display(),
            data = data.display(),
            lmtp = sink.addr,
            domains = table("domains"),
            mailboxes = table("mailboxes"),
            aliases = table("aliases"),
            senders = table("senders"),
            recipient_access = table("recipient_access"),
        );
        let sasl = match sasl {
            Some(addr) => format!(
                "smtpd_sasl_auth_enable = yes\n\
                 smtpd_sasl_type = dovecot\n\
                 smtpd_sasl_path = inet:{addr}\n"
            ),
            None => String::new(),
        };
        std::fs::write(etc.join("main.cf"), main + &sasl).unwrap();
        // Creates the queue's directories, then starts master.
        postfix(&etc, "check").await;
        postfix(&etc, "start").await;
        let postfix = Postfix { dir, smtp, sink };
        postfix.wait_for_smtp().await;
        Some(postfix)
    }

    /// Postfix's log so far.
    fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("maillog")).unwrap_or_default()
    }

    fn etc(&self) -> PathBuf {
        self.dir.path().join("etc")
    }

    async fn wait_for_smtp(&self) {
        for _ in 0..200 {
            if TcpStream::connect(self.smtp).await.is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("Postfix never listened on {}", self.smtp);
    }

    /// A new SMTP session, greeted and past EHLO.
    pub(super) async fn session(&self) -> Smtp {
        let mut smtp = Smtp::connect(self.smtp).await;
        smtp.expect(220).await;
        smtp.command("EHLO client.test.example").await;
        smtp
    }

    /// What Postfix delivered so far: each message's LMTP recipients and
    /// its text.
    fn delivered(&self) -> Vec<Delivered> {
        self.sink.messages.lock().unwrap().clone()
    }
}

impl Drop for Postfix {
    fn drop(&mut self) {
        let _ = std::process::Command::new("/usr/sbin/postfix")
            .arg("-c")
            .arg(self.etc())
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

async fn postfix(etc: &Path, command: &str) {
    let output = tokio::process::Command::new("/usr/sbin/postfix")
        .arg("-c")
        .arg(etc)
        .arg(command)
        .output()
        .await
        .expect("running postfix");
    assert!(
        output.status.success(),
        "postfix {command}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(path: &Path, owner: &str) {
    let status = std::process::Command::new("chown")
        .arg(owner)
        .arg(path)
        .status()
        .expect("running chown");
    assert!(status.success(), "chown {owner} {}", path.display());
}

pub(super) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// An SMTP client session, one command at a time.
pub(super) struct Smtp {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Smtp {
    async fn connect(addr: SocketAddr) -> Smtp {
        let (reader, writer) = TcpStream::connect(addr)
            .await
            .expect("connecting")
            .into_split();
        Smtp {
            reader: BufReader::new(reader),
            writer,
        }
    }

    /// The next reply: its code and its last line.
    async fn reply(&mut self) -> (u16, String) {
        loop {
            let mut line = String::new();
            let read =
                tokio::time::timeout(Duration::from_secs(30), self.reader.read_line(&mut line))
                    .await
                    .expect("Postfix answers within 30 s")
                    .expect("reading a reply");
            assert!(read > 0, "Postfix closed the connection");
            let code: u16 = line
                .get(..3)
                .and_then(|c| c.parse().ok())
                .expect("a reply code");
            if line.as_bytes().get(3) != Some(&b'-') {
                return (code, line.trim_end().to_string());
            }
        }
    }

    async fn expect(&mut self, code: u16) -> String {
        let (got, line) = self.reply().await;
        assert_eq!(got, code, "expected {code}, got {line:?}");
        line
    }

    /// Sends `command`, returns the reply's code and last line.
    pub(super) async fn command(&mut self, command: &str) -> (u16, String) {
        self.writer
            .write_all(format!("{command}\r\n").as_bytes())
            .await
            .unwrap();
        self.reply().await
    }

    /// `RCPT TO` in a fresh transaction; the reply.
    async fn rcpt(&mut self, recipient: &str) -> (u16, String) {
        self.command("RSET").await;
        let (code, line) = self
            .command("MAIL FROM:<someone@sender.example> SMTPUTF8")
            .await;
        assert_eq!(code, 250, "MAIL FROM: {line}");
        self.command(&format!("RCPT TO:<{recipient}>")).await
    }
}

/// RCPT TO through a real smtpd: 250 for live addresses (primary, alias,
/// `+tag`, role address), the control plane's own 550s; with the control
/// plane stopped a 4xx (Postfix defers: nothing is refused on a guess);
/// restarted, 250 again, the bridge never restarted.
async fn rcpt_to_follows_the_control_plane(s: &mut TestServer, dns: &TestDns) {
    Acme::create(s, dns).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let Some(postfix) = Postfix::start(bridge.addr, None).await else {
        return;
    };
    let mut smtp = postfix.session().await;
    let cases = [
        ("alice@mailadmin.example", 250, ""),
        ("sales@acme.example", 250, ""),
        ("alice+news@mailadmin.example", 250, ""),
        ("postmaster@bücher.example", 250, ""),
        ("nobody@acme.example", 550, "5.1.1"),
        ("carol@mailadmin.example", 550, "5.2.1"),
        // VERIFIED, not ACTIVE: not a domain served here.
        ("dave@later.example", 554, "5.7.1"),
    ];
    let mut failures = Vec::new();
    for (recipient, code, status) in cases {
        let (got, line) = smtp.rcpt(recipient).await;
        if got != code || !line.contains(status) {
            failures.push(format!(
                "RCPT TO:<{recipient}>: expected {code} {status}, got {line:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));

    s.stop().await;
    for recipient in ["alice@mailadmin.example", "nobody@acme.example"] {
        let (code, line) = smtp.rcpt(recipient).await;
        assert!(
            (400..500).contains(&code),
            "RCPT TO:<{recipient}> with the control plane stopped: {line:?}"
        );
    }
    smtp.command("QUIT").await;
    s.restart().await;
    // The bridge reconnects on its own; the first lookups may still fail
    // while the server comes up.
    let mut answer = (0, String::new());
    for _ in 0..100 {
        let mut smtp = postfix.session().await;
        answer = smtp.rcpt("alice@mailadmin.example").await;
        smtp.command("QUIT").await;
        if answer.0 == 250 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(answer.0, 250, "after the restart: {:?}", answer.1);
}

/// A message to an alias is routed by the maps (alias → primary, which
/// the mailboxes map accepts) and handed to the delivery transport (LMTP,
/// as Dovecot would take it) for the primary address.
async fn a_message_reaches_the_transport_as_its_primary_address(s: &TestServer, dns: &TestDns) {
    Acme::create(s, dns).await;
    let bridge = serve_socketmap(delivery_client(s).await).await;
    let Some(postfix) = Postfix::start(bridge.addr, None).await else {
        return;
    };
    let mut smtp = postfix.session().await;
    assert_eq!(smtp.rcpt("sales@acme.example").await.0, 250);
    assert_eq!(smtp.command("DATA").await.0, 354);
    let (code, line) = smtp
        .command("Subject: routed by mailadmin\r\n\r\nHello Alice.\r\n.")
        .await;
    assert_eq!(code, 250, "end of DATA: {line}");
    smtp.command("QUIT").await;
    let mut delivered = Vec::new();
    for _ in 0..200 {
        delivered = postfix.delivered();
        if !delivered.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(
        delivered.len(),
        1,
        "one message delivered; Postfix's log:\n{}",
        postfix.log()
    );
    let Delivered { recipients, text } = &delivered[0];
    // The alias was rewritten to the primary address (virtual_alias_maps),
    // which the mailboxes map accepted: that is where it was delivered.
    assert_eq!(recipients, &vec!["alice@mailadmin.example".to_string()]);
    assert!(text.contains("Subject: routed by mailadmin"), "{text}");
}

backend_tests!(
    rcpt_to_follows_the_control_plane: TestDns,
    a_message_reaches_the_transport_as_its_primary_address: TestDns,
);

/// A message as the LMTP sink took it: its recipients and its text.
#[derive(Debug, Clone)]
struct Delivered {
    recipients: Vec<String>,
    text: String,
}

type Inbox = std::sync::Arc<std::sync::Mutex<Vec<Delivered>>>;

/// An LMTP server that takes every message (what Dovecot's LMTP would be):
/// the recipients and text of each, for the test to read.
struct LmtpSink {
    addr: SocketAddr,
    messages: Inbox,
    task: tokio::task::JoinHandle<()>,
}

impl LmtpSink {
    async fn start() -> LmtpSink {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let messages = Inbox::default();
        let sink = messages.clone();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    let _ = lmtp_session(stream, sink).await;
                });
            }
        });
        LmtpSink {
            addr,
            messages,
            task,
        }
    }
}

impl Drop for LmtpSink {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// One LMTP session (RFC 2033), no extensions: one reply per recipient
/// after the data.
async fn lmtp_session(stream: TcpStream, sink: Inbox) -> std::io::Result<()> {
    let (reader, mut writer) = stream.into_split();
    let mut reader = BufReader::new(reader);
    writer.write_all(b"220 sink LMTP\r\n").await?;
    let mut recipients = Vec::new();
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        let verb = line.get(..4).unwrap_or("").to_ascii_uppercase();
        let reply: &[u8] = match verb.as_str() {
            "LHLO" => b"250 sink\r\n",
            "MAIL" => {
                recipients.clear();
                b"250 2.1.0 ok\r\n"
            }
            "RCPT" => {
                let to = line.split(['<', '>']).nth(1).unwrap_or("").to_string();
                recipients.push(to);
                b"250 2.1.5 ok\r\n"
            }
            "DATA" => {
                writer.write_all(b"354 go ahead\r\n").await?;
                let mut text = String::new();
                loop {
                    let mut data = String::new();
                    if reader.read_line(&mut data).await? == 0 {
                        return Ok(());
                    }
                    if data == ".\r\n" {
                        break;
                    }
                    text.push_str(&data);
                }
                for _ in &recipients {
                    writer.write_all(b"250 2.0.0 delivered\r\n").await?;
                }
                sink.lock().unwrap().push(Delivered {
                    recipients: recipients.clone(),
                    text,
                });
                continue;
            }
            "QUIT" => {
                writer.write_all(b"221 bye\r\n").await?;
                return Ok(());
            }
            _ => b"250 ok\r\n",
        };
        writer.write_all(reply).await?;
    }
}
