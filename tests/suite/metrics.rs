//! Metrics (docs/rules.md, "Metrics"): the Prometheus endpoint
//! (`--metrics-listen`) is scraped before and after calls, and its series
//! move: RPC durations by method and status code, the snapshot's size,
//! throttle hits, the database pool.

use crate::harness::*;
use mailadmin_client::pb;
use mailadmin_server::Settings;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub struct WithMetrics;

impl Fixture for WithMetrics {
    async fn start() -> Self {
        WithMetrics
    }
    fn configure(&self, settings: &mut Settings) {
        settings.metrics_listen = Some("127.0.0.1:0".parse().unwrap());
    }
}

/// The response to `GET path`: (status line, body).
async fn get(s: &TestServer, path: &str) -> (String, String) {
    let addr = s.metrics_addr().expect("the server serves metrics");
    let mut socket = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connecting");
    socket
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut response = String::new();
    socket.read_to_string(&mut response).await.unwrap();
    let (head, body) = response.split_once("\r\n\r\n").expect("headers and a body");
    (
        head.lines().next().unwrap_or_default().to_string(),
        body.to_string(),
    )
}

/// The value of the first series named `name` whose labels contain every
/// one of `labels` (`key="value"`); 0 when there is none.
fn value(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with(['{', ' ']))
        .find(|l| labels.iter().all(|label| l.contains(label)))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0)
}

async fn series_move_with_the_calls(s: &TestServer, _: &WithMetrics) {
    let rpc = "rpc_server_duration_milliseconds_count";
    let get_org = [
        "rpc_method=\"GetOrganization\"",
        "rpc_grpc_status_code=\"0\"",
    ];
    let missing_user = ["rpc_method=\"GetUser\"", "rpc_grpc_status_code=\"5\""];
    let org = s.create_org("Acme", Plan::Pro).await;

    let (status, before) = get(s, "/metrics").await;
    assert!(status.contains("200"), "{status}");
    assert_eq!(value(&before, rpc, &get_org), 0.0, "{before}");
    let addresses_before = value(&before, "mailadmin_snapshot_addresses", &[]);
    assert!(
        addresses_before >= 1.0,
        "the master's address is in the snapshot:\n{before}"
    );

    for _ in 0..3 {
        ok(s.operator()
            .get_organization(pb::GetOrganizationRequest {
                organization_id: org.id,
            })
            .await);
    }
    assert_code(
        s.operator()
            .get_user(pb::GetUserRequest { user_id: 999_999 })
            .await,
        tonic::Code::NotFound,
    );
    s.create_user(&org.admin, org.id, "bob", Plan::Free).await;
    let delivery = s.delivery_token().await;
    for i in 0..11 {
        let _ = s
            .delivery_pb_client(Some(&delivery))
            .authenticate(pb::AuthenticateRequest {
                login: "bob".into(),
                password: format!("wrong {i}"),
                client_ip: "192.0.2.7".into(),
            })
            .await;
    }

    let (_, after) = get(s, "/metrics").await;
    assert_eq!(value(&after, rpc, &get_org), 3.0, "{after}");
    assert_eq!(value(&after, rpc, &missing_user), 1.0, "{after}");
    assert!(
        after.contains("rpc_service=\"mailadmin.v1.AdminService\""),
        "the service is a label: {after}"
    );
    assert_eq!(
        value(&after, "mailadmin_snapshot_addresses", &[]),
        addresses_before + 1.0,
        "bob's address"
    );
    assert!(
        value(
            &after,
            "mailadmin_signin_throttled_total",
            &["counter=\"account\""]
        ) >= 1.0,
        "the eleventh guess was throttled: {after}"
    );
    assert!(after.contains("mailadmin_db_pool_connections{"), "{after}");
    assert!(after.contains("mailadmin_snapshot_version"), "{after}");
    assert!(
        value(&after, "mailadmin_snapshot_age_seconds", &[]) > 0.0,
        "seconds since the start-up load: {after}"
    );
    // The change feed exists on PostgreSQL only; its heartbeat comes every second.
    if s.settings().database_url.starts_with("postgres") {
        let silence = value(&after, "mailadmin_change_feed_silence_seconds", &[]);
        assert!(
            after.contains("mailadmin_change_feed_silence_seconds") && silence < 3.0,
            "{after}"
        );
    } else {
        assert!(
            !after.contains("mailadmin_change_feed_silence_seconds"),
            "{after}"
        );
    }

    ok(s.billing_operator()
        .run_renewals(pb::RunRenewalsRequest {})
        .await);
    let (_, renewed) = get(s, "/metrics").await;
    assert!(renewed.contains("mailadmin_renewals_total{"), "{renewed}");

    let (status, _) = get(s, "/elsewhere").await;
    assert!(status.contains("404"), "{status}");
}

backend_tests!(series_move_with_the_calls: WithMetrics);
