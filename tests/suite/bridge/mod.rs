//! `mailadmin-bridge`'s protocols against the real Postfix tools: the
//! socketmap tables queried with Postfix's own `postmap`, the policy
//! protocol spoken as Postfix speaks it. The bridge runs in-process (the
//! library the binary serves), on a loopback port, against a real test
//! server through a `delivery` token.

mod binary;
mod cache;
mod coalescing;
mod dovecot;
mod edges;
mod opendkim;
mod policy;
mod postfix;
mod socketmap;

use crate::harness::*;
use mailadmin_client::bridge::{
    ListenAddr, Listener, Lookups, policy as policy_protocol, socketmap as socketmap_protocol,
};
use mailadmin_client::{DeliveryClient, pb};
use std::net::SocketAddr;
use std::time::Duration;

/// The bridge's call timeout.
const TIMEOUT: Duration = Duration::from_secs(10);

/// A loopback port nothing listens on: a control plane that is down.
const DEAD_SERVER: &str = "http://127.0.0.1:1";

/// A delivery client for the test server.
async fn delivery_client(s: &TestServer) -> DeliveryClient {
    let token = s.delivery_token().await;
    DeliveryClient::new(&format!("http://{}", s.addr), &token, TIMEOUT).expect("a delivery client")
}

/// A client whose control plane is unreachable.
fn unreachable_client() -> DeliveryClient {
    DeliveryClient::new(DEAD_SERVER, "some-token", Duration::from_secs(2)).expect("a client")
}

/// Serves the socketmap tables through `client` on a loopback port; the
/// server stops when the returned handle is dropped.
async fn serve_socketmap(client: DeliveryClient) -> Served {
    serve_lookups(Lookups::new(client)).await
}

/// Serves the socketmap tables answered by `lookups`.
async fn serve_lookups(lookups: Lookups) -> Served {
    let listener = bind().await;
    let addr = local(&listener);
    let task = tokio::spawn(socketmap_protocol::serve(listener, lookups));
    Served { addr, task }
}

/// Serves policy delegation through `client` on a loopback port.
async fn serve_policy(client: DeliveryClient) -> Served {
    let listener = bind().await;
    let addr = local(&listener);
    let task = tokio::spawn(policy_protocol::serve(listener, Lookups::new(client)));
    Served { addr, task }
}

async fn bind() -> Listener {
    Listener::bind(&ListenAddr::Inet("127.0.0.1:0".parse().unwrap()))
        .await
        .expect("binding a loopback port")
}

fn local(listener: &Listener) -> SocketAddr {
    match listener.local_addr().expect("a local address") {
        ListenAddr::Inet(addr) => addr,
        other => panic!("expected a TCP address, got {other}"),
    }
}

/// A bridge protocol served in the background.
struct Served {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Served {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The organization the bridge tests look at: Acme (Pro) with its ACTIVE
/// domains acme.example and bücher.example and the VERIFIED (not yet
/// active) later.example; alice (alias sales@acme.example), carol
/// (disabled), hans@bücher.example, dave@later.example.
struct Acme {
    master: pb::User,
    alice: pb::User,
    hans: pb::User,
}

impl Acme {
    async fn create(s: &TestServer, dns: &crate::dns_server::TestDns) -> Acme {
        let org = s.create_org("Acme", Plan::Pro).await;
        s.active_domain(&org, dns, "acme.example").await;
        s.active_domain(&org, dns, "bücher.example").await;
        s.verified_domain(&org, dns, "later.example").await;
        let alice = s
            .create_user(&org.admin, org.id, "alice", Plan::Entry)
            .await;
        org.add_alias(alice.id, "sales@acme.example").await;
        let carol = s.create_user(&org.admin, org.id, "carol", Plan::Free).await;
        org.disable(carol.id).await;
        s.create_user_at(&org, "dave", "dave@later.example", Plan::Free)
            .await;
        let hans = s
            .create_user_at(&org, "hans", "hans@xn--bcher-kva.example", Plan::Free)
            .await;
        Acme {
            master: org.master.clone(),
            alice,
            hans,
        }
    }
}

/// Skips a test whose tool is missing, with `why`; under `CI`, which must
/// run every test, panics instead.
fn skip_or_fail(why: &str) {
    if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
        panic!("CI must run this test: {why}");
    }
    eprintln!("skipping: {why}");
}

/// Whether this process may run Postfix and Dovecot instances of its own:
/// they check their files' owners and switch users, which takes root.
fn running_as_root() -> bool {
    std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).trim() == "0")
}
