//! Postfix's socketmap protocol (`socketmap_table(5)`): the request
//! `NAME KEY` in a netstring, the reply `OK value`, `NOTFOUND `,
//! `TEMP reason` or `PERM reason` in another, as many as Postfix sends on
//! one connection.

use super::listener::{Connection, Listener};
use super::maps::{Lookups, Map, MapAnswer};
use super::netstring;
use std::time::Duration;
use tokio::io::{AsyncReadExt, BufReader};

/// A connection with no request for this long is closed (Postfix reopens
/// one when it needs it; its own idle limit is shorter).
const IDLE_TIMEOUT: Duration = Duration::from_secs(300);

/// The reply to one request payload.
pub async fn answer(lookups: &Lookups, request: &[u8]) -> String {
    let Ok(request) = std::str::from_utf8(request) else {
        return "PERM request is not UTF-8".into();
    };
    let Some((name, key)) = request.split_once(' ') else {
        return "PERM expected \"NAME KEY\"".into();
    };
    let Some(map) = Map::from_name(name) else {
        return format!("PERM no map named {name:?}");
    };
    match lookups.lookup(map, key).await {
        MapAnswer::Found(value) => format!("OK {value}"),
        MapAnswer::NotFound => "NOTFOUND ".into(),
        MapAnswer::TempFail(reason) => format!("TEMP {}", one_line(&reason)),
    }
}

/// Serves socketmap connections on `listener` until the task is dropped.
pub async fn serve(listener: Listener, lookups: Lookups) {
    listener
        .serve("socketmap", move |connection| {
            let lookups = lookups.clone();
            async move { handle(connection, &lookups).await }
        })
        .await
}

/// One connection: requests in, replies out, until the peer closes it.
pub async fn handle(
    connection: Box<dyn Connection>,
    lookups: &Lookups,
) -> Result<(), netstring::NetstringError> {
    let (reader, mut writer) = tokio::io::split(connection);
    let mut reader = BufReader::new(reader);
    loop {
        let request = match tokio::time::timeout(IDLE_TIMEOUT, netstring::read(&mut reader)).await {
            Ok(Ok(Some(request))) => request,
            Ok(Ok(None)) | Err(_) => return Ok(()),
            Ok(Err(e)) => {
                if let netstring::NetstringError::TooLong(length) = e {
                    // Read the oversized request to its end first, so the
                    // client is not cut off mid-write and gets the reply.
                    // Bounded: the length has at most six digits.
                    let mut rest = (&mut reader).take(length as u64 + 1);
                    let mut sink = tokio::io::sink();
                    let drain = tokio::io::copy(&mut rest, &mut sink);
                    let _ = tokio::time::timeout(Duration::from_secs(10), drain).await;
                }
                // Tell Postfix why before hanging up (it logs the reply).
                let _ = netstring::write(&mut writer, format!("PERM {e}").as_bytes()).await;
                return Err(e);
            }
        };
        let reply = answer(lookups, &request).await;
        netstring::write(&mut writer, reply.as_bytes()).await?;
    }
}

/// A reason on one line: a socketmap reply has no room for newlines.
pub(super) fn one_line(reason: &str) -> String {
    reason.replace(['\r', '\n'], " ")
}
