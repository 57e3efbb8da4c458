//! Organizations: creation with the master account, the master plan's
//! limits and console, and tenancy (another organization's objects are
//! NOT_FOUND).

use crate::harness::*;
use mailadmin_client::pb;
use std::fmt::Debug;
use tonic::{Code, Status};

async fn organization(s: &TestServer, organization_id: i64) -> pb::Organization {
    ok(s.operator()
        .get_organization(pb::GetOrganizationRequest { organization_id })
        .await)
    .organization
    .expect("organization")
}

async fn organization_ids(s: &TestServer) -> Vec<i64> {
    ok(s.operator()
        .list_organizations(pb::ListOrganizationsRequest {
            page_size: 500,
            page_token: String::new(),
        })
        .await)
    .organizations
    .iter()
    .map(|o| o.id)
    .collect()
}

/// CreateOrganization makes the organization and its master account;
/// Get/List/SetMasterPlan; a refused create leaves nothing behind.
async fn organizations_lifecycle(s: &TestServer) {
    let mut operator = s.operator();
    let created = ok(operator
        .create_organization(pb::CreateOrganizationRequest {
            name: "Acme Corp".into(),
            master: Some(new_account("acme.boss", Plan::Entry)),
        })
        .await);
    let org = created.organization.expect("organization");
    let master = created.master.expect("master");
    assert!(org.id > 0);
    assert_eq!(org.name, "Acme Corp");
    assert_eq!(org.master_user_id, master.id);
    assert_eq!(org.master_plan, Plan::Entry as i32);
    assert_eq!(org.account_count, 0, "the master does not count");
    assert!(master.is_master);
    assert_eq!(master.organization_id, org.id);
    assert_eq!(master.username, "acme.boss");
    assert_eq!(master.primary_address, address_for("acme.boss"));
    assert_eq!(master.plan, Plan::Entry as i32);
    assert_eq!(master.state, AccountState::Enabled as i32);
    assert_eq!(organization(s, org.id).await, org);

    let login = ok(s.login("acme.boss", &password_for("acme.boss")).await);
    assert_eq!(login.role, Role::OrgAdmin as i32);
    assert_eq!(login.organization_id, org.id);

    // Listing pages over every organization.
    s.create_org("Bravo", Plan::Pro).await;
    s.create_org("Charlie", Plan::Free).await;
    let mut all = Vec::new();
    let mut pages = 0;
    let mut page_token = String::new();
    loop {
        let page = ok(operator
            .list_organizations(pb::ListOrganizationsRequest {
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await);
        pages += 1;
        assert!(page.organizations.len() <= 2);
        all.extend(page.organizations);
        if page.next_page_token.is_empty() || pages > 10 {
            break;
        }
        page_token = page.next_page_token;
    }
    let mut names: Vec<_> = all.iter().map(|o| o.name.as_str()).collect();
    names.sort_unstable();
    assert_eq!(names, ["Acme Corp", "Bravo", "Charlie"]);
    assert!(pages >= 2, "page_size 2 over 3 organizations takes 2 pages");

    // A taken master username: refused, nothing created.
    let before = organization_ids(s).await;
    let mut taken = new_account("ACME.Boss", Plan::Entry);
    taken.primary_address = address_for("someone.else");
    assert_code(
        operator
            .create_organization(pb::CreateOrganizationRequest {
                name: "Copycat".into(),
                master: Some(taken),
            })
            .await,
        Code::AlreadyExists,
    );
    // Bad input names the field.
    let mut failures = Vec::new();
    let cases: Vec<(&str, pb::CreateOrganizationRequest)> = vec![
        (
            "name",
            pb::CreateOrganizationRequest {
                name: String::new(),
                master: Some(new_account("delta.boss", Plan::Entry)),
            },
        ),
        (
            "master",
            pb::CreateOrganizationRequest {
                name: "Delta".into(),
                master: None,
            },
        ),
        (
            "master.password",
            pb::CreateOrganizationRequest {
                name: "Delta".into(),
                master: Some(pb::NewAccount {
                    password: "short".into(),
                    ..new_account("delta.boss", Plan::Entry)
                }),
            },
        ),
        (
            "master.username",
            pb::CreateOrganizationRequest {
                name: "Delta".into(),
                master: Some(pb::NewAccount {
                    username: "no spaces allowed".into(),
                    ..new_account("delta.boss", Plan::Entry)
                }),
            },
        ),
        (
            "master.plan",
            pb::CreateOrganizationRequest {
                name: "Delta".into(),
                master: Some(pb::NewAccount {
                    plan: 42,
                    ..new_account("delta.boss", Plan::Entry)
                }),
            },
        ),
    ];
    for (field, request) in cases {
        if let Err(e) = check_invalid(operator.create_organization(request).await, field) {
            failures.push(e);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    assert_eq!(organization_ids(s).await, before);
    assert_code(
        s.login("delta.boss", &password_for("delta.boss")).await,
        Code::Unauthenticated,
    );

    assert_code(
        operator
            .get_organization(pb::GetOrganizationRequest {
                organization_id: 999_999,
            })
            .await,
        Code::NotFound,
    );

    // SetMasterPlan changes the organization and its master's plan.
    let changed = ok(operator
        .set_master_plan(pb::SetMasterPlanRequest {
            organization_id: org.id,
            plan: Plan::Pro as i32,
        })
        .await)
    .organization
    .unwrap();
    assert_eq!(changed.master_plan, Plan::Pro as i32);
    assert_eq!(organization(s, org.id).await.master_plan, Plan::Pro as i32);
    let master_now = ok(operator
        .get_user(pb::GetUserRequest { user_id: master.id })
        .await)
    .user
    .unwrap();
    assert_eq!(master_now.plan, Plan::Pro as i32);
    assert_invalid(
        operator
            .set_master_plan(pb::SetMasterPlanRequest {
                organization_id: org.id,
                plan: 42,
            })
            .await,
        "plan",
    );
    assert_code(
        operator
            .set_master_plan(pb::SetMasterPlanRequest {
                organization_id: 999_999,
                plan: Plan::Entry as i32,
            })
            .await,
        Code::NotFound,
    );
    assert_eq!(organization(s, org.id).await.master_plan, Plan::Pro as i32);
}

/// The master plan's limits (docs/rules.md, "Limits"): Entry allows 10
/// accounts, 2 of them Free; Pro allows more. A Free master closes the
/// console, Entry reopens it (docs/rules.md, "Console").
async fn master_plan_limits_and_console(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Entry).await;
    let mut admin = org.admin.clone();
    let mut operator = s.operator();
    let create = |username: &str, plan: Plan| pb::CreateUserRequest {
        organization_id: 0,
        account: Some(new_account(username, plan)),
        request_id: String::new(),
        ..Default::default()
    };

    s.create_user(&admin, org.id, "free-1", Plan::Free).await;
    s.create_user(&admin, org.id, "free-2", Plan::Free).await;
    assert_code(
        admin.create_user(create("free-3", Plan::Free)).await,
        Code::FailedPrecondition,
    );
    for i in 1..=8 {
        s.create_user(&admin, org.id, &format!("entry-{i}"), Plan::Entry)
            .await;
    }
    assert_eq!(organization(s, org.id).await.account_count, 10);
    assert_code(
        admin.create_user(create("entry-9", Plan::Entry)).await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin.create_user(create("pro-1", Plan::Pro)).await,
        Code::FailedPrecondition,
    );
    assert_eq!(organization(s, org.id).await.account_count, 10);
    assert_eq!(
        s.list_users(&admin, org.id).await.len(),
        11,
        "10 + the master"
    );

    // Pro: more accounts and more Free ones.
    ok(operator
        .set_master_plan(pb::SetMasterPlanRequest {
            organization_id: org.id,
            plan: Plan::Pro as i32,
        })
        .await);
    s.create_user(&admin, org.id, "entry-9", Plan::Entry).await;
    s.create_user(&admin, org.id, "free-3", Plan::Free).await;
    assert_eq!(organization(s, org.id).await.account_count, 12);

    // Free master: the console is closed to the org admin.
    ok(operator
        .set_master_plan(pb::SetMasterPlanRequest {
            organization_id: org.id,
            plan: Plan::Free as i32,
        })
        .await);
    let entry_1 = s
        .list_users(&operator, org.id)
        .await
        .into_iter()
        .find(|u| u.username == "entry-1")
        .expect("entry-1");
    assert_code(
        admin.create_user(create("free-4", Plan::Free)).await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin.list_users(pb::ListUsersRequest::default()).await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin
            .disable_user(pb::DisableUserRequest {
                user_id: entry_1.id,
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin
            .create_group(pb::CreateGroupRequest {
                organization_id: 0,
                name: "Sales".into(),
                sharing: None,
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin.list_groups(pb::ListGroupsRequest::default()).await,
        Code::FailedPrecondition,
    );
    // Roles are checked before the console: operator RPCs stay denied.
    assert_code(
        admin
            .list_organizations(pb::ListOrganizationsRequest::default())
            .await,
        Code::PermissionDenied,
    );
    let entry_1_now = ok(operator
        .get_user(pb::GetUserRequest {
            user_id: entry_1.id,
        })
        .await)
    .user
    .unwrap();
    assert_eq!(entry_1_now.state, AccountState::Enabled as i32);
    assert_eq!(organization(s, org.id).await.account_count, 12);

    // Back to Entry: the console opens again; the 12 accounts stay, but no
    // new one fits.
    ok(operator
        .set_master_plan(pb::SetMasterPlanRequest {
            organization_id: org.id,
            plan: Plan::Entry as i32,
        })
        .await);
    assert_eq!(s.list_users(&admin, org.id).await.len(), 13);
    assert_code(
        admin.create_user(create("entry-10", Plan::Entry)).await,
        Code::FailedPrecondition,
    );
    let disabled = ok(admin
        .disable_user(pb::DisableUserRequest {
            user_id: entry_1.id,
        })
        .await)
    .user
    .unwrap();
    assert_eq!(disabled.state, AccountState::Disabled as i32);
}

/// A Free master's admin: console closed from the start (an organization
/// created on Free).
async fn free_master_has_no_console(s: &TestServer) {
    let org = s.create_org("Tiny", Plan::Free).await;
    let mut admin = org.admin.clone();
    assert_code(
        admin
            .create_user(pb::CreateUserRequest {
                organization_id: 0,
                account: Some(new_account("first-user", Plan::Free)),
                request_id: String::new(),
                ..Default::default()
            })
            .await,
        Code::FailedPrecondition,
    );
    assert_code(
        admin.list_users(pb::ListUsersRequest::default()).await,
        Code::FailedPrecondition,
    );
    assert_eq!(organization(s, org.id).await.account_count, 0);
    ok(s.operator()
        .set_master_plan(pb::SetMasterPlanRequest {
            organization_id: org.id,
            plan: Plan::Pro as i32,
        })
        .await);
    s.create_user(&admin, org.id, "first-user", Plan::Free)
        .await;
    assert_eq!(organization(s, org.id).await.account_count, 1);
}

fn expect_not_found<T: Debug>(failures: &mut Vec<String>, what: &str, result: Result<T, Status>) {
    match result {
        Err(status) if status.code() == Code::NotFound => {}
        Err(status) => failures.push(format!(
            "{what}: expected NOT_FOUND, got {:?}: {}",
            status.code(),
            status.message()
        )),
        Ok(value) => failures.push(format!("{what}: expected NOT_FOUND, got OK: {value:?}")),
    }
}

/// The admin of A gets NOT_FOUND for B's users and groups — exactly as for
/// objects that do not exist — and changes nothing in B
/// (docs/rules.md, "Tenancy").
async fn other_organizations_objects_are_not_found(s: &TestServer) {
    let a = s.create_org("Acme", Plan::Pro).await;
    let b = s.create_org("Bravo", Plan::Pro).await;
    let a1 = s.create_user(&a.admin, a.id, "a-one", Plan::Free).await;
    let b1 = s.create_user(&b.admin, b.id, "b-one", Plan::Free).await;
    let group = |organization_id: i64, name: &str| pb::CreateGroupRequest {
        organization_id,
        name: name.into(),
        sharing: None,
    };
    let ga = ok(a.admin.clone().create_group(group(0, "A team")).await)
        .group
        .unwrap();
    let gb = ok(b.admin.clone().create_group(group(0, "B team")).await)
        .group
        .unwrap();
    ok(b.admin
        .clone()
        .add_group_members(pb::AddGroupMembersRequest {
            group_id: gb.id,
            user_ids: vec![b1.id],
        })
        .await);

    let mut admin = a.admin.clone();
    let mut f = Vec::new();
    let missing = admin
        .get_user(pb::GetUserRequest { user_id: 999_999 })
        .await
        .expect_err("no such user");
    let foreign = admin
        .get_user(pb::GetUserRequest { user_id: b1.id })
        .await
        .map(tonic::Response::into_inner);
    expect_not_found(&mut f, "GetUser(B's user)", foreign.clone());
    if let Err(foreign) = &foreign
        && foreign.message() != missing.message()
    {
        f.push(format!(
            "GetUser: another organization's user ({:?}) answers unlike a missing one ({:?})",
            foreign.message(),
            missing.message()
        ));
    }
    let user = b1.id;
    expect_not_found(
        &mut f,
        "DisableUser",
        admin
            .disable_user(pb::DisableUserRequest { user_id: user })
            .await,
    );
    expect_not_found(
        &mut f,
        "EnableUser",
        admin
            .enable_user(pb::EnableUserRequest { user_id: user })
            .await,
    );
    expect_not_found(
        &mut f,
        "SuspendUser",
        admin
            .suspend_user(pb::SuspendUserRequest { user_id: user })
            .await,
    );
    expect_not_found(
        &mut f,
        "ResumeUser",
        admin
            .resume_user(pb::ResumeUserRequest { user_id: user })
            .await,
    );
    expect_not_found(
        &mut f,
        "DeleteUser",
        admin
            .delete_user(pb::DeleteUserRequest { user_id: user })
            .await,
    );
    expect_not_found(
        &mut f,
        "SetPassword",
        admin
            .set_password(pb::SetPasswordRequest {
                user_id: user,
                password: "hijacked password 1".into(),
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "UpdateUserProfile",
        admin
            .update_user_profile(pb::UpdateUserProfileRequest {
                user_id: user,
                first_name: Some("Hijacked".into()),
                ..Default::default()
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "ListUserGroups",
        admin
            .list_user_groups(pb::ListUserGroupsRequest { user_id: user })
            .await,
    );
    expect_not_found(
        &mut f,
        "RenameGroup",
        admin
            .rename_group(pb::RenameGroupRequest {
                group_id: gb.id,
                name: "Hijacked".into(),
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "UpdateGroupSharing",
        admin
            .update_group_sharing(pb::UpdateGroupSharingRequest {
                group_id: gb.id,
                sharing: Some(pb::GroupSharing {
                    mailboxes: true,
                    ..Default::default()
                }),
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "ListGroupMembers",
        admin
            .list_group_members(pb::ListGroupMembersRequest {
                group_id: gb.id,
                ..Default::default()
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "AddGroupMembers(B's group)",
        admin
            .add_group_members(pb::AddGroupMembersRequest {
                group_id: gb.id,
                user_ids: vec![a1.id],
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "RemoveGroupMembers(B's group)",
        admin
            .remove_group_members(pb::RemoveGroupMembersRequest {
                group_id: gb.id,
                user_ids: vec![b1.id],
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "AddGroupMembers(A's group, B's user)",
        admin
            .add_group_members(pb::AddGroupMembersRequest {
                group_id: ga.id,
                user_ids: vec![b1.id],
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "DeleteGroup",
        admin
            .delete_group(pb::DeleteGroupRequest { group_id: gb.id })
            .await,
    );
    expect_not_found(
        &mut f,
        "ListUsers(organization_id=B)",
        admin
            .list_users(pb::ListUsersRequest {
                organization_id: b.id,
                ..Default::default()
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "ListGroups(organization_id=B)",
        admin
            .list_groups(pb::ListGroupsRequest {
                organization_id: b.id,
                ..Default::default()
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "CreateUser(organization_id=B)",
        admin
            .create_user(pb::CreateUserRequest {
                organization_id: b.id,
                account: Some(new_account("intruder", Plan::Free)),
                request_id: String::new(),
                ..Default::default()
            })
            .await,
    );
    expect_not_found(
        &mut f,
        "CreateGroup(organization_id=B)",
        admin.create_group(group(b.id, "Intruders")).await,
    );
    expect_not_found(
        &mut f,
        "ListAuditEvents(organization_id=B)",
        admin
            .list_audit_events(pb::ListAuditEventsRequest {
                organization_id: b.id,
                ..Default::default()
            })
            .await,
    );
    assert!(
        f.is_empty(),
        "{} tenancy failures:\n{}",
        f.len(),
        f.join("\n")
    );

    // Nothing changed in B.
    let mut b_admin = b.admin.clone();
    let b1_now = ok(b_admin
        .get_user(pb::GetUserRequest { user_id: b1.id })
        .await)
    .user
    .unwrap();
    assert_eq!(b1_now.state, AccountState::Enabled as i32);
    assert_eq!(b1_now.first_name, b1.first_name);
    ok(s.login("b-one", &password_for("b-one")).await);
    let groups = ok(b_admin.list_groups(pb::ListGroupsRequest::default()).await).groups;
    assert_eq!(groups.len(), 1);
    assert_eq!(groups[0].name, "B team");
    assert_eq!(groups[0].member_count, 1);
    assert!(!groups[0].sharing.unwrap_or_default().mailboxes);
    let ga_now = ok(admin.list_groups(pb::ListGroupsRequest::default()).await).groups;
    assert_eq!(ga_now.len(), 1);
    assert_eq!(ga_now[0].member_count, 0);
    assert_code(
        s.login("intruder", &password_for("intruder")).await,
        Code::Unauthenticated,
    );
    let names: Vec<String> = s
        .list_users(&b_admin, b.id)
        .await
        .into_iter()
        .map(|u| u.username)
        .collect();
    assert!(!names.contains(&"intruder".to_string()));
}

backend_tests!(
    organizations_lifecycle,
    master_plan_limits_and_console,
    free_master_has_no_console,
    other_organizations_objects_are_not_found,
);
