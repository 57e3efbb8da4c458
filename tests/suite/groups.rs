//! Groups: names unique per organization (case-insensitive), sharing
//! flags, members, and a deleted user leaving its groups.

use crate::harness::*;
use mailadmin_client::pb;
use std::collections::HashSet;
use tonic::Code;

async fn members(client: &Client, group_id: i64) -> HashSet<i64> {
    let mut client = client.clone();
    let mut found = Vec::new();
    let mut page_token = String::new();
    loop {
        let page = ok(client
            .list_group_members(pb::ListGroupMembersRequest {
                group_id,
                page_size: 500,
                page_token: page_token.clone(),
            })
            .await);
        found.extend(page.members);
        if page.next_page_token.is_empty() {
            break;
        }
        page_token = page.next_page_token;
    }
    ids(&found)
}

async fn user_groups(client: &Client, user_id: i64) -> HashSet<i64> {
    ok(client
        .clone()
        .list_user_groups(pb::ListUserGroupsRequest { user_id })
        .await)
    .groups
    .iter()
    .map(|g| g.id)
    .collect()
}

async fn groups_of_org(client: &Client) -> Vec<pb::Group> {
    ok(client
        .clone()
        .list_groups(pb::ListGroupsRequest {
            page_size: 500,
            ..Default::default()
        })
        .await)
    .groups
}

/// Create, refuse a duplicate name in another case, rename, sharing,
/// members in and out, list both ways, delete; deleting a user removes it
/// from its groups (docs/rules.md, "Groups").
async fn group_lifecycle(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let other = s.create_org("Bravo", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let u1 = s.create_user(&admin, org.id, "user-one", Plan::Free).await;
    let u2 = s.create_user(&admin, org.id, "user-two", Plan::Free).await;
    let u3 = s
        .create_user(&admin, org.id, "user-three", Plan::Free)
        .await;

    let sales = ok(admin
        .create_group(pb::CreateGroupRequest {
            organization_id: 0,
            name: "Sales".into(),
            sharing: Some(pb::GroupSharing {
                calendars: true,
                ..Default::default()
            }),
        })
        .await)
    .group
    .unwrap();
    assert!(sales.id > 0);
    assert_eq!(sales.organization_id, org.id);
    assert_eq!(sales.name, "Sales");
    assert_eq!(sales.member_count, 0);
    let sharing = sales.sharing.unwrap_or_default();
    assert!(sharing.calendars && !sharing.documents && !sharing.contacts && !sharing.mailboxes);

    // Names are unique per organization, whatever the case.
    assert_code(
        admin
            .create_group(pb::CreateGroupRequest {
                organization_id: 0,
                name: "SALES".into(),
                sharing: None,
            })
            .await,
        Code::AlreadyExists,
    );
    assert_eq!(groups_of_org(&admin).await.len(), 1);
    // Another organization may use the name.
    ok(other
        .admin
        .clone()
        .create_group(pb::CreateGroupRequest {
            organization_id: 0,
            name: "Sales".into(),
            sharing: None,
        })
        .await);
    // Bad names.
    for (name, what) in [("", "empty"), ("   ", "blank")] {
        let result = admin
            .create_group(pb::CreateGroupRequest {
                organization_id: 0,
                name: name.into(),
                sharing: None,
            })
            .await;
        if let Err(e) = check_invalid(result, "name") {
            panic!("{what} group name: {e}");
        }
    }
    assert_invalid(
        admin
            .create_group(pb::CreateGroupRequest {
                organization_id: 0,
                name: "x".repeat(101),
                sharing: None,
            })
            .await,
        "name",
    );
    ok(admin
        .create_group(pb::CreateGroupRequest {
            organization_id: 0,
            name: "y".repeat(100),
            sharing: None,
        })
        .await);

    // Rename.
    let support = ok(admin
        .create_group(pb::CreateGroupRequest {
            organization_id: 0,
            name: "Support".into(),
            sharing: None,
        })
        .await)
    .group
    .unwrap();
    let renamed = ok(admin
        .rename_group(pb::RenameGroupRequest {
            group_id: sales.id,
            name: "Sales EU".into(),
        })
        .await)
    .group
    .unwrap();
    assert_eq!(renamed.name, "Sales EU");
    assert_eq!(renamed.id, sales.id);
    assert_code(
        admin
            .rename_group(pb::RenameGroupRequest {
                group_id: support.id,
                name: "sales eu".into(),
            })
            .await,
        Code::AlreadyExists,
    );
    assert_invalid(
        admin
            .rename_group(pb::RenameGroupRequest {
                group_id: support.id,
                name: String::new(),
            })
            .await,
        "name",
    );
    let names: HashSet<String> = groups_of_org(&admin)
        .await
        .into_iter()
        .map(|g| g.name)
        .collect();
    assert!(names.contains("Sales EU") && names.contains("Support"));
    assert!(!names.contains("Sales"));

    // Sharing flags.
    let shared = ok(admin
        .update_group_sharing(pb::UpdateGroupSharingRequest {
            group_id: sales.id,
            sharing: Some(pb::GroupSharing {
                calendars: false,
                documents: true,
                contacts: false,
                mailboxes: true,
            }),
        })
        .await)
    .group
    .unwrap()
    .sharing
    .unwrap_or_default();
    assert!(!shared.calendars && shared.documents && !shared.contacts && shared.mailboxes);
    let listed = groups_of_org(&admin)
        .await
        .into_iter()
        .find(|g| g.id == sales.id)
        .unwrap();
    assert_eq!(listed.sharing.unwrap_or_default(), shared);

    // Members.
    let added = ok(admin
        .add_group_members(pb::AddGroupMembersRequest {
            group_id: sales.id,
            user_ids: vec![u1.id, u2.id],
        })
        .await)
    .group
    .unwrap();
    assert_eq!(added.member_count, 2);
    let again = ok(admin
        .add_group_members(pb::AddGroupMembersRequest {
            group_id: sales.id,
            user_ids: vec![u1.id, u3.id],
        })
        .await)
    .group
    .unwrap();
    assert_eq!(again.member_count, 3, "members already in stay, once");
    assert_eq!(
        members(&admin, sales.id).await,
        HashSet::from([u1.id, u2.id, u3.id])
    );
    ok(admin
        .add_group_members(pb::AddGroupMembersRequest {
            group_id: support.id,
            user_ids: vec![u1.id],
        })
        .await);
    assert_eq!(
        user_groups(&admin, u1.id).await,
        HashSet::from([sales.id, support.id])
    );
    assert_eq!(user_groups(&admin, u2.id).await, HashSet::from([sales.id]));
    // A member that does not exist: NOT_FOUND, nothing added.
    assert_code(
        admin
            .add_group_members(pb::AddGroupMembersRequest {
                group_id: support.id,
                user_ids: vec![u2.id, 999_999],
            })
            .await,
        Code::NotFound,
    );
    assert_eq!(members(&admin, support.id).await, HashSet::from([u1.id]));

    let removed = ok(admin
        .remove_group_members(pb::RemoveGroupMembersRequest {
            group_id: sales.id,
            user_ids: vec![u2.id],
        })
        .await)
    .group
    .unwrap();
    assert_eq!(removed.member_count, 2);
    assert_eq!(
        members(&admin, sales.id).await,
        HashSet::from([u1.id, u3.id])
    );
    assert!(user_groups(&admin, u2.id).await.is_empty());

    // Deleting a user removes it from its groups.
    ok(admin
        .disable_user(pb::DisableUserRequest { user_id: u1.id })
        .await);
    ok(admin
        .delete_user(pb::DeleteUserRequest { user_id: u1.id })
        .await);
    assert_eq!(members(&admin, sales.id).await, HashSet::from([u3.id]));
    assert!(members(&admin, support.id).await.is_empty());
    let counts: Vec<(i64, i32)> = groups_of_org(&admin)
        .await
        .into_iter()
        .filter(|g| g.id == sales.id || g.id == support.id)
        .map(|g| (g.id, g.member_count))
        .collect();
    assert!(counts.contains(&(sales.id, 1)), "{counts:?}");
    assert!(counts.contains(&(support.id, 0)), "{counts:?}");
    // A deleted account cannot be added back.
    assert_code_in(
        admin
            .add_group_members(pb::AddGroupMembersRequest {
                group_id: sales.id,
                user_ids: vec![u1.id],
            })
            .await,
        &[Code::NotFound, Code::FailedPrecondition],
    );
    assert_eq!(members(&admin, sales.id).await, HashSet::from([u3.id]));

    // Delete a group.
    ok(admin
        .delete_group(pb::DeleteGroupRequest { group_id: sales.id })
        .await);
    assert!(groups_of_org(&admin).await.iter().all(|g| g.id != sales.id));
    assert!(user_groups(&admin, u3.id).await.is_empty());
    assert_code(
        admin
            .rename_group(pb::RenameGroupRequest {
                group_id: sales.id,
                name: "Back".into(),
            })
            .await,
        Code::NotFound,
    );
    assert_code(
        admin
            .delete_group(pb::DeleteGroupRequest { group_id: sales.id })
            .await,
        Code::NotFound,
    );
    // Its name is free again.
    ok(admin
        .create_group(pb::CreateGroupRequest {
            organization_id: 0,
            name: "Sales EU".into(),
            sharing: None,
        })
        .await);
}

/// ListGroups and ListGroupMembers page without duplicates.
async fn group_listing_pages(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let mut users = Vec::new();
    for i in 1..=5 {
        users.push(
            s.create_user(&admin, org.id, &format!("member-{i}"), Plan::Free)
                .await
                .id,
        );
    }
    let mut created = HashSet::new();
    for i in 1..=5 {
        let group = ok(admin
            .create_group(pb::CreateGroupRequest {
                organization_id: 0,
                name: format!("Team {i}"),
                sharing: None,
            })
            .await)
        .group
        .unwrap();
        created.insert(group.id);
    }
    let first = *created.iter().min().unwrap();
    ok(admin
        .add_group_members(pb::AddGroupMembersRequest {
            group_id: first,
            user_ids: users.clone(),
        })
        .await);

    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = ok(admin
            .list_groups(pb::ListGroupsRequest {
                organization_id: 0,
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await);
        pages += 1;
        assert!(page.groups.len() <= 2);
        seen.extend(page.groups.iter().map(|g| g.id));
        if page.next_page_token.is_empty() || pages > 10 {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.into_iter().collect::<HashSet<_>>(), created);

    let mut seen = Vec::new();
    let mut page_token = String::new();
    let mut pages = 0;
    loop {
        let page = ok(admin
            .list_group_members(pb::ListGroupMembersRequest {
                group_id: first,
                page_size: 2,
                page_token: page_token.clone(),
            })
            .await);
        pages += 1;
        assert!(page.members.len() <= 2);
        seen.extend(page.members.iter().map(|u| u.id));
        if page.next_page_token.is_empty() || pages > 10 {
            break;
        }
        page_token = page.next_page_token;
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 5);
    assert_eq!(
        seen.into_iter().collect::<HashSet<_>>(),
        users.into_iter().collect::<HashSet<_>>()
    );
}

backend_tests!(group_lifecycle, group_listing_pages);
