//! Bearer tokens: who a request speaks for. Operators make API tokens;
//! Login makes expiring session tokens; the first start makes an operator
//! token so the platform can be bootstrapped.

use super::model::NewToken;
use super::validate::{self};
use super::{DomainError, DomainResult, Role};

/// The fields of a CreateToken request, as they come off the wire.
pub struct TokenInput {
    pub role: Option<Role>,
    pub organization_id: i64,
    pub user_id: i64,
    pub description: String,
    pub ttl_seconds: i64,
}

impl NewToken {
    pub fn parse(input: TokenInput) -> DomainResult<NewToken> {
        let role = input
            .role
            .ok_or_else(|| DomainError::invalid("role", "is required"))?;
        let id = |field: &str, value: i64| match value {
            0 => Ok(None),
            v if v > 0 => Ok(Some(v)),
            _ => Err(DomainError::invalid(field, "must be positive")),
        };
        let organization_id = id("organization_id", input.organization_id)?;
        let user_id = id("user_id", input.user_id)?;
        match role {
            Role::Operator | Role::Delivery => {
                if organization_id.is_some() || user_id.is_some() {
                    return Err(DomainError::invalid(
                        if organization_id.is_some() {
                            "organization_id"
                        } else {
                            "user_id"
                        },
                        format!("must be empty for role {}", role.as_str()),
                    ));
                }
            }
            Role::OrgAdmin | Role::User => {
                if organization_id.is_none() {
                    return Err(DomainError::invalid(
                        "organization_id",
                        format!("is required for role {}", role.as_str()),
                    ));
                }
                if role == Role::User && user_id.is_none() {
                    return Err(DomainError::invalid("user_id", "is required for role user"));
                }
            }
        }
        let description = validate::bounded_text("description", &input.description, 200)?;
        let ttl = match input.ttl_seconds {
            0 => None,
            s if s > 0 => Some(chrono::Duration::seconds(s)),
            _ => return Err(DomainError::invalid("ttl_seconds", "must not be negative")),
        };
        Ok(NewToken {
            role,
            organization_id,
            user_id,
            description,
            ttl,
        })
    }
}
