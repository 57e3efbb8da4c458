//! Conversions between proto messages and domain values, shared by the
//! service files.

use crate::rules::billing::{LedgerEntry, LedgerKind, Notification, NotificationKind};
use crate::rules::dkim::{DkimAlgorithm, DkimKey, DkimKeyState};
use crate::rules::model::{
    AccountAddress, AccountState, AddressKind, AuditEvent, DnsRecord, Domain, DomainState, Group,
    GroupSharing, Organization, OutboxMessage, Photo, PostalAddress, Profile, RecordCheck,
    RecordPurpose, RecordType, TokenInfo, User,
};
use crate::rules::money::{CURRENCY, Money};
use crate::rules::plans::{Plan, PlanTerms};
use crate::rules::resolution::{MatchKind, Route};
use crate::rules::{DomainError, DomainResult, Role};
use chrono::{DateTime, Utc};
use mailadmin_client::pb;

pub fn timestamp(at: DateTime<Utc>) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.timestamp(),
        nanos: at.timestamp_subsec_nanos() as i32,
    }
}

/// A plan on the wire; `UNSPECIFIED` is `None` (the caller picks a default
/// or refuses).
pub fn plan_from(field: &str, value: i32) -> DomainResult<Option<Plan>> {
    match pb::Plan::try_from(value) {
        Ok(pb::Plan::Unspecified) => Ok(None),
        Ok(pb::Plan::Free) => Ok(Some(Plan::Free)),
        Ok(pb::Plan::Entry) => Ok(Some(Plan::Entry)),
        Ok(pb::Plan::Pro) => Ok(Some(Plan::Pro)),
        Err(_) => Err(DomainError::invalid(field, format!("unknown plan {value}"))),
    }
}

pub fn plan_to(plan: Plan) -> pb::Plan {
    match plan {
        Plan::Free => pb::Plan::Free,
        Plan::Entry => pb::Plan::Entry,
        Plan::Pro => pb::Plan::Pro,
    }
}

pub fn state_from(field: &str, value: i32) -> DomainResult<Option<AccountState>> {
    match pb::AccountState::try_from(value) {
        Ok(pb::AccountState::Unspecified) => Ok(None),
        Ok(pb::AccountState::Enabled) => Ok(Some(AccountState::Enabled)),
        Ok(pb::AccountState::Suspended) => Ok(Some(AccountState::Suspended)),
        Ok(pb::AccountState::Disabled) => Ok(Some(AccountState::Disabled)),
        Ok(pb::AccountState::Deleted) => Ok(Some(AccountState::Deleted)),
        Err(_) => Err(DomainError::invalid(
            field,
            format!("unknown account state {value}"),
        )),
    }
}

fn state_to(state: AccountState) -> pb::AccountState {
    match state {
        AccountState::Enabled => pb::AccountState::Enabled,
        AccountState::Suspended => pb::AccountState::Suspended,
        AccountState::Disabled => pb::AccountState::Disabled,
        AccountState::Deleted => pb::AccountState::Deleted,
    }
}

pub fn role_from(field: &str, value: i32) -> DomainResult<Option<Role>> {
    match pb::Role::try_from(value) {
        Ok(pb::Role::Unspecified) => Ok(None),
        Ok(pb::Role::Operator) => Ok(Some(Role::Operator)),
        Ok(pb::Role::OrgAdmin) => Ok(Some(Role::OrgAdmin)),
        Ok(pb::Role::User) => Ok(Some(Role::User)),
        Ok(pb::Role::Delivery) => Ok(Some(Role::Delivery)),
        Err(_) => Err(DomainError::invalid(field, format!("unknown role {value}"))),
    }
}

pub fn role_to(role: Role) -> pb::Role {
    match role {
        Role::Operator => pb::Role::Operator,
        Role::OrgAdmin => pb::Role::OrgAdmin,
        Role::User => pb::Role::User,
        Role::Delivery => pb::Role::Delivery,
    }
}

/// A required positive id.
pub fn id(field: &str, value: i64) -> DomainResult<i64> {
    if value > 0 {
        Ok(value)
    } else {
        Err(DomainError::invalid(field, "is required (a positive id)"))
    }
}

/// An organization id that may be 0 ("mine" for an org admin).
pub fn organization_id(value: i64) -> DomainResult<i64> {
    if value < 0 {
        Err(DomainError::invalid(
            "organization_id",
            "must not be negative",
        ))
    } else {
        Ok(value)
    }
}

pub fn organization(o: Organization) -> pb::Organization {
    pb::Organization {
        id: o.id,
        name: o.name,
        master_user_id: o.master_user_id,
        master_plan: plan_to(o.master_plan).into(),
        created_at: Some(timestamp(o.created_at)),
        account_count: o.account_count as i32,
    }
}

pub fn postal_address_to(a: PostalAddress) -> pb::PostalAddress {
    let PostalAddress {
        lines,
        postal_code,
        city,
        region,
        country,
    } = a;
    pb::PostalAddress {
        lines,
        postal_code,
        city,
        region,
        country,
    }
}

fn profile(p: Profile) -> pb::Profile {
    let Profile {
        external_email,
        mobile_phone,
        postal_address,
        birth_date,
        photo,
    } = p;
    pb::Profile {
        external_email: external_email.unwrap_or_default(),
        mobile_phone: mobile_phone.unwrap_or_default(),
        postal_address: postal_address.map(postal_address_to),
        birth_date: birth_date.unwrap_or_default(),
        photo: photo.map(|Photo { content_type, data }| pb::Photo { content_type, data }),
    }
}

pub fn user(u: User) -> pb::User {
    pb::User {
        id: u.id,
        organization_id: u.organization_id,
        username: u.username,
        first_name: u.first_name,
        last_name: u.last_name,
        primary_address: u.primary_address,
        plan: plan_to(u.plan).into(),
        state: state_to(u.state).into(),
        is_master: u.is_master,
        profile: Some(profile(u.profile)),
        created_at: Some(timestamp(u.created_at)),
        updated_at: Some(timestamp(u.updated_at)),
        paid_until: u.paid_until.map(timestamp),
        unpaid: u.unpaid,
    }
}

pub fn token(t: TokenInfo) -> pb::Token {
    pb::Token {
        id: t.id,
        role: role_to(t.role).into(),
        organization_id: t.organization_id.unwrap_or_default(),
        user_id: t.user_id.unwrap_or_default(),
        description: t.description,
        created_at: Some(timestamp(t.created_at)),
        expires_at: t.expires_at.map(timestamp),
        revoked_at: t.revoked_at.map(timestamp),
    }
}

pub fn sharing_from(s: Option<pb::GroupSharing>) -> GroupSharing {
    let pb::GroupSharing {
        calendars,
        documents,
        contacts,
        mailboxes,
    } = s.unwrap_or_default();
    GroupSharing {
        calendars,
        documents,
        contacts,
        mailboxes,
    }
}

pub fn group(g: Group) -> pb::Group {
    pb::Group {
        id: g.id,
        organization_id: g.organization_id,
        name: g.name,
        sharing: Some(pb::GroupSharing {
            calendars: g.sharing.calendars,
            documents: g.sharing.documents,
            contacts: g.sharing.contacts,
            mailboxes: g.sharing.mailboxes,
        }),
        member_count: g.member_count as i32,
        created_at: Some(timestamp(g.created_at)),
    }
}

pub fn audit_event(e: AuditEvent) -> pb::AuditEvent {
    pb::AuditEvent {
        id: e.id,
        at: Some(timestamp(e.at)),
        actor: e.actor,
        organization_id: e.organization_id.unwrap_or_default(),
        action: e.action,
        target: e.target,
        details: e.details,
    }
}

pub fn outbox_message(m: OutboxMessage) -> pb::OutboxMessage {
    pb::OutboxMessage {
        id: m.id,
        recipient: m.recipient,
        subject: m.subject,
        body: m.body,
        created_at: Some(timestamp(m.created_at)),
    }
}

fn record_purpose(purpose: RecordPurpose) -> pb::RecordPurpose {
    match purpose {
        RecordPurpose::Ownership => pb::RecordPurpose::Ownership,
        RecordPurpose::Mx => pb::RecordPurpose::Mx,
        RecordPurpose::Spf => pb::RecordPurpose::Spf,
        RecordPurpose::Dkim => pb::RecordPurpose::Dkim,
        RecordPurpose::Dmarc => pb::RecordPurpose::Dmarc,
    }
}

pub fn dns_record(r: DnsRecord) -> pb::DnsRecord {
    pb::DnsRecord {
        purpose: record_purpose(r.purpose).into(),
        r#type: match r.record_type {
            RecordType::Txt => "TXT".to_string(),
            RecordType::Mx => "MX".to_string(),
        },
        name: r.name,
        value: r.value,
    }
}

pub fn record_check(c: RecordCheck) -> pb::RecordCheck {
    pb::RecordCheck {
        expected: Some(dns_record(c.expected)),
        ok: c.ok,
        found: c.found,
        problem: c.problem,
    }
}

pub fn domain(d: Domain, records: Vec<DnsRecord>) -> pb::Domain {
    pb::Domain {
        id: d.id,
        organization_id: d.organization_id,
        name: d.name,
        display_name: d.display_name,
        state: match d.state {
            DomainState::Pending => pb::DomainState::Pending,
            DomainState::Verified => pb::DomainState::Verified,
            DomainState::Active => pb::DomainState::Active,
        }
        .into(),
        records: records.into_iter().map(dns_record).collect(),
        address_count: d.address_count as i32,
        created_at: Some(timestamp(d.created_at)),
        verified_at: d.verified_at.map(timestamp),
        activated_at: d.activated_at.map(timestamp),
        catch_all_user_id: d.catch_all_user_id.unwrap_or_default(),
        alias_of_domain_id: d.alias_of_domain_id.unwrap_or_default(),
        alias_domain_ids: d.alias_domain_ids,
    }
}

pub fn dkim_algorithm_from(field: &str, value: i32) -> DomainResult<DkimAlgorithm> {
    match pb::DkimAlgorithm::try_from(value) {
        Ok(pb::DkimAlgorithm::Unspecified | pb::DkimAlgorithm::Rsa2048) => {
            Ok(DkimAlgorithm::Rsa2048)
        }
        Ok(pb::DkimAlgorithm::Ed25519) => Ok(DkimAlgorithm::Ed25519),
        Err(_) => Err(DomainError::invalid(
            field,
            format!("unknown DKIM algorithm {value}"),
        )),
    }
}

pub fn dkim_algorithm_to(algorithm: DkimAlgorithm) -> pb::DkimAlgorithm {
    match algorithm {
        DkimAlgorithm::Rsa2048 => pb::DkimAlgorithm::Rsa2048,
        DkimAlgorithm::Ed25519 => pb::DkimAlgorithm::Ed25519,
    }
}

/// A DKIM key of `domain` (IDNA ASCII), with the record to publish.
pub fn dkim_key(domain: &str, key: DkimKey) -> pb::DkimKey {
    pb::DkimKey {
        record: Some(dns_record(crate::rules::dkim::record(domain, &key))),
        selector: key.selector,
        algorithm: dkim_algorithm_to(key.algorithm).into(),
        state: match key.state {
            DkimKeyState::Pending => pb::DkimKeyState::Pending,
            DkimKeyState::Active => pb::DkimKeyState::Active,
            DkimKeyState::Retiring => pb::DkimKeyState::Retiring,
            DkimKeyState::Retired => pb::DkimKeyState::Retired,
        }
        .into(),
        created_at: Some(timestamp(key.created_at)),
        activated_at: key.activated_at.map(timestamp),
        retired_at: key.retired_at.map(timestamp),
    }
}

pub fn address(a: AccountAddress, provider_domain: bool) -> pb::Address {
    pb::Address {
        address: a.address,
        display: a.display,
        kind: match a.kind {
            AddressKind::Primary => pb::AddressKind::Primary,
            AddressKind::Alias => pb::AddressKind::Alias,
        }
        .into(),
        provider_domain,
        created_at: Some(timestamp(a.created_at)),
    }
}

pub fn route(route: Route, normalized: String) -> pb::ResolveAddressResponse {
    let matched = |m: MatchKind| -> i32 {
        match m {
            MatchKind::Exact => pb::MatchKind::Exact,
            MatchKind::Subaddress => pb::MatchKind::Subaddress,
            MatchKind::RoleDefault => pb::MatchKind::RoleDefault,
            MatchKind::CatchAll => pb::MatchKind::CatchAll,
            MatchKind::DomainAlias => pb::MatchKind::DomainAlias,
        }
        .into()
    };
    let (resolution, matched, user_id, primary_address) = match route {
        Route::Deliver {
            user_id,
            primary_address,
            matched: m,
        } => (
            pb::Resolution::Deliver,
            matched(m),
            user_id,
            primary_address,
        ),
        Route::Disabled {
            user_id,
            primary_address,
            matched: m,
        } => (
            pb::Resolution::Disabled,
            matched(m),
            user_id,
            primary_address,
        ),
        Route::Unknown => (pb::Resolution::Unknown, 0, 0, String::new()),
        Route::NotLocal => (pb::Resolution::NotLocal, 0, 0, String::new()),
    };
    pb::ResolveAddressResponse {
        resolution: resolution.into(),
        r#match: matched,
        user_id,
        primary_address,
        normalized,
    }
}

pub fn money(m: Money) -> pb::Money {
    pb::Money {
        amount: m.to_string(),
        currency: CURRENCY.to_string(),
    }
}

/// A required amount on the wire.
pub fn money_from(field: &str, m: Option<pb::Money>) -> DomainResult<Money> {
    let pb::Money { amount, currency } =
        m.ok_or_else(|| DomainError::invalid(field, "is required"))?;
    Money::parse(field, &amount, &currency)
}

pub fn plan_terms(t: PlanTerms) -> pb::PlanTerms {
    pb::PlanTerms {
        plan: plan_to(t.plan).into(),
        price: Some(money(Money::from_cents(t.price_cents))),
        aliases_per_user: t.aliases_per_user as i32,
        max_accounts: t.max_accounts as i32,
        max_free_accounts: t.max_free_accounts as i32,
        max_domains: t.max_domains as i32,
        console: t.console,
    }
}

pub fn plan_terms_from(field: &str, t: pb::PlanTerms) -> DomainResult<PlanTerms> {
    let pb::PlanTerms {
        plan,
        price,
        aliases_per_user,
        max_accounts,
        max_free_accounts,
        max_domains,
        console,
    } = t;
    let count = |name: &str, value: i32| {
        u32::try_from(value)
            .map_err(|_| DomainError::invalid(format!("{field}.{name}"), "must not be negative"))
    };
    Ok(PlanTerms {
        plan: plan_from(&format!("{field}.plan"), plan)?
            .ok_or_else(|| DomainError::invalid(format!("{field}.plan"), "is required"))?,
        price_cents: money_from(&format!("{field}.price"), price)?.cents(),
        aliases_per_user: count("aliases_per_user", aliases_per_user)?,
        max_accounts: count("max_accounts", max_accounts)?,
        max_free_accounts: count("max_free_accounts", max_free_accounts)?,
        max_domains: count("max_domains", max_domains)?,
        console,
    })
}

pub fn ledger_entry(e: LedgerEntry) -> pb::LedgerEntry {
    pb::LedgerEntry {
        id: e.id,
        organization_id: e.organization_id,
        kind: match e.kind {
            LedgerKind::TopUp => pb::LedgerEntryKind::Topup,
            LedgerKind::Charge => pb::LedgerEntryKind::Charge,
            LedgerKind::Refund => pb::LedgerEntryKind::Refund,
            LedgerKind::Adjustment => pb::LedgerEntryKind::Adjustment,
        }
        .into(),
        amount: Some(money(e.amount)),
        balance_after: Some(money(e.balance_after)),
        user_id: e.user_id.unwrap_or_default(),
        plan: e.plan.map(|p| plan_to(p).into()).unwrap_or_default(),
        period_seq: e.period_seq.unwrap_or_default(),
        reference: e.reference.unwrap_or_default(),
        description: e.description,
        created_at: Some(timestamp(e.created_at)),
    }
}

pub fn notification(n: Notification) -> pb::Notification {
    pb::Notification {
        id: n.id,
        organization_id: n.organization_id,
        kind: match n.kind {
            NotificationKind::LowBalance => pb::NotificationKind::LowBalance,
            NotificationKind::RenewalFailed => pb::NotificationKind::RenewalFailed,
            NotificationKind::MovedToFree => pb::NotificationKind::MovedToFree,
            NotificationKind::DomainClaimDropped => pb::NotificationKind::DomainClaimDropped,
        }
        .into(),
        message: n.message,
        created_at: Some(timestamp(n.created_at)),
    }
}

pub fn account_event(e: crate::rules::model::AccountEvent) -> pb::AccountEvent {
    use crate::rules::model::AccountEventKind as Kind;
    pb::AccountEvent {
        seq: e.seq,
        organization_id: e.organization_id,
        user_id: e.user_id,
        kind: match e.kind {
            Kind::Created => pb::AccountEventKind::Created,
            Kind::Disabled => pb::AccountEventKind::Disabled,
            Kind::Enabled => pb::AccountEventKind::Enabled,
            Kind::Suspended => pb::AccountEventKind::Suspended,
            Kind::Resumed => pb::AccountEventKind::Resumed,
            Kind::Deleted => pb::AccountEventKind::Deleted,
            Kind::AddressAdded => pb::AccountEventKind::AddressAdded,
            Kind::AddressRemoved => pb::AccountEventKind::AddressRemoved,
        }
        .into(),
        address: e.address.unwrap_or_default(),
        at: Some(timestamp(e.at)),
    }
}
