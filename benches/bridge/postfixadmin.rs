//! What users run today: PostfixAdmin's tables in PostgreSQL, holding the
//! same mailboxes as the control plane, asked with the queries PostfixAdmin
//! ships for Postfix (`virtual_mailbox_maps`) and Dovecot (`password_query`).

use crate::load::{Outcome, Probe, Worker};
use crate::socketmap::key_and_answer;
use mailadmin_client::bridge::maps::mailbox_location;
use sea_orm::sqlx::{self, Connection, PgConnection, Row};
use sea_orm::{ConnectionTrait, Database};
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// PostfixAdmin's `virtual_mailbox_maps` query (DOCUMENTS/POSTFIX_CONF.txt).
pub const MAILBOX_QUERY: &str = "SELECT maildir FROM mailbox WHERE username='%s' AND active = '1'";

/// PostfixAdmin's Dovecot `password_query` (DOCUMENTS/DOVECOT.txt).
pub const PASSWORD_QUERY: &str =
    "SELECT username AS user, password FROM mailbox WHERE username = '%u' AND active = '1'";

/// The parts of PostfixAdmin's PostgreSQL schema these queries read, with
/// its keys and indexes.
const SCHEMA: &[&str] = &[
    "CREATE TABLE domain (
        domain varchar(255) PRIMARY KEY,
        description varchar(255) NOT NULL DEFAULT '',
        aliases integer NOT NULL DEFAULT 0,
        mailboxes integer NOT NULL DEFAULT 0,
        maxquota bigint NOT NULL DEFAULT 0,
        quota bigint NOT NULL DEFAULT 0,
        transport varchar(255),
        backupmx boolean NOT NULL DEFAULT false,
        created timestamptz NOT NULL DEFAULT now(),
        modified timestamptz NOT NULL DEFAULT now(),
        active boolean NOT NULL DEFAULT true)",
    "CREATE TABLE mailbox (
        username varchar(255) PRIMARY KEY,
        password varchar(255) NOT NULL DEFAULT '',
        name varchar(255) NOT NULL DEFAULT '',
        maildir varchar(255) NOT NULL DEFAULT '',
        quota bigint NOT NULL DEFAULT 0,
        local_part varchar(255) NOT NULL,
        domain varchar(255) NOT NULL REFERENCES domain,
        created timestamptz NOT NULL DEFAULT now(),
        modified timestamptz NOT NULL DEFAULT now(),
        active boolean NOT NULL DEFAULT true)",
    "CREATE INDEX mailbox_domain_idx ON mailbox (domain)",
];

/// A PostfixAdmin database beside the control plane's, on the same server.
pub struct PostfixAdmin {
    pub url: String,
    pub name: String,
    admin_url: String,
}

impl PostfixAdmin {
    /// Creates `<control plane's database>_postfixadmin` holding the
    /// control plane's seeded mailboxes (`addresses`) and the accounts
    /// with passwords (`logins`: address and `$argon2id$…` hash).
    pub async fn create(
        control_plane_url: &str,
        admin_url: &str,
        addresses: &[String],
        logins: &[(String, String)],
    ) -> anyhow::Result<PostfixAdmin> {
        let (base, control_plane) = control_plane_url
            .rsplit_once('/')
            .expect("a database URL ends in /dbname");
        let name = format!("{control_plane}_postfixadmin");
        let admin = Database::connect(admin_url).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE \"{name}\""))
            .await?;
        let url = format!("{base}/{name}");
        let db = Database::connect(url.as_str()).await?;
        for statement in SCHEMA {
            db.execute_unprepared(statement).await?;
        }
        let mut domains: Vec<&str> = addresses
            .iter()
            .chain(logins.iter().map(|(address, _)| address))
            .filter_map(|a| a.rsplit_once('@').map(|(_, domain)| domain))
            .collect();
        domains.sort_unstable();
        domains.dedup();
        for domain in domains {
            db.execute_unprepared(&format!(
                "INSERT INTO domain (domain) VALUES ({})",
                literal(domain)
            ))
            .await?;
        }
        let rows: Vec<(&str, String)> = addresses
            .iter()
            .map(|a| (a.as_str(), String::new()))
            .chain(
                logins
                    .iter()
                    .map(|(a, hash)| (a.as_str(), format!("{{ARGON2ID}}{hash}"))),
            )
            .collect();
        for chunk in rows.chunks(1000) {
            let values: Vec<String> = chunk
                .iter()
                .map(|(address, password)| {
                    let (local, domain) = address.rsplit_once('@').expect("an address");
                    format!(
                        "({}, {}, {}, {}, {})",
                        literal(address),
                        literal(password),
                        literal(&mailbox_location(address)),
                        literal(local),
                        literal(domain)
                    )
                })
                .collect();
            db.execute_unprepared(&format!(
                "INSERT INTO mailbox (username, password, maildir, local_part, domain) VALUES {}",
                values.join(",")
            ))
            .await?;
        }
        db.execute_unprepared("ANALYZE").await?;
        Ok(PostfixAdmin {
            url,
            name,
            admin_url: admin_url.to_string(),
        })
    }

    /// Postfix's `pgsql:` table file for `virtual_mailbox_maps`.
    pub fn postfix_table(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("pgsql_virtual_mailbox_maps.cf");
        std::fs::write(
            &path,
            format!(
                "hosts = {host}\nuser = {user}\npassword =\ndbname = {name}\nquery = {MAILBOX_QUERY}\n",
                host = self.host()?,
                user = self.user()?,
                name = self.name
            ),
        )?;
        Ok(path)
    }

    /// Dovecot's `dovecot-sql.conf.ext` for the `sql` passdb.
    pub fn dovecot_sql_conf(&self, dir: &Path) -> anyhow::Result<PathBuf> {
        let path = dir.join("dovecot-sql.conf.ext");
        let (host, port) = self.host()?.split_once(':').map_or_else(
            || ("127.0.0.1".to_string(), "5432".to_string()),
            |(h, p)| (h.to_string(), p.to_string()),
        );
        std::fs::write(
            &path,
            format!(
                "driver = pgsql\n\
                 connect = host={host} port={port} dbname={name} user={user}\n\
                 default_pass_scheme = ARGON2ID\n\
                 password_query = {PASSWORD_QUERY}\n",
                name = self.name,
                user = self.user()?,
            ),
        )?;
        Ok(path)
    }

    /// `host:port` of the database server.
    fn host(&self) -> anyhow::Result<String> {
        let after_at = self
            .url
            .split_once('@')
            .map_or(self.url.as_str(), |(_, r)| r);
        let host = after_at.split_once('/').map_or(after_at, |(h, _)| h);
        anyhow::ensure!(!host.is_empty(), "no host in {}", self.url);
        Ok(host.to_string())
    }

    fn user(&self) -> anyhow::Result<String> {
        let rest = self
            .url
            .split_once("://")
            .map_or(self.url.as_str(), |(_, r)| r);
        match rest.split_once('@') {
            Some((user, _)) => Ok(user.split(':').next().unwrap_or(user).to_string()),
            None => Ok("postgres".to_string()),
        }
    }

    pub async fn drop_database(self) -> anyhow::Result<()> {
        let admin = Database::connect(self.admin_url.as_str()).await?;
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
                self.name
            ))
            .await?;
        Ok(())
    }
}

/// `text` as an SQL string literal, quotes doubled, as Postfix's
/// `dict_pgsql` escapes `%s`.
fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// One connection of its own asking [`MAILBOX_QUERY`] with the key spliced
/// in, over the simple query protocol: what each Postfix process's `pgsql:`
/// table does through libpq's `PQexec`.
pub struct MailboxQuery {
    connection: PgConnection,
    probes: Arc<Vec<Probe>>,
}

impl MailboxQuery {
    pub async fn connect(url: &str, probes: Arc<Vec<Probe>>) -> anyhow::Result<MailboxQuery> {
        Ok(MailboxQuery {
            connection: PgConnection::connect(url).await?,
            probes,
        })
    }
}

impl Worker for MailboxQuery {
    async fn call(&mut self, at: usize) -> Outcome {
        let (key, expected) = key_and_answer(&self.probes, at);
        let query = MAILBOX_QUERY.replace("'%s'", &literal(&key));
        let answer = sqlx::raw_sql(sqlx::AssertSqlSafe(query))
            .fetch_optional(&mut self.connection)
            .await;
        let reply = match answer {
            Ok(Some(row)) => row
                .try_get::<String, _>(0)
                .map(|maildir| format!("OK {maildir}"))
                .ok(),
            Ok(None) => Some("NOTFOUND ".to_string()),
            Err(_) => None,
        };
        Outcome {
            checked: 1,
            wrong: u64::from(reply != Some(expected)),
        }
    }
}
