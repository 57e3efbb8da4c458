//! The role × RPC matrix: every RPC of every service, called by every role,
//! without a token and with a bad one.

use super::admin_rpcs::rpc_table;
use super::callers::{CALLERS, Caller, Rpc};
use super::service_rpcs::{billing_rpc_table, delivery_rpc_table, domain_rpc_table};
use crate::harness::*;
use tonic::{Code, Status};

/// For every RPC (docs/rules.md, "Role matrix"): no token and a garbage
/// token are UNAUTHENTICATED, a role that may not call it is
/// PERMISSION_DENIED whatever the body, and the roles that may call it get
/// past authentication and authorization.
async fn role_matrix(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let user = s
        .create_user(&org.admin, org.id, "alice", Plan::Entry)
        .await;
    let user_token = s.login_token("alice").await;
    let delivery = s.delivery_token().await;

    let token_for = |caller: Caller| match caller {
        Caller::Operator => s.operator_token.as_str(),
        Caller::OrgAdmin => org.admin_token.as_str(),
        Caller::User => user_token.as_str(),
        Caller::Delivery => delivery.as_str(),
    };

    let admin_table = rpc_table(user.id);
    let mut covered: Vec<&str> = admin_table.iter().map(|(name, _, _)| *name).collect();
    covered.extend(PUBLIC_RPCS);
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../../proto/mailadmin/v1/admin.proto")),
        "the matrix covers every AdminService RPC of admin.proto"
    );
    let domain_table = domain_rpc_table();
    let mut covered: Vec<&str> = domain_table.iter().map(|(name, _, _)| *name).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../../proto/mailadmin/v1/domain.proto")),
        "the matrix covers every DomainService RPC of domain.proto"
    );
    let billing_table = billing_rpc_table();
    let mut covered: Vec<&str> = billing_table.iter().map(|(name, _, _)| *name).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../../proto/mailadmin/v1/billing.proto")),
        "the matrix covers every BillingService RPC of billing.proto"
    );
    let delivery_table = delivery_rpc_table();
    let mut covered: Vec<&str> = delivery_table.iter().map(|(name, _, _)| *name).collect();
    covered.sort_unstable();
    assert_eq!(
        covered,
        proto_rpcs(include_str!("../../../proto/mailadmin/v1/delivery.proto")),
        "the matrix covers every DeliveryService RPC of delivery.proto"
    );
    let table: Vec<(&str, &[Caller], Rpc)> = admin_table
        .into_iter()
        .map(|(name, allowed, call)| (name, allowed, Rpc::Admin(call)))
        .chain(
            domain_table
                .into_iter()
                .map(|(name, allowed, call)| (name, allowed, Rpc::Domain(call))),
        )
        .chain(
            billing_table
                .into_iter()
                .map(|(name, allowed, call)| (name, allowed, Rpc::Billing(call))),
        )
        .chain(
            delivery_table
                .into_iter()
                .map(|(name, allowed, call)| (name, allowed, Rpc::Delivery(call))),
        )
        .collect();
    let mut failures = Vec::new();
    for (name, allowed, rpc) in &table {
        match rpc.invoke(s, None).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => failures.push(format!("{name} without token: {}", describe(&other))),
        }
        let garbage = Some("mat_0000000000000000000000000000000000000000");
        match rpc.invoke(s, garbage).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => failures.push(format!("{name} with a garbage token: {}", describe(&other))),
        }
        match rpc.invoke(s, Some("not even a token")).await {
            Err(status) if status.code() == Code::Unauthenticated => {}
            other => failures.push(format!(
                "{name} with a malformed token: {}",
                describe(&other)
            )),
        }
        for caller in CALLERS {
            let result = rpc.invoke(s, Some(token_for(caller))).await;
            let code = result.as_ref().err().map(Status::code);
            if allowed.contains(&caller) {
                if matches!(
                    code,
                    Some(Code::Unauthenticated | Code::PermissionDenied | Code::Unimplemented)
                ) {
                    failures.push(format!(
                        "{name} as {caller:?} (allowed): {}",
                        describe(&result)
                    ));
                }
            } else if code != Some(Code::PermissionDenied) {
                failures.push(format!(
                    "{name} as {caller:?} (not allowed): {}",
                    describe(&result)
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} role-matrix failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

const PUBLIC_RPCS: [&str; 3] = ["Login", "RequestPasswordReset", "ResetPassword"];

/// The RPC names declared in a .proto file (its one service), sorted.
fn proto_rpcs(proto: &'static str) -> Vec<&'static str> {
    let mut names: Vec<&str> = proto
        .lines()
        .filter_map(|line| line.trim().strip_prefix("rpc "))
        .filter_map(|rest| rest.split('(').next())
        .map(str::trim)
        .collect();
    names.sort_unstable();
    names
}

fn describe(result: &Result<(), Status>) -> String {
    match result {
        Ok(()) => "OK".to_string(),
        Err(status) => format!("{:?}: {}", status.code(), status.message()),
    }
}

backend_tests!(role_matrix);
