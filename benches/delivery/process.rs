//! Servers under load run as their own processes, as in production: the
//! real `mailadmin-server` binary, and the ceiling server (this benchmark
//! binary started again). Here: starting them, waiting until they accept
//! connections, and reading their memory from `/proc`.

use anyhow::Context as _;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::process::{Child, Command};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;

pub struct ServerProcess {
    child: Child,
    pub addr: SocketAddr,
    log: PathBuf,
    /// The gRPC health service name that says "ready"; `None`: the
    /// process binds its port only once it is ready.
    health: Option<&'static str>,
}

pub fn free_loopback_addr() -> anyhow::Result<SocketAddr> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    Ok(SocketAddr::from(([127, 0, 0, 1], port)))
}

impl ServerProcess {
    /// `mailadmin-server` against `database_url`, serving the provider
    /// domains the seeded accounts use; the renewal schedule off.
    pub fn mailadmin(
        database_url: &str,
        dir: &Path,
        name: &str,
        token_file: &Path,
    ) -> anyhow::Result<ServerProcess> {
        Self::mailadmin_with(database_url, dir, name, token_file, &[])
    }

    /// [`ServerProcess::mailadmin`] with `extra` flags appended.
    pub fn mailadmin_with(
        database_url: &str,
        dir: &Path,
        name: &str,
        token_file: &Path,
        extra: &[&str],
    ) -> anyhow::Result<ServerProcess> {
        let addr = free_loopback_addr()?;
        let mut command = Command::new(env!("CARGO_BIN_EXE_mailadmin-server"));
        command
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--database-url")
            .arg(database_url)
            .arg("--operator-token-file")
            .arg(token_file)
            // One key file for the run: replicas of one database share it.
            .arg("--key-file")
            .arg(dir.join("server.key"))
            .args(["--renewal-interval-seconds", "0"])
            .arg("--provider-domains")
            .arg(format!(
                "mailadmin.example,{}",
                mailadmin_server::store::SEED_DOMAIN
            ))
            .args(extra)
            .env_remove("OTEL_EXPORTER_OTLP_ENDPOINT")
            .env("RUST_LOG", "info");
        ServerProcess::start(
            command,
            addr,
            dir,
            name,
            Some("mailadmin.v1.DeliveryService"),
        )
    }

    /// The ceiling server (`ceiling.rs`) serving `directory_file`.
    pub fn ceiling(
        token: &str,
        directory_file: &Path,
        dir: &Path,
    ) -> anyhow::Result<ServerProcess> {
        let addr = free_loopback_addr()?;
        let mut command = Command::new(std::env::current_exe()?);
        command
            .arg("--ceiling-server")
            .arg(addr.to_string())
            .arg(directory_file)
            .env("MAILADMIN_BENCH_CEILING_TOKEN", token);
        ServerProcess::start(command, addr, dir, "ceiling", None)
    }

    pub fn start(
        mut command: Command,
        addr: SocketAddr,
        dir: &Path,
        name: &str,
        health: Option<&'static str>,
    ) -> anyhow::Result<ServerProcess> {
        let log = dir.join(format!("{name}.log"));
        let out = std::fs::File::create(&log)?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(ServerProcess {
            child,
            addr,
            log,
            health,
        })
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server accepts connections; how long that took.
    pub async fn ready(&mut self, started: Instant) -> anyhow::Result<Duration> {
        let deadline = started + Duration::from_secs(300);
        loop {
            if let Some(status) = self.child.try_wait()? {
                anyhow::bail!("server exited ({status}); log:\n{}", self.log());
            }
            if self.answers().await {
                return Ok(started.elapsed());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "server not ready after 300 s; log:\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn answers(&self) -> bool {
        if tokio::net::TcpStream::connect(self.addr).await.is_err() {
            return false;
        }
        let Some(service) = self.health else {
            return true;
        };
        let Ok(channel) = tonic::transport::Endpoint::from_shared(self.url())
            .expect("a loopback URL")
            .connect()
            .await
        else {
            return false;
        };
        let mut health = HealthClient::new(channel);
        let check = health.check(HealthCheckRequest {
            service: service.to_string(),
        });
        matches!(
            tokio::time::timeout(Duration::from_secs(1), check).await,
            Ok(Ok(response)) if response.get_ref().status == ServingStatus::Serving as i32
        )
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Resident and peak resident memory, in bytes (`VmRSS`, `VmHWM`).
    pub fn memory(&self) -> anyhow::Result<(u64, u64)> {
        let pid = self.child.id().context("the server has exited")?;
        let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
        let field = |name: &str| -> anyhow::Result<u64> {
            let line = status
                .lines()
                .find(|l| l.starts_with(name))
                .with_context(|| format!("{name} in /proc/{pid}/status"))?;
            let kib: u64 = line
                .split_whitespace()
                .nth(1)
                .context("a number of kB")?
                .parse()?;
            Ok(kib * 1024)
        };
        Ok((field("VmRSS:")?, field("VmHWM:")?))
    }

    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.child.kill().await?;
        Ok(())
    }
}
