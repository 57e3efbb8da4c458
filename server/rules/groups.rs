//! Groups: named sets of one organization's accounts that share calendars,
//! documents, contacts or mailboxes.

use super::validate::{self};
use super::{DomainError, DomainResult};

/// A group name: trimmed, 1 to 100 characters; unique per organization
/// regardless of letter case.
pub fn group_name(field: &str, input: &str) -> DomainResult<String> {
    validate::bounded_text(field, input, 100)
}

/// Member ids as given: at least one, each positive, duplicates dropped.
pub fn member_ids(field: &str, ids: Vec<i64>) -> DomainResult<Vec<i64>> {
    if ids.is_empty() {
        return Err(DomainError::invalid(field, "is empty"));
    }
    if ids.len() > 1000 {
        return Err(DomainError::invalid(field, "has more than 1000 ids"));
    }
    if let Some(bad) = ids.iter().find(|id| **id <= 0) {
        return Err(DomainError::invalid(
            field,
            format!("{bad} is not an account id"),
        ));
    }
    let mut ids = ids;
    ids.sort_unstable();
    ids.dedup();
    Ok(ids)
}
