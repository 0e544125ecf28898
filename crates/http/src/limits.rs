//! Request counts per minute, in memory (per process): per API key, per address for failed
//! authentication, and per address and target on the routes callers use without a key.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Mutex;

use axum::extract::ConnectInfo;
use axum::http::StatusCode;
use bursar_domain::time::Timestamp;

use crate::error::{ApiError, ErrorType};

/// Fixed one-minute windows of request counts, per key, in memory (per process).
#[derive(Debug, Default)]
pub struct RateLimiter {
    windows: Mutex<HashMap<String, (i64, u32)>>,
    /// Whether anything was ever counted: [`RateLimiter::exceeded`] on a limiter that counts
    /// only rare events (failed authentications) answers without the lock while there are none.
    counted: std::sync::atomic::AtomicBool,
}

impl RateLimiter {
    /// Counts a request for `key`; false when it is over `limit` this minute.
    pub fn allow(&self, key: &str, limit: u32, now: Timestamp) -> bool {
        // Written once: a store on every request would bounce the cache line between cores.
        if !self.any() {
            self.counted
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        let minute = now.unix_micros() / 60_000_000;
        let Ok(mut windows) = self.windows.lock() else {
            return true;
        };
        if windows.len() > 100_000 {
            windows.retain(|_, (m, _)| *m == minute);
        }
        // The key is copied only the first time it is seen.
        if !windows.contains_key(key) {
            windows.insert(key.to_owned(), (minute, 0));
        }
        let Some(entry) = windows.get_mut(key) else {
            return true;
        };
        if entry.0 != minute {
            *entry = (minute, 0);
        }
        entry.1 = entry.1.saturating_add(1);
        entry.1 <= limit
    }

    /// Whether anything was ever counted (cheap: no lock).
    pub fn any(&self) -> bool {
        self.counted.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Whether `key` is over `limit` this minute, without counting a request.
    pub fn exceeded(&self, key: &str, limit: u32, now: Timestamp) -> bool {
        if !self.any() {
            return false;
        }
        let minute = now.unix_micros() / 60_000_000;
        let Ok(windows) = self.windows.lock() else {
            return false;
        };
        windows
            .get(key)
            .is_some_and(|(m, count)| *m == minute && *count >= limit)
    }
}

pub(crate) fn client_ip(request_parts: &axum::http::Extensions) -> String {
    request_parts
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip().to_string())
        .unwrap_or_else(|| "unknown".into())
}

pub(crate) fn too_many_for_key() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorType::RateLimitError,
        "rate_limited",
        "Too many requests with this API key; slow down and retry after the Retry-After seconds.",
    )
}

pub(crate) fn too_many() -> ApiError {
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        ErrorType::RateLimitError,
        "rate_limited",
        "Too many requests from this address; try again in a minute.",
    )
}
