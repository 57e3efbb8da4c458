//! Organizations, accounts, logins and tokens made through the API, the
//! way an operator and an org admin make them.

use super::{Client, Plan, Role, TestServer, ok};
use mailadmin_client::pb;
use std::collections::HashSet;
use tonic::Status;

/// The credit [`TestServer::create_org`] gives every organization.
pub const DEFAULT_CREDIT: &str = "1000.00";

/// The provider domain `Settings::new` configures.
pub const PROVIDER_DOMAIN: &str = "mailadmin.example";

/// An organization made by [`TestServer::create_org`].
#[derive(Clone)]
pub struct Org {
    pub id: i64,
    pub name: String,
    pub master: pb::User,
    pub master_password: String,
    /// A session token of the master account (role ORG_ADMIN).
    pub admin_token: String,
    /// A client carrying `admin_token`.
    pub admin: Client,
}

impl Org {
    /// The admin gives `user_id` the alias `address` (must succeed).
    pub async fn add_alias(&self, user_id: i64, address: &str) {
        ok(self
            .admin
            .clone()
            .add_alias(pb::AddAliasRequest {
                user_id,
                address: address.to_string(),
                ..Default::default()
            })
            .await);
    }

    /// The admin removes the alias `address` of `user_id` (must succeed).
    pub async fn delete_alias(&self, user_id: i64, address: &str) {
        ok(self
            .admin
            .clone()
            .delete_alias(pb::DeleteAliasRequest {
                user_id,
                address: address.to_string(),
            })
            .await);
    }

    /// The admin disables `user_id` (must succeed).
    pub async fn disable(&self, user_id: i64) {
        ok(self
            .admin
            .clone()
            .disable_user(pb::DisableUserRequest { user_id })
            .await);
    }

    /// The admin enables `user_id` again (must succeed).
    pub async fn enable(&self, user_id: i64) {
        ok(self
            .admin
            .clone()
            .enable_user(pb::EnableUserRequest { user_id })
            .await);
    }

    /// The admin deletes `user_id`, which must be disabled (must succeed).
    pub async fn delete_user(&self, user_id: i64) {
        ok(self
            .admin
            .clone()
            .delete_user(pb::DeleteUserRequest { user_id })
            .await);
    }
}

impl TestServer {
    /// Creates an organization (operator) whose master account is
    /// `<slug>-admin@mailadmin.example` on `master_plan`, and logs its
    /// admin in. Its credit is [`DEFAULT_CREDIT`] EUR (a real TopUp), so
    /// paid accounts can be created without further ado.
    pub async fn create_org(&self, name: &str, master_plan: Plan) -> Org {
        let org = self.create_org_without_credit(name, master_plan).await;
        self.top_up(
            org.id,
            DEFAULT_CREDIT,
            &format!("initial credit of {}", org.name),
        )
        .await;
        org
    }

    /// [`TestServer::create_org`] with a credit of 0.00.
    pub async fn create_org_without_credit(&self, name: &str, master_plan: Plan) -> Org {
        let username = format!("{}-admin", slug(name));
        let master = new_account(&username, master_plan);
        let response = ok(self
            .operator()
            .create_organization(pb::CreateOrganizationRequest {
                name: name.to_string(),
                master: Some(master.clone()),
            })
            .await);
        let organization = response.organization.expect("organization in the answer");
        let master_user = response.master.expect("master in the answer");
        let login = ok(self.login(&username, &master.password).await);
        assert_eq!(
            login.role,
            Role::OrgAdmin as i32,
            "Login of a master account gives ORG_ADMIN"
        );
        Org {
            id: organization.id,
            name: name.to_string(),
            master: master_user,
            master_password: master.password,
            admin: self.with_token(&login.token),
            admin_token: login.token,
        }
    }

    /// Creates `username` (address `username@mailadmin.example`, password
    /// [`password_for`]) in `org` through `client`.
    pub async fn create_user(
        &self,
        client: &Client,
        organization_id: i64,
        username: &str,
        plan: Plan,
    ) -> pb::User {
        ok(client
            .clone()
            .create_user(pb::CreateUserRequest {
                organization_id,
                account: Some(new_account(username, plan)),
                request_id: String::new(),
                ..Default::default()
            })
            .await)
        .user
        .expect("user in the answer")
    }

    /// Creates `username` in `org` with the primary address `address`
    /// (password [`password_for`]).
    pub async fn create_user_at(
        &self,
        org: &Org,
        username: &str,
        address: &str,
        plan: Plan,
    ) -> pb::User {
        let mut account = new_account(username, plan);
        account.primary_address = address.to_string();
        ok(org
            .admin
            .clone()
            .create_user(pb::CreateUserRequest {
                organization_id: org.id,
                account: Some(account),
                request_id: String::new(),
                ..Default::default()
            })
            .await)
        .user
        .expect("user in the answer")
    }

    pub async fn login(
        &self,
        login: &str,
        password: &str,
    ) -> Result<tonic::Response<pb::LoginResponse>, Status> {
        self.anonymous()
            .login(pb::LoginRequest {
                login: login.to_string(),
                password: password.to_string(),
            })
            .await
    }

    /// Logs `username` in with [`password_for`] and returns its token.
    pub async fn login_token(&self, username: &str) -> String {
        ok(self.login(username, &password_for(username)).await).token
    }

    /// A client for `username`, logged in with [`password_for`].
    pub async fn user_client(&self, username: &str) -> Client {
        let token = self.login_token(username).await;
        self.with_token(&token)
    }

    /// Every user of the organization visible to `client` (all pages).
    pub async fn list_users(&self, client: &Client, organization_id: i64) -> Vec<pb::User> {
        list_users_where(client, organization_id, 0, 0, "").await
    }

    /// A new DELIVERY token (operator CreateToken, description "mta"): its secret.
    pub async fn delivery_token(&self) -> String {
        create_delivery_token(&mut self.operator()).await
    }
}

/// A new DELIVERY token made by `operator` (description "mta"): its secret.
pub async fn create_delivery_token(operator: &mut Client) -> String {
    let created = ok(operator
        .create_token(pb::CreateTokenRequest {
            role: Role::Delivery as i32,
            description: "mta".into(),
            ..Default::default()
        })
        .await);
    let token = created.token.expect("token metadata in the answer");
    assert_eq!(token.role, Role::Delivery as i32, "{token:?}");
    assert!(created.secret.starts_with("mat_"), "a token secret");
    created.secret
}

/// Every page of a ListUsers query.
pub async fn list_users_where(
    client: &Client,
    organization_id: i64,
    state: i32,
    plan: i32,
    query: &str,
) -> Vec<pb::User> {
    let mut client = client.clone();
    let mut users = Vec::new();
    let mut page_token = String::new();
    for _ in 0..1000 {
        let page = ok(client
            .list_users(pb::ListUsersRequest {
                organization_id,
                page_size: 500,
                page_token: page_token.clone(),
                state,
                plan,
                query: query.to_string(),
            })
            .await);
        users.extend(page.users);
        if page.next_page_token.is_empty() {
            return users;
        }
        page_token = page.next_page_token;
    }
    panic!("ListUsers never reached its last page");
}

/// The ids of `users`, checking there are no duplicates.
pub fn ids(users: &[pb::User]) -> HashSet<i64> {
    let set: HashSet<i64> = users.iter().map(|u| u.id).collect();
    assert_eq!(set.len(), users.len(), "duplicate users in a listing");
    set
}

/// The password the harness gives `username`.
pub fn password_for(username: &str) -> String {
    format!("pw-{username}-Secret-42")
}

pub fn address_for(username: &str) -> String {
    format!("{username}@{PROVIDER_DOMAIN}")
}

/// A valid NewAccount for `username`.
pub fn new_account(username: &str, plan: Plan) -> pb::NewAccount {
    pb::NewAccount {
        last_name: "Tester".to_string(),
        first_name: format!("First {username}"),
        username: username.to_string(),
        primary_address: address_for(username),
        password: password_for(username),
        plan: plan as i32,
    }
}

fn slug(name: &str) -> String {
    name.to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect()
}

/// The reset token (`mar_…`) in an outbox message body.
pub fn reset_token_in(body: &str) -> Option<String> {
    let start = body.find("mar_")?;
    let token: String = body[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect();
    (token.len() > "mar_".len()).then_some(token)
}
