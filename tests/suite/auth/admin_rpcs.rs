//! The role matrix's table for AdminService: every RPC that needs a token, who
//! may call it, and a call with a small request (docs/rules.md, "Role matrix").

use super::callers::{ACCOUNT, ADMINS, Call, Caller, OPERATOR, call};
use mailadmin_client::pb;

/// Every AdminService RPC that needs a token, who may call it, and a call
/// with a default (mostly empty) request. `own` is the id of the USER
/// caller's account (an account of the ORG_ADMIN caller's organization).
pub(super) fn rpc_table(own: i64) -> Vec<(&'static str, &'static [Caller], Call)> {
    vec![
        (
            "CreateToken",
            OPERATOR,
            call(|mut c| async move { c.create_token(pb::CreateTokenRequest::default()).await }),
        ),
        (
            "RevokeToken",
            OPERATOR,
            call(|mut c| async move { c.revoke_token(pb::RevokeTokenRequest::default()).await }),
        ),
        (
            "ListTokens",
            OPERATOR,
            call(|mut c| async move { c.list_tokens(pb::ListTokensRequest::default()).await }),
        ),
        (
            "CreateOrganization",
            OPERATOR,
            call(|mut c| async move {
                c.create_organization(pb::CreateOrganizationRequest::default())
                    .await
            }),
        ),
        (
            "GetOrganization",
            OPERATOR,
            call(|mut c| async move {
                c.get_organization(pb::GetOrganizationRequest::default())
                    .await
            }),
        ),
        (
            "ListOrganizations",
            OPERATOR,
            call(|mut c| async move {
                c.list_organizations(pb::ListOrganizationsRequest::default())
                    .await
            }),
        ),
        (
            "SetMasterPlan",
            OPERATOR,
            call(
                |mut c| async move { c.set_master_plan(pb::SetMasterPlanRequest::default()).await },
            ),
        ),
        (
            "ListOutbox",
            OPERATOR,
            call(|mut c| async move { c.list_outbox(pb::ListOutboxRequest::default()).await }),
        ),
        (
            "CreateUser",
            ADMINS,
            call(|mut c| async move { c.create_user(pb::CreateUserRequest::default()).await }),
        ),
        (
            "ListUsers",
            ADMINS,
            call(|mut c| async move { c.list_users(pb::ListUsersRequest::default()).await }),
        ),
        (
            "SetPassword",
            ADMINS,
            call(|mut c| async move { c.set_password(pb::SetPasswordRequest::default()).await }),
        ),
        (
            "DisableUser",
            ADMINS,
            call(|mut c| async move { c.disable_user(pb::DisableUserRequest::default()).await }),
        ),
        (
            "EnableUser",
            ADMINS,
            call(|mut c| async move { c.enable_user(pb::EnableUserRequest::default()).await }),
        ),
        (
            "SuspendUser",
            ADMINS,
            call(|mut c| async move { c.suspend_user(pb::SuspendUserRequest::default()).await }),
        ),
        (
            "ResumeUser",
            ADMINS,
            call(|mut c| async move { c.resume_user(pb::ResumeUserRequest::default()).await }),
        ),
        (
            "DeleteUser",
            ADMINS,
            call(|mut c| async move { c.delete_user(pb::DeleteUserRequest::default()).await }),
        ),
        (
            "CreateGroup",
            ADMINS,
            call(|mut c| async move { c.create_group(pb::CreateGroupRequest::default()).await }),
        ),
        (
            "RenameGroup",
            ADMINS,
            call(|mut c| async move { c.rename_group(pb::RenameGroupRequest::default()).await }),
        ),
        (
            "UpdateGroupSharing",
            ADMINS,
            call(|mut c| async move {
                c.update_group_sharing(pb::UpdateGroupSharingRequest::default())
                    .await
            }),
        ),
        (
            "DeleteGroup",
            ADMINS,
            call(|mut c| async move { c.delete_group(pb::DeleteGroupRequest::default()).await }),
        ),
        (
            "AddGroupMembers",
            ADMINS,
            call(|mut c| async move {
                c.add_group_members(pb::AddGroupMembersRequest::default())
                    .await
            }),
        ),
        (
            "RemoveGroupMembers",
            ADMINS,
            call(|mut c| async move {
                c.remove_group_members(pb::RemoveGroupMembersRequest::default())
                    .await
            }),
        ),
        (
            "ListGroups",
            ADMINS,
            call(|mut c| async move { c.list_groups(pb::ListGroupsRequest::default()).await }),
        ),
        (
            "ListGroupMembers",
            ADMINS,
            call(|mut c| async move {
                c.list_group_members(pb::ListGroupMembersRequest::default())
                    .await
            }),
        ),
        (
            "ListUserGroups",
            ADMINS,
            call(|mut c| async move {
                c.list_user_groups(pb::ListUserGroupsRequest::default())
                    .await
            }),
        ),
        (
            "ListAuditEvents",
            ADMINS,
            call(|mut c| async move {
                c.list_audit_events(pb::ListAuditEventsRequest::default())
                    .await
            }),
        ),
        (
            "AddAlias",
            ADMINS,
            call(|mut c| async move { c.add_alias(pb::AddAliasRequest::default()).await }),
        ),
        (
            "DeleteAlias",
            ADMINS,
            call(|mut c| async move { c.delete_alias(pb::DeleteAliasRequest::default()).await }),
        ),
        (
            "ResolveAddress",
            ADMINS,
            call(|mut c| async move {
                c.resolve_address(pb::ResolveAddressRequest::default())
                    .await
            }),
        ),
        (
            "ChangeSubscription",
            ADMINS,
            call(|mut c| async move {
                c.change_subscription(pb::ChangeSubscriptionRequest::default())
                    .await
            }),
        ),
        (
            "ListAliases",
            ACCOUNT,
            call(move |mut c| async move {
                c.list_aliases(pb::ListAliasesRequest { user_id: own })
                    .await
            }),
        ),
        (
            "GetUser",
            ACCOUNT,
            call(move |mut c| async move { c.get_user(pb::GetUserRequest { user_id: own }).await }),
        ),
        (
            "UpdateUserProfile",
            ACCOUNT,
            call(move |mut c| async move {
                c.update_user_profile(pb::UpdateUserProfileRequest {
                    user_id: own,
                    ..Default::default()
                })
                .await
            }),
        ),
        (
            "ChangeOwnPassword",
            ACCOUNT,
            call(|mut c| async move {
                c.change_own_password(pb::ChangeOwnPasswordRequest::default())
                    .await
            }),
        ),
    ]
}
