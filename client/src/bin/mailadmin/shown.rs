//! The table columns of every resource the CLI prints.

use crate::output::{Shown, enum_name, money, time};
use mailadmin_client::pb;

impl Shown for pb::Organization {
    const PROTO: &'static str = "mailadmin.v1.Organization";
    fn headers() -> &'static [&'static str] {
        &["ID", "NAME", "PLAN", "ACCOUNTS", "MASTER", "CREATED"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.name.clone(),
            enum_name(self.master_plan().as_str_name(), "PLAN_"),
            self.account_count.to_string(),
            self.master_user_id.to_string(),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::User {
    const PROTO: &'static str = "mailadmin.v1.User";
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "USERNAME",
            "NAME",
            "ADDRESS",
            "PLAN",
            "STATE",
            "PAID UNTIL",
            "CREATED",
        ]
    }
    fn row(&self) -> Vec<String> {
        let mut plan = enum_name(self.plan().as_str_name(), "PLAN_");
        if self.is_master {
            plan.push_str(" (master)");
        }
        if self.unpaid {
            plan.push_str(" (unpaid)");
        }
        vec![
            self.id.to_string(),
            self.username.clone(),
            format!("{} {}", self.first_name, self.last_name),
            self.primary_address.clone(),
            plan,
            enum_name(self.state().as_str_name(), "ACCOUNT_STATE_"),
            time(&self.paid_until),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::Address {
    const PROTO: &'static str = "mailadmin.v1.Address";
    fn headers() -> &'static [&'static str] {
        &["ADDRESS", "KIND", "PROVIDER DOMAIN", "CREATED"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.display.clone(),
            enum_name(self.kind().as_str_name(), "ADDRESS_KIND_"),
            yes_no(self.provider_domain),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::Group {
    const PROTO: &'static str = "mailadmin.v1.Group";
    fn headers() -> &'static [&'static str] {
        &["ID", "NAME", "MEMBERS", "SHARING", "CREATED"]
    }
    fn row(&self) -> Vec<String> {
        let sharing = self
            .sharing
            .as_ref()
            .map(|s| {
                [
                    (s.calendars, "calendars"),
                    (s.documents, "documents"),
                    (s.contacts, "contacts"),
                    (s.mailboxes, "mailboxes"),
                ]
                .into_iter()
                .filter_map(|(on, name)| on.then_some(name))
                .collect::<Vec<_>>()
                .join(",")
            })
            .unwrap_or_default();
        vec![
            self.id.to_string(),
            self.name.clone(),
            self.member_count.to_string(),
            sharing,
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::Token {
    const PROTO: &'static str = "mailadmin.v1.Token";
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "ROLE",
            "ORG",
            "USER",
            "DESCRIPTION",
            "EXPIRES",
            "REVOKED",
            "CREATED",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            enum_name(self.role().as_str_name(), "ROLE_"),
            zero_empty(self.organization_id),
            zero_empty(self.user_id),
            self.description.clone(),
            time(&self.expires_at),
            time(&self.revoked_at),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::AuditEvent {
    const PROTO: &'static str = "mailadmin.v1.AuditEvent";
    fn headers() -> &'static [&'static str] {
        &["AT", "ACTOR", "ORG", "ACTION", "TARGET", "DETAILS"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            time(&self.at),
            self.actor.clone(),
            zero_empty(self.organization_id),
            self.action.clone(),
            self.target.clone(),
            self.details.clone(),
        ]
    }
}

impl Shown for pb::OutboxMessage {
    const PROTO: &'static str = "mailadmin.v1.OutboxMessage";
    fn headers() -> &'static [&'static str] {
        &["ID", "TO", "SUBJECT", "CREATED"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.recipient.clone(),
            self.subject.clone(),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::LedgerEntry {
    const PROTO: &'static str = "mailadmin.v1.LedgerEntry";
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "KIND",
            "AMOUNT",
            "BALANCE",
            "USER",
            "DESCRIPTION",
            "AT",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            enum_name(self.kind().as_str_name(), "LEDGER_ENTRY_KIND_"),
            money(&self.amount),
            money(&self.balance_after),
            zero_empty(self.user_id),
            self.description.clone(),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::Notification {
    const PROTO: &'static str = "mailadmin.v1.Notification";
    fn headers() -> &'static [&'static str] {
        &["ID", "KIND", "MESSAGE", "AT"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            enum_name(self.kind().as_str_name(), "NOTIFICATION_KIND_"),
            self.message.clone(),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::PlanTerms {
    const PROTO: &'static str = "mailadmin.v1.PlanTerms";
    fn headers() -> &'static [&'static str] {
        &[
            "PLAN",
            "PRICE",
            "ALIASES",
            "ACCOUNTS",
            "FREE ACCOUNTS",
            "DOMAINS",
            "CONSOLE",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            enum_name(self.plan().as_str_name(), "PLAN_"),
            money(&self.price),
            self.aliases_per_user.to_string(),
            self.max_accounts.to_string(),
            self.max_free_accounts.to_string(),
            self.max_domains.to_string(),
            yes_no(self.console),
        ]
    }
}

impl Shown for pb::Domain {
    const PROTO: &'static str = "mailadmin.v1.Domain";
    fn headers() -> &'static [&'static str] {
        &[
            "ID",
            "NAME",
            "STATE",
            "ADDRESSES",
            "CATCH-ALL",
            "ALIAS OF",
            "CREATED",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.id.to_string(),
            self.display_name.clone(),
            enum_name(self.state().as_str_name(), "DOMAIN_STATE_"),
            self.address_count.to_string(),
            zero_empty(self.catch_all_user_id),
            zero_empty(self.alias_of_domain_id),
            time(&self.created_at),
        ]
    }
}

impl Shown for pb::DnsRecord {
    const PROTO: &'static str = "mailadmin.v1.DnsRecord";
    fn headers() -> &'static [&'static str] {
        &["PURPOSE", "TYPE", "NAME", "VALUE"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            enum_name(self.purpose().as_str_name(), "RECORD_PURPOSE_"),
            self.r#type.clone(),
            self.name.clone(),
            self.value.clone(),
        ]
    }
}

impl Shown for pb::RecordCheck {
    const PROTO: &'static str = "mailadmin.v1.RecordCheck";
    fn headers() -> &'static [&'static str] {
        &["PURPOSE", "NAME", "OK", "PROBLEM"]
    }
    fn row(&self) -> Vec<String> {
        let expected = self.expected.clone().unwrap_or_default();
        vec![
            enum_name(expected.purpose().as_str_name(), "RECORD_PURPOSE_"),
            expected.name,
            yes_no(self.ok),
            self.problem.clone(),
        ]
    }
}

impl Shown for pb::DkimKey {
    const PROTO: &'static str = "mailadmin.v1.DkimKey";
    fn headers() -> &'static [&'static str] {
        &[
            "SELECTOR",
            "ALGORITHM",
            "STATE",
            "CREATED",
            "ACTIVATED",
            "RETIRED",
        ]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.selector.clone(),
            enum_name(self.algorithm().as_str_name(), "DKIM_ALGORITHM_"),
            enum_name(self.state().as_str_name(), "DKIM_KEY_STATE_"),
            time(&self.created_at),
            time(&self.activated_at),
            time(&self.retired_at),
        ]
    }
}

impl Shown for pb::RecipientVerdict {
    const PROTO: &'static str = "mailadmin.v1.RecipientVerdict";
    fn headers() -> &'static [&'static str] {
        &["ADDRESS", "VERDICT", "USER", "DELIVER TO", "SMTP REPLY"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.address.clone(),
            enum_name(self.verdict().as_str_name(), "VERDICT_"),
            zero_empty(self.user_id),
            self.primary_address.clone(),
            format!(
                "{} {} {}",
                self.smtp_code, self.enhanced_status, self.reply_text
            ),
        ]
    }
}

impl Shown for pb::AccountEvent {
    const PROTO: &'static str = "mailadmin.v1.AccountEvent";
    fn headers() -> &'static [&'static str] {
        &["SEQ", "KIND", "ORG", "USER", "ADDRESS", "AT"]
    }
    fn row(&self) -> Vec<String> {
        vec![
            self.seq.to_string(),
            enum_name(self.kind().as_str_name(), "ACCOUNT_EVENT_KIND_"),
            self.organization_id.to_string(),
            self.user_id.to_string(),
            self.address.clone(),
            time(&self.at),
        ]
    }
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}

fn zero_empty(id: i64) -> String {
    if id == 0 {
        String::new()
    } else {
        id.to_string()
    }
}
