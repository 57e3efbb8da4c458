//! The mail servers' questions: where does this recipient go (from the
//! routing snapshot, never the database), may this login sign in, and
//! which addresses may it send as.

use super::resolution::Route;

/// At most this many recipients per batch.
pub const MAX_BATCH: usize = 1000;

/// What a recipient check answers for one address of a batch.
pub type Checked = Result<Route, String>;

/// An account allowed to sign in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub user_id: i64,
    pub primary_address: String,
}
