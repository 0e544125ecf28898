//! A workspace's account at a carrier: what Bursar shows of it. The credentials themselves are
//! sealed beside it and never leave the store except to build a request.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tracking::Carrier;
use crate::id::CourierConnectionId;
use crate::time::Timestamp;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct CourierConnection {
    pub id: CourierConnectionId,
    /// Always `courier_connection`.
    pub object: String,
    pub carrier: Carrier,
    pub name: Option<String>,
    /// Where the carrier's API is; none for the test courier, which pushes every event.
    pub api_base: Option<String>,
    /// The last four characters of the API key, client id or user name.
    pub key_last4: Option<String>,
    /// The carrier's account or client id, when it has one (Chit Chats).
    pub account: Option<String>,
    /// The last four characters of each key pushed events are signed with (USPS, the test
    /// courier).
    pub push_secret_last4: Vec<String>,
    /// Where the carrier pushes events: `POST /v1/courier_webhooks/{id}`.
    pub push_url_path: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// Where each carrier's production API is.
pub fn default_api_base(carrier: Carrier) -> Option<&'static str> {
    match carrier {
        Carrier::Dhl => Some("https://api-eu.dhl.com"),
        Carrier::Usps => Some("https://apis.usps.com"),
        Carrier::CanadaPost => Some("https://soa-gw.canadapost.ca"),
        Carrier::ChitChats => Some("https://chitchats.com"),
        Carrier::TestCourier => None,
    }
}

/// The credentials a carrier needs: the connection's field (`key`, `secret`, `account`) and
/// what the carrier calls it.
pub fn required_credentials(carrier: Carrier) -> &'static [(&'static str, &'static str)] {
    match carrier {
        Carrier::Dhl => &[("key", "API key")],
        Carrier::Usps => &[("key", "OAuth client id"), ("secret", "client secret")],
        Carrier::CanadaPost => &[("key", "API user name"), ("secret", "password")],
        Carrier::ChitChats => &[("key", "access token"), ("account", "client id")],
        Carrier::TestCourier => &[],
    }
}

/// Whether the carrier pushes signed events Bursar can verify.
pub fn pushes(carrier: Carrier) -> bool {
    matches!(carrier, Carrier::Usps | Carrier::TestCourier)
}

/// What a carrier's push did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct PushReceipt {
    /// Always `courier_push_receipt`.
    pub object: &'static str,
    /// Events recorded now (known ones are not counted again).
    pub recorded: usize,
    /// Tracking numbers the workspace has no live shipment for.
    pub unknown_tracking_numbers: Vec<String>,
}
