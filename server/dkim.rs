//! DKIM signing keys: one RSA-2048 key pair per domain, generated when the
//! domain is added. The public half goes into the DKIM DNS record; the
//! private half is kept for the signing path.

use crate::rules::{DomainError, DomainResult};
use rand::rngs::OsRng;
use rsa::RsaPrivateKey;
use rsa::pkcs8::{EncodePrivateKey, EncodePublicKey, LineEnding};

pub struct DkimKey {
    /// PKCS#8 PEM.
    pub private_pem: String,
    /// Base64 DER SubjectPublicKeyInfo, the `p=` of the DKIM record.
    pub public_base64: String,
}

/// Generates a key pair on a blocking thread (RSA key generation takes tens
/// to hundreds of milliseconds).
pub async fn generate() -> DomainResult<DkimKey> {
    tokio::task::spawn_blocking(|| {
        let key = RsaPrivateKey::new(&mut OsRng, 2048)
            .map_err(|e| DomainError::internal(format!("rsa keygen: {e}")))?;
        let private_pem = key
            .to_pkcs8_pem(LineEnding::LF)
            .map_err(|e| DomainError::internal(format!("pkcs8: {e}")))?
            .to_string();
        let public_pem = key
            .to_public_key()
            .to_public_key_pem(LineEnding::LF)
            .map_err(|e| DomainError::internal(format!("spki: {e}")))?;
        // The PEM body is the base64 of the DER.
        let public_base64 = public_pem
            .lines()
            .filter(|line| !line.starts_with("-----"))
            .collect::<String>();
        Ok(DkimKey {
            private_pem,
            public_base64,
        })
    })
    .await
    .map_err(DomainError::internal)?
}
