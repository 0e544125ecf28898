//! Secrets at rest: values Bursar must read back (webhook signing secrets) are stored sealed
//! with ChaCha20-Poly1305 under a key that never enters the database.
//!
//! The key comes from `BURSAR_SECRET_KEY` (base64 of 32 bytes) or from a key file created on
//! first start (`secret.key` in the data directory, readable by its owner only). Nodes sharing
//! one PostgreSQL database must share the key.

use std::path::Path;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;

use crate::StoreError;

/// The environment variable holding the sealing key.
pub const SECRET_KEY_ENV: &str = "BURSAR_SECRET_KEY";
/// The key file's name in the data directory.
pub const SECRET_KEY_FILE: &str = "secret.key";
/// Prefix of sealed values (the format's version).
const SEALED_PREFIX: &str = "sealed:v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// For keyed hashes and derived tokens: HMAC-SHA256 of a label under the sealing key, so
    /// the two uses never share a key.
    mac_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

impl Sealer {
    pub fn from_key(key: [u8; 32]) -> Self {
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            mac_key: hmac_sha256(&key, &[b"bursar keyed hashes v1"]),
        }
    }

    /// A keyed hash of `data` for `purpose` (e.g. `license-key`): what Bursar stores of
    /// secrets it only needs to recognise, and the signature of tokens it derives.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.mac_key, &[purpose.as_bytes(), b"\0", data])
    }

    /// A short public name of the key (a keyed hash of nothing): equal for equal keys, and
    /// says nothing about the key.
    pub fn fingerprint(&self) -> String {
        hex::encode(&self.keyed_hash("key-fingerprint", b"")[..8])
    }

    /// A sealer with a fresh random key (tests, throwaway databases).
    pub fn random() -> Self {
        let mut key = [0_u8; 32];
        rand::thread_rng().fill_bytes(&mut key);
        Self::from_key(key)
    }

    /// The key from `BURSAR_SECRET_KEY`, else from `dir/secret.key`, created if missing.
    pub fn load_or_create(dir: &Path) -> Result<Self, StoreError> {
        if let Ok(encoded) = std::env::var(SECRET_KEY_ENV) {
            return Self::decode_key(encoded.trim(), SECRET_KEY_ENV);
        }
        let path = dir.join(SECRET_KEY_FILE);
        match std::fs::read_to_string(&path) {
            Ok(text) => Self::decode_key(text.trim(), &path.display().to_string()),
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                std::fs::create_dir_all(dir).map_err(|e| {
                    StoreError::Config(format!("cannot create {}: {e}", dir.display()))
                })?;
                let mut key = [0_u8; 32];
                rand::thread_rng().fill_bytes(&mut key);
                match write_private(&path, &BASE64.encode(key)) {
                    Ok(()) => Ok(Self::from_key(key)),
                    // Another process starting at the same moment wrote it first: use theirs.
                    Err(_) if path.exists() => {
                        let text = std::fs::read_to_string(&path).map_err(|e| {
                            StoreError::Config(format!("cannot read {}: {e}", path.display()))
                        })?;
                        Self::decode_key(text.trim(), &path.display().to_string())
                    }
                    Err(error) => Err(error),
                }
            }
            Err(error) => Err(StoreError::Config(format!(
                "cannot read {}: {error}",
                path.display()
            ))),
        }
    }

    /// The key given as `BURSAR_SECRET_KEY`'s value.
    pub fn from_env_value(encoded: &str) -> Result<Self, StoreError> {
        Self::decode_key(encoded.trim(), SECRET_KEY_ENV)
    }

    fn decode_key(encoded: &str, source: &str) -> Result<Self, StoreError> {
        let bytes = BASE64.decode(encoded).ok();
        let key: [u8; 32] = bytes.and_then(|b| b.try_into().ok()).ok_or_else(|| {
            StoreError::Config(format!(
                "{source}: the secret key must be base64 of 32 bytes"
            ))
        })?;
        Ok(Self::from_key(key))
    }

    pub fn seal(&self, plaintext: &str) -> Result<String, StoreError> {
        let mut nonce = [0_u8; 12];
        rand::thread_rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(Nonce::from_slice(&nonce), plaintext.as_bytes())
            .map_err(|_| StoreError::Corrupt("sealing failed".into()))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        Ok(format!("{SEALED_PREFIX}{}", BASE64.encode(out)))
    }

    pub fn open(&self, sealed: &str) -> Result<String, StoreError> {
        let wrong = || {
            StoreError::Corrupt(
                "a sealed secret does not open with this key (is BURSAR_SECRET_KEY or secret.key \
                 the one the data was written with?)"
                    .into(),
            )
        };
        let encoded = sealed.strip_prefix(SEALED_PREFIX).ok_or_else(wrong)?;
        let bytes = BASE64.decode(encoded).map_err(|_| wrong())?;
        if bytes.len() < 12 {
            return Err(wrong());
        }
        let (nonce, ciphertext) = bytes.split_at(12);
        let plain = self
            .cipher
            .decrypt(Nonce::from_slice(nonce), ciphertext)
            .map_err(|_| wrong())?;
        String::from_utf8(plain).map_err(|_| wrong())
    }
}

fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    use hmac::{Hmac, Mac};
    // HMAC accepts keys of any length.
    let Ok(mut mac) = <Hmac<sha2::Sha256> as Mac>::new_from_slice(key) else {
        unreachable!("HMAC takes any key length")
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// `n` bytes from the operating system's generator (secrets, keys).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

fn write_private(path: &Path, contents: &str) -> Result<(), StoreError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .map_err(|e| StoreError::Config(format!("cannot create {}: {e}", path.display())))?;
    file.write_all(contents.as_bytes())
        .and_then(|()| file.sync_all())
        .map_err(|e| StoreError::Config(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_values_open_with_their_key_only() {
        let sealer = Sealer::random();
        let sealed = sealer.seal("whsec_abc").unwrap();
        assert!(sealed.starts_with("sealed:v1:") && !sealed.contains("whsec_abc"));
        assert_eq!(sealer.open(&sealed).unwrap(), "whsec_abc");
        assert_ne!(
            sealer.seal("whsec_abc").unwrap(),
            sealed,
            "fresh nonce per value"
        );
        assert!(Sealer::random().open(&sealed).is_err());
        let dir = tempfile::tempdir().unwrap();
        let first = Sealer::load_or_create(dir.path()).unwrap();
        let again = Sealer::load_or_create(dir.path()).unwrap();
        assert_eq!(again.open(&first.seal("x").unwrap()).unwrap(), "x");
    }
}
