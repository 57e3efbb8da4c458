//! Request ids (docs/rules.md, "Request ids"): every answer names its call,
//! and an answer that hides its cause (`UNAVAILABLE`, `INTERNAL`,
//! docs/rules.md, "Internal errors") quotes the id the server log carries.

use crate::dns_server::SilentDns;
use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

fn with_request_id<T>(message: T, id: &str) -> tonic::Request<T> {
    let mut request = tonic::Request::new(message);
    request
        .metadata_mut()
        .insert("x-request-id", id.parse().expect("an ASCII id"));
    request
}

fn request_id_of(metadata: &tonic::metadata::MetadataMap) -> String {
    metadata
        .get("x-request-id")
        .expect("every answer carries x-request-id")
        .to_str()
        .expect("ASCII")
        .to_string()
}

/// A call without an id gets a new one; a caller's own id comes back as sent.
async fn every_answer_names_its_call(s: &TestServer) {
    let mut operator = s.operator();
    let request = || pb::ListOrganizationsRequest {
        page_size: 0,
        page_token: String::new(),
    };
    let first = operator.list_organizations(request()).await.unwrap();
    let second = operator.list_organizations(request()).await.unwrap();
    let (a, b) = (
        request_id_of(first.metadata()),
        request_id_of(second.metadata()),
    );
    assert_eq!(a.len(), 16, "{a}");
    assert_ne!(a, b, "each call gets its own id");

    let echoed = operator
        .list_organizations(with_request_id(request(), "console-7f3a"))
        .await
        .unwrap();
    assert_eq!(request_id_of(echoed.metadata()), "console-7f3a");

    let refused = s
        .anonymous()
        .list_organizations(with_request_id(request(), "no-token-1"))
        .await
        .unwrap_err();
    assert_eq!(refused.code(), Code::Unauthenticated);
    assert_eq!(request_id_of(refused.metadata()), "no-token-1");
}

/// The DNS server never answers: VerifyDomain is UNAVAILABLE with a
/// generic message naming the dependency and the request id, and nothing
/// of the resolver's own error text (its address, its timeout wording).
async fn unavailable_hides_the_cause_and_quotes_the_id(s: &TestServer, _dns: &SilentDns) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let domain = s.add_domain(&org, "slow.example").await;
    let status = s
        .domains(&org)
        .verify_domain(with_request_id(
            pb::VerifyDomainRequest {
                domain_id: domain.id,
            },
            "verify-slow-1",
        ))
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::Unavailable);
    assert_eq!(
        status.message(),
        "the DNS resolver did not answer; retry later (request id verify-slow-1)"
    );
}

backend_tests!(
    every_answer_names_its_call,
    unavailable_hides_the_cause_and_quotes_the_id: SilentDns,
);
