//! Serialised devices and who holds them. A serialised product's units are devices known by
//! serial number; a shipment records which devices it carries, and the assignment history —
//! which customer (and company) held a device, and in which of their assets it was installed,
//! from when to when — is authoritative. Deliveries, replacements and returns change it through
//! the automation scenario's `devices` step; installing a device in an asset is the API's.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::id::{
    AutomationRunId, CompanyId, CustomerId, DeviceAssignmentId, DeviceId, ProductId, ShipmentId,
};
use crate::time::Timestamp;
use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeviceStatus {
    /// In the merchant's stock.
    InStock,
    /// In an outbound parcel not yet delivered.
    Shipped,
    /// Held by a customer (an open assignment).
    Assigned,
    /// Still with the customer, but a replacement took its place: nothing is assigned to it.
    Replaced,
    /// In a return parcel on its way back.
    Returning,
}

impl DeviceStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            DeviceStatus::InStock => "in_stock",
            DeviceStatus::Shipped => "shipped",
            DeviceStatus::Assigned => "assigned",
            DeviceStatus::Replaced => "replaced",
            DeviceStatus::Returning => "returning",
        }
    }
}

/// Who holds a device: a customer, and their company when the order had one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Holder {
    pub customer_id: CustomerId,
    pub company_id: Option<CompanyId>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: DeviceId,
    /// Always `device`.
    pub object: String,
    pub serial_number: String,
    pub product_id: ProductId,
    pub status: DeviceStatus,
    /// Who holds it now (its open company assignment).
    pub holder: Option<Holder>,
    /// The asset it is installed in now (its open asset assignment).
    pub asset: Option<String>,
    /// The last shipment that carried it.
    pub shipment_id: Option<ShipmentId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// What a device is assigned to in one window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentKind {
    /// Held by a customer and their company.
    Company,
    /// Installed in one of the holder's assets.
    Asset,
}

/// Why an assignment window opened or closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AssignmentReason {
    /// A parcel carrying it was delivered.
    Delivered,
    /// It replaced another device (opening), or another device replaced it (closing).
    Replacement,
    /// It came back in a return.
    Returned,
    /// Installed in, or removed from, an asset through the API.
    Installed,
    Removed,
}

/// What opened or closed a window.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct AssignmentCause {
    pub reason: AssignmentReason,
    pub shipment_id: Option<ShipmentId>,
    pub automation_run_id: Option<AutomationRunId>,
    /// The device it replaced, or that replaced it.
    pub other_device_id: Option<DeviceId>,
}

impl AssignmentCause {
    pub fn new(reason: AssignmentReason) -> Self {
        AssignmentCause {
            reason,
            shipment_id: None,
            automation_run_id: None,
            other_device_id: None,
        }
    }
}

/// One window of a device's history: `from` until `to` (open while `to` is none).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeviceAssignment {
    pub id: DeviceAssignmentId,
    /// Always `device_assignment`.
    pub object: String,
    pub device_id: DeviceId,
    pub serial_number: String,
    pub kind: AssignmentKind,
    pub customer_id: CustomerId,
    pub company_id: Option<CompanyId>,
    /// The asset (kind `asset`).
    pub asset: Option<String>,
    pub from: Timestamp,
    pub to: Option<Timestamp>,
    pub opened_by: AssignmentCause,
    pub closed_by: Option<AssignmentCause>,
}

impl DeviceAssignment {
    /// A window opening now.
    pub fn open(
        device: &Device,
        holder: &Holder,
        asset: Option<String>,
        opened_by: AssignmentCause,
        now: Timestamp,
    ) -> Self {
        DeviceAssignment {
            id: DeviceAssignmentId::new(),
            object: "device_assignment".into(),
            device_id: device.id.clone(),
            serial_number: device.serial_number.clone(),
            kind: if asset.is_some() {
                AssignmentKind::Asset
            } else {
                AssignmentKind::Company
            },
            customer_id: holder.customer_id.clone(),
            company_id: holder.company_id.clone(),
            asset,
            from: now,
            to: None,
            opened_by,
            closed_by: None,
        }
    }

    pub fn is_open(&self) -> bool {
        self.to.is_none()
    }

    /// Closes an open window now.
    pub fn close(&mut self, closed_by: AssignmentCause, now: Timestamp) {
        if self.to.is_none() {
            self.to = Some(now);
            self.closed_by = Some(closed_by);
        }
    }
}

/// A device cannot do what was asked in its status.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unavailable {
    pub serial_number: String,
    pub status: DeviceStatus,
    pub message: String,
}

fn unavailable(device: &Device, message: impl Into<String>) -> Unavailable {
    Unavailable {
        serial_number: device.serial_number.clone(),
        status: device.status,
        message: message.into(),
    }
}

impl Device {
    /// Put in an outbound parcel: only from stock.
    pub fn ship(&mut self, shipment: &ShipmentId, now: Timestamp) -> Result<(), Unavailable> {
        if self.status != DeviceStatus::InStock {
            return Err(unavailable(
                self,
                format!(
                    "Device {} is {}; only a device in stock can be shipped.",
                    self.serial_number,
                    self.status.as_str()
                ),
            ));
        }
        self.status = DeviceStatus::Shipped;
        self.shipment_id = Some(shipment.clone());
        self.updated_at = now;
        Ok(())
    }

    /// Put in a return parcel: only a device the customer has (assigned or replaced).
    pub fn send_back(&mut self, customer: &CustomerId, now: Timestamp) -> Result<(), Unavailable> {
        let theirs = match self.status {
            DeviceStatus::Assigned => {
                self.holder.as_ref().map(|h| &h.customer_id) == Some(customer)
            }
            DeviceStatus::Replaced => true,
            _ => false,
        };
        if !theirs {
            return Err(unavailable(
                self,
                format!(
                    "Device {} is {}; only a device this customer holds can be returned.",
                    self.serial_number,
                    self.status.as_str()
                ),
            ));
        }
        self.status = DeviceStatus::Returning;
        self.updated_at = now;
        Ok(())
    }

    /// Its parcel was cancelled before pickup: back where it was.
    pub fn unship(&mut self, now: Timestamp) {
        self.status = match self.status {
            DeviceStatus::Shipped => DeviceStatus::InStock,
            DeviceStatus::Returning if self.holder.is_some() => DeviceStatus::Assigned,
            DeviceStatus::Returning => DeviceStatus::Replaced,
            other => other,
        };
        self.updated_at = now;
    }
}

/// The most characters of an asset's name.
pub const ASSET_MAX: usize = 120;

/// An asset's name (the customer's own: a vehicle, a building, a machine), trimmed.
pub fn parse_asset(param: &str, value: &str) -> Result<String, ValidationError> {
    let trimmed = value.trim();
    if trimmed.is_empty()
        || trimmed.chars().count() > ASSET_MAX
        || trimmed.chars().any(char::is_control)
    {
        return Err(ValidationError::invalid(
            param,
            format!("An asset is named by 1 to {ASSET_MAX} printable characters."),
        ));
    }
    Ok(trimmed.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn device(status: DeviceStatus) -> Device {
        Device {
            id: DeviceId::new(),
            object: "device".into(),
            serial_number: "SN-1".into(),
            product_id: ProductId::new(),
            status,
            holder: None,
            asset: None,
            shipment_id: None,
            created_at: Timestamp::from_unix_micros(0),
            updated_at: Timestamp::from_unix_micros(0),
        }
    }

    #[test]
    fn only_stock_ships_and_cancelling_puts_it_back() {
        let now = Timestamp::from_unix_micros(1);
        let shipment = ShipmentId::new();
        let mut d = device(DeviceStatus::InStock);
        d.ship(&shipment, now).unwrap();
        assert_eq!(d.status, DeviceStatus::Shipped);
        let refused = d.ship(&shipment, now).unwrap_err();
        assert_eq!(refused.status, DeviceStatus::Shipped);
        d.unship(now);
        assert_eq!(d.status, DeviceStatus::InStock);
    }

    #[test]
    fn only_the_holders_devices_come_back() {
        let now = Timestamp::from_unix_micros(1);
        let customer = CustomerId::new();
        let mut d = device(DeviceStatus::Assigned);
        d.holder = Some(Holder {
            customer_id: customer.clone(),
            company_id: None,
        });
        assert!(d.clone().send_back(&CustomerId::new(), now).is_err());
        d.send_back(&customer, now).unwrap();
        assert_eq!(d.status, DeviceStatus::Returning);
        d.unship(now);
        assert_eq!(d.status, DeviceStatus::Assigned);
        let mut replaced = device(DeviceStatus::Replaced);
        replaced.send_back(&customer, now).unwrap();
        replaced.unship(now);
        assert_eq!(replaced.status, DeviceStatus::Replaced);
        assert!(device(DeviceStatus::InStock)
            .send_back(&customer, now)
            .is_err());
    }

    #[test]
    fn a_window_closes_once() {
        let d = device(DeviceStatus::Shipped);
        let holder = Holder {
            customer_id: CustomerId::new(),
            company_id: Some(CompanyId::new()),
        };
        let mut w = DeviceAssignment::open(
            &d,
            &holder,
            None,
            AssignmentCause::new(AssignmentReason::Delivered),
            Timestamp::from_unix_micros(5),
        );
        assert_eq!(w.kind, AssignmentKind::Company);
        w.close(
            AssignmentCause::new(AssignmentReason::Returned),
            Timestamp::from_unix_micros(9),
        );
        w.close(
            AssignmentCause::new(AssignmentReason::Removed),
            Timestamp::from_unix_micros(11),
        );
        assert_eq!(w.to, Some(Timestamp::from_unix_micros(9)));
        assert_eq!(w.closed_by.unwrap().reason, AssignmentReason::Returned);
        assert_eq!(parse_asset("asset", "  Truck 17 ").unwrap(), "Truck 17");
        assert!(parse_asset("asset", " ").is_err());
    }
}
