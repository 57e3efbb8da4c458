//! Fresh databases for one test each: a SQLite file in a tempdir, or a new
//! PostgreSQL database on `MAILADMIN_TEST_POSTGRES_URL`, dropped afterwards.

use sea_orm::ConnectionTrait;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// A test database on the PostgreSQL server of `admin_url`.
pub(super) struct PgDatabase {
    admin_url: String,
    name: String,
}

/// A fresh, empty database no server has touched yet: a SQLite file in a
/// tempdir, or a new PostgreSQL database (for tests that start the server
/// binary themselves). [`FreshDatabase::drop_database`] removes it.
pub struct FreshDatabase {
    /// What `--database-url` takes.
    pub url: String,
    pub(super) pg: Option<PgDatabase>,
    /// SQLite: the directory holding the file.
    pub(super) dir: Option<tempfile::TempDir>,
}

impl FreshDatabase {
    /// `None`: the backend is not available here (PostgreSQL without
    /// `MAILADMIN_TEST_POSTGRES_URL`; a failure under CI).
    pub async fn create(backend: Backend) -> Option<FreshDatabase> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("creating a tempdir");
                let path = dir.path().join("mailadmin.db");
                let url = format!("sqlite://{}?mode=rwc", path.display());
                Some(FreshDatabase {
                    url,
                    pg: None,
                    dir: Some(dir),
                })
            }
            Backend::Postgres => {
                let admin_url = match std::env::var("MAILADMIN_TEST_POSTGRES_URL") {
                    Ok(url) if !url.trim().is_empty() => url,
                    _ => {
                        if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) {
                            panic!(
                                "CI must test PostgreSQL: set MAILADMIN_TEST_POSTGRES_URL \
                                 (e.g. postgres://postgres@127.0.0.1:5432/postgres)"
                            );
                        }
                        eprintln!("skipping: MAILADMIN_TEST_POSTGRES_URL is not set");
                        return None;
                    }
                };
                let name = format!("mailadmin_test_{:016x}", rand::random::<u64>());
                let admin = sea_orm::Database::connect(admin_url.as_str())
                    .await
                    .expect("connecting to MAILADMIN_TEST_POSTGRES_URL");
                admin
                    .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
                    .await
                    .expect("creating the test database");
                let _ = admin.close().await;
                let url = with_database(&admin_url, &name);
                Some(FreshDatabase {
                    url,
                    pg: Some(PgDatabase { admin_url, name }),
                    dir: None,
                })
            }
        }
    }

    /// Drops the PostgreSQL database (even with connections left open) or
    /// removes the SQLite file. Best effort: failures are printed.
    pub async fn drop_database(self) {
        if let Some(pg) = &self.pg {
            drop_pg_database(pg).await;
        }
        drop(self.dir);
    }
}

/// `url` with its database (path) replaced by `name`, query kept.
pub(super) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let authority_end = base[authority_start..]
        .find('/')
        .map_or(base.len(), |i| authority_start + i);
    let mut out = format!("{}/{}", &base[..authority_end], name);
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    out
}

pub(super) async fn drop_pg_database(pg: &PgDatabase) {
    match sea_orm::Database::connect(pg.admin_url.as_str()).await {
        Ok(admin) => {
            let sql = format!("DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)", pg.name);
            if let Err(e) = admin.execute_unprepared(&sql).await {
                eprintln!("dropping test database {}: {e}", pg.name);
            }
            let _ = admin.close().await;
        }
        Err(e) => eprintln!("dropping test database {}: {e}", pg.name),
    }
}
