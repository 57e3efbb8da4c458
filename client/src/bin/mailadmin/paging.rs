//! Lists page by themselves: every page is fetched until the last, or
//! until `--limit` items.

use crate::fail::Fail;
use std::future::Future;

/// The server's largest page.
const PAGE: i32 = 500;

/// Calls `fetch(page_token, page_size)` until the last page (an empty
/// next token) or `limit` items.
pub async fn all_pages<T, F, Fut>(limit: Option<usize>, mut fetch: F) -> Result<Vec<T>, Fail>
where
    F: FnMut(String, i32) -> Fut,
    Fut: Future<Output = Result<(Vec<T>, String), tonic::Status>>,
{
    let mut items = Vec::new();
    let mut token = String::new();
    loop {
        let size = match limit {
            Some(limit) => (limit - items.len()).clamp(1, PAGE as usize) as i32,
            None => PAGE,
        };
        let (page, next) = fetch(token, size).await?;
        items.extend(page);
        if let Some(limit) = limit
            && items.len() >= limit
        {
            items.truncate(limit);
            return Ok(items);
        }
        if next.is_empty() {
            return Ok(items);
        }
        token = next;
    }
}
