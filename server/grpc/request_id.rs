//! A request id for every call: the caller's `x-request-id` when it sent a
//! sane one, a new one otherwise. It is in the `x-request-id` response
//! header, in the message of an `UNAVAILABLE` or `INTERNAL` answer and on
//! the log line with that answer's detail, so a user can quote it and an
//! operator can find the detail the answer leaves out; with `RUST_LOG=debug`
//! it is on every log line of the call (a tracing span).

use http::HeaderValue;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use tracing::Instrument;

pub const HEADER: &str = "x-request-id";

tokio::task_local! {
    static REQUEST_ID: String;
}

/// The id of the call this task is serving, if any.
pub fn current() -> Option<String> {
    REQUEST_ID.try_with(Clone::clone).ok()
}

/// The caller's id if it is short printable ASCII, else a new one.
fn choose(incoming: Option<&HeaderValue>) -> String {
    incoming
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|id| !id.is_empty() && id.len() <= 64)
        .filter(|id| id.bytes().all(|b| b.is_ascii_graphic()))
        .map(str::to_string)
        .unwrap_or_else(new_id)
}

/// A new id: 8 hex digits drawn at random once per process (so replicas'
/// ids do not collide), then a counter. Cheap on the delivery path, where
/// a random draw per call (a system call) cost a measurable share of a
/// recipient check.
fn new_id() -> String {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU32, Ordering};
    static PREFIX: OnceLock<u32> = OnceLock::new();
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let prefix = *PREFIX.get_or_init(|| {
        use rand::RngCore;
        rand::rngs::OsRng.next_u32()
    });
    format!("{prefix:08x}{:08x}", NEXT.fetch_add(1, Ordering::Relaxed))
}

#[derive(Clone, Default)]
pub struct RequestIdLayer;

impl<S> tower::Layer<S> for RequestIdLayer {
    type Service = RequestIdService<S>;
    fn layer(&self, inner: S) -> Self::Service {
        RequestIdService { inner }
    }
}

#[derive(Clone)]
pub struct RequestIdService<S> {
    inner: S,
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send + 'static>>;

impl<S, B, R> tower::Service<http::Request<B>> for RequestIdService<S>
where
    S: tower::Service<http::Request<B>, Response = http::Response<R>>,
    S::Future: Send + 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = BoxFuture<Result<S::Response, S::Error>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<B>) -> Self::Future {
        let id = choose(request.headers().get(HEADER));
        // A debug span: at the default `info` level it is disabled and costs
        // nothing, where an info span per call cost a measurable share of a
        // recipient check (README, "Delivery path"). The lines that matter at
        // `info` (a dependency down, an internal error: grpc/status.rs) carry
        // the id themselves; RUST_LOG=debug puts it on every line of a call.
        let span = tracing::debug_span!("rpc", request_id = %id, method = %request.uri().path());
        let header = HeaderValue::from_str(&id).expect("request ids are printable ASCII");
        let future = span.in_scope(|| self.inner.call(request));
        Box::pin(
            REQUEST_ID
                .scope(id, async move {
                    let mut response = future.await?;
                    response.headers_mut().insert(HEADER, header);
                    Ok(response)
                })
                .instrument(span),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_sane_caller_id_and_replaces_anything_else() {
        let given = HeaderValue::from_static("mta-42.abc");
        assert_eq!(choose(Some(&given)), "mta-42.abc");
        let long = HeaderValue::from_str(&"x".repeat(65)).unwrap();
        for bad in [
            None,
            Some(&long),
            Some(&HeaderValue::from_static("two words")),
        ] {
            let id = choose(bad);
            assert_eq!(id.len(), 16, "a new id: {id}");
            assert!(id.bytes().all(|b| b.is_ascii_hexdigit()));
        }
        assert_ne!(choose(None), choose(None));
    }
}
