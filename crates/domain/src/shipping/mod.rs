//! Physical fulfillment: shipments, the carriers that move them and the tracking statuses
//! their events normalise to.

pub mod automation;
pub mod connection;
pub mod devices;
pub mod metrics;
pub mod returns;
pub mod shipment;
pub mod timeline;
pub mod tracking;

pub use automation::*;
pub use connection::*;
pub use devices::*;
pub use metrics::*;
pub use shipment::*;
pub use timeline::*;
pub use tracking::*;
