//! Policy delegation, spoken as Postfix's smtpd speaks it (the attribute
//! set of SMTPD_POLICY_README, several requests on one connection): the
//! verdict at RCPT TO, `DUNNO` elsewhere, `451 4.4.3` when the control
//! plane cannot answer (docs/rules.md, "Mail-server bridge").

use super::*;
use crate::dns_server::TestDns;
use crate::harness::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// One policy connection, as smtpd holds it.
struct Smtpd {
    reader: BufReader<tokio::net::tcp::OwnedReadHalf>,
    writer: tokio::net::tcp::OwnedWriteHalf,
}

impl Smtpd {
    async fn connect(addr: SocketAddr) -> Smtpd {
        let (reader, writer) = TcpStream::connect(addr)
            .await
            .expect("connecting")
            .into_split();
        Smtpd {
            reader: BufReader::new(reader),
            writer,
        }
    }

    /// The action for a request at `stage` for `recipient`.
    async fn ask(&mut self, stage: &str, recipient: &str) -> String {
        let request = format!(
            "request=smtpd_access_policy\nprotocol_state={stage}\nprotocol_name=ESMTP\n\
             client_address=192.0.2.7\nclient_name=mx.sender.example\n\
             reverse_client_name=mx.sender.example\nhelo_name=mx.sender.example\n\
             sender=someone@sender.example\nrecipient={recipient}\nrecipient_count=0\n\
             queue_id=\ninstance=123.456.7\nsize=0\netrn_domain=\nstress=\n\
             sasl_method=\nsasl_username=\nsasl_sender=\nccert_subject=\n\
             ccert_issuer=\nccert_fingerprint=\nencryption_protocol=\n\
             encryption_cipher=\nencryption_keysize=0\n\n"
        );
        self.writer.write_all(request.as_bytes()).await.unwrap();
        let mut action = String::new();
        self.reader.read_line(&mut action).await.unwrap();
        let mut blank = String::new();
        self.reader.read_line(&mut blank).await.unwrap();
        assert_eq!(blank, "\n", "an answer ends with an empty line");
        action
            .strip_prefix("action=")
            .unwrap_or_else(|| panic!("not an action line: {action:?}"))
            .trim_end()
            .to_string()
    }
}

/// Each verdict becomes its action, on one connection.
async fn verdicts_become_actions(s: &TestServer, dns: &TestDns) {
    Acme::create(s, dns).await;
    let bridge = serve_policy(delivery_client(s).await).await;
    let mut smtpd = Smtpd::connect(bridge.addr).await;
    let cases = [
        ("RCPT", "alice@mailadmin.example", "DUNNO"),
        ("RCPT", "Sales+Q1@Acme.Example", "DUNNO"),
        ("RCPT", "postmaster@bücher.example", "DUNNO"),
        (
            "RCPT",
            "nobody@acme.example",
            "550 5.1.1 mailbox unavailable: no such user here",
        ),
        (
            "RCPT",
            "carol@mailadmin.example",
            "550 5.2.1 mailbox disabled, not accepting messages",
        ),
        // Not ours: the relay restrictions decide.
        ("RCPT", "someone@elsewhere.example", "DUNNO"),
        // Other stages have no recipient to judge.
        ("DATA", "nobody@acme.example", "DUNNO"),
        ("RCPT", "", "DUNNO"),
    ];
    let mut failures = Vec::new();
    for (stage, recipient, expected) in cases {
        let got = smtpd.ask(stage, recipient).await;
        if got != expected {
            failures.push(format!(
                "{stage} {recipient:?}: expected {expected:?}, got {got:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

/// No control plane: defer (451 4.4.3), never refuse.
async fn an_outage_defers(s: &TestServer) {
    s.create_org("Acme", Plan::Entry).await;
    let bridge = serve_policy(unreachable_client()).await;
    let mut smtpd = Smtpd::connect(bridge.addr).await;
    for recipient in ["alice@mailadmin.example", "nobody@mailadmin.example"] {
        assert_eq!(
            smtpd.ask("RCPT", recipient).await,
            "451 4.4.3 directory server unavailable, try again later"
        );
    }
}

/// A line that is not `name=value` ends the connection instead of being
/// guessed at; the next connection works.
async fn garbage_closes_the_connection(s: &TestServer, dns: &TestDns) {
    Acme::create(s, dns).await;
    let bridge = serve_policy(delivery_client(s).await).await;
    let mut bad = Smtpd::connect(bridge.addr).await;
    bad.writer
        .write_all(b"this is not an attribute\n\n")
        .await
        .unwrap();
    let mut line = String::new();
    let read = bad.reader.read_line(&mut line).await.unwrap();
    assert_eq!((read, line.as_str()), (0, ""), "closed without an answer");
    let mut good = Smtpd::connect(bridge.addr).await;
    assert_eq!(good.ask("RCPT", "alice@mailadmin.example").await, "DUNNO");
}

backend_tests!(
    verdicts_become_actions: TestDns,
    an_outage_defers,
    garbage_closes_the_connection: TestDns,
);
