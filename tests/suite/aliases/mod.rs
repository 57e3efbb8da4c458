//! Addresses and aliases: platform-wide uniqueness after normalization
//! (IDNA included), where addresses may live, provider addresses reserved
//! forever, custom addresses freed, the plan's alias limit, domains in use,
//! role addresses, and ResolveAddress's verdicts. This module holds the
//! calls the alias tests share.

mod lifecycle;
mod limits;
mod listing;
mod placement;
mod resolution;
mod tenancy;

use crate::harness::*;
use mailadmin_client::pb;
use pb::{MatchKind, Resolution};
use tonic::Status;

type Answer<T> = Result<tonic::Response<T>, Status>;

async fn add_alias(client: &Client, user_id: i64, address: &str) -> Answer<pb::AddAliasResponse> {
    client
        .clone()
        .add_alias(pb::AddAliasRequest {
            user_id,
            address: address.to_string(),
            ..Default::default()
        })
        .await
}

/// An alias that must be added.
async fn alias(client: &Client, user_id: i64, address: &str) -> pb::Address {
    match add_alias(client, user_id, address).await {
        Ok(response) => response.into_inner().alias.expect("alias in the answer"),
        Err(status) => panic!(
            "AddAlias({user_id}, {address:?}): expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

async fn delete_alias(
    client: &Client,
    user_id: i64,
    address: &str,
) -> Answer<pb::DeleteAliasResponse> {
    client
        .clone()
        .delete_alias(pb::DeleteAliasRequest {
            user_id,
            address: address.to_string(),
        })
        .await
}

async fn list_aliases(client: &Client, user_id: i64) -> Answer<pb::ListAliasesResponse> {
    client
        .clone()
        .list_aliases(pb::ListAliasesRequest { user_id })
        .await
}

/// The addresses (normalized) of an account, as ListAliases gives them.
async fn addresses_of(client: &Client, user_id: i64) -> Vec<String> {
    ok(list_aliases(client, user_id).await)
        .addresses
        .into_iter()
        .map(|a| a.address)
        .collect()
}

async fn try_resolve(client: &Client, address: &str) -> Answer<pb::ResolveAddressResponse> {
    client
        .clone()
        .resolve_address(pb::ResolveAddressRequest {
            address: address.to_string(),
        })
        .await
}

#[track_caller]
fn resolved(
    answer: Answer<pb::ResolveAddressResponse>,
    address: &str,
) -> pb::ResolveAddressResponse {
    match answer {
        Ok(response) => response.into_inner(),
        Err(status) => panic!(
            "ResolveAddress({address:?}): expected OK, got {:?}: {}",
            status.code(),
            status.message()
        ),
    }
}

async fn resolve(client: &Client, address: &str) -> pb::ResolveAddressResponse {
    resolved(try_resolve(client, address).await, address)
}

/// Asserts `address` resolves to `resolution` (and, for DELIVER and
/// DISABLED, to `user` by `matched`).
async fn assert_resolves(
    client: &Client,
    address: &str,
    resolution: Resolution,
    target: Option<(&pb::User, MatchKind)>,
) -> pb::ResolveAddressResponse {
    let answer = resolve(client, address).await;
    assert_eq!(
        answer.resolution, resolution as i32,
        "ResolveAddress({address:?}) resolution: {answer:?}"
    );
    match target {
        Some((user, matched)) => {
            assert_eq!(
                answer.r#match, matched as i32,
                "ResolveAddress({address:?}) match: {answer:?}"
            );
            assert_eq!(
                answer.user_id, user.id,
                "ResolveAddress({address:?}) reaches {}: {answer:?}",
                user.username
            );
            assert_eq!(
                answer.primary_address, user.primary_address,
                "ResolveAddress({address:?}) primary address: {answer:?}"
            );
        }
        None => assert_eq!(
            answer.user_id, 0,
            "ResolveAddress({address:?}) reaches nobody: {answer:?}"
        ),
    }
    answer
}

/// CreateUser in `org` with the primary address `address`.
async fn create_at(
    org: &Org,
    username: &str,
    address: &str,
    plan: Plan,
) -> Answer<pb::CreateUserResponse> {
    let mut account = new_account(username, plan);
    account.primary_address = address.to_string();
    org.admin
        .clone()
        .create_user(pb::CreateUserRequest {
            organization_id: org.id,
            account: Some(account),
            request_id: String::new(),
            ..Default::default()
        })
        .await
}

async fn disable_and_delete(org: &Org, user_id: i64) {
    org.disable(user_id).await;
    org.delete_user(user_id).await;
}

async fn remove_domain(
    s: &TestServer,
    org: &Org,
    domain_id: i64,
) -> Answer<pb::RemoveDomainResponse> {
    s.domains(org)
        .remove_domain(pb::RemoveDomainRequest { domain_id })
        .await
}
