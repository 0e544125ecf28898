//! Physical fulfillment: shipments, the carriers that move them and the tracking statuses
//! their events normalise to.

pub mod automation;
pub mod connection;
pub mod shipment;
pub mod tracking;

pub use automation::*;
pub use connection::*;
pub use shipment::*;
pub use tracking::*;
