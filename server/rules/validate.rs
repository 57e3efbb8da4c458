//! Input rules for the values people type: usernames, names, passwords,
//! personal data, page sizes. Each refusal names the field and the reason.

use super::address::EmailAddress;
use super::error::{DomainError, DomainResult};
use super::model::PostalAddress;

/// A platform-unique login name: `[a-z0-9._-]`, 3 to 64, stored lower-case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, input: &str) -> DomainResult<Self> {
        let lowered = input.trim().to_ascii_lowercase();
        let length = lowered.chars().count();
        if !(3..=64).contains(&length) {
            return Err(DomainError::invalid(
                field,
                format!("must be 3 to 64 characters, got {length}"),
            ));
        }
        if let Some(bad) = lowered
            .chars()
            .find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(*c)))
        {
            return Err(DomainError::invalid(
                field,
                format!("contains {bad:?}; allowed are a-z, 0-9, '.', '_' and '-'"),
            ));
        }
        Ok(Username(lowered))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A person's first or last name: trimmed, 1 to 200 characters, no control
/// characters.
pub fn person_name(field: &str, input: &str) -> DomainResult<String> {
    bounded_text(field, input, 200)
}

/// Trimmed free text of 1 to `max` characters without control characters.
pub fn bounded_text(field: &str, input: &str, max: usize) -> DomainResult<String> {
    let trimmed = input.trim();
    if trimmed.is_empty() {
        return Err(DomainError::invalid(field, "is empty"));
    }
    if trimmed.chars().count() > max {
        return Err(DomainError::invalid(
            field,
            format!("is longer than {max} characters"),
        ));
    }
    if trimmed.chars().any(char::is_control) {
        return Err(DomainError::invalid(field, "contains control characters"));
    }
    Ok(trimmed.to_string())
}

/// A password that passed the policy. Never logged: Debug hides it.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(<hidden>)")
    }
}

impl Password {
    /// docs/rules.md, "Password rules": 10 to 128 characters, not equal to the username or the address
    /// (case-insensitively).
    pub fn new(
        field: &str,
        input: &str,
        username: &str,
        address: Option<&EmailAddress>,
    ) -> DomainResult<Self> {
        Self::check_length(field, input)?;
        let lowered = input.to_lowercase();
        if lowered == username.to_lowercase() {
            return Err(DomainError::invalid(field, "must not equal the username"));
        }
        if address.is_some_and(|a| lowered == a.as_str() || lowered == a.display()) {
            return Err(DomainError::invalid(field, "must not equal the address"));
        }
        Ok(Password(input.to_string()))
    }

    /// The part of the policy that needs no account: 10 to 128 characters.
    /// Checked before any lookup, so bad input is INVALID_ARGUMENT even when
    /// the account does not exist.
    pub fn check_length(field: &str, input: &str) -> DomainResult<()> {
        let length = input.chars().count();
        if (10..=128).contains(&length) {
            Ok(())
        } else {
            Err(DomainError::invalid(
                field,
                format!("must be 10 to 128 characters, got {length}"),
            ))
        }
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// An E.164 phone number: '+', then 8 to 15 digits (spaces and dashes
/// between digits are dropped).
pub fn phone(field: &str, input: &str) -> DomainResult<String> {
    let compact: String = input
        .trim()
        .chars()
        .filter(|c| *c != ' ' && *c != '-')
        .collect();
    let digits = compact.strip_prefix('+').ok_or_else(|| {
        DomainError::invalid(field, "must be in international form, starting with '+'")
    })?;
    if !(8..=15).contains(&digits.len()) || !digits.chars().all(|c| c.is_ascii_digit()) {
        return Err(DomainError::invalid(
            field,
            "must be '+' and 8 to 15 digits",
        ));
    }
    Ok(compact)
}

/// A birth date, `YYYY-MM-DD`, not in the future.
pub fn birth_date(field: &str, input: &str, today: chrono::NaiveDate) -> DomainResult<String> {
    let date = chrono::NaiveDate::parse_from_str(input.trim(), "%Y-%m-%d")
        .map_err(|_| DomainError::invalid(field, "must be a date written YYYY-MM-DD"))?;
    if date > today {
        return Err(DomainError::invalid(field, "is in the future"));
    }
    if date.year_ce().1 < 1900 {
        return Err(DomainError::invalid(field, "is before 1900"));
    }
    Ok(date.format("%Y-%m-%d").to_string())
}

use chrono::Datelike;

/// A postal address: at most 4 lines of 200 characters, short fields, an
/// ISO 3166-1 alpha-2 country. Blank parts are dropped; an all-blank
/// address is `None` (cleared).
pub fn postal_address(field: &str, input: PostalAddress) -> DomainResult<Option<PostalAddress>> {
    let PostalAddress {
        lines,
        postal_code,
        city,
        region,
        country,
    } = input;
    let part = |name: &str, value: String, max: usize| -> DomainResult<String> {
        if value.trim().is_empty() {
            Ok(String::new())
        } else {
            bounded_text(&format!("{field}.{name}"), &value, max)
        }
    };
    if lines.len() > 4 {
        return Err(DomainError::invalid(
            format!("{field}.lines"),
            "has more than 4 lines",
        ));
    }
    let mut kept = Vec::with_capacity(lines.len());
    for line in lines {
        let line = part("lines", line, 200)?;
        if !line.is_empty() {
            kept.push(line);
        }
    }
    let country = part("country", country, 2)?.to_ascii_uppercase();
    let is_code = country.len() == 2 && country.chars().all(|c| c.is_ascii_alphabetic());
    if !(country.is_empty() || is_code) {
        return Err(DomainError::invalid(
            format!("{field}.country"),
            "must be an ISO 3166-1 alpha-2 code",
        ));
    }
    let address = PostalAddress {
        lines: kept,
        postal_code: part("postal_code", postal_code, 20)?,
        city: part("city", city, 100)?,
        region: part("region", region, 100)?,
        country,
    };
    Ok((!address.is_empty()).then_some(address))
}

pub const MAX_PHOTO_BYTES: usize = 1024 * 1024;

/// A photo: one of the common web image types, at most 1 MiB, and bytes
/// that really start like that type.
pub fn photo(field: &str, content_type: &str, data: &[u8]) -> DomainResult<String> {
    if data.len() > MAX_PHOTO_BYTES {
        return Err(DomainError::invalid(
            format!("{field}.data"),
            format!("is {} bytes; the limit is 1 MiB", data.len()),
        ));
    }
    let content_type = content_type.trim().to_ascii_lowercase();
    let magic: &[&[u8]] = match content_type.as_str() {
        "image/png" => &[b"\x89PNG\r\n\x1a\n"],
        "image/jpeg" => &[b"\xff\xd8\xff"],
        "image/gif" => &[b"GIF87a", b"GIF89a"],
        "image/webp" => &[b"RIFF"],
        _ => {
            return Err(DomainError::invalid(
                format!("{field}.content_type"),
                "must be image/png, image/jpeg, image/gif or image/webp",
            ));
        }
    };
    if !magic.iter().any(|m| data.starts_with(m)) {
        return Err(DomainError::invalid(
            format!("{field}.data"),
            format!("is not a {content_type} image"),
        ));
    }
    Ok(content_type)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_lowercased_and_checked() {
        assert_eq!(
            Username::parse("u", "John.Doe").unwrap().as_str(),
            "john.doe"
        );
        assert!(Username::parse("u", "jo").is_err());
        assert!(Username::parse("u", &"a".repeat(65)).is_err());
        assert!(Username::parse("u", "john doe").is_err());
        assert!(Username::parse("u", "jöhn").is_err());
        assert!(Username::parse("u", "a_b-c.9").is_ok());
    }

    #[test]
    fn password_policy() {
        let address = EmailAddress::parse("a", "alice@example.com").unwrap();
        assert!(Password::new("p", "short", "alice", None).is_err());
        assert!(Password::new("p", &"x".repeat(129), "alice", None).is_err());
        assert!(Password::new("p", "alice.smith", "Alice.Smith", None).is_err());
        assert!(Password::new("p", "ALICE@example.com", "bob_the_user", Some(&address)).is_err());
        assert!(Password::new("p", "correct horse battery", "alice", Some(&address)).is_ok());
        assert_eq!(
            format!(
                "{:?}",
                Password::new("p", "correct horse", "alice", None).unwrap()
            ),
            "Password(<hidden>)"
        );
    }

    #[test]
    fn personal_data() {
        assert_eq!(phone("m", "+32 470 12-34-56").unwrap(), "+32470123456");
        assert!(phone("m", "0470123456").is_err());
        let today = chrono::NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
        assert_eq!(birth_date("b", "1990-02-28", today).unwrap(), "1990-02-28");
        assert!(birth_date("b", "1990-02-30", today).is_err());
        assert!(birth_date("b", "2030-01-01", today).is_err());
        assert!(photo("photo", "image/png", b"\x89PNG\r\n\x1a\nrest").is_ok());
        assert!(photo("photo", "image/png", b"GIF89a").is_err());
        assert!(photo("photo", "text/plain", b"hello").is_err());
        let address = PostalAddress {
            lines: vec!["Rue de la Loi 16".into(), " ".into()],
            city: "Bruxelles".into(),
            country: "be".into(),
            ..Default::default()
        };
        let kept = postal_address("postal_address", address).unwrap().unwrap();
        assert_eq!(kept.lines, vec!["Rue de la Loi 16".to_string()]);
        assert_eq!(kept.country, "BE");
        assert!(
            postal_address("postal_address", PostalAddress::default())
                .unwrap()
                .is_none()
        );
        let bad_country = PostalAddress {
            country: "B1".into(),
            ..Default::default()
        };
        assert!(postal_address("postal_address", bad_country).is_err());
        let big = [b"\xff\xd8\xff".as_slice(), &vec![0u8; MAX_PHOTO_BYTES]].concat();
        assert!(photo("photo", "image/jpeg", &big).is_err());
    }
}
