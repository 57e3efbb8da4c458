//! DNS lookups for domain ownership and mail records, through hickory-resolver.
//!
//! Every lookup goes to the network: hickory's response cache is sized 0 and
//! every positive and negative TTL is clamped to 0, so a record published a
//! second ago is seen by the next check. One attempt per query (hickory's
//! `attempts` counts retries after the first), bounded by `timeout`.
//! hickory does not connect its UDP sockets, so a closed UDP port (ICMP
//! unreachable) shows up as a timeout, not as a refused connection.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{NameServerConfig, ResolveHosts, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError as HickoryDnsError, NetError, NoRecords};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{Name, RData};

/// A DNS stub resolver without any cache; cheap to clone.
#[derive(Clone, Debug)]
pub struct DnsResolver {
    inner: Arc<TokioResolver>,
}

#[derive(Debug, thiserror::Error)]
pub enum DnsError {
    /// The server did not answer in time.
    #[error("dns timeout: {0}")]
    Timeout(String),
    /// Any other failure to get an answer (SERVFAIL, REFUSED, connection refused, ...).
    #[error("dns failure: {0}")]
    Failed(String),
}

impl DnsResolver {
    /// `server`: Some(ip:port) → use only that server (UDP, with TCP fallback); None → the system configuration (/etc/resolv.conf).
    /// `timeout`: per query; one attempt. No caching at all (positive and negative caches off / size 0),
    /// so a record published a second ago is seen by the next check.
    pub fn new(server: Option<SocketAddr>, timeout: Duration) -> anyhow::Result<Self> {
        let provider = TokioRuntimeProvider::default();
        let mut builder = match server {
            Some(addr) => {
                let mut ns = NameServerConfig::udp_and_tcp(addr.ip());
                for conn in &mut ns.connections {
                    conn.port = addr.port();
                }
                let config = ResolverConfig::from_name_servers(vec![ns]);
                TokioResolver::builder_with_config(config, provider)
            }
            // Keeps resolv.conf's options (ndots, edns0, …); the ones that
            // matter here are overridden below.
            None => TokioResolver::builder(provider).context("read system dns configuration")?,
        };
        let opts = builder.options_mut();
        opts.timeout = timeout;
        // `attempts` is the number of retries after the first try.
        opts.attempts = 0;
        // Capacity 0 disables hickory's moka cache (moka 0.12 skips inserts
        // and reads then); the zero TTL bounds make any entry that still got
        // in expire at once, positive or negative (NXDOMAIN, NODATA).
        opts.cache_size = 0;
        opts.positive_min_ttl = Some(Duration::ZERO);
        opts.positive_max_ttl = Some(Duration::ZERO);
        opts.negative_min_ttl = Some(Duration::ZERO);
        opts.negative_max_ttl = Some(Duration::ZERO);
        opts.use_hosts_file = ResolveHosts::Never;
        let resolver = builder.build().context("build dns resolver")?;
        Ok(Self {
            inner: Arc::new(resolver),
        })
    }

    /// TXT records at `name` (a fully-qualified name without trailing dot, e.g. "_mailadmin-challenge.example.com"):
    /// each record's character-strings concatenated into one String. NXDOMAIN or no TXT records → Ok(vec![]).
    pub async fn txt(&self, name: &str) -> Result<Vec<String>, DnsError> {
        let name = absolute_name(name)?;
        let lookup = match self.inner.txt_lookup(name.clone()).await {
            Ok(lookup) => lookup,
            Err(e) => return no_records_or_error(e, &name),
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                // Concatenate the bytes before decoding: a UTF-8 character
                // may straddle two character-strings.
                RData::TXT(txt) => {
                    Some(String::from_utf8_lossy(&txt.txt_data.concat()).into_owned())
                }
                _ => None,
            })
            .collect())
    }

    /// MX records at `name`: (preference, exchange) with the exchange lower-cased and without trailing dot. None → Ok(vec![]).
    /// A null MX (RFC 7505, exchange ".") comes back as an empty exchange.
    pub async fn mx(&self, name: &str) -> Result<Vec<(u16, String)>, DnsError> {
        let name = absolute_name(name)?;
        let lookup = match self.inner.mx_lookup(name.clone()).await {
            Ok(lookup) => lookup,
            Err(e) => return no_records_or_error(e, &name),
        };
        Ok(lookup
            .answers()
            .iter()
            .filter_map(|record| match &record.data {
                RData::MX(mx) => {
                    let exchange = mx.exchange.to_lowercase().to_ascii();
                    let exchange = exchange.trim_end_matches('.').to_owned();
                    Some((mx.preference, exchange))
                }
                _ => None,
            })
            .collect())
    }
}

/// Parses `name` as an FQDN, so hickory never appends search domains.
fn absolute_name(name: &str) -> Result<Name, DnsError> {
    let trimmed = name.trim_end_matches('.');
    // Relaxed: underscore labels ("_mailadmin-challenge") are common here.
    let mut parsed = Name::from_str_relaxed(format!("{trimmed}."))
        .map_err(|e| DnsError::Failed(format!("invalid name {name:?}: {e}")))?;
    parsed.set_fqdn(true);
    Ok(parsed)
}

/// NXDOMAIN and NOERROR-without-data are answers (empty); the rest is an error.
fn no_records_or_error<T>(err: NetError, name: &Name) -> Result<Vec<T>, DnsError> {
    match err {
        NetError::Dns(HickoryDnsError::NoRecordsFound(NoRecords {
            response_code: ResponseCode::NXDomain | ResponseCode::NoError,
            ..
        })) => Ok(vec![]),
        NetError::Timeout => Err(DnsError::Timeout(format!("no answer for {name}"))),
        NetError::Io(ref io) if io.kind() == std::io::ErrorKind::TimedOut => {
            Err(DnsError::Timeout(format!("{name}: {err}")))
        }
        other => Err(DnsError::Failed(format!("{name}: {other}"))),
    }
}
