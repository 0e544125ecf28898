//! The public pages' velocity limits, counted in the database: each key limited in its
//! window, a refusal counted nowhere, workspaces apart, the next window afresh, and two nodes
//! over one database sharing the counts.

use std::sync::Arc;

use bursar_core::velocity::{
    admit_checkout, sweep, Attempt, PER_ADDRESS, PER_SESSION, WINDOW_SECONDS,
};
use bursar_domain::id::WorkspaceId;
use bursar_domain::time::{Clock, ManualClock, SystemClock};

use crate::both_backends;
use crate::helpers::*;

fn attempt<'a>(ws: &'a WorkspaceId, session: &'a str, email: &'a str) -> Attempt<'a> {
    Attempt {
        workspace_id: ws,
        address: "192.0.2.1",
        session,
        email,
    }
}

both_backends! {
    /// Goal: the limits of checkouts hold per key and across nodes: a second node over the same
    /// database sees the first node's count; a refused attempt counts nowhere.
    async fn checkout_limits_are_shared_by_every_node(backend: Backend) {
        let clock = Arc::new(ManualClock::new(SystemClock.now()));
        let app = TestApp::spawn_with_clock(backend, clock.clone()).await;
        let one = app.core().clone();
        let two = bursar_core::App::new(app.db().clone(), bursar_core::Config::default());
        let ws = app.workspace_id.clone();
        for n in 0..PER_SESSION {
            let node = if n % 2 == 0 { &one } else { &two };
            admit_checkout(node, &attempt(&ws, "s1", "a@example.com")).await.unwrap();
        }
        let refused = admit_checkout(&two, &attempt(&ws, "s1", "b@example.com")).await.unwrap_err();
        assert_eq!(refused.kind, bursar_core::ErrorKind::RateLimited);
        assert!(admit_checkout(&one, &attempt(&ws, "s2", "A@example.com")).await.is_err(), "the same email, another session");
        // The refusals counted nowhere: the address has room for the rest of its limit.
        for n in 0..(PER_ADDRESS - PER_SESSION) {
            let (session, email) = (format!("s-{n}"), format!("{n}@example.com"));
            admit_checkout(&two, &attempt(&ws, &session, &email)).await.unwrap();
        }
        assert!(admit_checkout(&one, &attempt(&ws, "s-new", "new@example.com")).await.is_err());
        let other = WorkspaceId::from_trusted("ws_other".into());
        admit_checkout(&one, &attempt(&other, "s1", "a@example.com")).await.unwrap();
        clock.advance_seconds(WINDOW_SECONDS);
        admit_checkout(&two, &attempt(&ws, "s1", "a@example.com")).await.unwrap();
        clock.advance_seconds(WINDOW_SECONDS);
        assert!(sweep(&one).await.unwrap() > 0, "keys of past windows are forgotten");
    }
}
