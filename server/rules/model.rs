//! The objects mailadmin manages, as plain Rust values.

use super::address::EmailAddress;
use super::plans::Plan;
use super::principal::Role;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountState {
    Enabled,
    /// Cannot log in, still receives mail and is still billed.
    Suspended,
    Disabled,
    Deleted,
}

impl AccountState {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountState::Enabled => "enabled",
            AccountState::Suspended => "suspended",
            AccountState::Disabled => "disabled",
            AccountState::Deleted => "deleted",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        Some(match stored {
            "enabled" => AccountState::Enabled,
            "suspended" => AccountState::Suspended,
            "disabled" => AccountState::Disabled,
            "deleted" => AccountState::Deleted,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Organization {
    pub id: i64,
    pub name: String,
    pub master_user_id: i64,
    pub master_plan: Plan,
    pub account_count: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct PostalAddress {
    pub lines: Vec<String>,
    pub postal_code: String,
    pub city: String,
    pub region: String,
    pub country: String,
}

impl PostalAddress {
    pub fn is_empty(&self) -> bool {
        self == &PostalAddress::default()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Photo {
    pub content_type: String,
    pub data: Vec<u8>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    pub external_email: Option<String>,
    pub mobile_phone: Option<String>,
    pub postal_address: Option<PostalAddress>,
    pub birth_date: Option<String>,
    pub photo: Option<Photo>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    pub id: i64,
    pub organization_id: i64,
    pub username: String,
    pub first_name: String,
    pub last_name: String,
    pub primary_address: String,
    pub plan: Plan,
    pub state: AccountState,
    pub is_master: bool,
    pub profile: Profile,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// End of the current paid period; `None` on Free and for the master.
    pub paid_until: Option<DateTime<Utc>>,
    /// A renewal came due and could not be paid.
    pub unpaid: bool,
}

/// A validated request to create an account.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub first_name: String,
    pub last_name: String,
    pub username: super::validate::Username,
    pub primary_address: EmailAddress,
    pub password: super::validate::Password,
    pub plan: Plan,
}

/// A validated profile update: `None` keeps a field, `Some(None)` clears it.
#[derive(Debug, Clone, Default)]
pub struct ProfileUpdate {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub external_email: Option<Option<String>>,
    pub mobile_phone: Option<Option<String>>,
    pub postal_address: Option<Option<PostalAddress>>,
    pub birth_date: Option<Option<String>>,
    pub photo: Option<Option<Photo>>,
}

/// Filters of ListUsers.
#[derive(Debug, Clone, Default)]
pub struct UserFilter {
    pub state: Option<AccountState>,
    pub plan: Option<Plan>,
    pub query: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenInfo {
    pub id: i64,
    pub role: Role,
    pub organization_id: Option<i64>,
    pub user_id: Option<i64>,
    pub description: String,
    pub created_at: DateTime<Utc>,
    pub expires_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A validated CreateToken request.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub role: Role,
    pub organization_id: Option<i64>,
    pub user_id: Option<i64>,
    pub description: String,
    pub ttl: Option<chrono::Duration>,
}

#[derive(Debug, Clone)]
pub struct Session {
    pub token: String,
    pub role: Role,
    pub expires_at: DateTime<Utc>,
    pub user_id: i64,
    pub organization_id: i64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GroupSharing {
    pub calendars: bool,
    pub documents: bool,
    pub contacts: bool,
    pub mailboxes: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    pub id: i64,
    pub organization_id: i64,
    pub name: String,
    pub sharing: GroupSharing,
    pub member_count: u32,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditEvent {
    pub id: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub organization_id: Option<i64>,
    pub action: String,
    pub target: String,
    pub details: String,
}

/// An audit event about to be recorded (in the same transaction as the
/// change it describes).
#[derive(Debug, Clone)]
pub struct NewAuditEvent {
    pub actor: String,
    pub organization_id: Option<i64>,
    pub action: &'static str,
    pub target: String,
    pub details: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxMessage {
    pub id: i64,
    pub recipient: String,
    pub subject: String,
    pub body: String,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DomainState {
    Pending,
    Verified,
    Active,
}

impl DomainState {
    pub fn as_str(self) -> &'static str {
        match self {
            DomainState::Pending => "pending",
            DomainState::Verified => "verified",
            DomainState::Active => "active",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        Some(match stored {
            "pending" => DomainState::Pending,
            "verified" => DomainState::Verified,
            "active" => DomainState::Active,
            _ => return None,
        })
    }
}

/// An organization's claim on, or ownership of, a domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Domain {
    pub id: i64,
    pub organization_id: i64,
    /// IDNA ASCII, lower case.
    pub name: String,
    pub display_name: String,
    pub state: DomainState,
    pub verification_token: String,
    /// Every DKIM key, oldest first, retired ones included.
    pub dkim_keys: Vec<super::dkim::DkimKey>,
    pub address_count: u32,
    pub created_at: DateTime<Utc>,
    pub verified_at: Option<DateTime<Utc>>,
    pub activated_at: Option<DateTime<Utc>>,
    /// The account receiving mail for addresses nothing else takes.
    pub catch_all_user_id: Option<i64>,
    /// When this domain is an alias: the domain whose addresses it shares.
    pub alias_of_domain_id: Option<i64>,
    /// The domains that are aliases of this one.
    pub alias_domain_ids: Vec<i64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordPurpose {
    Ownership,
    Mx,
    Spf,
    Dkim,
    Dmarc,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordType {
    Txt,
    Mx,
}

/// A DNS record an organization publishes for its domain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsRecord {
    pub purpose: RecordPurpose,
    pub record_type: RecordType,
    pub name: String,
    pub value: String,
}

/// One record checked against DNS.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordCheck {
    pub expected: DnsRecord,
    pub ok: bool,
    pub found: Vec<String>,
    pub problem: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddressKind {
    Primary,
    Alias,
}

impl AddressKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AddressKind::Primary => "primary",
            AddressKind::Alias => "alias",
        }
    }
}

/// An address of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountAddress {
    pub id: i64,
    pub user_id: i64,
    pub organization_id: i64,
    pub address: String,
    pub display: String,
    pub domain: String,
    pub kind: AddressKind,
    pub created_at: DateTime<Utc>,
}

/// What happened to an account, for the stores that keep its data
/// (docs/rules.md, "Account events").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccountEventKind {
    Created,
    Disabled,
    Enabled,
    Suspended,
    Resumed,
    Deleted,
    AddressAdded,
    AddressRemoved,
}

impl AccountEventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            AccountEventKind::Created => "created",
            AccountEventKind::Disabled => "disabled",
            AccountEventKind::Enabled => "enabled",
            AccountEventKind::Suspended => "suspended",
            AccountEventKind::Resumed => "resumed",
            AccountEventKind::Deleted => "deleted",
            AccountEventKind::AddressAdded => "address_added",
            AccountEventKind::AddressRemoved => "address_removed",
        }
    }

    pub fn parse_stored(stored: &str) -> Option<Self> {
        [
            AccountEventKind::Created,
            AccountEventKind::Disabled,
            AccountEventKind::Enabled,
            AccountEventKind::Suspended,
            AccountEventKind::Resumed,
            AccountEventKind::Deleted,
            AccountEventKind::AddressAdded,
            AccountEventKind::AddressRemoved,
        ]
        .into_iter()
        .find(|kind| kind.as_str() == stored)
    }
}

/// One account event, numbered in commit order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEvent {
    pub seq: i64,
    pub organization_id: i64,
    pub user_id: i64,
    pub kind: AccountEventKind,
    /// The address added or removed; the primary address when created.
    pub address: Option<String>,
    pub at: DateTime<Utc>,
}
