//! Transport security (docs/rules.md, "Transport security"). With
//! `--tls-cert`/`--tls-key` the listener speaks TLS only: a client that does
//! not trust the server's CA gets no connection, and plaintext gets none
//! either. With `--tls-client-ca` and `--delivery-requires-client-cert` a
//! mail host needs a client certificate from that CA *and* a delivery
//! token, while admin calls still need only their token. SIGHUP reads the
//! certificate again for new connections, without dropping open ones. A
//! non-loopback address without TLS needs `--insecure-plaintext`.
//!
//! Every certificate is made by the test (rcgen): a server CA, a client CA,
//! and a stranger CA whose certificates the server must not accept.

use crate::harness::*;
use mailadmin_client::pb;
use mailadmin_client::tls::ClientTls;
use mailadmin_server::Settings;
use mailadmin_server::tls::TlsFiles;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, IsCa, KeyPair, KeyUsagePurpose,
};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use tonic::Code;
use tonic::transport::Channel;

backend_tests!(
    clients_must_trust_the_servers_ca: TestPki,
    mail_hosts_need_a_certificate_and_a_token: TestPki,
    the_bridge_and_the_cli_speak_tls: TestPki,
);

/// A certificate authority made for one test.
struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl TestCa {
    fn new(name: &str) -> TestCa {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let key = KeyPair::generate().expect("a CA key");
        TestCa {
            issuer: CertifiedIssuer::self_signed(params, key).expect("a self-signed CA"),
        }
    }

    /// A certificate for `names` (DNS names or IP addresses) and its key, as PEM.
    fn issue(&self, common_name: &str, names: &[&str]) -> (String, String) {
        let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
        let mut params = CertificateParams::new(names).expect("certificate parameters");
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("a key");
        let cert = params.signed_by(&key, &self.issuer).expect("signing");
        (cert.pem(), key.serialize_pem())
    }
}

/// The files of a TLS deployment: the server's CA and certificate, the CA
/// of the mail hosts' client certificates and one such certificate, and a
/// client certificate from a CA the server does not know.
pub struct TestPki {
    dir: tempfile::TempDir,
    server_ca: TestCa,
}

impl TestPki {
    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.path(name);
        // Replaced by rename, as a certificate manager would.
        let tmp = self.path(&format!("{name}.tmp"));
        std::fs::write(&tmp, contents).expect("writing a PEM file");
        std::fs::rename(&tmp, &path).expect("renaming a PEM file into place");
        path
    }

    fn server_files(&self) -> TlsFiles {
        TlsFiles {
            cert: self.path("server.pem"),
            key: self.path("server.key"),
            client_ca: Some(self.path("client-ca.pem")),
        }
    }

    /// A new certificate for the server (same names), written over the old.
    fn renew_server_certificate(&self, common_name: &str) -> String {
        let (cert, key) = self
            .server_ca
            .issue(common_name, &["localhost", "127.0.0.1"]);
        self.write("server.key", &key);
        self.write("server.pem", &cert);
        cert
    }

    /// Trusts the server's CA; shows `client` (`"mail-host"`, `"stranger"`) if given.
    fn client_tls(&self, client: Option<&str>) -> ClientTls {
        let mut tls = ClientTls::default()
            .ca_file(&self.path("server-ca.pem"))
            .expect("reading the server CA");
        if let Some(name) = client {
            tls = tls
                .identity_files(
                    &self.path(&format!("{name}.pem")),
                    &self.path(&format!("{name}.key")),
                )
                .expect("reading a client certificate");
        }
        tls
    }
}

impl Fixture for TestPki {
    async fn start() -> Self {
        let pki = TestPki {
            dir: tempfile::tempdir().expect("a directory for certificates"),
            server_ca: TestCa::new("mailadmin test server CA"),
        };
        pki.write("server-ca.pem", &pki.server_ca.issuer.pem());
        pki.renew_server_certificate("mailadmin test server");
        let client_ca = TestCa::new("mailadmin test mail hosts CA");
        pki.write("client-ca.pem", &client_ca.issuer.pem());
        let (cert, key) = client_ca.issue("mx1.mailadmin.example", &["mx1.mailadmin.example"]);
        pki.write("mail-host.pem", &cert);
        pki.write("mail-host.key", &key);
        let stranger = TestCa::new("someone else's CA");
        let (cert, key) = stranger.issue("mx1.mailadmin.example", &["mx1.mailadmin.example"]);
        pki.write("stranger.pem", &cert);
        pki.write("stranger.key", &key);
        pki
    }

    fn configure(&self, settings: &mut Settings) {
        settings.tls = Some(self.server_files());
        settings.delivery_requires_client_cert = true;
    }
}

/// A channel to `https://localhost:<port>` with `tls` (nothing dialled yet).
fn tls_channel(server: &TestServer, tls: &ClientTls) -> Channel {
    mailadmin_client::tls::endpoint(&format!("https://localhost:{}", server.addr.port()), tls)
        .expect("a TLS endpoint")
        .connect_timeout(Duration::from_secs(5))
        .connect_lazy()
}

fn admin_over(channel: Channel, token: &str) -> Client {
    pb::admin_service_client::AdminServiceClient::with_interceptor(channel, Bearer::token(token))
}

fn delivery_over(channel: Channel, token: &str) -> DeliveryPbClient {
    pb::delivery_service_client::DeliveryServiceClient::with_interceptor(
        channel,
        Bearer::token(token),
    )
}

async fn list_organizations(client: &mut Client) -> Result<usize, tonic::Status> {
    client
        .list_organizations(pb::ListOrganizationsRequest::default())
        .await
        .map(|answer| answer.into_inner().organizations.len())
}

async fn clients_must_trust_the_servers_ca(s: &mut TestServer, pki: &TestPki) {
    // Trusting the server's CA: admin calls need only their token.
    let mut trusting = admin_over(tls_channel(s, &pki.client_tls(None)), &s.operator_token);
    list_organizations(&mut trusting)
        .await
        .expect("an operator call over TLS");

    // The system's roots do not include the test CA: no connection at all.
    let mut untrusting = admin_over(tls_channel(s, &ClientTls::default()), &s.operator_token);
    let refused = list_organizations(&mut untrusting)
        .await
        .expect_err("a client that does not trust the CA");
    assert_eq!(refused.code(), Code::Unavailable, "{refused:?}");
    assert!(
        format!("{refused:?}").contains("certificate"),
        "the failure says why: {refused:?}"
    );

    // Plaintext HTTP/2 to the TLS listener gets nothing either.
    let plaintext = tonic::transport::Endpoint::from_shared(format!("http://{}", s.addr))
        .expect("endpoint")
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(5))
        .connect_lazy();
    let refused = list_organizations(&mut admin_over(plaintext, &s.operator_token))
        .await
        .expect_err("plaintext to a TLS listener");
    assert_ne!(refused.code(), Code::Ok);
}

async fn mail_hosts_need_a_certificate_and_a_token(s: &mut TestServer, pki: &TestPki) {
    s.use_channel(tls_channel(s, &pki.client_tls(None)));
    let org = s.create_org("TLS Org", Plan::Pro).await;
    let user = s.create_user(&org.admin, org.id, "ann", Plan::Free).await;
    let address = user.primary_address.clone();
    let token = s.delivery_token().await;
    let check = |address: &str| pb::CheckRecipientRequest {
        address: address.to_string(),
    };

    // Token but no certificate: refused, and the message says what is missing.
    let mut without = delivery_over(tls_channel(s, &pki.client_tls(None)), &token);
    let refused = without
        .check_recipient(check(&address))
        .await
        .expect_err("a delivery call without a client certificate");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");
    assert!(
        refused.message().contains("client certificate"),
        "{refused:?}"
    );

    // A certificate from a CA the server does not know: the handshake fails.
    let mut stranger = delivery_over(tls_channel(s, &pki.client_tls(Some("stranger"))), &token);
    let refused = stranger
        .check_recipient(check(&address))
        .await
        .expect_err("a client certificate from an unknown CA");
    // In TLS 1.3 the client finishes its side of the handshake before the
    // server has judged its certificate: the refusal arrives as the
    // connection closing under the first call (canceled, broken pipe…),
    // never as an answer.
    assert!(
        matches!(
            refused.code(),
            Code::Unavailable | Code::Cancelled | Code::Unknown
        ) && std::error::Error::source(&refused).is_some(),
        "a transport failure: {refused:?}"
    );

    // The mail host's certificate and the token: answered.
    let mut mail_host = delivery_over(tls_channel(s, &pki.client_tls(Some("mail-host"))), &token);
    let answer = mail_host
        .check_recipient(check(&address))
        .await
        .expect("a delivery call with certificate and token")
        .into_inner();
    let verdict = answer.result.expect("a verdict");
    assert_eq!(verdict.verdict(), pb::Verdict::Deliver, "{verdict:?}");

    // The certificate alone is not enough: the token is still checked.
    let mut no_token = delivery_over(
        tls_channel(s, &pki.client_tls(Some("mail-host"))),
        "mat_not-a-token",
    );
    let refused = no_token
        .check_recipient(check(&address))
        .await
        .expect_err("a certificate without a valid token");
    assert_eq!(refused.code(), Code::Unauthenticated, "{refused:?}");

    // The typed client takes the same settings.
    let client = mailadmin_client::DeliveryClient::builder(&token)
        .replica(&format!("https://localhost:{}", s.addr.port()))
        .timeout(Duration::from_secs(5))
        .tls(pki.client_tls(Some("mail-host")))
        .build()
        .expect("a DeliveryClient over TLS");
    assert!(
        matches!(
            client.check_recipient(&address).await,
            mailadmin_client::Verdict::Deliver { .. }
        ),
        "the DeliveryClient with a certificate gets the verdict"
    );
}

async fn the_bridge_and_the_cli_speak_tls(s: &mut TestServer, pki: &TestPki) {
    s.use_channel(tls_channel(s, &pki.client_tls(None)));
    let token = s.delivery_token().await;
    let dir = tempfile::tempdir().expect("a directory");
    let token_file = dir.path().join("delivery.token");
    std::fs::write(&token_file, &token).expect("writing the token file");
    let url = format!("https://localhost:{}", s.addr.port());
    let ca = pki.path("server-ca.pem");
    let (cert, key) = (pki.path("mail-host.pem"), pki.path("mail-host.key"));

    let bridge = client_binary("mailadmin-bridge").await;
    let check = |with_certificate: bool| {
        let mut command = tokio::process::Command::new(&bridge);
        command
            .args(["--check", "--server", &url, "--timeout-ms", "5000"])
            .arg("--token-file")
            .arg(&token_file)
            .arg("--tls-ca")
            .arg(&ca);
        if with_certificate {
            command
                .arg("--tls-client-cert")
                .arg(&cert)
                .arg("--tls-client-key")
                .arg(&key);
        }
        command.output()
    };
    let answered = check(true).await.expect("running the bridge");
    assert!(
        answered.status.success(),
        "bridge --check with a client certificate: {}{}",
        String::from_utf8_lossy(&answered.stdout),
        String::from_utf8_lossy(&answered.stderr)
    );
    let refused = check(false).await.expect("running the bridge");
    assert_eq!(
        refused.status.code(),
        Some(1),
        "bridge --check without a client certificate must fail: {}",
        String::from_utf8_lossy(&refused.stdout)
    );

    // The CLI: an operator's listing over TLS, and no connection without the CA.
    let cli = client_binary("mailadmin").await;
    let operator_file = dir.path().join("operator.token");
    std::fs::write(&operator_file, &s.operator_token).expect("writing the token file");
    let list = |trust: bool| {
        let mut command = tokio::process::Command::new(&cli);
        command
            .env("XDG_CONFIG_HOME", dir.path())
            .args(["--server", &url, "--output", "json", "--timeout", "10"])
            .arg("--token-file")
            .arg(&operator_file);
        if trust {
            command.arg("--tls-ca").arg(&ca);
        }
        command.args(["org", "list"]).output()
    };
    let listed = list(true).await.expect("running mailadmin");
    assert!(
        listed.status.success(),
        "mailadmin org list over TLS: {}",
        String::from_utf8_lossy(&listed.stderr)
    );
    assert!(
        String::from_utf8_lossy(&listed.stdout)
            .trim_start()
            .starts_with('[')
    );
    let unreachable = list(false).await.expect("running mailadmin");
    assert_eq!(
        unreachable.status.code(),
        Some(3),
        "without the CA the server is unreachable: {}",
        String::from_utf8_lossy(&unreachable.stderr)
    );
}

/// The certificate a fresh TLS handshake with `addr` is shown (DER).
async fn served_certificate(addr: std::net::SocketAddr, ca: &Path) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls::pki_types::CertificateDer::pem_file_iter(ca).expect("the CA file") {
        roots
            .add(cert.expect("a CA certificate"))
            .expect("a trust anchor");
    }
    let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .expect("protocol versions")
    .with_root_certificates(roots)
    .with_no_client_auth();
    let connector = tokio_rustls::TlsConnector::from(std::sync::Arc::new(config));
    let tcp = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    let name = rustls::pki_types::ServerName::try_from("localhost").expect("a server name");
    let tls = connector.connect(name, tcp).await.expect("a TLS handshake");
    let (_, session) = tls.get_ref();
    session.peer_certificates().expect("the server's chain")[0].to_vec()
}

fn der_of(pem: &str) -> Vec<u8> {
    use rustls::pki_types::pem::PemObject as _;
    rustls::pki_types::CertificateDer::from_pem_slice(pem.as_bytes())
        .expect("a PEM certificate")
        .to_vec()
}

/// SIGHUP to the real binary: new connections get the renewed certificate,
/// an open connection keeps working, and a broken file leaves the last good
/// certificate in service.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sighup_serves_a_renewed_certificate_to_new_connections() {
    let pki = TestPki::start().await;
    let first = std::fs::read_to_string(pki.path("server.pem")).expect("the first certificate");
    let dir = tempfile::tempdir().expect("a directory");
    let token_file = dir.path().join("operator.token");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let files = pki.server_files();
    let mut server = ServerProcess::start(
        &url,
        dir.path(),
        &token_file,
        "tls",
        &[
            "--tls-cert",
            files.cert.to_str().expect("a UTF-8 path"),
            "--tls-key",
            files.key.to_str().expect("a UTF-8 path"),
        ],
    );
    let operator = read_token_file(&mut server, &token_file).await;
    let ca = pki.path("server-ca.pem");
    assert_eq!(served_certificate(server.addr, &ca).await, der_of(&first));

    // A connection opened before the reload.
    let open = mailadmin_client::tls::endpoint(
        &format!("https://localhost:{}", server.addr.port()),
        &pki.client_tls(None),
    )
    .expect("endpoint")
    .connect()
    .await
    .expect("connecting over TLS");
    let mut before = admin_over(open, &operator);
    list_organizations(&mut before)
        .await
        .expect("a call before the reload");

    let renewed = pki.renew_server_certificate("mailadmin test server, renewed");
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(30);
    while served_certificate(server.addr, &ca).await != der_of(&renewed) {
        server.assert_running();
        assert!(
            Instant::now() < deadline,
            "the renewed certificate was never served:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    list_organizations(&mut before)
        .await
        .expect("the connection opened before the reload still works");

    // A broken key file: the reload fails, the renewed certificate stays.
    std::fs::write(pki.path("server.key"), "not a key").expect("breaking the key file");
    server.hangup();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !server.log().contains("TLS reload failed") {
        server.assert_running();
        assert!(
            Instant::now() < deadline,
            "a failed reload is never logged:\n{}",
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(served_certificate(server.addr, &ca).await, der_of(&renewed));
    server.kill().await;
}

/// Plaintext on an address other hosts can reach needs `--insecure-plaintext`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plaintext_beyond_loopback_must_be_asked_for() {
    let dir = tempfile::tempdir().expect("a directory");
    let url = format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("db.sqlite").display()
    );
    let server = |extra: &[&str]| {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_mailadmin-server"));
        command
            .args(["--listen", "0.0.0.0:0", "--database-url", &url])
            .arg("--key-file")
            .arg(dir.path().join("server.key"))
            .arg("--operator-token-file")
            .arg(dir.path().join("operator.token"))
            .args(["--renewal-interval-seconds", "0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .kill_on_drop(true);
        command
    };
    let refused = tokio::time::timeout(Duration::from_secs(60), server(&[]).output())
        .await
        .expect("the server refuses at once")
        .expect("running mailadmin-server");
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("--insecure-plaintext") && stderr.contains("0.0.0.0"),
        "the refusal names the address and the way out: {stderr}"
    );

    let mut started = server(&["--insecure-plaintext"])
        .spawn()
        .expect("starting mailadmin-server");
    let mut output = started.stderr.take().expect("the server's log (stderr)");
    let mut log = String::new();
    let warned = tokio::time::timeout(Duration::from_secs(60), async {
        use tokio::io::AsyncReadExt as _;
        let mut buf = [0u8; 4096];
        loop {
            let n = output.read(&mut buf).await.expect("reading the log");
            assert!(n > 0, "the server exited: {log}");
            log.push_str(&String::from_utf8_lossy(&buf[..n]));
            if log.contains("serving plaintext on an address other hosts can reach") {
                return;
            }
        }
    })
    .await;
    started.kill().await.expect("stopping the server");
    assert!(warned.is_ok(), "no warning logged: {log}");
}
