//! Logins through a real Dovecot: its auth service asked over the
//! authentication protocol Postfix's SMTP AUTH uses (`AUTH … PLAIN`), with
//! the passdb either `mailadmin-checkpassword` (the control plane's
//! `Authenticate`) or Dovecot's `sql` driver on PostfixAdmin's table with
//! the same Argon2id hashes.

use crate::load::{Outcome, Worker};
use std::net::SocketAddr;
use std::path::Path;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// Why Dovecot cannot be run here, if it cannot.
pub fn unavailable() -> Option<&'static str> {
    if !Path::new("/usr/sbin/dovecot").exists() {
        return Some("Dovecot is not installed (apt-get install dovecot-core dovecot-pgsql)");
    }
    if !Path::new("/usr/lib/dovecot/modules/auth/libdriver_pgsql.so").exists()
        && !Path::new("/usr/lib/dovecot/modules/libdriver_pgsql.so").exists()
    {
        return Some("Dovecot's pgsql driver is not installed (apt-get install dovecot-pgsql)");
    }
    let uid = std::process::Command::new("id").arg("-u").output();
    if !uid.is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0") {
        return Some("a Dovecot instance of the benchmark's own needs root");
    }
    None
}

/// A Dovecot instance with its auth service on a loopback port.
pub struct Dovecot {
    pub auth: SocketAddr,
    _dir: tempfile::TempDir,
    _master: tokio::process::Child,
}

impl Dovecot {
    /// Starts Dovecot with `passdb` (the body of its `passdb { }` block).
    pub async fn start(name: &str, passdb: &str) -> anyhow::Result<Dovecot> {
        let dir = tempfile::tempdir()?;
        let root = dir.path();
        for sub in ["run", "state"] {
            std::fs::create_dir(root.join(sub))?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let config = root.join("dovecot.conf");
        std::fs::write(
            &config,
            format!(
                "base_dir = {root}/run\n\
                 state_dir = {root}/state\n\
                 instance_name = mailadmin-bench-{name}-{port}\n\
                 log_path = {root}/dovecot.log\n\
                 protocols = imap\n\
                 listen = 127.0.0.1\n\
                 ssl = no\n\
                 disable_plaintext_auth = no\n\
                 auth_mechanisms = plain\n\
                 auth_failure_delay = 0\n\
                 default_internal_user = dovecot\n\
                 default_login_user = dovenull\n\
                 service imap-login {{\n\
                   inet_listener imap {{\n    port = 0\n  }}\n\
                   inet_listener imaps {{\n    port = 0\n  }}\n\
                 }}\n\
                 service auth {{\n\
                   inet_listener sasl {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n\
                 }}\n\
                 passdb {{\n{passdb}\n}}\n\
                 userdb {{\n  driver = static\n  args = uid=dovecot gid=dovecot home=/nonexistent allow_all_users=yes\n}}\n",
                root = root.display(),
            ),
        )?;
        let master = tokio::process::Command::new("/usr/sbin/dovecot")
            .arg("-c")
            .arg(&config)
            .arg("-F")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()?;
        let auth: SocketAddr = format!("127.0.0.1:{port}").parse()?;
        for _ in 0..200 {
            if TcpStream::connect(auth).await.is_ok() {
                return Ok(Dovecot {
                    auth,
                    _dir: dir,
                    _master: master,
                });
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let log = std::fs::read_to_string(root.join("dovecot.log")).unwrap_or_default();
        anyhow::bail!("Dovecot ({name}) never listened on {auth}:\n{log}")
    }
}

/// The passdb block for `mailadmin-checkpassword`.
pub fn checkpassword_passdb(binary: &Path, server: &str, token_file: &Path) -> String {
    format!(
        "  driver = checkpassword\n  args = {} --server {server} --token-file {} --timeout-ms 10000",
        binary.display(),
        token_file.display()
    )
}

/// The passdb block for Dovecot's `sql` driver.
pub fn sql_passdb(conf: &Path) -> String {
    format!("  driver = sql\n  args = {}", conf.display())
}

/// One authentication-protocol connection logging `logins` in, in turn,
/// with `password`; a login Dovecot refuses counts as a wrong answer.
pub struct Logins {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    logins: Arc<Vec<String>>,
    password: String,
    id: u64,
    line: String,
}

impl Logins {
    pub async fn connect(
        auth: SocketAddr,
        logins: Arc<Vec<String>>,
        password: &str,
    ) -> anyhow::Result<Logins> {
        let (reader, mut writer) = TcpStream::connect(auth).await?.into_split();
        let mut reader = BufReader::new(reader);
        writer
            .write_all(format!("VERSION\t1\t2\nCPID\t{}\n", std::process::id()).as_bytes())
            .await?;
        let mut line = String::new();
        loop {
            line.clear();
            anyhow::ensure!(
                reader.read_line(&mut line).await? > 0,
                "Dovecot closed the handshake"
            );
            if line == "DONE\n" {
                break;
            }
        }
        Ok(Logins {
            reader,
            writer,
            logins,
            password: password.to_string(),
            id: 0,
            line,
        })
    }

    async fn login(&mut self, login: &str) -> std::io::Result<bool> {
        self.id += 1;
        let plain = base64(format!("\0{login}\0{}", self.password).as_bytes());
        let request = format!(
            "AUTH\t{}\tPLAIN\tservice=smtp\tnologin\tlip=127.0.0.1\trip=127.0.0.1\tresp={plain}\n",
            self.id
        );
        self.writer.write_all(request.as_bytes()).await?;
        loop {
            self.line.clear();
            if self.reader.read_line(&mut self.line).await? == 0 {
                return Ok(false);
            }
            let mut fields = self.line.trim_end().split('\t');
            let (verb, id) = (fields.next(), fields.next());
            if id != Some(self.id.to_string().as_str()) {
                continue;
            }
            match verb {
                Some("OK") => return Ok(true),
                Some("FAIL") => return Ok(false),
                _ => {}
            }
        }
    }
}

impl Worker for Logins {
    async fn call(&mut self, at: usize) -> Outcome {
        let login = self.logins[at % self.logins.len()].clone();
        let ok = self.login(&login).await.unwrap_or(false);
        Outcome {
            checked: 1,
            wrong: u64::from(!ok),
        }
    }
}

/// Standard base64 with padding (the `resp=` of an AUTH request).
fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | u32::from(*b) << (16 - 8 * i));
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

/// The control plane's `Authenticate` asked directly, without Dovecot or a
/// checkpassword process: what the login itself costs the control plane.
pub struct Authenticate {
    pub client: mailadmin_client::DeliveryClient,
    pub logins: Arc<Vec<String>>,
    pub password: String,
}

impl Worker for Authenticate {
    async fn call(&mut self, at: usize) -> Outcome {
        let login = &self.logins[at % self.logins.len()];
        let answer = self
            .client
            .authenticate(login, &self.password, [127, 0, 0, 1].into())
            .await;
        Outcome {
            checked: 1,
            wrong: u64::from(!matches!(
                answer,
                mailadmin_client::AuthOutcome::Allowed { .. }
            )),
        }
    }
}
