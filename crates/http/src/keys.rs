//! Authenticating API keys, with a short-lived cache of recent lookups.
//!
//! Every request is authenticated, so the lookup is on the hot path. Recently seen keys are kept
//! in memory for [`HttpConfig::api_key_cache_ttl`](crate::HttpConfig): a key revoked from another
//! process (`bursar keys revoke`) stops working within that time. Only the SHA-256 of a secret is
//! used as the cache key; the secret itself is never kept.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use bursar_domain::auth::WorkspaceMode;
use bursar_store::api_keys::{self, ApiKey};
use bursar_store::workspaces;
use bursar_store::{sha256_hex, Db, StoreError, Tx};

/// Cached keys at most; the cache is emptied when it would grow past this.
const CACHED_KEYS_MAX: usize = 10_000;

#[derive(Debug)]
pub struct KeyCache {
    ttl: Duration,
    entries: Mutex<HashMap<String, (ApiKey, WorkspaceMode, Instant)>>,
}

impl KeyCache {
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The active key for `secret` with its workspace's mode, or `None` when it is unknown or
    /// revoked.
    pub async fn authenticate(
        &self,
        db: &Db,
        secret: &str,
    ) -> Result<Option<(ApiKey, WorkspaceMode)>, StoreError> {
        let hash = sha256_hex(secret.as_bytes());
        if !self.ttl.is_zero() {
            let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((key, mode, fetched_at)) = entries.get(&hash) {
                if fetched_at.elapsed() < self.ttl {
                    return Ok(Some((key.clone(), *mode)));
                }
            }
        }
        let presented = secret.to_owned();
        let key = db
            .read(move |tx: &mut Tx| {
                Box::pin(async move {
                    let Some(key) = api_keys::find_by_secret(tx, &presented).await? else {
                        return Ok(None);
                    };
                    let mode = workspaces::mode_of(tx, &key.workspace_id).await?;
                    Ok::<_, StoreError>(Some((key, mode)))
                })
            })
            .await?;
        let active = key.filter(|(k, _)| k.revoked_at.is_none());
        if let (Some((key, mode)), false) = (&active, self.ttl.is_zero()) {
            let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
            if entries.len() >= CACHED_KEYS_MAX {
                entries.clear();
            }
            entries.insert(hash, (key.clone(), *mode, Instant::now()));
        }
        Ok(active)
    }
}
