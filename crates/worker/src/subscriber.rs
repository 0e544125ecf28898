//! What acts on domain events: the [`Subscriber`] trait the relay delivers to.

use std::sync::Arc;

use bursar_domain::event::Event;
use bursar_domain::id::WorkspaceId;
use futures::future::BoxFuture;

/// Something that acts on domain events. It receives each event at least once (after a crash
/// or a lost acknowledgement, again), so it applies an event once by its id.
pub trait Subscriber: Send + Sync + 'static {
    /// A stable name: deliveries are kept per subscriber name.
    fn name(&self) -> &str;

    /// Acts on `event`; an error is retried later.
    fn deliver<'a>(
        &'a self,
        workspace_id: &'a WorkspaceId,
        event: &'a Event,
    ) -> BoxFuture<'a, Result<(), String>>;

    /// A round of deliveries begins: everything committed before its events is visible from
    /// now on (a subscriber may refresh what it caches per round).
    fn new_round(&self) {}
}

/// Convenience for subscribers written as closures (tests, small integrations).
pub fn subscriber_fn<F>(name: &str, f: F) -> Arc<dyn Subscriber>
where
    F: Fn(&WorkspaceId, &Event) -> Result<(), String> + Send + Sync + 'static,
{
    struct FnSubscriber<F> {
        name: String,
        f: F,
    }
    impl<F> Subscriber for FnSubscriber<F>
    where
        F: Fn(&WorkspaceId, &Event) -> Result<(), String> + Send + Sync + 'static,
    {
        fn name(&self) -> &str {
            &self.name
        }
        fn deliver<'a>(
            &'a self,
            workspace_id: &'a WorkspaceId,
            event: &'a Event,
        ) -> BoxFuture<'a, Result<(), String>> {
            let result = (self.f)(workspace_id, event);
            Box::pin(async move { result })
        }
    }
    Arc::new(FnSubscriber {
        name: name.to_owned(),
        f,
    })
}
