//! Secrets at rest: values Bursar must read back (webhook signing secrets) are stored sealed
//! with ChaCha20-Poly1305 under a key that never enters the database.
//!
//! The key comes from `BURSAR_SECRET_KEY` (base64 of 32 bytes) or from a key file created on
//! first start (`secret.key` in the data directory, readable by its owner only). Nodes sharing
//! one PostgreSQL database must share the key.
//!
//! Keyed hashes come in two kinds. [`Sealer::keyed_hash`] is this key's own (derived tokens,
//! the key's fingerprint): it changes when the key is rotated. [`Sealer::lookup_hash`] is what
//! Bursar stores of secrets it must recognise for ever and cannot recompute (license keys): its
//! key is the database's first sealing key's, which a rotation keeps, sealed under the new key
//! in the database (see [`crate::sealing_key`]).

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
/// Where a key rotation writes the new key before it commits; renamed to [`SECRET_KEY_FILE`]
/// after the commit.
pub const STAGED_KEY_FILE: &str = "secret.key.new";
/// Prefix of sealed values (the format's version).
const SEALED_PREFIX: &str = "sealed:v1:";

#[derive(Clone)]
pub struct Sealer {
    cipher: ChaCha20Poly1305,
    /// For keyed hashes and derived tokens: HMAC-SHA256 of a label under the sealing key, so
    /// the two uses never share a key.
    mac_key: [u8; 32],
    /// For lookup hashes: the `mac_key` of the database's first sealing key (this one's until
    /// the database's key was rotated).
    lookup_key: [u8; 32],
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(…)")
    }
}

impl Sealer {
    pub fn from_key(key: [u8; 32]) -> Self {
        let mac_key = hmac_sha256(&key, &[b"bursar keyed hashes v1"]);
        Sealer {
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
            mac_key,
            lookup_key: mac_key,
        }
    }

    /// A keyed hash of `data` for `purpose` (e.g. `download-link`) under this key: the
    /// signature of tokens Bursar derives. It changes when the key is rotated.
    pub fn keyed_hash(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.mac_key, &[purpose.as_bytes(), b"\0", data])
    }

    /// A keyed hash of `data` for `purpose` (e.g. `license-key`) that outlives key rotations:
    /// what Bursar stores of secrets it only needs to recognise.
    pub fn lookup_hash(&self, purpose: &str, data: &[u8]) -> [u8; 32] {
        hmac_sha256(&self.lookup_key, &[purpose.as_bytes(), b"\0", data])
    }

    /// This sealer with the database's lookup key (kept across rotations).
    pub(crate) fn with_lookup_key(mut self, lookup_key: [u8; 32]) -> Self {
        self.lookup_key = lookup_key;
        self
    }

    /// The key of [`Sealer::lookup_hash`], sealed with this sealer (as the database keeps it).
    pub(crate) fn seal_lookup_key(&self, lookup: &Sealer) -> Result<String, StoreError> {
        self.seal(&BASE64.encode(lookup.lookup_key))
    }

    /// The lookup key a [`Sealer::seal_lookup_key`] value holds, opened with this sealer.
    pub(crate) fn open_lookup_key(&self, sealed: &str) -> Result<[u8; 32], StoreError> {
        let bytes = BASE64.decode(self.open(sealed)?).ok();
        bytes
            .and_then(|b| b.try_into().ok())
            .ok_or_else(|| StoreError::Corrupt("the stored lookup key is malformed".into()))
    }

    /// Whether both sealers compute the same lookup hashes.
    pub(crate) fn same_lookup_key(&self, other: &Sealer) -> bool {
        self.lookup_key == other.lookup_key
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

    /// The key written as base64 of 32 bytes; errors name `source`.
    pub fn from_encoded(encoded: &str, source: &str) -> Result<Self, StoreError> {
        Self::decode_key(encoded.trim(), source)
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

/// A fresh sealing key, as base64 of 32 random bytes (the form of `BURSAR_SECRET_KEY`).
pub fn generate_key() -> String {
    BASE64.encode(random_bytes(32))
}

/// `n` bytes from the operating system's generator (secrets, keys).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = vec![0_u8; n];
    rand::thread_rng().fill_bytes(&mut bytes);
    bytes
}

/// Writes `encoded` as the data directory's staged key (replacing a stale one), durably.
pub fn stage_key_file(dir: &Path, encoded: &str) -> Result<(), StoreError> {
    let path = dir.join(STAGED_KEY_FILE);
    discard_staged_key(dir)?;
    write_private(&path, encoded)?;
    sync_dir(dir)
}

/// The staged key of the data directory, if a rotation left one.
pub fn staged_key(dir: &Path) -> Result<Option<Sealer>, StoreError> {
    let path = dir.join(STAGED_KEY_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => Sealer::decode_key(text.trim(), &path.display().to_string()).map(Some),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(StoreError::Config(format!(
            "cannot read {}: {error}",
            path.display()
        ))),
    }
}

/// Makes the staged key the data directory's key: one rename, then the directory synced.
pub fn install_staged_key(dir: &Path) -> Result<(), StoreError> {
    let (staged, key) = (dir.join(STAGED_KEY_FILE), dir.join(SECRET_KEY_FILE));
    std::fs::rename(&staged, &key).map_err(|e| {
        StoreError::Config(format!(
            "cannot rename {} to {}: {e}",
            staged.display(),
            key.display()
        ))
    })?;
    sync_dir(dir)
}

/// Removes a staged key that no rotation committed.
pub fn discard_staged_key(dir: &Path) -> Result<(), StoreError> {
    let path = dir.join(STAGED_KEY_FILE);
    match std::fs::remove_file(&path) {
        Err(error) if error.kind() != std::io::ErrorKind::NotFound => Err(StoreError::Config(
            format!("cannot remove {}: {error}", path.display()),
        )),
        _ => Ok(()),
    }
}

fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    std::fs::File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| StoreError::Config(format!("cannot sync {}: {e}", dir.display())))
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
    fn lookup_hashes_outlive_the_key_that_made_them() {
        let first = Sealer::from_key([1; 32]);
        // Before any rotation, lookup hashes are the key's own keyed hashes (as stored by
        // versions without lookup keys).
        assert_eq!(
            first.lookup_hash("license-key", b"K"),
            first.keyed_hash("license-key", b"K")
        );
        let second = Sealer::from_key([2; 32]);
        let sealed = second.seal_lookup_key(&first).unwrap();
        assert!(
            first.open_lookup_key(&sealed).is_err(),
            "sealed with the new key only"
        );
        let rotated = second
            .clone()
            .with_lookup_key(second.open_lookup_key(&sealed).unwrap());
        assert_eq!(
            rotated.lookup_hash("license-key", b"K"),
            first.lookup_hash("license-key", b"K")
        );
        // The key's own hashes and its fingerprint are the new key's.
        assert_eq!(rotated.fingerprint(), second.fingerprint());
        assert_ne!(
            rotated.keyed_hash("download-link", b"L"),
            first.keyed_hash("download-link", b"L")
        );
    }

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
