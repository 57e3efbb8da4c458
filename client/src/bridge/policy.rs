//! Postfix's policy delegation protocol (`SMTPD_POLICY_README`): a request
//! is `name=value` lines ended by an empty line, the answer one
//! `action=…` line and an empty line, many requests per connection.
//!
//! At `RCPT TO` the answer is the control plane's verdict: `DUNNO` to let
//! the recipient through to the other restrictions, the `550 5.1.1` or
//! `550 5.2.1` refusal as is, and `451 4.4.3` when the control plane
//! cannot answer (mail is deferred, never refused on a guess). Every other
//! stage gets `DUNNO`.

use super::listener::{Connection, Listener};
use super::maps::Lookups;
use super::socketmap::one_line;
use crate::Verdict;
use std::collections::HashMap;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// The longest attribute line taken (Postfix's own lines are far shorter).
const MAX_LINE: u64 = 8192;
/// The most attributes in one request.
const MAX_ATTRIBUTES: usize = 100;
/// A connection with no request for this long is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The action for one request's attributes.
pub async fn decide(lookups: &Lookups, attributes: &HashMap<String, String>) -> String {
    let stage = attributes.get("protocol_state").map(String::as_str);
    let recipient = attributes.get("recipient").map(String::as_str);
    let (Some("RCPT"), Some(recipient)) = (stage, recipient) else {
        return "DUNNO".into();
    };
    if recipient.is_empty() {
        return "DUNNO".into();
    }
    let verdict = lookups.verdict(recipient).await;
    match &verdict {
        Verdict::RejectUnknown | Verdict::RejectDisabled { .. } | Verdict::TempFail { .. } => {
            let (code, enhanced, text) = verdict.smtp_reply();
            if let Verdict::TempFail { reason } = &verdict {
                tracing::warn!(recipient, "deferring: control plane unavailable: {reason}");
            }
            format!("{code} {enhanced} {text}")
        }
        // Delivered here; or not a local domain, for the relay rules to
        // decide; or a syntax Postfix itself lets through.
        Verdict::Deliver { .. } | Verdict::NotLocal | Verdict::RejectInvalid { .. } => {
            "DUNNO".into()
        }
    }
}

/// Serves policy connections on `listener` until the task is dropped.
pub async fn serve(listener: Listener, lookups: Lookups) {
    listener
        .serve("policy", move |connection| {
            let lookups = lookups.clone();
            async move { handle(connection, &lookups).await }
        })
        .await
}

/// One connection: requests in, actions out, until the peer closes it.
pub async fn handle(connection: Box<dyn Connection>, lookups: &Lookups) -> std::io::Result<()> {
    let (reader, mut writer) = tokio::io::split(connection);
    let mut reader = BufReader::new(reader);
    let mut attributes = HashMap::new();
    let mut line = String::new();
    loop {
        line.clear();
        let mut limited = (&mut reader).take(MAX_LINE);
        let read = match tokio::time::timeout(IDLE_TIMEOUT, limited.read_line(&mut line)).await {
            Ok(read) => read?,
            Err(_) => return Ok(()),
        };
        if read == 0 {
            return Ok(());
        }
        if !line.ends_with('\n') {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("attribute line over {MAX_LINE} bytes"),
            ));
        }
        let text = line.trim_end_matches(['\n', '\r']);
        if text.is_empty() {
            let action = decide(lookups, &attributes).await;
            attributes.clear();
            let reply = format!("action={}\n\n", one_line(&action));
            writer.write_all(reply.as_bytes()).await?;
            writer.flush().await?;
            continue;
        }
        if attributes.len() >= MAX_ATTRIBUTES {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidData,
                format!("more than {MAX_ATTRIBUTES} attributes in one request"),
            ));
        }
        match text.split_once('=') {
            Some((name, value)) => {
                attributes.insert(name.to_string(), value.to_string());
            }
            None => {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!("not a name=value line: {text:?}"),
                ));
            }
        }
    }
}
