//! Email addresses, parsed and normalized in one place: domain in IDNA ASCII
//! form (UTS-46, through the `idna` crate), everything lower-cased, RFC 5321
//! lengths. Two spellings of one mailbox (`John@Bücher.Example`,
//! `john@xn--bcher-kva.example`) normalize to the same value.

use super::error::{DomainError, DomainResult};
use super::model::{AddressKind, Domain, DomainState};
use super::resolution::ROLE_LOCAL_PARTS;
use compact_str::{CompactString, format_compact};
use std::fmt;

const MAX_LOCAL: usize = 64;
const MAX_DOMAIN: usize = 253;
const MAX_ADDRESS: usize = 254;

/// A normalized email address (`local@domain`, ASCII, lower case). Up to
/// 24 bytes it lives inline (`CompactString`): the delivery path parses
/// every recipient, and most parse without a heap allocation.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct EmailAddress {
    normalized: CompactString,
    at: usize,
}

impl EmailAddress {
    /// Parses an address as given by a person or a mail server, for lookups:
    /// a `+tag` is allowed (delivery strips it), quoted local parts are not.
    pub fn parse(field: &str, input: &str) -> DomainResult<Self> {
        if let Some(plain) = Self::parse_plain(input) {
            return Ok(plain);
        }
        Self::parse_general(field, input)
    }

    /// The address nearly every recipient is, in one pass over its bytes:
    /// an atext local part (dots only between characters) `@` a plain
    /// letters-digits-hyphens host name ([`plain_ldh`]) of two labels or
    /// more, within the RFC 5321 lengths. `None` for anything else, which
    /// [`EmailAddress::parse_general`] then takes, with its reasons and
    /// IDNA; both give the same address for what this takes (unit test
    /// `the_one_pass_parse_agrees_with_the_general_one`).
    fn parse_plain(input: &str) -> Option<Self> {
        let bytes = input.as_bytes();
        if bytes.len() > MAX_ADDRESS {
            return None;
        }
        let mut previous = b'.';
        let mut at = None;
        for (i, &c) in bytes.iter().enumerate() {
            if c == b'@' {
                at = Some(i);
                break;
            }
            if (c == b'.' && previous == b'.') || !(c == b'.' || is_atext(c as char)) {
                return None;
            }
            previous = c;
        }
        let at = at?;
        if at == 0 || at > MAX_LOCAL || previous == b'.' {
            return None;
        }
        let domain = &bytes[at + 1..];
        let mut labels = 0;
        for label in domain.split(|&c| c == b'.') {
            let plain = !label.is_empty()
                && label.len() <= 63
                && label[0] != b'-'
                && label[label.len() - 1] != b'-'
                && !(label.len() >= 4 && &label[2..4] == b"--")
                && label
                    .iter()
                    .all(|c| c.is_ascii_alphanumeric() || *c == b'-');
            if !plain {
                return None;
            }
            labels += 1;
        }
        if labels < 2 || domain.len() > MAX_DOMAIN {
            return None;
        }
        let mut normalized = CompactString::from(input);
        normalized.make_ascii_lowercase();
        Some(EmailAddress { normalized, at })
    }

    /// Any address, with the reason when it is not one.
    fn parse_general(field: &str, input: &str) -> DomainResult<Self> {
        let input = input.trim();
        if input.is_empty() {
            return Err(DomainError::invalid(field, "is empty"));
        }
        let at = input
            .rfind('@')
            .ok_or_else(|| DomainError::invalid(field, "has no '@'"))?;
        let (local, domain) = (&input[..at], &input[at + 1..]);
        check_local(field, local)?;
        let domain = ascii_domain(field, domain)?;
        let mut normalized = CompactString::with_capacity(local.len() + 1 + domain.len());
        normalized.push_str(local);
        normalized.push('@');
        normalized.push_str(&domain);
        normalized.make_ascii_lowercase();
        if normalized.len() > MAX_ADDRESS {
            return Err(DomainError::invalid(
                field,
                format!("is longer than {MAX_ADDRESS} octets"),
            ));
        }
        Ok(EmailAddress {
            at: local.len(),
            normalized,
        })
    }

    /// Parses an address that is about to be given to an account: on top of
    /// [`EmailAddress::parse`], the sub-address delimiter `+` is refused.
    pub fn parse_new(field: &str, input: &str) -> DomainResult<Self> {
        let address = Self::parse(field, input)?;
        if address.local().contains('+') {
            return Err(DomainError::invalid(
                field,
                "'+' is the sub-address delimiter and cannot be part of a new address",
            ));
        }
        Ok(address)
    }

    pub fn as_str(&self) -> &str {
        &self.normalized
    }

    pub fn local(&self) -> &str {
        &self.normalized[..self.at]
    }

    /// The domain in IDNA ASCII form.
    pub fn domain(&self) -> &str {
        &self.normalized[self.at + 1..]
    }

    /// The address with its domain in Unicode, for display.
    pub fn display(&self) -> String {
        let (unicode, result) = idna::domain_to_unicode(self.domain());
        match result {
            Ok(()) => format!("{}@{}", self.local(), unicode),
            Err(_) => self.normalized.to_string(),
        }
    }

    /// The same local part on `domain` (normalized IDNA ASCII, lower case).
    pub fn on_domain(&self, domain: &str) -> EmailAddress {
        EmailAddress {
            normalized: format_compact!("{}@{domain}", self.local()),
            at: self.at,
        }
    }

    /// The address without its `+tag`, if it has one.
    pub fn without_subaddress(&self) -> Option<EmailAddress> {
        let plus = self.local().find('+')?;
        let local = &self.local()[..plus];
        if local.is_empty() {
            return None;
        }
        Some(EmailAddress {
            normalized: format_compact!("{local}@{}", self.domain()),
            at: local.len(),
        })
    }
}

impl fmt::Display for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.normalized)
    }
}

/// Checks a local part (it is lower-cased with the whole address).
fn check_local(field: &str, local: &str) -> DomainResult<()> {
    if local.is_empty() {
        return Err(DomainError::invalid(field, "local part is empty"));
    }
    if local.starts_with('"') {
        return Err(DomainError::invalid(
            field,
            "quoted local parts are not accepted",
        ));
    }
    if local.len() > MAX_LOCAL {
        return Err(DomainError::invalid(
            field,
            format!("local part is longer than {MAX_LOCAL} octets"),
        ));
    }
    if let Some(bad) = local.chars().find(|c| !is_atext(*c) && *c != '.') {
        return Err(DomainError::invalid(
            field,
            format!("local part contains {bad:?}, which is not allowed"),
        ));
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Err(DomainError::invalid(
            field,
            "local part has a leading, trailing or double dot",
        ));
    }
    Ok(())
}

/// RFC 5322 `atext`, ASCII only (no SMTPUTF8 local parts).
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric()
        || matches!(
            c,
            '!' | '#'
                | '$'
                | '%'
                | '&'
                | '\''
                | '*'
                | '+'
                | '-'
                | '/'
                | '='
                | '?'
                | '^'
                | '_'
                | '`'
                | '{'
                | '|'
                | '}'
                | '~'
        )
}

/// Normalizes a domain to its lower-case IDNA ASCII form.
pub fn normalize_domain(field: &str, domain: &str) -> DomainResult<String> {
    let mut ascii = ascii_domain(field, domain)?.into_owned();
    ascii.make_ascii_lowercase();
    Ok(ascii)
}

/// A host name that is plain letters, digits and hyphens (no label
/// starting or ending with a hyphen, none with `--` in 3rd and 4th place
/// as in `xn--`, DNS lengths) is its own IDNA ASCII form once lower-cased:
/// what nearly every recipient looks like, so it skips the UTS-46 pass.
/// Anything else goes through `idna` (unit test
/// `plain_host_names_skip_idna_with_the_same_result`).
fn plain_ldh(domain: &str) -> bool {
    domain.len() <= MAX_DOMAIN
        && domain.split('.').all(|label| {
            let b = label.as_bytes();
            !b.is_empty()
                && b.len() <= 63
                && b[0] != b'-'
                && b[b.len() - 1] != b'-'
                && !(b.len() >= 4 && &b[2..4] == b"--")
                && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
        })
}

/// The domain in IDNA ASCII form, not yet lower-cased when it was already
/// ASCII ([`plain_ldh`]).
fn ascii_domain<'a>(field: &str, domain: &'a str) -> DomainResult<std::borrow::Cow<'a, str>> {
    if domain.is_empty() {
        return Err(DomainError::invalid(field, "domain is empty"));
    }
    if domain.ends_with('.') {
        return Err(DomainError::invalid(field, "domain has a trailing dot"));
    }
    if domain.starts_with('[') {
        return Err(DomainError::invalid(
            field,
            "address literals are not accepted",
        ));
    }
    let ascii = if plain_ldh(domain) {
        std::borrow::Cow::Borrowed(domain)
    } else {
        std::borrow::Cow::Owned(idna::domain_to_ascii_strict(domain).map_err(|_| {
            DomainError::invalid(field, "domain is not a valid (internationalized) host name")
        })?)
    };
    if ascii.len() > MAX_DOMAIN {
        return Err(DomainError::invalid(
            field,
            format!("domain is longer than {MAX_DOMAIN} octets"),
        ));
    }
    if ascii.split('.').any(str::is_empty) {
        return Err(DomainError::invalid(field, "domain has an empty label"));
    }
    if !ascii.contains('.') {
        return Err(DomainError::invalid(
            field,
            "domain needs at least two labels",
        ));
    }
    Ok(ascii)
}

/// Where a new address would live: on one of the provider's domains, or on
/// a custom domain, with the organization's own claim of it if it has one.
#[derive(Debug, Clone)]
pub enum AddressHome {
    Provider,
    Custom(Option<Box<Domain>>),
}

/// May `address` be given to an account, as its `kind`, where it would
/// live? (docs/rules.md, "Where addresses may live")
pub fn check_new_address(
    address: &EmailAddress,
    kind: AddressKind,
    home: &AddressHome,
    field: &str,
) -> DomainResult<()> {
    match home {
        AddressHome::Provider => check_on_provider_domain(address, field),
        AddressHome::Custom(domain) => {
            check_on_custom_domain(address, kind, domain.as_deref(), field)
        }
    }
}

/// An address on a provider domain may be anything but the provider's own
/// role addresses (docs/rules.md, "Provider domains").
pub fn check_on_provider_domain(address: &EmailAddress, field: &str) -> DomainResult<()> {
    if ROLE_LOCAL_PARTS.contains(&address.local()) {
        return Err(DomainError::invalid(
            field,
            format!(
                "{}@ belongs to the provider on its own domains",
                address.local()
            ),
        ));
    }
    Ok(())
}

/// An address on a custom domain needs `domain`, the organization's own
/// claim of it, VERIFIED or ACTIVE; a role address there may be an alias
/// (taking the role over), never a primary address
/// (docs/rules.md, "Where addresses may live").
pub fn check_on_custom_domain(
    address: &EmailAddress,
    kind: AddressKind,
    domain: Option<&Domain>,
    field: &str,
) -> DomainResult<()> {
    let Some(domain) = domain else {
        return Err(DomainError::invalid(
            field,
            format!(
                "{} is not a domain of this organization or of the provider",
                address.domain()
            ),
        ));
    };
    if domain.state == DomainState::Pending {
        return Err(DomainError::precondition(format!(
            "{} is pending: verify ownership before creating addresses on it",
            domain.name
        )));
    }
    if domain.alias_of_domain_id.is_some() {
        return Err(DomainError::precondition(format!(
            "{} is an alias domain: its addresses are those of the domain it is an alias of",
            domain.name
        )));
    }
    if ROLE_LOCAL_PARTS.contains(&address.local()) && kind == AddressKind::Primary {
        return Err(DomainError::invalid(
            field,
            format!(
                "{}@ is a role address: it routes to the master account and can only be taken over by an alias",
                address.local()
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn where_new_addresses_may_live() {
        let parse = |a: &str| EmailAddress::parse_new("address", a).unwrap();
        assert!(check_on_provider_domain(&parse("alice@mailadmin.example"), "f").is_ok());
        assert!(check_on_provider_domain(&parse("abuse@mailadmin.example"), "f").is_err());
        let domain = |state| crate::rules::domains::tests::domain(1, "acme.example", state);
        let sales = parse("sales@acme.example");
        assert!(matches!(
            check_on_custom_domain(&sales, AddressKind::Alias, None, "f"),
            Err(DomainError::Invalid { .. })
        ));
        let pending = domain(DomainState::Pending);
        assert!(matches!(
            check_on_custom_domain(&sales, AddressKind::Alias, Some(&pending), "f"),
            Err(DomainError::FailedPrecondition(_))
        ));
        let verified = domain(DomainState::Verified);
        assert!(check_on_custom_domain(&sales, AddressKind::Primary, Some(&verified), "f").is_ok());
        let support = parse("support@acme.example");
        assert!(check_on_custom_domain(&support, AddressKind::Alias, Some(&verified), "f").is_ok());
        assert!(matches!(
            check_on_custom_domain(&support, AddressKind::Primary, Some(&verified), "f"),
            Err(DomainError::Invalid { .. })
        ));
    }

    fn ok(input: &str) -> String {
        EmailAddress::parse_new("address", input)
            .unwrap_or_else(|e| panic!("{input:?} should parse: {e}"))
            .to_string()
    }

    fn reason(input: &str) -> String {
        match EmailAddress::parse_new("address", input) {
            Err(DomainError::Invalid { field, reason }) => {
                assert_eq!(field, "address");
                reason
            }
            other => panic!("{input:?} should be invalid, got {other:?}"),
        }
    }

    #[test]
    fn normalizes_case_and_idna() {
        assert_eq!(
            ok("John.Doe@Bücher.Example"),
            "john.doe@xn--bcher-kva.example"
        );
        assert_eq!(
            ok("john.doe@xn--bcher-kva.example"),
            "john.doe@xn--bcher-kva.example"
        );
        assert_eq!(ok("  alice@EXAMPLE.com "), "alice@example.com");
        // Fullwidth letters map to ASCII under UTS-46.
        assert_eq!(ok("bob@ｅｘａｍｐｌｅ.com"), "bob@example.com");
    }

    #[test]
    fn display_keeps_unicode_domain() {
        let a = EmailAddress::parse("a", "x@xn--bcher-kva.example").unwrap();
        assert_eq!(a.display(), "x@bücher.example");
    }

    #[test]
    fn refuses_malformed_addresses_with_a_reason() {
        let cases = [
            ("", "is empty"),
            ("no-at-sign", "has no '@'"),
            ("@example.com", "local part is empty"),
            ("alice@", "domain is empty"),
            ("alice@example.com.", "domain has a trailing dot"),
            ("alice@example..com", "domain is not a valid"),
            ("alice@localhost", "at least two labels"),
            ("\"quoted\"@example.com", "quoted local parts"),
            ("a+tag@example.com", "sub-address delimiter"),
            (".alice@example.com", "leading, trailing or double dot"),
            ("al..ice@example.com", "leading, trailing or double dot"),
            ("alice.@example.com", "leading, trailing or double dot"),
            ("al ice@example.com", "not allowed"),
            ("jöhn@example.com", "not allowed"),
            ("alice@[127.0.0.1]", "address literals"),
            ("alice@exa_mple.com", "domain is not a valid"),
        ];
        for (input, expected) in cases {
            let got = reason(input);
            assert!(
                got.contains(expected),
                "{input:?}: {got:?} lacks {expected:?}"
            );
        }
    }

    #[test]
    fn enforces_rfc5321_lengths() {
        let local64 = "a".repeat(64);
        assert_eq!(ok(&format!("{local64}@example.com")).len(), 64 + 12);
        assert!(reason(&format!("{}@example.com", "a".repeat(65))).contains("64 octets"));

        // 253-octet domain: four labels of 63 plus ".com"-like tail.
        let label = "b".repeat(63);
        let domain253 = format!("{label}.{label}.{label}.{}", "c".repeat(61));
        assert_eq!(domain253.len(), 253);
        assert!(
            EmailAddress::parse("a", &format!("x@{domain253}")).is_err_and(|e| {
                // 1 + 1 + 253 = 255 > 254: the whole address is too long.
                e.to_string().contains("254 octets")
            })
        );
        let domain252 = format!("{label}.{label}.{label}.{}", "c".repeat(60));
        assert_eq!(ok(&format!("x@{domain252}")).len(), 254);
        let too_long_domain = format!("{label}.{label}.{label}.{label}.com");
        assert!(reason(&format!("x@{too_long_domain}")).contains("domain"));
    }

    #[test]
    fn mixed_script_and_confusable_domains_are_distinct_mailboxes() {
        // Cyrillic "а" (U+0430) is not Latin "a": a different domain, never
        // silently merged with the Latin one.
        let latin = ok("x@paypal.com");
        let mixed = ok("x@pаypal.com");
        assert_ne!(latin, mixed);
        assert!(mixed.contains("xn--"));
    }

    #[test]
    fn subaddress_is_stripped_for_lookups() {
        let a = EmailAddress::parse("a", "Alice+News@Example.com").unwrap();
        assert_eq!(
            a.without_subaddress().unwrap().as_str(),
            "alice@example.com"
        );
        assert!(
            EmailAddress::parse("a", "alice@example.com")
                .unwrap()
                .without_subaddress()
                .is_none()
        );
        assert!(
            EmailAddress::parse("a", "+x@example.com")
                .unwrap()
                .without_subaddress()
                .is_none()
        );
    }

    #[test]
    fn the_one_pass_parse_agrees_with_the_general_one() {
        let local64 = "l".repeat(64);
        let label63 = "a".repeat(63);
        let long_domain = format!("{label63}.{label63}.{label63}.{}.com", "b".repeat(57));
        let mut taken = 0;
        let mut check = |input: &str, plain: bool| {
            let fast = EmailAddress::parse_plain(input);
            assert_eq!(fast.is_some(), plain, "{input:?}");
            if let Some(fast) = fast {
                taken += 1;
                let general = EmailAddress::parse_general("address", input);
                assert_eq!(general.as_ref().ok(), Some(&fast), "{input:?}");
            }
        };
        for (input, plain) in [
            ("alice@example.com", true),
            ("Alice.Smith+Tag@Mail-1.Example.COM", true),
            ("o12-u3456@seed.invalid", true),
            ("a!#$%&'*/=?^_`{|}~-b@example.com", true),
            (&format!("{local64}@example.com"), true),
            (&format!("{local64}l@example.com"), false),
            (&format!("x@{label63}.com"), true),
            (&format!("x@{label63}a.com"), false),
            (&format!("{}@{}", "l".repeat(40), &long_domain[..213]), true),
            (" alice@example.com", false),
            ("alice@example.com ", false),
            ("", false),
            ("@example.com", false),
            ("alice@", false),
            ("alice", false),
            (".alice@example.com", false),
            ("alice.@example.com", false),
            ("al..ice@example.com", false),
            ("a@b@example.com", false),
            ("\"alice\"@example.com", false),
            ("alice@localhost", false),
            ("alice@example.com.", false),
            ("alice@.example.com", false),
            ("alice@exa..mple.com", false),
            ("alice@-example.com", false),
            ("alice@example-.com", false),
            ("alice@xn--bcher-kva.example", false),
            ("alice@bücher.example", false),
            ("alice@[192.0.2.1]", false),
            ("alice@exa_mple.com", false),
            ("ålice@example.com", false),
        ] {
            check(input, plain);
        }
        // Random `local@domain` strings over the characters that matter at
        // the edges (a few with a second '@', a space or a quote).
        let mut state = 0x9E37_79B9_7F4A_7C15_u64;
        let mut random = |alphabet: &[u8], max: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % max) as usize;
            (0..len)
                .map(|i| {
                    alphabet[((state >> (i * 4 + 8)) % alphabet.len() as u64) as usize] as char
                })
                .collect::<String>()
        };
        for _ in 0..50_000 {
            let local = random(b"aZ9-.+_ab\"@ ", 8);
            let domain = random(b"aZ9-..xnab", 12);
            let input = format!("{local}@{domain}");
            if let Some(fast) = EmailAddress::parse_plain(&input) {
                taken += 1;
                assert_eq!(
                    EmailAddress::parse_general("address", &input).ok(),
                    Some(fast),
                    "{input:?}"
                );
            }
        }
        assert!(taken > 500, "only {taken} inputs took the one-pass parse");
    }

    #[test]
    fn plain_host_names_skip_idna_with_the_same_result() {
        let label63 = "a".repeat(63);
        let long = format!("{label63}.{label63}.{label63}.{}.com", "b".repeat(57));
        assert_eq!(long.len(), 253);
        for (domain, plain) in [
            ("example.com", true),
            ("Mail-1.Example.COM", true),
            (label63.as_str(), true),
            (long.as_str(), true),
            (&format!("{long}x"), false),
            (&format!("{label63}a.com"), false),
            ("xn--bcher-kva.example", false),
            ("ab--cd.example", false),
            ("-a.example", false),
            ("a-.example", false),
            ("a..example", false),
            ("a_b.example", false),
            ("bücher.example", false),
        ] {
            assert_eq!(plain_ldh(domain), plain, "{domain}");
        }
        // Every host name the fast path takes, idna normalizes to itself
        // lower-cased: random strings over letters, digits, '-' and '.'.
        let alphabet = b"aZ9-.xnXN";
        let mut state = 0x2545_F491_4F6C_DD1D_u64;
        let mut taken = 0;
        for _ in 0..50_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = 1 + (state % 12) as usize;
            let domain: String = (0..len)
                .map(|i| alphabet[((state >> (i * 5)) % alphabet.len() as u64) as usize] as char)
                .collect();
            if plain_ldh(&domain) {
                taken += 1;
                assert_eq!(
                    idna::domain_to_ascii_strict(&domain).ok(),
                    Some(domain.to_ascii_lowercase()),
                    "{domain}"
                );
            }
        }
        assert!(taken > 1000, "only {taken} random host names were plain");
    }
}
