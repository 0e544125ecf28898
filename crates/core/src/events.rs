//! Domain events after the fact: deliver a dead letter again.

use bursar_domain::event::NewEvent;
use bursar_domain::event_type;
use bursar_domain::id::EventId;
use bursar_store::relay;

use crate::error::Error;
use crate::write::Context;

/// Sends a dead letter (`event_id` for `subscriber`) back to the relay, its attempts counted
/// afresh; the caller wakes the relay once this commits.
pub async fn replay_dead_letter(
    cx: &mut Context<'_>,
    event_id: &EventId,
    subscriber: &str,
) -> Result<(), Error> {
    let found = relay::replay(
        cx.tx,
        cx.workspace_id,
        event_id.as_str(),
        subscriber,
        cx.now,
    )
    .await?;
    if !found {
        return Err(
            Error::not_found("dead letter", &format!("{event_id} for {subscriber}"))
                .with_param("event_id"),
        );
    }
    cx.emit(NewEvent::new(
        event_type::DEAD_LETTER_REPLAYED,
        "event",
        event_id.as_str(),
        serde_json::json!({
            "object": { "event_id": event_id.as_str(), "subscriber": subscriber, "status": "pending" },
            "previous": { "status": "dead" },
        }),
    ))
    .await
}
