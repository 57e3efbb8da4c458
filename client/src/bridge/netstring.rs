//! Netstrings (`<length>:<bytes>,`), the framing of Postfix's socketmap
//! protocol: one request and one reply per netstring, many per connection.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// The longest netstring Postfix sends or accepts (`socketmap_table(5)`:
/// replies of at most 100,000 characters).
pub const MAX_LEN: usize = 100_000;

/// Why a netstring could not be read. Each one ends the connection: after
/// bad framing there is no telling where the next request starts.
#[derive(Debug, thiserror::Error)]
pub enum NetstringError {
    /// The length prefix is not digits followed by `:`.
    #[error("malformed netstring length")]
    BadLength,
    /// The announced length is over [`MAX_LEN`].
    #[error("netstring of {0} bytes is over the {MAX_LEN}-byte limit")]
    TooLong(usize),
    /// The payload is not followed by `,`.
    #[error("netstring not terminated by ','")]
    BadTerminator,
    /// The connection closed in the middle of a netstring.
    #[error("connection closed inside a netstring")]
    Truncated,
    /// Reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Reads one netstring. `Ok(None)` is a clean end of the connection
/// (closed between two netstrings).
pub async fn read<R: AsyncBufRead + Unpin>(
    reader: &mut R,
) -> Result<Option<Vec<u8>>, NetstringError> {
    let mut length = Vec::with_capacity(8);
    let read = reader.read_until(b':', &mut length).await?;
    if read == 0 {
        return Ok(None);
    }
    if length.pop() != Some(b':') {
        return Err(NetstringError::Truncated);
    }
    // At most 6 digits: enough for MAX_LEN, and no overflow on garbage.
    if length.is_empty() || length.len() > 6 || !length.iter().all(u8::is_ascii_digit) {
        return Err(NetstringError::BadLength);
    }
    let length: usize = std::str::from_utf8(&length)
        .expect("ASCII digits")
        .parse()
        .expect("at most six digits");
    if length > MAX_LEN {
        return Err(NetstringError::TooLong(length));
    }
    let mut payload = vec![0; length + 1];
    reader
        .read_exact(&mut payload)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => NetstringError::Truncated,
            _ => NetstringError::Io(e),
        })?;
    if payload.pop() != Some(b',') {
        return Err(NetstringError::BadTerminator);
    }
    Ok(Some(payload))
}

/// Writes `payload` as one netstring and flushes it.
pub async fn write<W: AsyncWrite + Unpin>(writer: &mut W, payload: &[u8]) -> std::io::Result<()> {
    let mut framed = Vec::with_capacity(payload.len() + 8);
    framed.extend_from_slice(payload.len().to_string().as_bytes());
    framed.push(b':');
    framed.extend_from_slice(payload);
    framed.push(b',');
    writer.write_all(&framed).await?;
    writer.flush().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::BufReader;

    async fn read_all(input: &[u8]) -> Vec<Result<Option<Vec<u8>>, String>> {
        let mut reader = BufReader::new(input);
        let mut out = Vec::new();
        loop {
            let next = read(&mut reader).await.map_err(|e| e.to_string());
            let stop = !matches!(next, Ok(Some(_)));
            out.push(next);
            if stop {
                return out;
            }
        }
    }

    #[tokio::test]
    async fn several_requests_on_one_connection() {
        let got = read_all(b"21:mailboxes a@b.example,0:,3:x y,").await;
        assert_eq!(
            got,
            vec![
                Ok(Some(b"mailboxes a@b.example".to_vec())),
                Ok(Some(Vec::new())),
                Ok(Some(b"x y".to_vec())),
                Ok(None),
            ]
        );
    }

    #[tokio::test]
    async fn bad_framing_is_an_error_not_a_guess() {
        for (input, expected) in [
            (&b"3:abc;"[..], "not terminated"),
            (b"x:abc,", "malformed netstring length"),
            (b":abc,", "malformed netstring length"),
            (b"1234567:", "malformed netstring length"),
            (b"100001:", "over the 100000-byte limit"),
            (b"5:abc", "closed inside"),
            (b"12", "closed inside"),
        ] {
            let got = read_all(input).await;
            let last = got.last().unwrap().clone().unwrap_err();
            assert!(last.contains(expected), "{input:?}: {last}");
        }
    }

    #[tokio::test]
    async fn the_limit_itself_is_allowed() {
        let mut input = format!("{MAX_LEN}:").into_bytes();
        input.extend(std::iter::repeat_n(b'a', MAX_LEN));
        input.push(b',');
        let got = read_all(&input).await;
        assert_eq!(got[0].as_ref().unwrap().as_ref().unwrap().len(), MAX_LEN);
    }

    #[tokio::test]
    async fn writes_what_it_reads() {
        let mut out = Vec::new();
        write(&mut out, b"OK bob@example.com").await.unwrap();
        write(&mut out, b"").await.unwrap();
        assert_eq!(out, b"18:OK bob@example.com,0:,");
    }
}
