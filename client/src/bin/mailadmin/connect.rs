//! Where the CLI connects and as whom: the server URL, the token (flag,
//! file, environment, or the session `mailadmin login` stored), and the
//! typed clients of each service with the token on every call.

use crate::fail::Fail;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_client::pb::billing_service_client::BillingServiceClient;
use mailadmin_client::pb::delivery_service_client::DeliveryServiceClient;
use mailadmin_client::pb::domain_service_client::DomainServiceClient;
use mailadmin_client::tls::TlsArgs;
use std::path::PathBuf;
use std::time::Duration;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

/// Adds `authorization: Bearer …` when there is a token.
#[derive(Clone)]
pub struct Bearer(Option<MetadataValue<Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(
        &mut self,
        mut request: tonic::Request<()>,
    ) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(value) = &self.0 {
            request
                .metadata_mut()
                .insert("authorization", value.clone());
        }
        Ok(request)
    }
}

type Authed = InterceptedService<Channel, Bearer>;

/// The connection every command uses.
#[derive(Clone)]
pub struct Connection {
    pub url: String,
    channel: Channel,
    bearer: Bearer,
}

impl Connection {
    /// A lazy connection to `url` (nothing is dialled until the first call).
    pub fn new(
        url: &str,
        tls: &TlsArgs,
        token: Option<String>,
        timeout: Duration,
    ) -> Result<Self, Fail> {
        let tls = tls.client_tls().map_err(|e| Fail::Usage(e.to_string()))?;
        let endpoint = mailadmin_client::tls::endpoint(url, &tls)
            .map_err(|e| Fail::Usage(format!("--server {url}: {e}")))?
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .timeout(timeout);
        let bearer = match token {
            Some(token) => Some(
                format!("Bearer {token}")
                    .parse()
                    .map_err(|_| Fail::Usage("the token must be printable ASCII".into()))?,
            ),
            None => None,
        };
        Ok(Connection {
            url: url.to_string(),
            channel: endpoint.connect_lazy(),
            bearer: Bearer(bearer),
        })
    }

    pub fn admin(&self) -> AdminServiceClient<Authed> {
        AdminServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub fn domains(&self) -> DomainServiceClient<Authed> {
        DomainServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub fn billing(&self) -> BillingServiceClient<Authed> {
        BillingServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }

    pub fn delivery(&self) -> DeliveryServiceClient<Authed> {
        DeliveryServiceClient::with_interceptor(self.channel.clone(), self.bearer.clone())
    }
}

/// Where `mailadmin login` keeps the session token: `$XDG_CONFIG_HOME`
/// (or `~/.config`) `/mailadmin/session`.
pub fn session_file() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("mailadmin").join("session"))
}

/// The stored session: (server URL, token).
pub fn read_session() -> Option<(String, String)> {
    let text = std::fs::read_to_string(session_file()?).ok()?;
    let mut lines = text.lines();
    let url = lines.next()?.trim().to_string();
    let token = lines.next()?.trim().to_string();
    (!token.is_empty()).then_some((url, token))
}

/// Stores a session (owner-only file, replaced atomically).
pub fn write_session(url: &str, token: &str) -> Result<PathBuf, Fail> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    let path = session_file()
        .ok_or_else(|| Fail::Usage("no home directory to keep the session in".into()))?;
    let dir = path.parent().expect("the session file has a directory");
    std::fs::create_dir_all(dir).map_err(|e| Fail::Local(format!("{}: {e}", dir.display())))?;
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let write = || -> std::io::Result<()> {
        let mut file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        writeln!(file, "{url}\n{token}")?;
        file.sync_all()?;
        std::fs::rename(&tmp, &path)
    };
    write().map_err(|e| Fail::Local(format!("{}: {e}", path.display())))?;
    Ok(path)
}

/// Forgets the stored session; whether there was one.
pub fn remove_session() -> bool {
    session_file().is_some_and(|path| std::fs::remove_file(path).is_ok())
}
