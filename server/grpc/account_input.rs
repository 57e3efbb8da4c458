//! The account messages AdminService reads, turned into rules values: a
//! new account, a profile update, a client-chosen request id. Validation
//! happens in the rules types; this file only walks the message fields.

use super::convert::{self, id};
use crate::rules::accounts::AccountInput;
use crate::rules::address::EmailAddress;
use crate::rules::model::{NewAccount, Photo, PostalAddress, ProfileUpdate};
use crate::rules::validate;
use crate::rules::{DomainError, DomainResult};
use mailadmin_client::pb;

pub fn new_account(field: &str, account: Option<pb::NewAccount>) -> DomainResult<NewAccount> {
    let pb::NewAccount {
        last_name,
        first_name,
        username,
        primary_address,
        password,
        plan,
    } = account.ok_or_else(|| DomainError::invalid(field, "is required"))?;
    let plan = convert::plan_from("plan", plan).map_err(|e| e.within(field))?;
    NewAccount::parse(AccountInput {
        last_name,
        first_name,
        username,
        primary_address,
        password,
        plan,
    })
    .map_err(|e| e.within(field))
}

pub fn request_id(value: String) -> DomainResult<Option<String>> {
    let value = value.trim().to_string();
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 128 || value.chars().any(char::is_control) {
        return Err(DomainError::invalid(
            "request_id",
            "must be at most 128 characters without control characters",
        ));
    }
    Ok(Some(value))
}

/// `Some("")` clears an optional text field; `Some(text)` validates it.
fn optional_text(
    value: Option<String>,
    check: impl FnOnce(&str) -> DomainResult<String>,
) -> DomainResult<Option<Option<String>>> {
    match value {
        None => Ok(None),
        Some(v) if v.trim().is_empty() => Ok(Some(None)),
        Some(v) => Ok(Some(Some(check(&v)?))),
    }
}

fn postal_address(value: pb::PostalAddress) -> DomainResult<Option<PostalAddress>> {
    let pb::PostalAddress {
        lines,
        postal_code,
        city,
        region,
        country,
    } = value;
    validate::postal_address(
        "postal_address",
        PostalAddress {
            lines,
            postal_code,
            city,
            region,
            country,
        },
    )
}

pub fn profile_update(
    request: pb::UpdateUserProfileRequest,
    today: chrono::NaiveDate,
) -> DomainResult<(i64, ProfileUpdate)> {
    let pb::UpdateUserProfileRequest {
        user_id,
        first_name,
        last_name,
        external_email,
        mobile_phone,
        postal_address: postal,
        birth_date,
        photo,
    } = request;
    let user_id = id("user_id", user_id)?;
    let update = ProfileUpdate {
        first_name: first_name
            .map(|v| validate::person_name("first_name", &v))
            .transpose()?,
        last_name: last_name
            .map(|v| validate::person_name("last_name", &v))
            .transpose()?,
        external_email: optional_text(external_email, |v| {
            EmailAddress::parse("external_email", v).map(|a| a.to_string())
        })?,
        mobile_phone: optional_text(mobile_phone, |v| validate::phone("mobile_phone", v))?,
        postal_address: postal.map(postal_address).transpose()?,
        birth_date: optional_text(birth_date, |v| validate::birth_date("birth_date", v, today))?,
        photo: photo
            .map(|pb::Photo { content_type, data }| {
                if data.is_empty() {
                    return Ok::<_, DomainError>(None);
                }
                let content_type = validate::photo("photo", &content_type, &data)?;
                Ok(Some(Photo { content_type, data }))
            })
            .transpose()?,
    };
    Ok((user_id, update))
}
