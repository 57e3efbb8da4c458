//! Dovecot's checkpassword interface (`passdb { driver = checkpassword }`),
//! answered by `Authenticate`: Dovecot runs the program for each login,
//! writes `login\0password\0` on descriptor 3 and reads the result from the
//! exit status and, on success, `name=value` fields (tab-separated) on
//! descriptor 4.
//!
//! | outcome | exit | fields on fd 4 |
//! |---|---|---|
//! | allowed | 0 (2 for a lookup without password) | `user=<primary address>` |
//! | wrong password, unknown login, disabled account | 1 (3 for a lookup) | — |
//! | throttled | 1, the retry delay logged | — |
//! | control plane unreachable or slow | 111 (temporary failure) | — |
//!
//! `user=` makes the account's primary address the name Dovecot (and
//! Postfix, through Dovecot SASL) knows the session by, whichever login
//! was typed, so `smtpd_sender_login_maps` (the bridge's `senders` map)
//! matches it.

use crate::{AuthOutcome, DeliveryClient, Verdict};
use std::net::IpAddr;

/// Dovecot sends at most 512 bytes on descriptor 3.
pub const MAX_INPUT: usize = 512;

/// Exit statuses Dovecot understands.
pub mod exit {
    /// The password is right.
    pub const ALLOWED: u8 = 0;
    /// Wrong password, unknown login or refused (Dovecot: "Login failed").
    pub const REFUSED: u8 = 1;
    /// A lookup without password found the user (`AUTHORIZED=1`).
    pub const LOOKUP_FOUND: u8 = 2;
    /// A lookup without password did not find the user.
    pub const LOOKUP_UNKNOWN: u8 = 3;
    /// A temporary problem: Dovecot answers "temporary failure" and the
    /// client retries.
    pub const TEMPORARY: u8 = 111;
}

/// What Dovecot asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    /// The login as typed (username or primary address).
    pub login: String,
    /// The password; `None` for a lookup (`AUTHORIZED=1`: Dovecot only
    /// wants to know the user exists, for a userdb or a master login).
    pub password: Option<String>,
    /// The client's address (`TCPREMOTEIP`); a login without one (a local
    /// process, `doveadm auth test` without `rip=`) counts as 127.0.0.1.
    pub client_ip: IpAddr,
}

impl Request {
    /// Reads Dovecot's descriptor-3 bytes (`login\0password\0timestamp\0`)
    /// and the environment's `AUTHORIZED` and `TCPREMOTEIP` values.
    pub fn parse(
        input: &[u8],
        authorized: Option<&str>,
        remote_ip: Option<&str>,
    ) -> Result<Request, String> {
        if input.len() > MAX_INPUT {
            return Err(format!("more than {MAX_INPUT} bytes on descriptor 3"));
        }
        let mut parts = input.split(|b| *b == 0);
        let text = |bytes: &[u8]| {
            String::from_utf8(bytes.to_vec())
                .map_err(|_| "login or password is not UTF-8".to_string())
        };
        let login = text(parts.next().unwrap_or_default())?;
        let password = text(parts.next().ok_or("no NUL after the login")?)?;
        if login.is_empty() {
            return Err("empty login".into());
        }
        let lookup = matches!(authorized, Some("1") | Some("2"));
        let client_ip = match remote_ip.filter(|ip| !ip.is_empty()) {
            Some(ip) => ip
                .parse()
                .map_err(|_| format!("TCPREMOTEIP {ip:?} is not an IP address"))?,
            None => IpAddr::from([127, 0, 0, 1]),
        };
        Ok(Request {
            login,
            password: if lookup { None } else { Some(password) },
            client_ip,
        })
    }
}

/// The answer: the exit status, the fields for descriptor 4 (empty unless
/// allowed), and a line for Dovecot's log (its auth log shows our stderr).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    /// The exit status.
    pub exit: u8,
    /// Tab-separated `name=value` fields, for descriptor 4.
    pub fields: String,
    /// What to log, if anything.
    pub log: Option<String>,
}

/// Asks the control plane about `request`.
pub async fn answer(client: &DeliveryClient, request: &Request) -> Answer {
    match &request.password {
        Some(password) => authenticate(client, request, password).await,
        None => lookup(client, &request.login).await,
    }
}

async fn authenticate(client: &DeliveryClient, request: &Request, password: &str) -> Answer {
    match client
        .authenticate(&request.login, password, request.client_ip)
        .await
    {
        AuthOutcome::Allowed {
            primary_address, ..
        } => allowed(exit::ALLOWED, &primary_address),
        AuthOutcome::Denied => refused(exit::REFUSED, None),
        AuthOutcome::Throttled { retry_after } => {
            let after = match retry_after {
                Some(delay) => format!("{} s", delay.as_secs()),
                None => "a while".into(),
            };
            refused(
                exit::REFUSED,
                Some(format!(
                    "login {:?} from {} throttled: too many failures, retry after {after}",
                    request.login, request.client_ip
                )),
            )
        }
        AuthOutcome::TempFail { reason } => temporary(reason),
    }
}

/// A lookup without password: does the login name an account that can
/// receive mail? (Dovecot's userdb lookups, master-user logins.)
async fn lookup(client: &DeliveryClient, login: &str) -> Answer {
    if !login.contains('@') {
        // Only addresses can be looked up without a password.
        return refused(exit::LOOKUP_UNKNOWN, None);
    }
    match client.check_recipient(login).await {
        Verdict::Deliver {
            primary_address, ..
        } => allowed(exit::LOOKUP_FOUND, &primary_address),
        Verdict::TempFail { reason } => temporary(reason),
        _ => refused(exit::LOOKUP_UNKNOWN, None),
    }
}

fn allowed(exit: u8, primary_address: &str) -> Answer {
    Answer {
        exit,
        fields: format!("user={}", escape(primary_address)),
        log: None,
    }
}

fn refused(exit: u8, log: Option<String>) -> Answer {
    Answer {
        exit,
        fields: String::new(),
        log,
    }
}

fn temporary(reason: String) -> Answer {
    Answer {
        exit: exit::TEMPORARY,
        fields: String::new(),
        log: Some(format!("control plane unavailable: {reason}")),
    }
}

/// Dovecot's tab-escaping (`str_tabescape`): the fields are tab-separated
/// and must hold no line feed.
fn escape(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '\u{1}' => out.push_str("\u{1}1"),
            '\t' => out.push_str("\u{1}t"),
            '\r' => out.push_str("\u{1}r"),
            '\n' => out.push_str("\u{1}n"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_what_dovecot_writes() {
        let request = Request::parse(b"bob\0secret pass\0\0", None, Some("192.0.2.7")).unwrap();
        assert_eq!(
            request,
            Request {
                login: "bob".into(),
                password: Some("secret pass".into()),
                client_ip: "192.0.2.7".parse().unwrap(),
            }
        );
        let lookup = Request::parse(b"bob@a.example\0\0\0", Some("1"), None).unwrap();
        assert_eq!(lookup.password, None);
        assert_eq!(lookup.client_ip, IpAddr::from([127, 0, 0, 1]));
    }

    #[test]
    fn refuses_what_dovecot_never_writes() {
        assert!(
            Request::parse(b"bob", None, None)
                .unwrap_err()
                .contains("no NUL")
        );
        assert!(
            Request::parse(b"\0pw\0\0", None, None)
                .unwrap_err()
                .contains("empty login")
        );
        assert!(
            Request::parse(&[b'a'; 513], None, None)
                .unwrap_err()
                .contains("512")
        );
        assert!(
            Request::parse(b"bob\0pw\0\0", None, Some("nope"))
                .unwrap_err()
                .contains("TCPREMOTEIP")
        );
    }

    #[test]
    fn fields_never_hold_a_line_break() {
        assert_eq!(escape("a\tb\nc"), "a\u{1}tb\u{1}nc");
    }
}
