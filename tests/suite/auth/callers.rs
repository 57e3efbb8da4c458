//! The callers of the role matrix (one per role) and the type-erased RPC
//! calls its tables hold.

use crate::harness::*;
use futures::future::BoxFuture;
use std::future::Future;
use tonic::Status;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Caller {
    Operator,
    OrgAdmin,
    User,
    Delivery,
}

pub(super) const CALLERS: [Caller; 4] = [
    Caller::Operator,
    Caller::OrgAdmin,
    Caller::User,
    Caller::Delivery,
];
pub(super) const OPERATOR: &[Caller] = &[Caller::Operator];
pub(super) const ADMINS: &[Caller] = &[Caller::Operator, Caller::OrgAdmin];
pub(super) const ACCOUNT: &[Caller] = &[Caller::Operator, Caller::OrgAdmin, Caller::User];
pub(super) const MAIL_SERVERS: &[Caller] = &[Caller::Operator, Caller::Delivery];
/// Private keys: the signing MTA's token only, not even an operator's.
pub(super) const SIGNING: &[Caller] = &[Caller::Delivery];

pub(super) type Call = Box<dyn Fn(Client) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;
pub(super) type DomainCall =
    Box<dyn Fn(DomainClient) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;
pub(super) type BillingCall =
    Box<dyn Fn(BillingClient) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;
pub(super) type DeliveryCall =
    Box<dyn Fn(DeliveryPbClient) -> BoxFuture<'static, Result<(), Status>> + Send + Sync>;

/// A call on either service.
pub(super) enum Rpc {
    Admin(Call),
    Domain(DomainCall),
    Billing(BillingCall),
    Delivery(DeliveryCall),
}

impl Rpc {
    /// Calls the RPC with `token` (or none).
    pub(super) fn invoke(
        &self,
        s: &TestServer,
        token: Option<&str>,
    ) -> BoxFuture<'static, Result<(), Status>> {
        match self {
            Rpc::Admin(call) => call(s.client(token)),
            Rpc::Domain(call) => call(s.domain_client(token)),
            Rpc::Billing(call) => call(s.billing_client(token)),
            Rpc::Delivery(call) => call(s.delivery_pb_client(token)),
        }
    }
}

pub(super) fn call<F, Fut, T>(f: F) -> Call
where
    F: Fn(Client) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

pub(super) fn domain_call<F, Fut, T>(f: F) -> DomainCall
where
    F: Fn(DomainClient) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

pub(super) fn billing_call<F, Fut, T>(f: F) -> BillingCall
where
    F: Fn(BillingClient) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}

pub(super) fn delivery_call<F, Fut, T>(f: F) -> DeliveryCall
where
    F: Fn(DeliveryPbClient) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<tonic::Response<T>, Status>> + Send + 'static,
    T: 'static,
{
    Box::new(move |client| {
        let fut = f(client);
        Box::pin(async move { fut.await.map(|_| ()) })
    })
}
