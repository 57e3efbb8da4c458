//! Who is calling, and the tenancy rules every call goes through: an
//! operator sees everything, an org admin its own organization, a user
//! itself. Objects outside the caller's reach are NotFound, exactly like
//! objects that do not exist.

use super::error::{DomainError, DomainResult, Kind};

/// The roles a token can carry (docs/rules.md, "Callers and roles").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    Operator,
    OrgAdmin,
    User,
    Delivery,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Operator => "operator",
            Role::OrgAdmin => "org_admin",
            Role::User => "user",
            Role::Delivery => "delivery",
        }
    }

    pub fn parse(stored: &str) -> Option<Role> {
        Some(match stored {
            "operator" => Role::Operator,
            "org_admin" => Role::OrgAdmin,
            "user" => Role::User,
            "delivery" => Role::Delivery,
            _ => return None,
        })
    }
}

/// The authenticated caller, put into each request by the auth layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub token_id: i64,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub user_id: Option<i64>,
}

impl Principal {
    /// How the audit log names this caller.
    pub fn actor(&self) -> String {
        match (self.role, self.user_id) {
            (Role::Operator | Role::Delivery, _) | (_, None) => {
                format!("{} token {}", self.role.as_str(), self.token_id)
            }
            (role, Some(user)) => format!("{} user {}", role.as_str(), user),
        }
    }

    pub fn is_operator(&self) -> bool {
        self.role == Role::Operator
    }

    /// The organization a call is about. Operators must name one; an org
    /// admin may leave it 0 (its own) and gets NotFound for any other.
    pub fn scope_organization(&self, requested: i64) -> DomainResult<i64> {
        match self.role {
            Role::Operator => {
                if requested <= 0 {
                    Err(DomainError::invalid(
                        "organization_id",
                        "required for operator calls",
                    ))
                } else {
                    Ok(requested)
                }
            }
            Role::OrgAdmin => {
                let own = self.own_organization()?;
                if requested == 0 || requested == own {
                    Ok(own)
                } else {
                    Err(DomainError::NotFound(Kind::Organization))
                }
            }
            Role::User | Role::Delivery => Err(DomainError::PermissionDenied(format!(
                "role {} may not manage an organization",
                self.role.as_str()
            ))),
        }
    }

    /// Whether this caller may read or manage an object of `organization_id`
    /// (an operator: any; an org admin: its own). Callers turn `false` into
    /// NotFound.
    pub fn manages(&self, organization_id: i64) -> bool {
        match self.role {
            Role::Operator => true,
            Role::OrgAdmin => self.organization_id == Some(organization_id),
            Role::User | Role::Delivery => false,
        }
    }

    pub fn own_organization(&self) -> DomainResult<i64> {
        self.organization_id
            .ok_or_else(|| DomainError::internal("org admin token without organization"))
    }

    /// The account this token speaks for, for "own" calls.
    pub fn own_account(&self) -> DomainResult<i64> {
        self.user_id
            .ok_or_else(|| DomainError::precondition("this token is not bound to an account"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn admin_of(org: i64) -> Principal {
        Principal {
            token_id: 1,
            role: Role::OrgAdmin,
            organization_id: Some(org),
            user_id: Some(10),
        }
    }

    #[test]
    fn org_admin_scope_is_its_own_organization() {
        assert_eq!(admin_of(7).scope_organization(0).unwrap(), 7);
        assert_eq!(admin_of(7).scope_organization(7).unwrap(), 7);
        assert!(matches!(
            admin_of(7).scope_organization(8),
            Err(DomainError::NotFound(Kind::Organization))
        ));
    }

    #[test]
    fn operator_must_name_the_organization() {
        let operator = Principal {
            token_id: 1,
            role: Role::Operator,
            organization_id: None,
            user_id: None,
        };
        assert!(matches!(
            operator.scope_organization(0),
            Err(DomainError::Invalid { .. })
        ));
        assert_eq!(operator.scope_organization(3).unwrap(), 3);
        assert!(operator.manages(99));
        assert!(!admin_of(1).manages(2));
    }
}
