//! The server key file and the sealing of secrets stored in the database
//! (DKIM private keys) with it (docs/rules.md, "Keys at rest").
//!
//! The file holds one or more 256-bit keys, one base64 line each; the first
//! encrypts, every one decrypts. Each key's id is derived from the key
//! itself, and stored beside every ciphertext, so a server given another
//! file knows at once that it cannot read the database's keys. Sealing is
//! XChaCha20-Poly1305 with a random 192-bit nonce, and the ciphertext is
//! bound to what it protects (the domain and selector), so a row copied
//! onto another domain does not decrypt.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use rand::rngs::OsRng;
use sha2::{Digest, Sha256};
use std::io::Write as _;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::RwLock;
use zeroize::Zeroizing;

const NONCE_LEN: usize = 24;

const HEADER: &str = "\
# mailadmin server key file. It decrypts the DKIM private keys stored in the
# database: back it up with the database, keep it readable by the server's
# user only (mode 0600). The first key encrypts; every key below it still
# decrypts (`mailadmin-server rotate-key` adds a new first key).
";

/// Why the key file cannot be used. Each names the file and what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyFileError {
    #[error(
        "key file {path} is readable or writable by group or others (mode {mode:04o}): \
         run `chmod 600 {path}`"
    )]
    Unsafe { path: String, mode: u32 },
    #[error("key file {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("key file {path}, line {line}: {reason}")]
    Malformed {
        path: String,
        line: usize,
        reason: String,
    },
    #[error("key file {path} holds no key")]
    Empty { path: String },
}

/// Why a sealed value could not be opened. Never carries the value.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("sealed under server key {0}, which the key file does not hold")]
    UnknownKey(String),
    #[error("the sealed value is damaged or belongs to another row")]
    Damaged,
}

/// A secret sealed for storage.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// The id of the server key that sealed it.
    pub key_id: String,
    /// base64(nonce ‖ ciphertext ‖ tag).
    pub ciphertext: String,
}

struct ServerKey {
    id: String,
    cipher: XChaCha20Poly1305,
    bytes: Zeroizing<[u8; 32]>,
}

/// The server keys read from the key file.
pub struct Keyring {
    path: PathBuf,
    /// First: the key that seals.
    keys: RwLock<Vec<ServerKey>>,
}

impl Keyring {
    /// Reads the key file, or creates it (mode 0600, one new key) when it
    /// does not exist. Refused when group or others may read it.
    /// Replicas starting together on one host agree on one file: the file
    /// appears whole (written aside, then linked into place), and a start
    /// that finds it already there reads it.
    pub fn open_or_create(path: &Path) -> Result<Keyring, KeyFileError> {
        if !path.exists() {
            let key = ServerKey::generate();
            let aside = path.with_extension(format!("new-{:016x}", OsRng.next_u64()));
            write_new(&aside, std::slice::from_ref(&key))?;
            let linked = std::fs::hard_link(&aside, path);
            let _ = std::fs::remove_file(&aside);
            match linked {
                Ok(()) => {
                    tracing::info!(path = %path.display(), key_id = %key.id, "created the server key file")
                }
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(io(path, e)),
            }
        }
        Self::open(path)
    }

    /// Reads an existing key file.
    pub fn open(path: &Path) -> Result<Keyring, KeyFileError> {
        let keys = read(path)?;
        Ok(Keyring {
            path: path.to_path_buf(),
            keys: RwLock::new(keys),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The id of the key that seals.
    pub fn current_id(&self) -> String {
        self.keys.read().expect("keyring lock")[0].id.clone()
    }

    /// Whether the file (as last read) holds the key `id`.
    pub fn holds(&self, id: &str) -> bool {
        self.keys
            .read()
            .expect("keyring lock")
            .iter()
            .any(|k| k.id == id)
    }

    /// Seals `secret`, bound to `context` (what it protects).
    pub fn seal(&self, secret: &[u8], context: &str) -> Sealed {
        let keys = self.keys.read().expect("keyring lock");
        let key = &keys[0];
        let mut nonce = [0u8; NONCE_LEN];
        OsRng.fill_bytes(&mut nonce);
        let ciphertext = key
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: secret,
                    aad: context.as_bytes(),
                },
            )
            .expect("XChaCha20-Poly1305 encrypts any length this side of 256 GiB");
        let mut blob = nonce.to_vec();
        blob.extend_from_slice(&ciphertext);
        Sealed {
            key_id: key.id.clone(),
            ciphertext: STANDARD.encode(blob),
        }
    }

    /// Opens what [`Keyring::seal`] sealed with `context`. A key id the
    /// file did not hold when last read makes it read the file again (a
    /// `rotate-key` may have run since the server started).
    pub fn open_sealed(
        &self,
        sealed: &Sealed,
        context: &str,
    ) -> Result<Zeroizing<Vec<u8>>, OpenError> {
        if !self.holds(&sealed.key_id) {
            match read(&self.path) {
                Ok(keys) => *self.keys.write().expect("keyring lock") = keys,
                Err(e) => tracing::warn!(error = %e, "re-reading the key file"),
            }
        }
        let keys = self.keys.read().expect("keyring lock");
        let key = keys
            .iter()
            .find(|k| k.id == sealed.key_id)
            .ok_or_else(|| OpenError::UnknownKey(sealed.key_id.clone()))?;
        let blob = STANDARD
            .decode(&sealed.ciphertext)
            .map_err(|_| OpenError::Damaged)?;
        if blob.len() < NONCE_LEN {
            return Err(OpenError::Damaged);
        }
        let (nonce, ciphertext) = blob.split_at(NONCE_LEN);
        key.cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ciphertext,
                    aad: context.as_bytes(),
                },
            )
            .map(Zeroizing::new)
            .map_err(|_| OpenError::Damaged)
    }

    /// Puts a new key first in the file (the old ones stay, to decrypt
    /// until everything is sealed again) and seals with it from now on.
    /// The file is replaced atomically. Returns the new key's id.
    pub fn add_new_key(&self) -> Result<String, KeyFileError> {
        let mut keys = read(&self.path)?;
        let key = ServerKey::generate();
        let id = key.id.clone();
        keys.insert(0, key);
        let tmp = self.path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        write_new(&tmp, &keys)?;
        std::fs::rename(&tmp, &self.path).map_err(|e| io(&self.path, e))?;
        *self.keys.write().expect("keyring lock") = keys;
        Ok(id)
    }
}

impl ServerKey {
    fn generate() -> ServerKey {
        let mut bytes = Zeroizing::new([0u8; 32]);
        OsRng.fill_bytes(bytes.as_mut());
        ServerKey::from_bytes(bytes)
    }

    fn from_bytes(bytes: Zeroizing<[u8; 32]>) -> ServerKey {
        let mut digest = Sha256::new();
        digest.update(b"mailadmin server key id\0");
        digest.update(bytes.as_ref());
        ServerKey {
            id: hex::encode(&digest.finalize()[..8]),
            cipher: XChaCha20Poly1305::new(bytes.as_ref().into()),
            bytes,
        }
    }
}

fn io(path: &Path, source: std::io::Error) -> KeyFileError {
    KeyFileError::Io {
        path: path.display().to_string(),
        source,
    }
}

fn read(path: &Path) -> Result<Vec<ServerKey>, KeyFileError> {
    let shown = path.display().to_string();
    let metadata = std::fs::metadata(path).map_err(|e| io(path, e))?;
    let mode = metadata.permissions().mode() & 0o7777;
    if mode & 0o077 != 0 {
        return Err(KeyFileError::Unsafe { path: shown, mode });
    }
    let text = Zeroizing::new(std::fs::read_to_string(path).map_err(|e| io(path, e))?);
    let mut keys = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let malformed = |reason: &str| KeyFileError::Malformed {
            path: shown.clone(),
            line: n + 1,
            reason: reason.to_string(),
        };
        let decoded = Zeroizing::new(STANDARD.decode(line).map_err(|_| malformed("not base64"))?);
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| malformed("a key is 32 bytes, base64-encoded"))?;
        keys.push(ServerKey::from_bytes(Zeroizing::new(bytes)));
    }
    if keys.is_empty() {
        return Err(KeyFileError::Empty { path: shown });
    }
    Ok(keys)
}

/// Creates `path` (which must not exist) with mode 0600 and writes `keys`.
fn write_new(path: &Path, keys: &[ServerKey]) -> Result<(), KeyFileError> {
    let mut text = Zeroizing::new(HEADER.to_string());
    for key in keys {
        text.push_str(&STANDARD.encode(key.bytes.as_ref()));
        text.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .map_err(|e| io(path, e))?;
    file.write_all(text.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| io(path, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_only_in_their_context() {
        let dir = tempfile::tempdir().unwrap();
        let ring = Keyring::open_or_create(&dir.path().join("k")).unwrap();
        let sealed = ring.seal(b"secret", "dkim:1:s");
        assert_eq!(sealed.key_id, ring.current_id());
        assert!(!sealed.ciphertext.contains("secret"));
        assert_eq!(
            ring.open_sealed(&sealed, "dkim:1:s").unwrap().as_slice(),
            b"secret"
        );
        assert!(matches!(
            ring.open_sealed(&sealed, "dkim:2:s"),
            Err(OpenError::Damaged)
        ));
    }

    #[test]
    fn a_new_key_seals_and_the_old_ones_still_open() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let ring = Keyring::open_or_create(&path).unwrap();
        let old = ring.seal(b"before", "c");
        let new_id = ring.add_new_key().unwrap();
        assert_ne!(new_id, old.key_id);
        assert_eq!(ring.seal(b"after", "c").key_id, new_id);
        assert_eq!(ring.open_sealed(&old, "c").unwrap().as_slice(), b"before");
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        // Another process reading the file sees both keys, the new one first.
        let again = Keyring::open(&path).unwrap();
        assert_eq!(again.current_id(), new_id);
        assert!(again.holds(&old.key_id));
    }

    #[test]
    fn starts_racing_to_create_the_file_agree_on_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        let ids: Vec<String> = std::thread::scope(|scope| {
            let racers: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| Keyring::open_or_create(&path).unwrap().current_id()))
                .collect();
            racers.into_iter().map(|r| r.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
    }

    #[test]
    fn another_file_does_not_hold_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let one = Keyring::open_or_create(&dir.path().join("one")).unwrap();
        let other = Keyring::open_or_create(&dir.path().join("other")).unwrap();
        let sealed = one.seal(b"x", "c");
        assert!(matches!(
            other.open_sealed(&sealed, "c"),
            Err(OpenError::UnknownKey(id)) if id == sealed.key_id
        ));
    }

    #[test]
    fn malformed_lines_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("k");
        std::fs::write(&path, "# comment\n\nnot-a-key!\n").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
        let err = Keyring::open(&path).err().unwrap().to_string();
        assert!(err.contains("line 3"), "{err}");
    }
}
