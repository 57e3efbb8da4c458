//! AdminService: organizations, accounts, tokens, groups, audit. Each
//! handler destructures its request, converts it into domain values
//! (validation happens there), calls one `App` operation and converts back.

use super::account_input::{new_account, profile_update, request_id};
use super::auth::principal;
use super::convert::{self, id, organization_id};
use super::services::admin_service_server::AdminService;
use crate::rules::DomainError;
use crate::rules::address::EmailAddress;
use crate::rules::groups::{group_name, member_ids};
use crate::rules::model::{NewToken, UserFilter};
use crate::rules::paging::Page;
use crate::rules::tokens::TokenInput;
use crate::rules::validate;
use crate::service::{App, NewUser};
use mailadmin_client::pb;
use tonic::{Request, Response, Status};

pub struct AdminApi {
    app: App,
}

impl AdminApi {
    pub fn new(app: App) -> Self {
        AdminApi { app }
    }
}

type Reply<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl AdminService for AdminApi {
    async fn create_token(
        &self,
        request: Request<pb::CreateTokenRequest>,
    ) -> Reply<pb::CreateTokenResponse> {
        let principal = principal(&request)?;
        let pb::CreateTokenRequest {
            role,
            organization_id,
            user_id,
            description,
            ttl_seconds,
        } = request.into_inner();
        let new = NewToken::parse(TokenInput {
            role: convert::role_from("role", role)?,
            organization_id,
            user_id,
            description,
            ttl_seconds,
        })?;
        let (token, secret) = self.app.create_token(&principal, new).await?;
        Ok(Response::new(pb::CreateTokenResponse {
            token: Some(convert::token(token)),
            secret,
        }))
    }

    async fn revoke_token(
        &self,
        request: Request<pb::RevokeTokenRequest>,
    ) -> Reply<pb::RevokeTokenResponse> {
        let principal = principal(&request)?;
        let pb::RevokeTokenRequest { token_id } = request.into_inner();
        let token = self.app.revoke_token(&principal, token_id).await?;
        Ok(Response::new(pb::RevokeTokenResponse {
            token: Some(convert::token(token)),
        }))
    }

    async fn list_tokens(
        &self,
        request: Request<pb::ListTokensRequest>,
    ) -> Reply<pb::ListTokensResponse> {
        let principal = principal(&request)?;
        let pb::ListTokensRequest {
            page_size,
            page_token,
            organization_id,
            include_inactive,
        } = request.into_inner();
        let page = Page::parse(page_size, &page_token)?;
        let (tokens, next_page_token) = self
            .app
            .list_tokens(&principal, organization_id, include_inactive, page)
            .await?
            .into_wire(convert::token);
        Ok(Response::new(pb::ListTokensResponse {
            tokens,
            next_page_token,
        }))
    }

    async fn login(&self, request: Request<pb::LoginRequest>) -> Reply<pb::LoginResponse> {
        let pb::LoginRequest { login, password } = request.into_inner();
        let session = self.app.login(login, password).await?;
        Ok(Response::new(pb::LoginResponse {
            token: session.token,
            role: convert::role_to(session.role).into(),
            expires_at: Some(convert::timestamp(session.expires_at)),
            user_id: session.user_id,
            organization_id: session.organization_id,
        }))
    }

    async fn create_organization(
        &self,
        request: Request<pb::CreateOrganizationRequest>,
    ) -> Reply<pb::CreateOrganizationResponse> {
        let principal = principal(&request)?;
        let pb::CreateOrganizationRequest { name, master } = request.into_inner();
        let name = validate::bounded_text("name", &name, 200)?;
        let master = new_account("master", master)?;
        let (organization, master) = self
            .app
            .create_organization(&principal, name, master)
            .await?;
        Ok(Response::new(pb::CreateOrganizationResponse {
            organization: Some(convert::organization(organization)),
            master: Some(convert::user(master)),
        }))
    }

    async fn get_organization(
        &self,
        request: Request<pb::GetOrganizationRequest>,
    ) -> Reply<pb::GetOrganizationResponse> {
        let principal = principal(&request)?;
        let pb::GetOrganizationRequest { organization_id } = request.into_inner();
        let organization_id = id("organization_id", organization_id)?;
        let organization = self
            .app
            .get_organization(&principal, organization_id)
            .await?;
        Ok(Response::new(pb::GetOrganizationResponse {
            organization: Some(convert::organization(organization)),
        }))
    }

    async fn list_organizations(
        &self,
        request: Request<pb::ListOrganizationsRequest>,
    ) -> Reply<pb::ListOrganizationsResponse> {
        let principal = principal(&request)?;
        let pb::ListOrganizationsRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let page = Page::parse(page_size, &page_token)?;
        let (organizations, next_page_token) = self
            .app
            .list_organizations(&principal, page)
            .await?
            .into_wire(convert::organization);
        Ok(Response::new(pb::ListOrganizationsResponse {
            organizations,
            next_page_token,
        }))
    }

    async fn set_master_plan(
        &self,
        request: Request<pb::SetMasterPlanRequest>,
    ) -> Reply<pb::SetMasterPlanResponse> {
        let principal = principal(&request)?;
        let pb::SetMasterPlanRequest {
            organization_id,
            plan,
        } = request.into_inner();
        let organization_id = id("organization_id", organization_id)?;
        let plan = convert::plan_from("plan", plan)?
            .ok_or_else(|| DomainError::invalid("plan", "is required"))?;
        let organization = self
            .app
            .set_master_plan(&principal, organization_id, plan)
            .await?;
        Ok(Response::new(pb::SetMasterPlanResponse {
            organization: Some(convert::organization(organization)),
        }))
    }

    async fn create_user(
        &self,
        request: Request<pb::CreateUserRequest>,
    ) -> Reply<pb::CreateUserResponse> {
        let principal = principal(&request)?;
        let pb::CreateUserRequest {
            organization_id: org,
            account,
            request_id: rid,
            validate_only,
            aliases,
        } = request.into_inner();
        let new = NewUser {
            organization_id: organization_id(org)?,
            account: new_account("account", account)?,
            aliases: aliases
                .iter()
                .enumerate()
                .map(|(i, a)| EmailAddress::parse_new(&format!("aliases[{i}]"), a))
                .collect::<Result<_, _>>()?,
            request_id: request_id(rid)?,
        };
        let created = self.app.create_user(&principal, new, validate_only).await?;
        Ok(Response::new(pb::CreateUserResponse {
            user: Some(convert::user(created.user)),
            charged: Some(convert::money(created.charged)),
            already_created: created.already_created,
        }))
    }

    async fn get_user(&self, request: Request<pb::GetUserRequest>) -> Reply<pb::GetUserResponse> {
        let principal = principal(&request)?;
        let pb::GetUserRequest { user_id } = request.into_inner();
        let user = self
            .app
            .get_user(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::GetUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn list_users(
        &self,
        request: Request<pb::ListUsersRequest>,
    ) -> Reply<pb::ListUsersResponse> {
        let principal = principal(&request)?;
        let pb::ListUsersRequest {
            organization_id: org,
            page_size,
            page_token,
            state,
            plan,
            query,
        } = request.into_inner();
        let org = organization_id(org)?;
        let page = Page::parse(page_size, &page_token)?;
        let query = query.trim();
        let filter = UserFilter {
            state: convert::state_from("state", state)?,
            plan: convert::plan_from("plan", plan)?,
            query: if query.is_empty() {
                None
            } else {
                Some(validate::bounded_text("query", query, 254)?)
            },
        };
        let (users, next_page_token) = self
            .app
            .list_users(&principal, org, filter, page)
            .await?
            .into_wire(convert::user);
        Ok(Response::new(pb::ListUsersResponse {
            users,
            next_page_token,
        }))
    }

    async fn update_user_profile(
        &self,
        request: Request<pb::UpdateUserProfileRequest>,
    ) -> Reply<pb::UpdateUserProfileResponse> {
        let principal = principal(&request)?;
        let today = self.app.now().date_naive();
        let (user_id, update) = profile_update(request.into_inner(), today)?;
        let user = self
            .app
            .update_user_profile(&principal, user_id, update)
            .await?;
        Ok(Response::new(pb::UpdateUserProfileResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn change_subscription(
        &self,
        request: Request<pb::ChangeSubscriptionRequest>,
    ) -> Reply<pb::ChangeSubscriptionResponse> {
        let principal = principal(&request)?;
        let pb::ChangeSubscriptionRequest {
            user_id,
            plan,
            request_id: rid,
        } = request.into_inner();
        let user_id = id("user_id", user_id)?;
        let plan = convert::plan_from("plan", plan)?
            .ok_or_else(|| DomainError::invalid("plan", "is required"))?;
        let rid = request_id(rid)?;
        let change = self
            .app
            .change_subscription(&principal, user_id, plan, rid)
            .await?;
        let net = change.net();
        Ok(Response::new(pb::ChangeSubscriptionResponse {
            user: Some(convert::user(change.user)),
            refund: Some(convert::money(change.refund)),
            charge: Some(convert::money(change.charge)),
            net: Some(convert::money(net)),
            balance: Some(convert::money(change.balance)),
        }))
    }

    async fn set_password(
        &self,
        request: Request<pb::SetPasswordRequest>,
    ) -> Reply<pb::SetPasswordResponse> {
        let principal = principal(&request)?;
        let pb::SetPasswordRequest { user_id, password } = request.into_inner();
        let user_id = id("user_id", user_id)?;
        self.app.set_password(&principal, user_id, password).await?;
        Ok(Response::new(pb::SetPasswordResponse {}))
    }

    async fn change_own_password(
        &self,
        request: Request<pb::ChangeOwnPasswordRequest>,
    ) -> Reply<pb::ChangeOwnPasswordResponse> {
        let principal = principal(&request)?;
        let pb::ChangeOwnPasswordRequest {
            old_password,
            new_password,
        } = request.into_inner();
        self.app
            .change_own_password(&principal, old_password, new_password)
            .await?;
        Ok(Response::new(pb::ChangeOwnPasswordResponse {}))
    }

    async fn request_password_reset(
        &self,
        request: Request<pb::RequestPasswordResetRequest>,
    ) -> Reply<pb::RequestPasswordResetResponse> {
        let pb::RequestPasswordResetRequest { login } = request.into_inner();
        self.app.request_password_reset(login).await?;
        Ok(Response::new(pb::RequestPasswordResetResponse {}))
    }

    async fn reset_password(
        &self,
        request: Request<pb::ResetPasswordRequest>,
    ) -> Reply<pb::ResetPasswordResponse> {
        let pb::ResetPasswordRequest {
            reset_token,
            new_password,
        } = request.into_inner();
        self.app.reset_password(reset_token, new_password).await?;
        Ok(Response::new(pb::ResetPasswordResponse {}))
    }

    async fn list_outbox(
        &self,
        request: Request<pb::ListOutboxRequest>,
    ) -> Reply<pb::ListOutboxResponse> {
        let principal = principal(&request)?;
        let pb::ListOutboxRequest {
            page_size,
            page_token,
        } = request.into_inner();
        let page = Page::parse(page_size, &page_token)?;
        let (messages, next_page_token) = self
            .app
            .list_outbox(&principal, page)
            .await?
            .into_wire(convert::outbox_message);
        Ok(Response::new(pb::ListOutboxResponse {
            messages,
            next_page_token,
        }))
    }

    async fn disable_user(
        &self,
        request: Request<pb::DisableUserRequest>,
    ) -> Reply<pb::DisableUserResponse> {
        let principal = principal(&request)?;
        let pb::DisableUserRequest { user_id } = request.into_inner();
        let user = self
            .app
            .disable_user(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::DisableUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn enable_user(
        &self,
        request: Request<pb::EnableUserRequest>,
    ) -> Reply<pb::EnableUserResponse> {
        let principal = principal(&request)?;
        let pb::EnableUserRequest { user_id } = request.into_inner();
        let user = self
            .app
            .enable_user(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::EnableUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn suspend_user(
        &self,
        request: Request<pb::SuspendUserRequest>,
    ) -> Reply<pb::SuspendUserResponse> {
        let principal = principal(&request)?;
        let pb::SuspendUserRequest { user_id } = request.into_inner();
        let user = self
            .app
            .suspend_user(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::SuspendUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn resume_user(
        &self,
        request: Request<pb::ResumeUserRequest>,
    ) -> Reply<pb::ResumeUserResponse> {
        let principal = principal(&request)?;
        let pb::ResumeUserRequest { user_id } = request.into_inner();
        let user = self
            .app
            .resume_user(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::ResumeUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn delete_user(
        &self,
        request: Request<pb::DeleteUserRequest>,
    ) -> Reply<pb::DeleteUserResponse> {
        let principal = principal(&request)?;
        let pb::DeleteUserRequest { user_id } = request.into_inner();
        let user = self
            .app
            .delete_user(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::DeleteUserResponse {
            user: Some(convert::user(user)),
        }))
    }

    async fn add_alias(
        &self,
        request: Request<pb::AddAliasRequest>,
    ) -> Reply<pb::AddAliasResponse> {
        let principal = principal(&request)?;
        let pb::AddAliasRequest {
            user_id,
            address,
            validate_only,
        } = request.into_inner();
        let user_id = id("user_id", user_id)?;
        let address = EmailAddress::parse_new("address", &address)?;
        let alias = self
            .app
            .add_alias(&principal, user_id, address, validate_only)
            .await?;
        let provider = self.app.is_provider_domain(&alias.domain);
        Ok(Response::new(pb::AddAliasResponse {
            alias: Some(convert::address(alias, provider)),
        }))
    }

    async fn delete_alias(
        &self,
        request: Request<pb::DeleteAliasRequest>,
    ) -> Reply<pb::DeleteAliasResponse> {
        let principal = principal(&request)?;
        let pb::DeleteAliasRequest { user_id, address } = request.into_inner();
        let user_id = id("user_id", user_id)?;
        let address = EmailAddress::parse("address", &address)?;
        self.app.delete_alias(&principal, user_id, address).await?;
        Ok(Response::new(pb::DeleteAliasResponse {}))
    }

    async fn list_aliases(
        &self,
        request: Request<pb::ListAliasesRequest>,
    ) -> Reply<pb::ListAliasesResponse> {
        let principal = principal(&request)?;
        let pb::ListAliasesRequest { user_id } = request.into_inner();
        let addresses = self
            .app
            .list_aliases(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::ListAliasesResponse {
            addresses: addresses
                .into_iter()
                .map(|a| {
                    let provider = self.app.is_provider_domain(&a.domain);
                    convert::address(a, provider)
                })
                .collect(),
        }))
    }

    async fn resolve_address(
        &self,
        request: Request<pb::ResolveAddressRequest>,
    ) -> Reply<pb::ResolveAddressResponse> {
        let principal = principal(&request)?;
        let pb::ResolveAddressRequest { address } = request.into_inner();
        let address = EmailAddress::parse("address", &address)?;
        let normalized = address.to_string();
        let route = self.app.resolve_address(&principal, address).await?;
        Ok(Response::new(convert::route(route, normalized)))
    }

    async fn create_group(
        &self,
        request: Request<pb::CreateGroupRequest>,
    ) -> Reply<pb::CreateGroupResponse> {
        let principal = principal(&request)?;
        let pb::CreateGroupRequest {
            organization_id: org,
            name,
            sharing,
        } = request.into_inner();
        let org = organization_id(org)?;
        let name = group_name("name", &name)?;
        let group = self
            .app
            .create_group(&principal, org, name, convert::sharing_from(sharing))
            .await?;
        Ok(Response::new(pb::CreateGroupResponse {
            group: Some(convert::group(group)),
        }))
    }

    async fn rename_group(
        &self,
        request: Request<pb::RenameGroupRequest>,
    ) -> Reply<pb::RenameGroupResponse> {
        let principal = principal(&request)?;
        let pb::RenameGroupRequest { group_id, name } = request.into_inner();
        let group_id = id("group_id", group_id)?;
        let name = group_name("name", &name)?;
        let group = self.app.rename_group(&principal, group_id, name).await?;
        Ok(Response::new(pb::RenameGroupResponse {
            group: Some(convert::group(group)),
        }))
    }

    async fn update_group_sharing(
        &self,
        request: Request<pb::UpdateGroupSharingRequest>,
    ) -> Reply<pb::UpdateGroupSharingResponse> {
        let principal = principal(&request)?;
        let pb::UpdateGroupSharingRequest { group_id, sharing } = request.into_inner();
        let group_id = id("group_id", group_id)?;
        if sharing.is_none() {
            return Err(DomainError::invalid("sharing", "is required").into());
        }
        let group = self
            .app
            .update_group_sharing(&principal, group_id, convert::sharing_from(sharing))
            .await?;
        Ok(Response::new(pb::UpdateGroupSharingResponse {
            group: Some(convert::group(group)),
        }))
    }

    async fn delete_group(
        &self,
        request: Request<pb::DeleteGroupRequest>,
    ) -> Reply<pb::DeleteGroupResponse> {
        let principal = principal(&request)?;
        let pb::DeleteGroupRequest { group_id } = request.into_inner();
        self.app
            .delete_group(&principal, id("group_id", group_id)?)
            .await?;
        Ok(Response::new(pb::DeleteGroupResponse {}))
    }

    async fn add_group_members(
        &self,
        request: Request<pb::AddGroupMembersRequest>,
    ) -> Reply<pb::AddGroupMembersResponse> {
        let principal = principal(&request)?;
        let pb::AddGroupMembersRequest { group_id, user_ids } = request.into_inner();
        let group_id = id("group_id", group_id)?;
        let user_ids = member_ids("user_ids", user_ids)?;
        let group = self
            .app
            .add_group_members(&principal, group_id, user_ids)
            .await?;
        Ok(Response::new(pb::AddGroupMembersResponse {
            group: Some(convert::group(group)),
        }))
    }

    async fn remove_group_members(
        &self,
        request: Request<pb::RemoveGroupMembersRequest>,
    ) -> Reply<pb::RemoveGroupMembersResponse> {
        let principal = principal(&request)?;
        let pb::RemoveGroupMembersRequest { group_id, user_ids } = request.into_inner();
        let group_id = id("group_id", group_id)?;
        let user_ids = member_ids("user_ids", user_ids)?;
        let group = self
            .app
            .remove_group_members(&principal, group_id, user_ids)
            .await?;
        Ok(Response::new(pb::RemoveGroupMembersResponse {
            group: Some(convert::group(group)),
        }))
    }

    async fn list_groups(
        &self,
        request: Request<pb::ListGroupsRequest>,
    ) -> Reply<pb::ListGroupsResponse> {
        let principal = principal(&request)?;
        let pb::ListGroupsRequest {
            organization_id: org,
            page_size,
            page_token,
        } = request.into_inner();
        let org = organization_id(org)?;
        let page = Page::parse(page_size, &page_token)?;
        let (groups, next_page_token) = self
            .app
            .list_groups(&principal, org, page)
            .await?
            .into_wire(convert::group);
        Ok(Response::new(pb::ListGroupsResponse {
            groups,
            next_page_token,
        }))
    }

    async fn list_group_members(
        &self,
        request: Request<pb::ListGroupMembersRequest>,
    ) -> Reply<pb::ListGroupMembersResponse> {
        let principal = principal(&request)?;
        let pb::ListGroupMembersRequest {
            group_id,
            page_size,
            page_token,
        } = request.into_inner();
        let group_id = id("group_id", group_id)?;
        let page = Page::parse(page_size, &page_token)?;
        let (members, next_page_token) = self
            .app
            .list_group_members(&principal, group_id, page)
            .await?
            .into_wire(convert::user);
        Ok(Response::new(pb::ListGroupMembersResponse {
            members,
            next_page_token,
        }))
    }

    async fn list_user_groups(
        &self,
        request: Request<pb::ListUserGroupsRequest>,
    ) -> Reply<pb::ListUserGroupsResponse> {
        let principal = principal(&request)?;
        let pb::ListUserGroupsRequest { user_id } = request.into_inner();
        let groups = self
            .app
            .list_user_groups(&principal, id("user_id", user_id)?)
            .await?;
        Ok(Response::new(pb::ListUserGroupsResponse {
            groups: groups.into_iter().map(convert::group).collect(),
        }))
    }

    async fn list_audit_events(
        &self,
        request: Request<pb::ListAuditEventsRequest>,
    ) -> Reply<pb::ListAuditEventsResponse> {
        let principal = principal(&request)?;
        let pb::ListAuditEventsRequest {
            organization_id: org,
            page_size,
            page_token,
        } = request.into_inner();
        let org = organization_id(org)?;
        let page = Page::parse(page_size, &page_token)?;
        let (events, next_page_token) = self
            .app
            .list_audit_events(&principal, org, page)
            .await?
            .into_wire(convert::audit_event);
        Ok(Response::new(pb::ListAuditEventsResponse {
            events,
            next_page_token,
        }))
    }
}
