//! DKIM key pairs: RSA-2048 (RFC 6376) or Ed25519 (RFC 8463). The public
//! half goes into the DKIM DNS record; the private half, PKCS#8 PEM (what
//! OpenDKIM and rspamd read for both algorithms), is sealed by the
//! [`crate::keyring::Keyring`] before it is stored.

use crate::rules::dkim::DkimAlgorithm;
use crate::rules::{DomainError, DomainResult};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::rngs::OsRng;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};
use zeroize::Zeroizing;

pub struct GeneratedKey {
    /// PKCS#8 PEM, wiped from memory when dropped.
    pub private_pem: Zeroizing<String>,
    /// The `p=` of the DKIM record.
    pub public_base64: String,
}

/// Generates a key pair on a blocking thread (RSA key generation takes tens
/// to hundreds of milliseconds).
pub async fn generate(algorithm: DkimAlgorithm) -> DomainResult<GeneratedKey> {
    tokio::task::spawn_blocking(move || match algorithm {
        DkimAlgorithm::Rsa2048 => rsa_2048(),
        DkimAlgorithm::Ed25519 => ed25519(),
    })
    .await
    .map_err(DomainError::internal)?
}

fn rsa_2048() -> DomainResult<GeneratedKey> {
    let key = RsaPrivateKey::new(&mut OsRng, 2048)
        .map_err(|e| DomainError::internal(format!("rsa keygen: {e}")))?;
    let private_pem = key
        .to_pkcs8_pem(LineEnding::LF)
        .map_err(|e| DomainError::internal(format!("pkcs8: {e}")))?;
    let public_der = key
        .to_public_key()
        .to_public_key_der()
        .map_err(|e| DomainError::internal(format!("spki: {e}")))?;
    Ok(GeneratedKey {
        private_pem: Zeroizing::new(private_pem.to_string()),
        public_base64: STANDARD.encode(public_der.as_bytes()),
    })
}

fn ed25519() -> DomainResult<GeneratedKey> {
    let key = ed25519_dalek::SigningKey::generate(&mut OsRng);
    // PKCS#8 v1, the seed alone (as `openssl genpkey` writes it): OpenSSL
    // 3.0, under OpenDKIM, does not read the v2 form with the public key.
    let private_pem = ed25519_dalek::pkcs8::KeypairBytes {
        secret_key: key.to_bytes(),
        public_key: None,
    }
    .to_pkcs8_pem(LineEnding::LF)
    .map_err(|e| DomainError::internal(format!("pkcs8: {e}")))?;
    // RFC 8463 §4.2: p= is the bare 32-byte public key, not an SPKI.
    Ok(GeneratedKey {
        private_pem: Zeroizing::new(private_pem.to_string()),
        public_base64: STANDARD.encode(key.verifying_key().as_bytes()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::pkcs8::{DecodePrivateKey, DecodePublicKey};

    #[tokio::test]
    async fn rsa_public_key_is_the_spki_of_the_private_key() {
        let key = generate(DkimAlgorithm::Rsa2048).await.unwrap();
        let private = RsaPrivateKey::from_pkcs8_pem(&key.private_pem).unwrap();
        let der = STANDARD.decode(&key.public_base64).unwrap();
        let public = rsa::RsaPublicKey::from_public_key_der(&der).unwrap();
        assert_eq!(public, private.to_public_key());
    }

    #[tokio::test]
    async fn ed25519_public_key_is_the_raw_32_bytes() {
        let key = generate(DkimAlgorithm::Ed25519).await.unwrap();
        let private = ed25519_dalek::SigningKey::from_pkcs8_pem(&key.private_pem).unwrap();
        let raw = STANDARD.decode(&key.public_base64).unwrap();
        assert_eq!(raw.as_slice(), private.verifying_key().as_bytes());
    }
}
