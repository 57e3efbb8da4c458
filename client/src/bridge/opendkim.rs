//! Signing keys for OpenDKIM: the control plane's `GetSigningKeys` written
//! as the key files, `KeyTable` and `SigningTable` OpenDKIM reads, and
//! kept current by polling with the last version seen.
//!
//! Layout under one directory (its `KeyTable` lines name absolute paths):
//!
//! ```text
//! keys/<domain>.<selector>.pem     the private key, PKCS#8 PEM, mode 0600
//! KeyTable                         <selector>._domainkey.<domain> <domain>:<selector>:<key file>
//! SigningTable                     <domain> <selector>._domainkey.<domain>
//! KeyTable.ed25519                 the same for the domains whose key is Ed25519
//! SigningTable.ed25519
//! ```
//!
//! OpenDKIM's signature algorithm is one setting for the whole instance
//! (`SignatureAlgorithm`), so RSA and Ed25519 keys are in separate tables:
//! one OpenDKIM reads `KeyTable`/`SigningTable`, a second one, with
//! `SignatureAlgorithm ed25519-sha256`, the `.ed25519` pair. Every file is
//! replaced by a rename, so OpenDKIM never reads half a table; a key file
//! is removed only after the tables no longer name it.

use crate::DeliveryClient;
use crate::pb::{self, DkimAlgorithm};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// The OpenDKIM files under one directory.
#[derive(Debug, Clone)]
pub struct OpenDkimTables {
    dir: PathBuf,
}

/// What one [`OpenDkimTables::write`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Written {
    /// Domains whose key is in the RSA tables.
    pub rsa: usize,
    /// Domains whose key is in the Ed25519 tables.
    pub ed25519: usize,
    /// Key files removed because no table names them any more.
    pub removed: usize,
}

impl OpenDkimTables {
    /// The tables under `dir`, which must be an absolute path (the
    /// `KeyTable` names key files by it); created if missing.
    pub fn new(dir: impl Into<PathBuf>) -> std::io::Result<Self> {
        let dir = dir.into();
        if !dir.is_absolute() {
            return Err(std::io::Error::new(
                std::io::ErrorKind::InvalidInput,
                format!("{} is not an absolute path", dir.display()),
            ));
        }
        std::fs::create_dir_all(dir.join("keys"))?;
        Ok(OpenDkimTables { dir })
    }

    /// The directory the tables are in.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Writes `keys` (one per domain) as the tables, replacing what was there.
    pub fn write(&self, keys: &[pb::SigningKey]) -> std::io::Result<Written> {
        let mut written = Written::default();
        let mut tables = [
            (String::new(), String::new()),
            (String::new(), String::new()),
        ];
        let mut kept = Vec::new();
        for key in keys {
            let (domain, selector) = (key.domain.as_str(), key.selector.as_str());
            if !is_dns_name(domain) || !is_dns_name(selector) {
                tracing::warn!(
                    domain,
                    selector,
                    "skipping a signing key with an unusable name"
                );
                continue;
            }
            let file_name = format!("{domain}.{selector}.pem");
            let path = self.dir.join("keys").join(&file_name);
            replace(&path, key.private_key_pem.as_bytes())?;
            kept.push(file_name);
            let (key_table, signing_table) = match key.algorithm() {
                DkimAlgorithm::Ed25519 => {
                    written.ed25519 += 1;
                    &mut tables[1]
                }
                DkimAlgorithm::Rsa2048 | DkimAlgorithm::Unspecified => {
                    written.rsa += 1;
                    &mut tables[0]
                }
            };
            let name = format!("{selector}._domainkey.{domain}");
            key_table.push_str(&format!("{name} {domain}:{selector}:{}\n", path.display()));
            signing_table.push_str(&format!("{domain} {name}\n"));
        }
        for ((key_table, signing_table), suffix) in tables.iter().zip(["", ".ed25519"]) {
            replace(
                &self.dir.join(format!("KeyTable{suffix}")),
                key_table.as_bytes(),
            )?;
            replace(
                &self.dir.join(format!("SigningTable{suffix}")),
                signing_table.as_bytes(),
            )?;
        }
        for entry in std::fs::read_dir(self.dir.join("keys"))? {
            let entry = entry?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".pem") && !kept.contains(&name) {
                std::fs::remove_file(entry.path())?;
                written.removed += 1;
            }
        }
        Ok(written)
    }
}

/// Keeps `tables` current: asks the control plane every `interval` (with
/// the version last written, so an unchanged answer costs no key), writes
/// a changed answer, then runs `on_change` (`sh -c`), e.g. a command that
/// makes OpenDKIM reload. A failed call or write keeps the files as they
/// are and is retried at the next interval. Runs until dropped.
pub async fn follow(
    client: DeliveryClient,
    tables: OpenDkimTables,
    interval: Duration,
    on_change: Option<String>,
) {
    let mut version = 0;
    let mut ticks = tokio::time::interval(interval);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sync(&client, &tables, version).await {
            Ok(Some((new_version, written))) => {
                version = new_version;
                tracing::info!(
                    dir = %tables.dir().display(),
                    rsa = written.rsa,
                    ed25519 = written.ed25519,
                    removed = written.removed,
                    "signing keys written"
                );
                if let Some(command) = &on_change {
                    run(command).await;
                }
            }
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(%error, "signing keys not updated; retrying at the next interval")
            }
        }
    }
}

/// One poll: `Some` with the new version when the tables were rewritten.
pub async fn sync(
    client: &DeliveryClient,
    tables: &OpenDkimTables,
    known_version: u64,
) -> Result<Option<(u64, Written)>, String> {
    let answer = client
        .signing_keys(&[], known_version)
        .await
        .map_err(|status| format!("GetSigningKeys: {:?}: {}", status.code(), status.message()))?;
    if answer.unchanged {
        return Ok(None);
    }
    let written = tables
        .write(&answer.keys)
        .map_err(|e| format!("writing under {}: {e}", tables.dir().display()))?;
    Ok(Some((answer.version, written)))
}

async fn run(command: &str) {
    match tokio::process::Command::new("sh")
        .args(["-c", command])
        .status()
        .await
    {
        Ok(status) if status.success() => {}
        Ok(status) => tracing::warn!(command, %status, "the on-change command failed"),
        Err(error) => tracing::warn!(command, %error, "the on-change command did not run"),
    }
}

/// A name that is safe as a file name and a table key: DNS letters,
/// digits, hyphens and dots, not starting with a dot.
fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains("..")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
}

/// Writes `path` through a temporary file (mode 0600) and a rename.
fn replace(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    let _ = std::fs::remove_file(&tmp);
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(contents)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(domain: &str, selector: &str, algorithm: DkimAlgorithm) -> pb::SigningKey {
        pb::SigningKey {
            domain: domain.into(),
            selector: selector.into(),
            algorithm: algorithm as i32,
            private_key_pem: format!("PEM of {domain}"),
        }
    }

    #[test]
    fn each_algorithm_gets_its_tables_and_old_key_files_go() {
        let dir = tempfile::tempdir().unwrap();
        let tables = OpenDkimTables::new(dir.path()).unwrap();
        let first = tables
            .write(&[
                key("a.example", "s1", DkimAlgorithm::Rsa2048),
                key("b.example", "s1", DkimAlgorithm::Ed25519),
            ])
            .unwrap();
        assert_eq!(
            first,
            Written {
                rsa: 1,
                ed25519: 1,
                removed: 0
            }
        );
        let read = |name: &str| std::fs::read_to_string(dir.path().join(name)).unwrap();
        let key_file = dir.path().join("keys/a.example.s1.pem");
        assert_eq!(
            read("KeyTable"),
            format!(
                "s1._domainkey.a.example a.example:s1:{}\n",
                key_file.display()
            )
        );
        assert_eq!(read("SigningTable"), "a.example s1._domainkey.a.example\n");
        assert!(read("KeyTable.ed25519").starts_with("s1._domainkey.b.example "));
        assert_eq!(read("keys/a.example.s1.pem"), "PEM of a.example");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&key_file).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);

        let second = tables
            .write(&[key("a.example", "s2", DkimAlgorithm::Rsa2048)])
            .unwrap();
        assert_eq!(second.removed, 2, "a's old key and b's");
        assert!(!key_file.exists());
        assert_eq!(read("KeyTable.ed25519"), "");
    }

    #[test]
    fn names_that_are_not_dns_names_are_skipped() {
        let dir = tempfile::tempdir().unwrap();
        let tables = OpenDkimTables::new(dir.path()).unwrap();
        let written = tables
            .write(&[key("../etc", "s1", DkimAlgorithm::Rsa2048)])
            .unwrap();
        assert_eq!(written.rsa, 0);
        assert!(OpenDkimTables::new("relative/dir").is_err());
    }
}
