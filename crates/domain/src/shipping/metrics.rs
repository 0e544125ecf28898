//! The figures a support team's KPI bar shows about orders and their fulfillment, from counts
//! of orders by status and shipments by direction and status.

use serde::Serialize;
use utoipa::ToSchema;

use crate::time::Timestamp;

use super::TrackingStatus;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct OrderMetrics {
    /// Always `order_metrics`.
    pub object: &'static str,
    /// Orders waiting for their payment: at the checkout or processing.
    pub outstanding_orders: i64,
    /// Orders whose payment failed (the buyer may try again).
    pub payment_failures: i64,
    /// Paid orders not fulfilled yet (partly refunded ones included).
    pub active_fulfillments: i64,
    /// Outbound parcels on their way: not delivered, returned or cancelled.
    pub shipments_in_flight: i64,
    /// Parcels (either way) whose carrier reports an exception.
    pub shipment_exceptions: i64,
    /// Returns not received yet.
    pub returns_pending: i64,
    /// Automation runs waiting for support (manual tasks).
    pub manual_tasks: i64,
    pub as_of: Timestamp,
}

impl OrderMetrics {
    /// The figures from counts of orders per status, shipments per (direction, status), and
    /// the manual tasks waiting.
    pub fn from_counts(
        orders: &[(String, i64)],
        shipments: &[(String, String, i64)],
        manual_tasks: i64,
        as_of: Timestamp,
    ) -> Self {
        let orders_in = |statuses: &[&str]| -> i64 {
            orders
                .iter()
                .filter(|(s, _)| statuses.contains(&s.as_str()))
                .map(|(_, n)| n)
                .sum()
        };
        let moving = |status: &str| TrackingStatus::parse(status).is_some_and(|s| !s.is_terminal());
        let shipments_where = |keep: &dyn Fn(&str, &str) -> bool| -> i64 {
            shipments
                .iter()
                .filter(|(direction, status, _)| keep(direction, status))
                .map(|(_, _, n)| n)
                .sum()
        };
        OrderMetrics {
            object: "order_metrics",
            outstanding_orders: orders_in(&["checkout_open", "payment_processing"]),
            payment_failures: orders_in(&["payment_failed"]),
            active_fulfillments: orders_in(&["paid", "partially_refunded"]),
            shipments_in_flight: shipments_where(&|d, s| d == "outbound" && moving(s)),
            shipment_exceptions: shipments_where(&|_, s| s == "exception"),
            returns_pending: shipments_where(&|d, s| d == "return" && moving(s)),
            manual_tasks,
            as_of,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_figures_add_up_the_right_counts() {
        let orders = [
            ("checkout_open".to_owned(), 2),
            ("payment_processing".to_owned(), 1),
            ("payment_failed".to_owned(), 4),
            ("paid".to_owned(), 5),
            ("partially_refunded".to_owned(), 1),
            ("fulfilled".to_owned(), 9),
        ];
        let shipments = [
            ("outbound".to_owned(), "in_transit".to_owned(), 3),
            ("outbound".to_owned(), "exception".to_owned(), 1),
            ("outbound".to_owned(), "delivered".to_owned(), 7),
            ("outbound".to_owned(), "cancelled".to_owned(), 2),
            ("return".to_owned(), "pre_transit".to_owned(), 1),
            ("return".to_owned(), "exception".to_owned(), 1),
            ("return".to_owned(), "delivered".to_owned(), 1),
        ];
        let at = Timestamp::from_unix_micros(0);
        let m = OrderMetrics::from_counts(&orders, &shipments, 2, at);
        assert_eq!(
            (
                m.outstanding_orders,
                m.payment_failures,
                m.active_fulfillments
            ),
            (3, 4, 6)
        );
        assert_eq!(
            (
                m.shipments_in_flight,
                m.shipment_exceptions,
                m.returns_pending,
                m.manual_tasks
            ),
            (4, 2, 2, 2)
        );
    }
}
