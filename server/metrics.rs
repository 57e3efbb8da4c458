//! Metrics (docs/rules.md, "Metrics"): OpenTelemetry instruments, read by
//! a Prometheus registry (`--metrics-listen` serves it as text) and, when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, exported over OTLP too. Each
//! running server has its own provider, so servers in one process (tests)
//! do not mix their series.

use crate::snapshot::RoutingTable;
use opentelemetry::KeyValue;
use opentelemetry::metrics::{Counter, Histogram, MeterProvider as _};
use opentelemetry_sdk::metrics::SdkMeterProvider;
use std::sync::Arc;
use std::time::Duration;

pub struct Metrics {
    registry: prometheus::Registry,
    provider: SdkMeterProvider,
    rpc_duration: Histogram<f64>,
    throttled: Counter<u64>,
    renewals: Counter<u64>,
}

/// What the gauges read when a scrape or an export asks.
pub struct Gauges {
    pub snapshot: Arc<RoutingTable>,
    /// (connections open, of which idle) in the database pool.
    pub pool: Arc<dyn Fn() -> (u32, u32) + Send + Sync>,
}

impl Metrics {
    /// The instruments, read by a Prometheus registry, and by OTLP when
    /// `otlp` (the endpoint comes from `OTEL_EXPORTER_OTLP_*`).
    pub fn new(otlp: bool, gauges: Gauges) -> anyhow::Result<Metrics> {
        let registry = prometheus::Registry::new();
        let prometheus = opentelemetry_prometheus::exporter()
            .with_registry(registry.clone())
            .without_target_info()
            .build()?;
        let mut builder = SdkMeterProvider::builder().with_reader(prometheus);
        if otlp {
            let exporter = opentelemetry_otlp::MetricExporter::builder()
                .with_tonic()
                .build()?;
            builder = builder
                .with_reader(opentelemetry_sdk::metrics::PeriodicReader::builder(exporter).build());
        }
        let provider = builder
            .with_resource(
                opentelemetry_sdk::Resource::builder()
                    .with_service_name("mailadmin-server")
                    .build(),
            )
            .build();
        let meter = provider.meter("mailadmin-server");
        // The OpenTelemetry RPC semantic conventions: rpc.server.duration.
        let rpc_duration = meter
            .f64_histogram("rpc.server.duration")
            .with_unit("ms")
            .with_description("Duration of each RPC, by service, method and gRPC status")
            .with_boundaries(vec![
                0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0,
                2500.0, 5000.0, 10000.0, 30000.0,
            ])
            .build();
        let throttled = meter
            .u64_counter("mailadmin.signin.throttled")
            .with_description("Sign-ins refused by the failure throttle, by counter")
            .build();
        let renewals = meter
            .u64_counter("mailadmin.renewals")
            .with_description("Renewal outcomes: charged, moved_to_free, unpaid")
            .build();
        let snapshot = gauges.snapshot.clone();
        meter
            .u64_observable_gauge("mailadmin.snapshot.addresses")
            .with_description("Addresses in the routing snapshot")
            .with_callback(move |observer| {
                observer.observe(snapshot.read().address_count() as u64, &[]);
            })
            .build();
        let snapshot = gauges.snapshot.clone();
        meter
            .u64_observable_gauge("mailadmin.snapshot.accounts")
            .with_description("Accounts in the routing snapshot")
            .with_callback(move |observer| {
                observer.observe(snapshot.read().account_count() as u64, &[]);
            })
            .build();
        let versions = gauges.snapshot.watch_version();
        meter
            .u64_observable_gauge("mailadmin.snapshot.version")
            .with_description("The routing snapshot's version (moves after every change)")
            .with_callback(move |observer| {
                if let Some(version) = *versions.borrow() {
                    observer.observe(version, &[]);
                }
            })
            .build();
        let snapshot = gauges.snapshot.clone();
        meter
            .f64_observable_gauge("mailadmin.snapshot.age")
            .with_unit("s")
            .with_description("Seconds since the routing snapshot was last loaded in full")
            .with_callback(move |observer| {
                if let Some(age) = snapshot.seconds_since_load() {
                    observer.observe(age, &[]);
                }
            })
            .build();
        let snapshot = gauges.snapshot.clone();
        meter
            .f64_observable_gauge("mailadmin.change_feed.silence")
            .with_unit("s")
            .with_description(
                "Seconds since the change feed (PostgreSQL) last delivered a change or a \
                 heartbeat: how far behind the other replicas this one may be",
            )
            .with_callback(move |observer| {
                if let Some(silence) = snapshot.seconds_since_feed_heard() {
                    observer.observe(silence, &[]);
                }
            })
            .build();
        let pool = gauges.pool.clone();
        meter
            .u64_observable_gauge("mailadmin.db.pool.connections")
            .with_description("Database pool connections, by state (used, idle)")
            .with_callback(move |observer| {
                let (open, idle) = pool();
                observer.observe(
                    u64::from(open.saturating_sub(idle)),
                    &[KeyValue::new("state", "used")],
                );
                observer.observe(u64::from(idle), &[KeyValue::new("state", "idle")]);
            })
            .build();
        Ok(Metrics {
            registry,
            provider,
            rpc_duration,
            throttled,
            renewals,
        })
    }

    /// One RPC: `path` is `/package.Service/Method`.
    pub fn record_rpc(&self, path: &str, code: i32, elapsed: Duration) {
        let (service, method) = path
            .trim_start_matches('/')
            .split_once('/')
            .unwrap_or((path, ""));
        self.rpc_duration.record(
            elapsed.as_secs_f64() * 1000.0,
            &[
                KeyValue::new("rpc.system", "grpc"),
                KeyValue::new("rpc.service", service.to_string()),
                KeyValue::new("rpc.method", method.to_string()),
                KeyValue::new("rpc.grpc.status_code", i64::from(code)),
            ],
        );
    }

    /// A sign-in refused by `counter` (`account` or `address`).
    pub fn record_throttled(&self, counter: &'static str) {
        self.throttled.add(1, &[KeyValue::new("counter", counter)]);
    }

    /// What a renewal run did.
    pub fn record_renewals(&self, charged: u32, moved_to_free: u32, unpaid: u32) {
        for (outcome, n) in [
            ("charged", charged),
            ("moved_to_free", moved_to_free),
            ("unpaid", unpaid),
        ] {
            self.renewals
                .add(u64::from(n), &[KeyValue::new("outcome", outcome)]);
        }
    }

    /// Every series, in the Prometheus text format.
    pub fn prometheus_text(&self) -> String {
        use prometheus::Encoder as _;
        let mut text = Vec::new();
        let _ = prometheus::TextEncoder::new().encode(&self.registry.gather(), &mut text);
        String::from_utf8(text).unwrap_or_default()
    }
}

impl Drop for Metrics {
    fn drop(&mut self) {
        let _ = self.provider.shutdown();
    }
}

/// Serves `GET /metrics` on `listener` until the task is aborted.
pub async fn serve(listener: tokio::net::TcpListener, metrics: Arc<Metrics>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    loop {
        let Ok((mut socket, _)) = listener.accept().await else {
            continue;
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let mut request = vec![0u8; 4096];
            let read = tokio::time::timeout(Duration::from_secs(5), socket.read(&mut request))
                .await
                .ok()
                .and_then(Result::ok)
                .unwrap_or(0);
            let line = String::from_utf8_lossy(&request[..read]);
            let (status, body) = if line.starts_with("GET /metrics ") {
                ("200 OK", metrics.prometheus_text())
            } else {
                ("404 Not Found", "GET /metrics\n".to_string())
            };
            let response = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = socket.write_all(response.as_bytes()).await;
            let _ = socket.shutdown().await;
        });
    }
}
