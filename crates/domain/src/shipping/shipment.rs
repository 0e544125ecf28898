//! Shipments: parcels of an order's physical lines on their way to the customer, or back from
//! them (a return). Allocation keeps an order from shipping more than was ordered, or a return
//! from bringing back more than was shipped.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::tracking::{Carrier, TrackingStatus};
use crate::commerce::{Address, PricedLine, ProductKind};
use crate::id::*;
use crate::metadata::Metadata;
use crate::time::Timestamp;
use crate::ValidationError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShipmentDirection {
    /// To the customer.
    Outbound,
    /// Back from the customer (an RMA).
    Return,
}

impl ShipmentDirection {
    pub fn as_str(self) -> &'static str {
        match self {
            ShipmentDirection::Outbound => "outbound",
            ShipmentDirection::Return => "return",
        }
    }
}

/// Units of one product in a shipment.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ShipmentLine {
    pub product_id: ProductId,
    #[schema(minimum = 1)]
    pub quantity: i64,
    /// The serial numbers of the devices in the parcel (serialised products), one per unit.
    #[serde(default)]
    pub serial_numbers: Vec<String>,
}

/// One parcel. Weights in grams and sizes in millimetres: integers, never floats.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Package {
    #[schema(minimum = 1, maximum = 1_000_000)]
    pub weight_grams: i64,
    #[schema(minimum = 1, maximum = 10_000)]
    pub length_mm: Option<i64>,
    #[schema(minimum = 1, maximum = 10_000)]
    pub width_mm: Option<i64>,
    #[schema(minimum = 1, maximum = 10_000)]
    pub height_mm: Option<i64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Shipment {
    pub id: ShipmentId,
    /// Always `shipment`.
    pub object: String,
    pub order_id: OrderId,
    pub customer_id: CustomerId,
    pub company_id: Option<CompanyId>,
    pub direction: ShipmentDirection,
    /// For a return: the shipment that brought the goods.
    pub return_of: Option<ShipmentId>,
    /// For a replacement: the serial numbers of the devices its devices replace.
    #[serde(default)]
    pub replaces: Vec<String>,
    pub carrier: Carrier,
    /// The carrier's service (`express`, `ground_advantage`).
    pub service: Option<String>,
    pub tracking_number: String,
    /// The fold of the shipment's tracking events.
    pub status: TrackingStatus,
    pub lines: Vec<ShipmentLine>,
    /// The devices it carries: the units of serialised products, by their serial numbers in
    /// `lines`.
    #[serde(default)]
    pub devices: Vec<DeviceId>,
    pub packages: Vec<Package>,
    pub ship_from: Option<Address>,
    pub ship_to: Option<Address>,
    /// The label's reference at the carrier or the label printer.
    pub label_reference: Option<String>,
    /// The automation scenario run once the parcel is delivered, when the workspace defines
    /// it: `first_time` for outbound parcels and `return` for returns unless another is named.
    #[serde(default)]
    pub automation_scenario: Option<String>,
    /// The instant of the newest event the carrier reported.
    pub last_event_at: Option<Timestamp>,
    pub delivered_at: Option<Timestamp>,
    /// When the tracking worker next asks the carrier; none once terminal, or for a carrier
    /// that pushes every event (the test courier).
    pub next_poll_at: Option<Timestamp>,
    pub metadata: Metadata,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The largest quantity of one line.
pub const QUANTITY_MAX: i64 = 1_000_000;
/// The longest tracking number any supported carrier issues is 34 characters (USPS IMpb with
/// routing); more is a mistake.
pub const TRACKING_NUMBER_MAX: usize = 40;

/// A tracking number as carriers print it: letters and digits, spaces removed, upper case.
pub fn parse_tracking_number(param: &str, value: &str) -> Result<String, ValidationError> {
    let number: String = value
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect::<String>()
        .to_ascii_uppercase();
    if number.is_empty() || number.len() > TRACKING_NUMBER_MAX {
        return Err(ValidationError::invalid(
            param,
            format!("A tracking number has 1 to {TRACKING_NUMBER_MAX} letters and digits."),
        ));
    }
    if !number.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(ValidationError::invalid(
            param,
            "A tracking number has only letters and digits.",
        ));
    }
    Ok(number)
}

/// Units per product: how many the order's physical lines hold.
pub fn physical_quantities(lines: &[PricedLine]) -> BTreeMap<ProductId, i64> {
    let mut ordered = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l.product_kind == ProductKind::Physical)
    {
        *ordered.entry(line.product_id.clone()).or_insert(0) += line.quantity;
    }
    ordered
}

/// Units per product in `shipments` of `direction` (cancelled ones do not count).
pub fn shipped_quantities(
    shipments: &[Shipment],
    direction: ShipmentDirection,
) -> BTreeMap<ProductId, i64> {
    let mut shipped = BTreeMap::new();
    // A replacement's units take the place of units shipped already: they count for nothing.
    for shipment in shipments.iter().filter(|s| {
        s.direction == direction && s.status != TrackingStatus::Cancelled && s.replaces.is_empty()
    }) {
        for line in &shipment.lines {
            *shipped.entry(line.product_id.clone()).or_insert(0) += line.quantity;
        }
    }
    shipped
}

/// What a new shipment may carry: `requested` lines checked against `available` units per
/// product (ordered minus shipped for an outbound shipment; shipped minus returned for a
/// return). No lines asks for everything still available.
pub fn allocate(
    requested: Vec<ShipmentLine>,
    available: &BTreeMap<ProductId, i64>,
) -> Result<Vec<ShipmentLine>, ValidationError> {
    if requested.is_empty() {
        let remaining: Vec<ShipmentLine> = available
            .iter()
            .filter(|(_, &units)| units > 0)
            .map(|(product_id, &quantity)| ShipmentLine {
                product_id: product_id.clone(),
                quantity,
                serial_numbers: Vec::new(),
            })
            .collect();
        if remaining.is_empty() {
            return Err(ValidationError::invalid(
                "lines",
                "Nothing of this order is left to ship: every physical unit is allocated.",
            ));
        }
        return Ok(remaining);
    }
    let mut taken: BTreeMap<&ProductId, i64> = BTreeMap::new();
    for (i, line) in requested.iter().enumerate() {
        check_line(i, line)?;
        let units = taken.entry(&line.product_id).or_insert(0);
        *units += line.quantity;
        let open = available.get(&line.product_id).copied().unwrap_or(0);
        if *units > open {
            return Err(ValidationError::invalid(
                format!("lines[{i}].quantity"),
                format!(
                    "Only {open} unit(s) of {} are left to allocate; this shipment asks for {}.",
                    line.product_id, units
                ),
            ));
        }
    }
    Ok(requested)
}

fn check_line(i: usize, line: &ShipmentLine) -> Result<(), ValidationError> {
    if !(1..=QUANTITY_MAX).contains(&line.quantity) {
        return Err(ValidationError::invalid(
            format!("lines[{i}].quantity"),
            format!("A quantity is between 1 and {QUANTITY_MAX}."),
        ));
    }
    if !line.serial_numbers.is_empty() && line.serial_numbers.len() as i64 != line.quantity {
        return Err(ValidationError::invalid(
            format!("lines[{i}].serial_numbers"),
            "Give one serial number per unit, or none.",
        ));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (j, serial) in line.serial_numbers.iter().enumerate() {
        let param = format!("lines[{i}].serial_numbers[{j}]");
        parse_serial_number(&param, serial)?;
        if !seen.insert(serial) {
            return Err(ValidationError::invalid(
                param,
                "Each serial number appears once.",
            ));
        }
    }
    Ok(())
}

/// A device's serial number: 1 to 64 letters, digits and dashes.
pub fn parse_serial_number(param: &str, value: &str) -> Result<String, ValidationError> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(ValidationError::invalid(
            param,
            "A serial number has 1 to 64 letters, digits and dashes.",
        ));
    }
    Ok(value.to_owned())
}

/// Checks a parcel's measurements.
pub fn check_package(i: usize, package: &Package) -> Result<(), ValidationError> {
    if !(1..=1_000_000).contains(&package.weight_grams) {
        return Err(ValidationError::invalid(
            format!("packages[{i}].weight_grams"),
            "A parcel weighs between 1 g and 1,000 kg.",
        ));
    }
    let sides = [
        ("length_mm", package.length_mm),
        ("width_mm", package.width_mm),
        ("height_mm", package.height_mm),
    ];
    for (name, side) in sides {
        if side.is_some_and(|mm| !(1..=10_000).contains(&mm)) {
            return Err(ValidationError::invalid(
                format!("packages[{i}].{name}"),
                "A side measures between 1 and 10,000 mm.",
            ));
        }
    }
    Ok(())
}

/// When the tracking worker should next ask the carrier about a shipment in `status`: often
/// near the door, rarely before the carrier has it, never once it is final.
pub fn next_poll(status: TrackingStatus, now: Timestamp) -> Option<Timestamp> {
    let minutes = match status {
        s if s.is_terminal() => return None,
        TrackingStatus::OutForDelivery
        | TrackingStatus::AvailableForPickup
        | TrackingStatus::DeliveryFailed => 30,
        TrackingStatus::Exception => 60,
        TrackingStatus::InTransit | TrackingStatus::Unknown => 120,
        _ => 360,
    };
    Some(now.plus_seconds(minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn product(n: u8) -> ProductId {
        ProductId::from_trusted(format!("prod_0{n}"))
    }

    fn line(n: u8, quantity: i64) -> ShipmentLine {
        ShipmentLine {
            product_id: product(n),
            quantity,
            serial_numbers: Vec::new(),
        }
    }

    #[test]
    fn no_lines_takes_what_is_left() {
        let available = BTreeMap::from([(product(1), 2), (product(2), 0)]);
        assert_eq!(allocate(vec![], &available).unwrap(), vec![line(1, 2)]);
        let none = BTreeMap::from([(product(1), 0)]);
        assert_eq!(allocate(vec![], &none).unwrap_err().param, "lines");
    }

    #[test]
    fn a_shipment_never_carries_more_than_is_left() {
        let available = BTreeMap::from([(product(1), 3)]);
        assert!(allocate(vec![line(1, 3)], &available).is_ok());
        let split = allocate(vec![line(1, 2), line(1, 2)], &available).unwrap_err();
        assert_eq!(split.param, "lines[1].quantity");
        let other = allocate(vec![line(2, 1)], &available).unwrap_err();
        assert_eq!(other.param, "lines[0].quantity");
        let zero = allocate(vec![line(1, 0)], &available).unwrap_err();
        assert_eq!(zero.param, "lines[0].quantity");
    }

    #[test]
    fn serial_numbers_are_one_per_unit_and_distinct() {
        let available = BTreeMap::from([(product(1), 3)]);
        let mut two = line(1, 2);
        two.serial_numbers = vec!["SN-1".into(), "SN-2".into()];
        assert!(allocate(vec![two.clone()], &available).is_ok());
        two.serial_numbers = vec!["SN-1".into()];
        let short = allocate(vec![two.clone()], &available).unwrap_err();
        assert_eq!(short.param, "lines[0].serial_numbers");
        two.serial_numbers = vec!["SN-1".into(), "SN-1".into()];
        let twice = allocate(vec![two], &available).unwrap_err();
        assert_eq!(twice.param, "lines[0].serial_numbers[1]");
    }

    #[test]
    fn tracking_numbers_are_normalised() {
        assert_eq!(
            parse_tracking_number("t", " 9400 1000 0000 0000 0000 00 ").unwrap(),
            "9400100000000000000000"
        );
        assert_eq!(parse_tracking_number("t", "lx123ca").unwrap(), "LX123CA");
        assert!(parse_tracking_number("t", "").is_err());
        assert!(parse_tracking_number("t", "12-34").is_err());
        assert!(parse_tracking_number("t", &"9".repeat(41)).is_err());
    }

    #[test]
    fn polling_slows_before_the_carrier_and_stops_at_the_end() {
        let now = Timestamp::from_unix_micros(0);
        let minutes = |s| next_poll(s, now).map(|t| t.unix_micros() / 60_000_000);
        assert_eq!(minutes(TrackingStatus::PreTransit), Some(360));
        assert_eq!(minutes(TrackingStatus::InTransit), Some(120));
        assert_eq!(minutes(TrackingStatus::OutForDelivery), Some(30));
        assert_eq!(minutes(TrackingStatus::Delivered), None);
        assert_eq!(minutes(TrackingStatus::Cancelled), None);
    }
}
