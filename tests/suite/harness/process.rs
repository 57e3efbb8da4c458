//! The server binary (`mailadmin-server`) as a child process, for tests
//! that kill and restart it or run two replicas on one database.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tonic::transport::{Channel, Endpoint};

/// The server binary (`mailadmin-server`), running as a child process.
pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
}

impl ServerProcess {
    /// Starts `mailadmin-server` on a free loopback port against `url`, the
    /// renewal schedule off (renewals only through RunRenewals), `extra`
    /// flags appended, logs to `<dir>/<name>.log`.
    pub fn start(
        url: &str,
        dir: &Path,
        token_file: &Path,
        name: &str,
        extra: &[&str],
    ) -> ServerProcess {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("finding a free port")
            .port();
        let addr: SocketAddr = format!("127.0.0.1:{port}").parse().expect("address");
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log).expect("creating the server log");
        let err = out.try_clone().expect("cloning the log handle");
        let child = Command::new(env!("CARGO_BIN_EXE_mailadmin-server"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database-url")
            .arg(url)
            .arg("--operator-token-file")
            .arg(token_file)
            // Replicas of one test share the directory, so the key file too.
            .arg("--key-file")
            .arg(dir.join("server.key"))
            .args(["--renewal-interval-seconds", "0"])
            .args(extra)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .expect("starting the mailadmin-server binary");
        ServerProcess { child, addr, log }
    }

    /// The process id (to read its open files under `/proc`).
    pub fn pid(&self) -> u32 {
        self.child.id().expect("mailadmin-server is running")
    }

    /// `http://<addr>`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The end of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    /// Panics (with the log) if the process has exited.
    pub fn assert_running(&mut self) {
        if let Ok(Some(status)) = self.child.try_wait() {
            panic!(
                "mailadmin-server exited ({status}); its log:\n{}",
                self.log_tail()
            );
        }
    }

    /// Sends SIGHUP (the server reloads its TLS files).
    pub fn hangup(&self) {
        let pid = self.child.id().expect("mailadmin-server is running");
        let status = std::process::Command::new("kill")
            .args(["-HUP", &pid.to_string()])
            .status()
            .expect("running kill");
        assert!(status.success(), "kill -HUP {pid} failed");
    }

    /// The server's whole log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// SIGKILL, and reaps the process.
    pub async fn kill(&mut self) {
        self.child.kill().await.expect("killing mailadmin-server");
    }

    /// A channel to the server, once it accepts connections.
    pub async fn channel(&mut self) -> Channel {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            self.assert_running();
            match Endpoint::from_shared(self.url())
                .expect("endpoint")
                .connect()
                .await
            {
                Ok(channel) => return channel,
                Err(e) if Instant::now() > deadline => panic!(
                    "mailadmin-server never accepted connections on {}: {e}\n{}",
                    self.addr,
                    self.log_tail()
                ),
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }
}

/// The operator token the first start of `server` writes to `path`, once
/// it is complete.
pub async fn read_token_file(server: &mut ServerProcess, path: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        server.assert_running();
        if let Ok(text) = std::fs::read_to_string(path)
            && text.ends_with('\n')
            && !text.trim().is_empty()
        {
            return text.trim().to_string();
        }
        assert!(
            Instant::now() < deadline,
            "mailadmin-server never wrote its operator token to {}:\n{}",
            path.display(),
            server.log_tail()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The path of a binary of the client crate (`mailadmin`, `mailadmin-bridge`, `mailadmin-checkpassword`),
/// built on first use with the `cargo` that runs the tests.
pub async fn client_binary(name: &str) -> std::path::PathBuf {
    static BUILT: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
    let repo = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    BUILT
        .get_or_init(|| async {
            let cargo = std::env::var_os("CARGO").unwrap_or_else(|| env!("CARGO").into());
            let status = tokio::process::Command::new(cargo)
                .current_dir(&repo)
                .args(["build", "--quiet", "-p", "mailadmin-client", "--bins"])
                .status()
                .await
                .expect("running cargo build");
            assert!(
                status.success(),
                "building the client crate's binaries failed"
            );
        })
        .await;
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| repo.join("target"));
    let path = target.join("debug").join(name);
    assert!(path.exists(), "{} was not built", path.display());
    path
}
