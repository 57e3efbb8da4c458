//! Account id → what routing needs of the account.
//!
//! Ids come from a database sequence, so they are nearly dense: they index
//! a vector, and a lookup is one memory access where a hash map takes two
//! (its control bytes, then its slot). On a large directory each access is
//! a cache miss, and a recipient check makes one after finding the
//! address's owner. An id far beyond the others (more than twice the count
//! plus [`SLACK`]) goes to a small hash map instead, so a stray large id
//! cannot make the vector huge.

use crate::rules::model::AccountState;
use compact_str::CompactString;
use foldhash::HashMap;

/// What routing needs of an account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountEntry {
    pub state: AccountState,
    pub primary_address: CompactString,
}

/// How far past the vector's end a new id may be and still extend it.
const SLACK: usize = 4096;

#[derive(Debug, Default)]
pub struct Accounts {
    /// The entry of id `i`, at index `i`.
    dense: Vec<Option<AccountEntry>>,
    /// Ids beyond `dense` (never one below its length).
    sparse: HashMap<i64, AccountEntry>,
    len: usize,
}

impl Accounts {
    /// Room for about `expected` accounts whose ids go up to `last_id`.
    pub fn for_ids(expected: usize, last_id: i64) -> Self {
        let mut accounts = Accounts::default();
        if let Ok(last) = usize::try_from(last_id)
            && last < accounts.dense_limit(expected)
        {
            accounts.dense.resize_with(last + 1, || None);
        }
        accounts
    }

    pub fn get(&self, id: i64) -> Option<&AccountEntry> {
        match self.index(id) {
            Some(i) => self.dense[i].as_ref(),
            None => self.sparse.get(&id),
        }
    }

    pub fn insert(&mut self, id: i64, entry: AccountEntry) {
        if let Ok(i) = usize::try_from(id)
            && i >= self.dense.len()
            && i < self.dense_limit(self.len + 1)
        {
            self.extend_to(i + 1);
        }
        let previous = match self.index(id) {
            Some(i) => self.dense[i].replace(entry),
            None => self.sparse.insert(id, entry),
        };
        if previous.is_none() {
            self.len += 1;
        }
    }

    pub fn remove(&mut self, id: i64) {
        let removed = match self.index(id) {
            Some(i) => self.dense[i].take(),
            None => self.sparse.remove(&id),
        };
        if removed.is_some() {
            self.len -= 1;
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn index(&self, id: i64) -> Option<usize> {
        usize::try_from(id).ok().filter(|&i| i < self.dense.len())
    }

    /// Ids below this get a vector slot when there are `count` accounts.
    fn dense_limit(&self, count: usize) -> usize {
        self.dense
            .len()
            .max(count.saturating_mul(2))
            .saturating_add(SLACK)
    }

    /// Grows the vector to `len` slots and moves the sparse ids it now
    /// covers into it.
    fn extend_to(&mut self, len: usize) {
        if self.sparse.is_empty() {
            self.dense.resize_with(len, || None);
            return;
        }
        // Sparse ids may now fall inside: grow by half at least, so that
        // they are looked for O(log n) times, not once per new id.
        let len = len.max(self.dense.len() + self.dense.len() / 2);
        self.dense.resize_with(len, || None);
        let covered: Vec<i64> = self
            .sparse
            .keys()
            .copied()
            .filter(|&id| self.index(id).is_some())
            .collect();
        for id in covered {
            if let (Some(entry), Some(i)) = (self.sparse.remove(&id), self.index(id)) {
                self.dense[i] = Some(entry);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(address: &str) -> AccountEntry {
        AccountEntry {
            state: AccountState::Enabled,
            primary_address: address.into(),
        }
    }

    #[test]
    fn sequence_ids_index_a_vector_and_stray_ones_a_map() {
        let mut accounts = Accounts::for_ids(3, 3);
        for id in 1..=3 {
            accounts.insert(id, entry(&format!("u{id}@example.com")));
        }
        accounts.insert(4, entry("next@example.com"));
        accounts.insert(1 << 40, entry("stray@example.com"));
        accounts.insert(-7, entry("negative@example.com"));
        assert_eq!(accounts.len(), 6);
        assert_eq!(accounts.dense.len(), 5, "ids 0..=4 in the vector");
        assert_eq!(accounts.sparse.len(), 2, "the stray and negative ids apart");
        assert_eq!(
            accounts.get(1 << 40).map(|e| e.primary_address.as_str()),
            Some("stray@example.com")
        );
        assert_eq!(
            accounts.get(-7).map(|e| e.primary_address.as_str()),
            Some("negative@example.com")
        );
        assert_eq!(accounts.get(0), None);
        assert_eq!(accounts.get(5), None);

        accounts.insert(2, entry("renamed@example.com"));
        accounts.remove(3);
        accounts.remove(3);
        accounts.remove(1 << 40);
        assert_eq!(
            accounts.len(),
            4,
            "a replacement or a second removal counts nothing"
        );
        assert_eq!(
            accounts.get(2).map(|e| e.primary_address.as_str()),
            Some("renamed@example.com")
        );
        assert_eq!(accounts.get(3), None);
        assert_eq!(accounts.get(1 << 40), None);
    }

    #[test]
    fn a_growing_vector_takes_over_the_sparse_ids_it_reaches() {
        let mut accounts = Accounts::default();
        let far = (SLACK + 10) as i64;
        accounts.insert(far, entry("far@example.com"));
        assert_eq!(accounts.sparse.len(), 1, "too far for an empty vector");
        for id in 0..=(SLACK as i64) {
            accounts.insert(id, entry("near@example.com"));
        }
        accounts.insert(far + 1, entry("after@example.com"));
        assert!(accounts.sparse.is_empty(), "moved into the vector");
        assert_eq!(
            accounts.get(far).map(|e| e.primary_address.as_str()),
            Some("far@example.com")
        );
        assert_eq!(accounts.len(), SLACK + 3);
    }
}
