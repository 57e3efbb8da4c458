//! Every call ends within its deadline (docs/rules.md, "Time limits"): the
//! caller's `grpc-timeout`, capped by `--request-timeout-ms`. Past it the
//! call is abandoned — its future dropped, so a database statement in
//! flight is cancelled and its transaction rolled back — and the answer is
//! `DEADLINE_EXCEEDED`. A stream is bounded until its response starts;
//! its messages then flow for as long as the stream lives.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tonic::Status;

#[derive(Clone)]
pub struct DeadlineLayer {
    max: Duration,
}

impl DeadlineLayer {
    pub fn new(max: Duration) -> Self {
        DeadlineLayer { max }
    }
}

impl<S> tower::Layer<S> for DeadlineLayer {
    type Service = DeadlineService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        DeadlineService {
            inner,
            max: self.max,
        }
    }
}

#[derive(Clone)]
pub struct DeadlineService<S> {
    inner: S,
    max: Duration,
}

/// How much earlier than the caller's deadline the call ends here.
const EARLY: Duration = Duration::from_millis(10);

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B> tower::Service<http::Request<B>> for DeadlineService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<tonic::body::Body>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let asked = request
            .headers()
            .get("grpc-timeout")
            .and_then(|v| v.to_str().ok())
            .and_then(parse_grpc_timeout);
        // tonic's own handling of `grpc-timeout`, outside this layer, ends
        // the call at the same instant with CANCELLED; ending it a little
        // earlier here gives the caller the DEADLINE_EXCEEDED the gRPC
        // spec says.
        let deadline = asked.map_or(self.max, |asked| {
            asked.saturating_sub(EARLY.min(asked / 10)).min(self.max)
        });
        let future = self.inner.call(request);
        Box::pin(async move {
            match tokio::time::timeout(deadline, future).await {
                Ok(answer) => answer,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "no answer within {} ms",
                    deadline.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// A `grpc-timeout` header value: up to 8 digits and a unit (H, M, S, m,
/// u, n), as the gRPC over HTTP/2 spec writes it.
fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    if value.len() < 2 || value.len() > 9 {
        return None;
    }
    let (digits, unit) = value.split_at(value.len() - 1);
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount.checked_mul(3600)?),
        "M" => Duration::from_secs(amount.checked_mul(60)?),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_spec_writes_them() {
        assert_eq!(
            parse_grpc_timeout("1500m"),
            Some(Duration::from_millis(1500))
        );
        assert_eq!(parse_grpc_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_grpc_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["", "m", "123456789S", "12x", "-1S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }
}
