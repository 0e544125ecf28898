//! Velocity limits of the public pages, in fixed windows per key ([`Velocity`]).
//!
//! Shop checkouts: card testers place order after order from one address,
//! session or email to try stolen cards at the provider. Each placed checkout counts against
//! its client address, its browser session and its email address, per workspace, in windows
//! of [`WINDOW_SECONDS`]; past a limit the checkout is refused before anything is written or
//! any provider is called.
//!
//! The counts live in this process's memory. They fail closed: when the table is full of
//! live windows (an attack spread over very many keys), new keys are refused until windows
//! expire, rather than counted in a table that grows without bound.

use std::collections::HashMap;
use std::sync::Mutex;

use bursar_domain::id::WorkspaceId;
use bursar_domain::time::Timestamp;

use crate::error::{Error, ErrorKind};

/// The length of a counting window.
pub const WINDOW_SECONDS: i64 = 600;

/// Checkouts one client address may place per window.
pub const PER_ADDRESS: u32 = 10;

/// Checkouts one browser session may place per window.
pub const PER_SESSION: u32 = 5;

/// Checkouts one email address may place per window.
pub const PER_EMAIL: u32 = 5;

/// Keys the table holds at most.
const KEYS_MAX: usize = 100_000;

/// Who is checking out, as the limits see them.
#[derive(Debug, Clone)]
pub struct Attempt<'a> {
    pub workspace_id: &'a WorkspaceId,
    /// The client's address (from the connection, not from headers).
    pub address: &'a str,
    /// The browser session's id (its cookie).
    pub session: &'a str,
    /// The email address typed into the form, as parsed.
    pub email: &'a str,
}

/// Counts per key in fixed windows of [`WINDOW_SECONDS`], in memory, bounded.
#[derive(Debug, Default)]
pub struct Velocity {
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl Velocity {
    /// Counts one attempt against each `(key, limit)`: false (and counted nowhere) when any
    /// key is at its limit this window, or when the table cannot take a new key.
    pub fn admit(&self, keys: &[(String, u32)], now: Timestamp) -> bool {
        let window = now.unix_micros() / (WINDOW_SECONDS * 1_000_000);
        let Ok(mut windows) = self.windows.lock() else {
            return false;
        };
        let current = |windows: &HashMap<String, (i64, u32)>, key: &str| {
            windows
                .get(key)
                .filter(|(w, _)| *w == window)
                .map_or(0, |(_, n)| *n)
        };
        if keys
            .iter()
            .any(|(key, limit)| current(&windows, key) >= *limit)
        {
            return false;
        }
        let new_keys = keys
            .iter()
            .filter(|(k, _)| !windows.contains_key(k))
            .count();
        if windows.len() + new_keys > KEYS_MAX {
            windows.retain(|_, (w, _)| *w == window);
            if windows.len() + new_keys > KEYS_MAX {
                return false;
            }
        }
        for (key, _) in keys {
            let entry = windows.entry(key.clone()).or_insert((window, 0));
            if entry.0 != window {
                *entry = (window, 0);
            }
            entry.1 = entry.1.saturating_add(1);
        }
        true
    }
}

/// Counts `attempt` against its address, session and email; refused (and counted nowhere)
/// when any is at its limit this window.
pub fn admit_checkout(
    velocity: &Velocity,
    attempt: &Attempt<'_>,
    now: Timestamp,
) -> Result<(), Error> {
    let ws = attempt.workspace_id.as_str();
    let keys = [
        (
            format!("{ws}|checkout-address|{}", attempt.address),
            PER_ADDRESS,
        ),
        (
            format!("{ws}|checkout-session|{}", attempt.session),
            PER_SESSION,
        ),
        (
            format!("{ws}|checkout-email|{}", attempt.email.to_ascii_lowercase()),
            PER_EMAIL,
        ),
    ];
    if velocity.admit(&keys, now) {
        Ok(())
    } else {
        Err(refused())
    }
}

fn refused() -> Error {
    Error::new(
        ErrorKind::RateLimited,
        "checkout_rate_limited",
        format!(
            "Too many checkouts were started from here in a short time. Please wait {} minutes \
             and try again, or contact the shop.",
            WINDOW_SECONDS / 60
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros(seconds * 1_000_000)
    }

    fn attempt<'a>(ws: &'a WorkspaceId, session: &'a str, email: &'a str) -> Attempt<'a> {
        Attempt {
            workspace_id: ws,
            address: "192.0.2.1",
            session,
            email,
        }
    }

    #[test]
    fn each_key_is_limited_and_a_refusal_counts_nowhere() {
        let limits = Velocity::default();
        let ws = WorkspaceId::from_trusted("ws_test".into());
        for _ in 0..PER_SESSION {
            admit_checkout(&limits, &attempt(&ws, "s1", "a@example.com"), at(0)).unwrap();
        }
        let refused =
            admit_checkout(&limits, &attempt(&ws, "s1", "b@example.com"), at(1)).unwrap_err();
        assert_eq!(refused.kind, ErrorKind::RateLimited);
        // The same email from a new session is at its limit too.
        assert!(admit_checkout(&limits, &attempt(&ws, "s2", "A@example.com"), at(2)).is_err());
        // New sessions and emails from one address: up to the address's limit in all (the
        // refusals above counted nowhere).
        for n in 0..(PER_ADDRESS - PER_SESSION) {
            let (session, email) = (format!("s-{n}"), format!("{n}@example.com"));
            admit_checkout(&limits, &attempt(&ws, &session, &email), at(3)).unwrap();
        }
        assert!(admit_checkout(&limits, &attempt(&ws, "s-new", "new@example.com"), at(4)).is_err());
        // Another workspace counts apart; the next window starts afresh.
        let other = WorkspaceId::from_trusted("ws_other".into());
        admit_checkout(&limits, &attempt(&other, "s1", "a@example.com"), at(5)).unwrap();
        admit_checkout(
            &limits,
            &attempt(&ws, "s1", "a@example.com"),
            at(WINDOW_SECONDS),
        )
        .unwrap();
    }
}
