//! Courier tracking: the ten normalised statuses every carrier's codes map to, and the fold
//! that turns a shipment's events into its status.
//!
//! Carriers report events late, twice and out of order (a poll returns yesterday's scan after a
//! push delivered today's). The fold is therefore over the events sorted by the instant the
//! carrier gives, and it only moves forward: a shipment's progress has ranks (pre-transit,
//! in transit, at the door, done) and an event of a lower rank than the progress so far changes
//! nothing. Exceptions are the one exception: any event may raise one, and the next event of
//! at least the progress so far clears it. Terminal statuses (delivered, returned to sender,
//! cancelled) are final.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::time::Timestamp;

/// A carrier's event, normalised (Karrio's statuses, with `unknown` for codes no table knows).
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize, ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum TrackingStatus {
    /// Label created; the carrier has not got the parcel yet.
    PreTransit,
    InTransit,
    OutForDelivery,
    /// Waiting at a pickup point or parcel locker for the recipient.
    AvailableForPickup,
    Delivered,
    /// A delivery attempt failed (nobody home, address problem); the carrier will try again
    /// or hold it.
    DeliveryFailed,
    /// Something needs attention: customs hold, damage, a lost parcel.
    Exception,
    ReturnedToSender,
    Cancelled,
    /// A code no table knows. Kept, shown, and never moves the shipment.
    Unknown,
}

impl TrackingStatus {
    pub const ALL: [TrackingStatus; 10] = [
        TrackingStatus::PreTransit,
        TrackingStatus::InTransit,
        TrackingStatus::OutForDelivery,
        TrackingStatus::AvailableForPickup,
        TrackingStatus::Delivered,
        TrackingStatus::DeliveryFailed,
        TrackingStatus::Exception,
        TrackingStatus::ReturnedToSender,
        TrackingStatus::Cancelled,
        TrackingStatus::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TrackingStatus::PreTransit => "pre_transit",
            TrackingStatus::InTransit => "in_transit",
            TrackingStatus::OutForDelivery => "out_for_delivery",
            TrackingStatus::AvailableForPickup => "available_for_pickup",
            TrackingStatus::Delivered => "delivered",
            TrackingStatus::DeliveryFailed => "delivery_failed",
            TrackingStatus::Exception => "exception",
            TrackingStatus::ReturnedToSender => "returned_to_sender",
            TrackingStatus::Cancelled => "cancelled",
            TrackingStatus::Unknown => "unknown",
        }
    }

    pub fn parse(value: &str) -> Option<TrackingStatus> {
        TrackingStatus::ALL
            .into_iter()
            .find(|s| s.as_str() == value)
    }

    /// Delivered, returned to sender or cancelled: nothing changes it any more, and nobody
    /// polls for it.
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            TrackingStatus::Delivered
                | TrackingStatus::ReturnedToSender
                | TrackingStatus::Cancelled
        )
    }

    /// How far along a parcel is. `None` for exceptions and unknown codes, which have no place
    /// in the progression.
    fn rank(self) -> Option<u8> {
        match self {
            TrackingStatus::PreTransit => Some(0),
            TrackingStatus::InTransit => Some(1),
            TrackingStatus::OutForDelivery
            | TrackingStatus::AvailableForPickup
            | TrackingStatus::DeliveryFailed => Some(2),
            TrackingStatus::Delivered
            | TrackingStatus::ReturnedToSender
            | TrackingStatus::Cancelled => Some(3),
            TrackingStatus::Exception | TrackingStatus::Unknown => None,
        }
    }
}

/// Where a shipment stands after some events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress {
    /// The status shown: the last event that counted, or an exception raised since.
    pub status: TrackingStatus,
    /// The rank reached (an exception does not lower it).
    rank: u8,
}

impl Default for Progress {
    fn default() -> Self {
        Progress::START
    }
}

impl Progress {
    /// A shipment with no events: pre-transit.
    pub const START: Progress = Progress {
        status: TrackingStatus::PreTransit,
        rank: 0,
    };

    /// Where a shipment whose fold is `status` stands, to fold later events onto; none for an
    /// exception (the rank reached before it is not known from the status alone).
    pub fn resume(status: TrackingStatus) -> Option<Progress> {
        status.rank().map(|rank| Progress { status, rank })
    }

    /// The progress after one more event, in the order of the events' instants.
    pub fn then(self, event: TrackingStatus) -> Progress {
        if self.status.is_terminal() {
            return self;
        }
        match event.rank() {
            None if event == TrackingStatus::Exception => Progress {
                status: TrackingStatus::Exception,
                rank: self.rank,
            },
            None => self,
            Some(rank) if rank >= self.rank => Progress {
                status: event,
                rank,
            },
            Some(_) => self,
        }
    }
}

/// The status of a shipment whose events are `events` (status and instant, in any order; ties
/// keep their given order, which is the order they were recorded in).
pub fn fold(events: &[(TrackingStatus, Timestamp)]) -> TrackingStatus {
    let mut ordered: Vec<&(TrackingStatus, Timestamp)> = events.iter().collect();
    ordered.sort_by_key(|(_, at)| *at);
    ordered
        .into_iter()
        .fold(Progress::START, |progress, (status, _)| {
            progress.then(*status)
        })
        .status
}

/// The status after `later` events (all after every event `status` was folded from), folded
/// on from `status` without the earlier events; none when that cannot be known (an exception).
pub fn fold_on(
    status: TrackingStatus,
    later: &[(TrackingStatus, Timestamp)],
) -> Option<TrackingStatus> {
    let mut ordered: Vec<&(TrackingStatus, Timestamp)> = later.iter().collect();
    ordered.sort_by_key(|(_, at)| *at);
    let start = Progress::resume(status)?;
    Some(
        ordered
            .into_iter()
            .fold(start, |progress, (event, _)| progress.then(*event))
            .status,
    )
}

/// The couriers Bursar tracks with. Always explicit on a shipment: tracking numbers are never
/// used to guess a carrier (Karrio's users found tracking sent to the wrong one that way).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Carrier {
    Dhl,
    Usps,
    CanadaPost,
    ChitChats,
    /// Sandbox only: driven by the API or `bursar couriers simulate`.
    TestCourier,
}

impl Carrier {
    pub const ALL: [Carrier; 5] = [
        Carrier::Dhl,
        Carrier::Usps,
        Carrier::CanadaPost,
        Carrier::ChitChats,
        Carrier::TestCourier,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Carrier::Dhl => "dhl",
            Carrier::Usps => "usps",
            Carrier::CanadaPost => "canada_post",
            Carrier::ChitChats => "chit_chats",
            Carrier::TestCourier => "test_courier",
        }
    }

    pub fn parse(value: &str) -> Option<Carrier> {
        Carrier::ALL.into_iter().find(|c| c.as_str() == value)
    }

    pub fn sandbox_only(self) -> bool {
        self == Carrier::TestCourier
    }
}

/// How an event reached Bursar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum TrackingSource {
    /// The carrier pushed it (a webhook).
    Push,
    /// The tracking worker asked the carrier.
    Poll,
    /// Someone recorded it through the API (the sandbox test courier, the simulator).
    Api,
}

impl TrackingSource {
    pub fn as_str(self) -> &'static str {
        match self {
            TrackingSource::Push => "push",
            TrackingSource::Poll => "poll",
            TrackingSource::Api => "api",
        }
    }

    pub fn parse(value: &str) -> Option<TrackingSource> {
        [
            TrackingSource::Push,
            TrackingSource::Poll,
            TrackingSource::Api,
        ]
        .into_iter()
        .find(|s| s.as_str() == value)
    }
}

/// One event a courier reported, as Bursar keeps it: append-only, with the carrier's raw code
/// beside its normalised status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct TrackingEvent {
    pub id: crate::id::TrackingEventId,
    /// Always `tracking_event`.
    pub object: String,
    pub shipment_id: crate::id::ShipmentId,
    pub carrier: Carrier,
    pub tracking_number: String,
    /// The carrier's own code, as given.
    pub code: String,
    pub description: String,
    pub status: TrackingStatus,
    /// When it happened, UTC.
    pub occurred_at: Timestamp,
    /// The offset from UTC where it happened, as the carrier gave it (`-05:00`).
    pub utc_offset: Option<String>,
    pub location: Option<String>,
    pub source: TrackingSource,
    /// When Bursar recorded it.
    pub recorded_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::TrackingStatus::*;
    use super::*;

    fn at(seconds: i64) -> Timestamp {
        Timestamp::from_unix_micros((1_700_000_000 + seconds) * 1_000_000)
    }

    #[test]
    fn names_round_trip() {
        for status in TrackingStatus::ALL {
            assert_eq!(TrackingStatus::parse(status.as_str()), Some(status));
            let json = serde_json::to_string(&status).unwrap();
            assert_eq!(json, format!("\"{}\"", status.as_str()));
        }
        for carrier in Carrier::ALL {
            assert_eq!(Carrier::parse(carrier.as_str()), Some(carrier));
        }
        assert_eq!(Carrier::parse("fedex"), None);
    }

    #[test]
    fn a_shipment_without_events_is_pre_transit() {
        assert_eq!(fold(&[]), PreTransit);
    }

    #[test]
    fn a_late_scan_never_undoes_delivery() {
        let events = [
            (InTransit, at(10)),
            (Delivered, at(30)),
            (OutForDelivery, at(20)),
        ];
        assert_eq!(fold(&events), Delivered);
        // Even when the late scan carries a later instant (a carrier's clock error).
        let events = [(Delivered, at(30)), (InTransit, at(40))];
        assert_eq!(fold(&events), Delivered);
    }

    #[test]
    fn events_count_in_the_order_of_their_instants() {
        let arrival = [(OutForDelivery, at(20)), (InTransit, at(10))];
        assert_eq!(fold(&arrival), OutForDelivery);
        let earlier_in_transit = [(InTransit, at(30)), (OutForDelivery, at(20))];
        assert_eq!(fold(&earlier_in_transit), OutForDelivery);
    }

    #[test]
    fn an_exception_is_raised_at_any_point_and_cleared_by_progress() {
        let held = [(InTransit, at(10)), (Exception, at(20))];
        assert_eq!(fold(&held), Exception);
        let released = [
            (InTransit, at(10)),
            (Exception, at(20)),
            (InTransit, at(30)),
        ];
        assert_eq!(fold(&released), InTransit);
        // An older scan arriving later does not clear it.
        let stale = [
            (OutForDelivery, at(10)),
            (Exception, at(20)),
            (InTransit, at(30)),
        ];
        assert_eq!(fold(&stale), Exception);
        // Nor does an exception reopen a terminal shipment.
        let after = [(Delivered, at(10)), (Exception, at(20))];
        assert_eq!(fold(&after), Delivered);
    }

    #[test]
    fn unknown_codes_change_nothing() {
        let events = [(InTransit, at(10)), (Unknown, at(20))];
        assert_eq!(fold(&events), InTransit);
    }

    #[test]
    fn a_failed_attempt_then_a_second_delivery_run() {
        let events = [
            (OutForDelivery, at(10)),
            (DeliveryFailed, at(20)),
            (InTransit, at(30)),
            (OutForDelivery, at(40)),
            (Delivered, at(50)),
        ];
        assert_eq!(fold(&events[..3]), DeliveryFailed);
        assert_eq!(fold(&events[..4]), OutForDelivery);
        assert_eq!(fold(&events), Delivered);
    }

    #[test]
    fn the_fold_does_not_depend_on_arrival_order() {
        let events = [
            (PreTransit, at(0)),
            (InTransit, at(10)),
            (Exception, at(15)),
            (InTransit, at(20)),
            (OutForDelivery, at(30)),
            (Delivered, at(40)),
        ];
        let expected = fold(&events);
        let mut shuffled = events.to_vec();
        for rotation in 0..events.len() {
            shuffled.rotate_left(1);
            shuffled.swap(0, rotation);
            assert_eq!(fold(&shuffled), expected);
        }
        assert_eq!(expected, Delivered);
    }

    #[test]
    fn folding_on_from_the_status_equals_folding_everything_unless_it_is_an_exception() {
        let events = [
            (PreTransit, at(0)),
            (InTransit, at(10)),
            (Exception, at(15)),
            (AvailableForPickup, at(20)),
            (InTransit, at(25)),
            (Unknown, at(27)),
            (DeliveryFailed, at(30)),
            (Delivered, at(40)),
            (InTransit, at(50)),
        ];
        for split in 0..=events.len() {
            let (earlier, later) = events.split_at(split);
            let status = fold(earlier);
            match fold_on(status, later) {
                Some(on) => assert_eq!(on, fold(&events), "split at {split}"),
                None => assert_eq!(status, Exception, "only an exception needs every event"),
            }
        }
    }
}
