//! mailadmin's integration tests: one binary. Each test starts the real
//! server in-process on `127.0.0.1:0` against its own fresh database and
//! talks to it through `mailadmin-client` over gRPC. Every test runs on
//! SQLite (`sqlite::…`) and on PostgreSQL (`postgres::…`, when
//! `MAILADMIN_TEST_POSTGRES_URL` is set; required under `CI`).
//!
//! The modules live in `tests/suite/`, not directly in `tests/`: Cargo
//! would build every `tests/*.rs` file as a test binary of its own.

#[path = "suite/dns_server.rs"]
mod dns_server;
#[path = "suite/harness/mod.rs"]
mod harness;

#[path = "suite/accounts.rs"]
mod accounts;
#[path = "suite/aliases/mod.rs"]
mod aliases;
#[path = "suite/audit.rs"]
mod audit;
#[path = "suite/auth/mod.rs"]
mod auth;
#[path = "suite/billing/mod.rs"]
mod billing;
#[path = "suite/bridge/mod.rs"]
mod bridge;
#[path = "suite/cli/mod.rs"]
mod cli;
#[path = "suite/crash.rs"]
mod crash;
#[path = "suite/create_options.rs"]
mod create_options;
#[path = "suite/delivery/mod.rs"]
mod delivery;
#[path = "suite/dns.rs"]
mod dns;
#[path = "suite/domains/mod.rs"]
mod domains;
#[path = "suite/faults/mod.rs"]
mod faults;
#[path = "suite/groups.rs"]
mod groups;
#[path = "suite/keys_at_rest.rs"]
mod keys_at_rest;
#[path = "suite/metrics.rs"]
mod metrics;
#[path = "suite/organizations.rs"]
mod organizations;
#[path = "suite/passwords.rs"]
mod passwords;
#[path = "suite/profile.rs"]
mod profile;
#[path = "suite/readme.rs"]
mod readme;
#[path = "suite/request_ids.rs"]
mod request_ids;
#[path = "suite/shutdown.rs"]
mod shutdown;
#[path = "suite/suspension.rs"]
mod suspension;
#[path = "suite/time_limits.rs"]
mod time_limits;
#[path = "suite/tls.rs"]
mod tls;
