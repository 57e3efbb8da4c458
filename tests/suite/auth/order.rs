//! The order of checks: which refusal wins when a request has several
//! faults.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

/// Checks come in order: PERMISSION_DENIED → INVALID_ARGUMENT → NOT_FOUND
/// → FAILED_PRECONDITION / ALREADY_EXISTS (docs/rules.md, "Order of checks").
async fn checks_come_in_order(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let b1 = s.create_user(&b.admin, b.id, "b-one", Plan::Free).await;
    s.create_user(&a.admin, a.id, "taken", Plan::Free).await;
    let user_client = s.user_client("taken").await;
    let mut admin = a.admin.clone();
    let mut failures = Vec::new();

    // A user calling an admin RPC with an invalid body: PERMISSION_DENIED.
    if let Err(e) = check_code(
        user_client
            .clone()
            .set_password(pb::SetPasswordRequest {
                user_id: -5,
                password: "x".into(),
            })
            .await,
        Code::PermissionDenied,
    ) {
        failures.push(format!("PERMISSION_DENIED before INVALID_ARGUMENT: {e}"));
    }
    // INVALID_ARGUMENT before NOT_FOUND: a bad password for a missing user.
    if let Err(e) = check_invalid(
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: 999_999,
                password: "short".into(),
            })
            .await,
        "password",
    ) {
        failures.push(format!("SetPassword(missing user, short password): {e}"));
    }
    // INVALID_ARGUMENT before NOT_FOUND: a bad group name for a missing group.
    if let Err(e) = check_invalid(
        admin
            .rename_group(pb::RenameGroupRequest {
                group_id: 999_999,
                name: String::new(),
            })
            .await,
        "name",
    ) {
        failures.push(format!("RenameGroup(missing group, empty name): {e}"));
    }
    // INVALID_ARGUMENT before FAILED_PRECONDITION: a bad password for the
    // admin's own master account.
    if let Err(e) = check_invalid(
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: a.master.id,
                password: "short".into(),
            })
            .await,
        "password",
    ) {
        failures.push(format!("SetPassword(own master, short password): {e}"));
    }
    // INVALID_ARGUMENT before ALREADY_EXISTS: a taken username with a bad
    // password.
    let mut account = new_account("taken", Plan::Free);
    account.primary_address = address_for("taken.two");
    account.password = "short".into();
    if let Err(e) = check_invalid(
        admin
            .create_user(pb::CreateUserRequest {
                organization_id: 0,
                account: Some(account),
                request_id: String::new(),
                ..Default::default()
            })
            .await,
        "account.password",
    ) {
        failures.push(format!("CreateUser(taken username, short password): {e}"));
    }
    // NOT_FOUND before FAILED_PRECONDITION: deleting another organization's
    // enabled account.
    if let Err(e) = check_code(
        admin
            .delete_user(pb::DeleteUserRequest { user_id: b1.id })
            .await,
        Code::NotFound,
    ) {
        failures.push(format!("DeleteUser(B's enabled user): {e}"));
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

backend_tests!(checks_come_in_order);
