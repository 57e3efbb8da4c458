//! Paging, one way for every list RPC: `page_size` (default
//! [`DEFAULT_PAGE_SIZE`], at most [`MAX_PAGE_SIZE`]) and an opaque
//! `page_token` that is the id of the last item of the previous page
//! (docs/rules.md, "Paging"). The store reads a page by keyset (`store/paging.rs`);
//! [`Paged::new`] sets the next token; `grpc/` puts both on the wire.

use super::{DomainError, DomainResult};

/// A validated page request: how many, and after which id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub size: u64,
    pub after: Option<i64>,
}

pub const DEFAULT_PAGE_SIZE: u64 = 50;
pub const MAX_PAGE_SIZE: u64 = 500;

impl Page {
    pub fn parse(page_size: i32, page_token: &str) -> DomainResult<Self> {
        let size = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n if n < 0 => return Err(DomainError::invalid("page_size", "must not be negative")),
            n => (n as u64).min(MAX_PAGE_SIZE),
        };
        let after = if page_token.is_empty() {
            None
        } else {
            Some(
                page_token
                    .parse::<i64>()
                    .ok()
                    .filter(|id| *id > 0)
                    .ok_or_else(|| {
                        DomainError::invalid("page_token", "is not a token from a previous page")
                    })?,
            )
        };
        Ok(Page { size, after })
    }

    /// The token for the page after `items`, given their ids; empty at the end.
    pub fn next_token(&self, returned: usize, last_id: Option<i64>) -> String {
        match last_id {
            Some(id) if returned as u64 == self.size => id.to_string(),
            _ => String::new(),
        }
    }
}

/// One page of a list, and the token of the next (empty at the end).
#[derive(Debug, Clone)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_page_token: String,
}

impl<T> Paged<T> {
    /// A page of `items`, read for `page`; the next token is the last
    /// item's id when the page is full, empty when the list has ended.
    pub fn new(page: Page, items: Vec<T>, id: impl Fn(&T) -> i64) -> Self {
        let next_page_token = page.next_token(items.len(), items.last().map(id));
        Paged {
            items,
            next_page_token,
        }
    }

    /// The items converted for the wire, and the next page token.
    pub fn into_wire<U>(self, convert: impl FnMut(T) -> U) -> (Vec<U>, String) {
        (
            self.items.into_iter().map(convert).collect(),
            self.next_page_token,
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pages() {
        assert_eq!(
            Page::parse(0, "").unwrap(),
            Page {
                size: 50,
                after: None
            }
        );
        assert_eq!(
            Page::parse(10_000, "12").unwrap(),
            Page {
                size: 500,
                after: Some(12)
            }
        );
        assert!(Page::parse(-1, "").is_err());
        assert!(Page::parse(10, "abc").is_err());
        let page = Page::parse(2, "").unwrap();
        assert_eq!(page.next_token(2, Some(9)), "9");
        assert_eq!(page.next_token(1, Some(9)), "");
    }

    #[test]
    fn a_full_page_points_at_the_next() {
        let page = Page::parse(2, "").unwrap();
        let full = Paged::new(page, vec![4_i64, 7], |id| *id);
        assert_eq!(full.next_page_token, "7");
        let last = Paged::new(page, vec![9_i64], |id| *id);
        assert_eq!(last.into_wire(|id| id * 10), (vec![90], String::new()));
    }
}
