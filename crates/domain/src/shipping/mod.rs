//! Physical fulfillment: shipments, the carriers that move them and the tracking statuses
//! their events normalise to.

pub mod automation;
pub mod connection;
pub mod devices;
pub mod shipment;
pub mod tracking;

pub use automation::*;
pub use connection::*;
pub use devices::*;
pub use shipment::*;
pub use tracking::*;
