//! Authentication and the role table, as tower layers in front of every
//! service: the bearer token becomes a [`Principal`] in the request's
//! extensions, and a role that may not call a method is refused before the
//! handler runs (so PERMISSION_DENIED always comes before INVALID_ARGUMENT).

use crate::rules::{DomainError, Principal, Role};
use crate::service::App;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};
use tonic::Status;

/// Who may call a method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No token needed (Login, password reset, health, reflection).
    Public,
    /// A token of one of these roles.
    Roles(&'static [Role]),
}

const OPERATOR: Access = Access::Roles(&[Role::Operator]);
const MANAGE: Access = Access::Roles(&[Role::Operator, Role::OrgAdmin]);
const SELF_SERVICE: Access = Access::Roles(&[Role::Operator, Role::OrgAdmin, Role::User]);
const MAIL_SERVERS: Access = Access::Roles(&[Role::Operator, Role::Delivery]);
const SIGNING: Access = Access::Roles(&[Role::Delivery]);

/// The role × RPC table (docs/rules.md, "Role matrix"). Methods not listed are refused to everyone.
pub fn access(path: &str) -> Option<Access> {
    if path.starts_with("/grpc.health.v1.Health/")
        || path.starts_with("/grpc.reflection.v1.ServerReflection/")
        || path.starts_with("/grpc.reflection.v1alpha.ServerReflection/")
    {
        return Some(Access::Public);
    }
    if let Some(method) = path.strip_prefix("/mailadmin.v1.DeliveryService/") {
        return match method {
            "CheckRecipient"
            | "CheckRecipients"
            | "StreamCheckRecipients"
            | "Authenticate"
            | "AllowedSenders"
            | "WatchDirectoryVersion"
            | "WatchAccountEvents" => Some(MAIL_SERVERS),
            // Private keys: the signing MTA's token only, not an operator's.
            "GetSigningKeys" => Some(SIGNING),
            _ => None,
        };
    }
    if let Some(method) = path.strip_prefix("/mailadmin.v1.BillingService/") {
        return match method {
            "TopUp" | "RunRenewals" | "GetPlanCatalog" | "UpdatePlanCatalog" => Some(OPERATOR),
            "GetBalance" | "ListLedger" | "ListNotifications" | "PreviewSubscriptionChange" => {
                Some(MANAGE)
            }
            _ => None,
        };
    }
    if let Some(method) = path.strip_prefix("/mailadmin.v1.DomainService/") {
        return match method {
            "AddDomain" | "GetDomain" | "ListDomains" | "VerifyDomain" | "ActivateDomain"
            | "DeactivateDomain" | "RemoveDomain" | "CheckDomainRecords" | "SetCatchAll"
            | "ClearCatchAll" | "AddDomainAlias" | "RemoveDomainAlias" | "RotateDkimKey"
            | "ListDkimKeys" | "RetireDkimKey" => Some(MANAGE),
            _ => None,
        };
    }
    let method = path.strip_prefix("/mailadmin.v1.AdminService/")?;
    Some(match method {
        "Login" | "RequestPasswordReset" | "ResetPassword" => Access::Public,
        "CreateToken" | "RevokeToken" | "ListTokens" | "CreateOrganization" | "GetOrganization"
        | "ListOrganizations" | "SetMasterPlan" | "ListOutbox" => OPERATOR,
        "CreateUser" | "ListUsers" | "SetPassword" | "DisableUser" | "EnableUser"
        | "SuspendUser" | "ResumeUser" | "DeleteUser" | "CreateGroup" | "RenameGroup"
        | "UpdateGroupSharing" | "DeleteGroup" | "AddGroupMembers" | "RemoveGroupMembers"
        | "ListGroups" | "ListGroupMembers" | "ListUserGroups" | "ListAuditEvents" | "AddAlias"
        | "DeleteAlias" | "ResolveAddress" | "ChangeSubscription" => MANAGE,
        "GetUser" | "UpdateUserProfile" | "ChangeOwnPassword" | "ListAliases" => SELF_SERVICE,
        _ => return None,
    })
}

/// The caller of a handler, as the auth layer found it.
pub fn principal<T>(request: &tonic::Request<T>) -> Result<Principal, Status> {
    request
        .extensions()
        .get::<Principal>()
        .cloned()
        .ok_or_else(|| Status::unauthenticated("missing bearer token"))
}

#[derive(Clone)]
pub struct AuthLayer {
    app: App,
    delivery_requires_client_cert: bool,
}

impl AuthLayer {
    /// `delivery_requires_client_cert`: DeliveryService calls need a
    /// verified TLS client certificate besides their token
    /// (docs/rules.md, "Transport security").
    pub fn new(app: App, delivery_requires_client_cert: bool) -> Self {
        AuthLayer {
            app,
            delivery_requires_client_cert,
        }
    }
}

impl<S> tower::Layer<S> for AuthLayer {
    type Service = AuthService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        AuthService {
            inner,
            app: self.app.clone(),
            delivery_requires_client_cert: self.delivery_requires_client_cert,
        }
    }
}

#[derive(Clone)]
pub struct AuthService<S> {
    inner: S,
    app: App,
    delivery_requires_client_cert: bool,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

impl<S, B> tower::Service<http::Request<B>> for AuthService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
    B: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<Self::Response, Self::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: http::Request<B>) -> Self::Future {
        // The clone that was polled ready serves this call.
        let clone = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, clone);
        let app = self.app.clone();
        let needs_certificate = self.delivery_requires_client_cert;
        Box::pin(async move {
            let path = request.uri().path().to_string();
            if needs_certificate
                && path.starts_with("/mailadmin.v1.DeliveryService/")
                && !crate::tls::has_client_certificate(&request)
            {
                return Ok(Status::unauthenticated(
                    "DeliveryService needs a TLS client certificate signed by the server's \
                     client CA, besides the token",
                )
                .into_http());
            }
            let needed = access(&path);
            if needed == Some(Access::Public) {
                return inner.call(request).await;
            }
            let principal = match bearer(&request) {
                Some(secret) => match app.authenticate_token(secret).await {
                    Ok(principal) => principal,
                    Err(error) => return Ok(Status::from(error).into_http()),
                },
                None => {
                    return Ok(Status::unauthenticated(
                        "missing bearer token (metadata `authorization: Bearer <token>`)",
                    )
                    .into_http());
                }
            };
            let allowed = match needed {
                Some(Access::Roles(roles)) => roles.contains(&principal.role),
                Some(Access::Public) => true,
                None => false,
            };
            if !allowed {
                let method = path.rsplit('/').next().unwrap_or_default();
                let error = DomainError::PermissionDenied(format!(
                    "role {} may not call {method}",
                    principal.role.as_str()
                ));
                return Ok(Status::from(error).into_http());
            }
            request.extensions_mut().insert(principal);
            inner.call(request).await
        })
    }
}

fn bearer<B>(request: &http::Request<B>) -> Option<&str> {
    let value = request
        .headers()
        .get(http::header::AUTHORIZATION)?
        .to_str()
        .ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Counts the calls being served, so shutdown (and tests) can see what is
/// in flight.
#[derive(Clone)]
pub struct InFlightLayer {
    count: Arc<AtomicUsize>,
}

impl InFlightLayer {
    pub fn new(count: Arc<AtomicUsize>) -> Self {
        InFlightLayer { count }
    }
}

impl<S> tower::Layer<S> for InFlightLayer {
    type Service = InFlightService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        InFlightService {
            inner,
            count: self.count.clone(),
        }
    }
}

#[derive(Clone)]
pub struct InFlightService<S> {
    inner: S,
    count: Arc<AtomicUsize>,
}

struct InFlightGuard(Arc<AtomicUsize>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

impl<S, R> tower::Service<R> for InFlightService<S>
where
    S: tower::Service<R>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: R) -> Self::Future {
        self.count.fetch_add(1, Ordering::SeqCst);
        let guard = InFlightGuard(self.count.clone());
        let future = self.inner.call(request);
        Box::pin(async move {
            let result = future.await;
            drop(guard);
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn public_and_unknown_methods() {
        assert_eq!(
            access("/mailadmin.v1.AdminService/Login"),
            Some(Access::Public)
        );
        assert_eq!(access("/grpc.health.v1.Health/Check"), Some(Access::Public));
        assert_eq!(access("/mailadmin.v1.AdminService/NoSuchThing"), None);
        assert_eq!(access("/other.Service/Login"), None);
    }

    #[test]
    fn every_method_in_the_protos_has_an_access_rule() {
        use prost::Message;
        let set = prost_types::FileDescriptorSet::decode(crate::server::DESCRIPTOR_SET)
            .expect("descriptor set decodes");
        let mut methods = 0;
        for file in set.file.iter().filter(|f| f.package() == "mailadmin.v1") {
            for service in &file.service {
                for method in &service.method {
                    let path = format!("/mailadmin.v1.{}/{}", service.name(), method.name());
                    assert!(access(&path).is_some(), "{path} has no access rule");
                    methods += 1;
                }
            }
        }
        assert!(methods > 0, "no mailadmin methods in the descriptor set");
    }
}
