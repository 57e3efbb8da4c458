//! The test harness: starts the real server in-process on `127.0.0.1:0`
//! against a fresh database (a SQLite file in a tempdir, or a new PostgreSQL
//! database), with a `ManualClock` the test can move, and talks to it
//! through the generated client over a real gRPC connection.
//!
//! Every test module does `use crate::harness::*;` and gets, besides the
//! [`backend_tests!`] macro:
//!
//! - [`server`]: [`TestServer`], one server on one fresh database, and its
//!   clients;
//! - [`accounts`]: organizations, accounts and logins made through the API;
//! - [`dns`]: domains claimed, verified and activated through a [`TestDns`],
//!   and the [`Fixture`]s a test starts before its server;
//! - [`money`]: amounts, the ledger and notifications;
//! - [`status`]: assertions on gRPC statuses;
//! - [`database`], [`process`]: a fresh database and the server binary as a
//!   child process, for tests that start `mailadmin-server` themselves.
//!
//! [`TestDns`]: crate::dns_server::TestDns

mod accounts;
mod database;
mod dns;
mod money;
mod process;
mod server;
mod status;

pub use accounts::*;
pub use database::*;
pub use dns::*;
pub use money::*;
pub use process::*;
pub use server::*;
pub use status::*;

pub use mailadmin_client::pb::{AccountState, Plan, Role};

/// Generates, for each named `async fn name(server: &TestServer)` (or
/// `&mut TestServer`) of the calling module, `sqlite::name` and
/// `postgres::name` tests. The server is finished (and a PostgreSQL
/// database dropped) even when the test panics.
///
/// `name: F` (F a [`Fixture`] type in scope in the calling module, e.g.
/// `TestDns`) starts an F first, starts
/// the server with settings pointing at it, and calls
/// `async fn name(server: &TestServer, fixture: &F)`.
macro_rules! backend_tests {
    ($($name:ident $(: $fixture:ident)?),+ $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::harness::run_test!(
                        $crate::harness::Backend::Sqlite, super::$name $(, super::$fixture)?
                    );
                }
            )+
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    $crate::harness::run_test!(
                        $crate::harness::Backend::Postgres, super::$name $(, super::$fixture)?
                    );
                }
            )+
        }
    };
}

macro_rules! run_test {
    ($backend:expr, $test:path) => {{
        let Some(mut server) = $crate::harness::TestServer::start($backend).await else {
            return;
        };
        let outcome =
            ::futures::FutureExt::catch_unwind(::std::panic::AssertUnwindSafe($test(&mut server)))
                .await;
        server.finish().await;
        if let Err(panic) = outcome {
            ::std::panic::resume_unwind(panic);
        }
    }};
    ($backend:expr, $test:path, $fixture:ty) => {{
        let fixture = <$fixture as $crate::harness::Fixture>::start().await;
        let Some(mut server) = $crate::harness::TestServer::start_with($backend, |settings| {
            $crate::harness::Fixture::configure(&fixture, settings)
        })
        .await
        else {
            return;
        };
        let outcome = ::futures::FutureExt::catch_unwind(::std::panic::AssertUnwindSafe($test(
            &mut server,
            &fixture,
        )))
        .await;
        server.finish().await;
        // Some fixtures (a DNS server) stop when dropped; others hold no resources.
        #[allow(clippy::drop_non_drop)]
        drop(fixture);
        if let Err(panic) = outcome {
            ::std::panic::resume_unwind(panic);
        }
    }};
}

pub(crate) use backend_tests;
pub(crate) use run_test;

#[test]
fn database_url_rewrite() {
    assert_eq!(
        database::with_database("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
        "postgres://postgres@127.0.0.1:5432/t1"
    );
    assert_eq!(
        database::with_database("postgres://u:p@db:5432?sslmode=disable", "t1"),
        "postgres://u:p@db:5432/t1?sslmode=disable"
    );
    assert_eq!(
        reset_token_in("your token: mar_0a1b2c.\nbye").as_deref(),
        Some("mar_0a1b2c")
    );
}
