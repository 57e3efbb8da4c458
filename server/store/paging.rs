//! Keyset paging for every list query: ordered by id, resuming after the
//! page token's id, at most a page of rows (docs/rules.md, "Paging"). Keyset,
//! not OFFSET: a page costs the same however deep it is, and rows added
//! while a client pages neither repeat nor vanish.

use crate::rules::paging::Page;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Select};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Order {
    OldestFirst,
    NewestFirst,
}

pub(super) trait Keyset: Sized {
    /// `page` of this query, by `id` in `order`.
    fn keyset(self, id: impl ColumnTrait, order: Order, page: Page) -> Self;
}

impl<E: EntityTrait> Keyset for Select<E> {
    fn keyset(self, id: impl ColumnTrait, order: Order, page: Page) -> Self {
        let query = match (order, page.after) {
            (Order::OldestFirst, None) => self.order_by_asc(id),
            (Order::OldestFirst, Some(after)) => self.order_by_asc(id).filter(id.gt(after)),
            (Order::NewestFirst, None) => self.order_by_desc(id),
            (Order::NewestFirst, Some(before)) => self.order_by_desc(id).filter(id.lt(before)),
        };
        query.limit(page.size)
    }
}
