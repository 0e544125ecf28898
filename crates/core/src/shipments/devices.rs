//! Serialised devices: registered in stock (or first met on a shipment), put in parcels, and
//! their assignment history changed by deliveries through the automation's `devices` step
//! (outbound: assigned to the customer; a replacement: the replaced devices' windows closed
//! and their assets taken over; a return: back to stock) and by installing them in assets.

use std::collections::BTreeMap;

use bursar_domain::commerce::{Order, Product, ProductKind};
use bursar_domain::event_type;
use bursar_domain::id::{AutomationRunId, DeviceId, ProductId, WorkspaceId};
use bursar_domain::shipping::*;
use bursar_domain::time::Timestamp;
use bursar_store::documents::{self, DEVICE, DEVICE_ASSIGNMENT, PRODUCT};
use bursar_store::{Tx, Value};

use crate::error::Error;
use crate::write::Context;
use crate::App;

fn columns(device: &Device) -> [(&'static str, Value); 3] {
    [
        ("serial_number", device.serial_number.as_str().into()),
        ("status", device.status.as_str().into()),
        (
            "company_id",
            device
                .holder
                .as_ref()
                .and_then(|h| h.company_id.as_ref())
                .map(|c| c.as_str())
                .into(),
        ),
    ]
}

async fn save(cx: &mut Context<'_>, device: &Device) -> Result<(), Error> {
    let id = device.id.as_str();
    documents::save(cx.tx, DEVICE, cx.workspace_id, id, device, &columns(device)).await?;
    Ok(())
}

async fn insert(cx: &mut Context<'_>, device: &Device) -> Result<(), Error> {
    let id = device.id.as_str();
    documents::insert(cx.tx, DEVICE, cx.workspace_id, id, device, &columns(device)).await?;
    Ok(())
}

/// The device with `serial`, locked (PostgreSQL) for the rest of the write.
async fn by_serial(cx: &mut Context<'_>, serial: &str) -> Result<Option<Device>, Error> {
    let found: Vec<Device> =
        documents::find_in(cx.tx, DEVICE, cx.workspace_id, "serial_number", &[serial]).await?;
    let Some(device) = found.into_iter().next() else {
        return Ok(None);
    };
    Ok(documents::get(cx.tx, DEVICE, cx.workspace_id, device.id.as_str(), true).await?)
}

/// A product that must be physical and serialised, naming `param`.
async fn serialised_product(
    cx: &mut Context<'_>,
    product_id: &str,
    param: &str,
) -> Result<Product, Error> {
    let product: Product = crate::lookup::get_in(cx, PRODUCT, "product", product_id, param).await?;
    if product.kind != ProductKind::Physical || !product.serialized {
        return Err(Error::invalid(
            "product_not_serialized",
            Some(param.to_owned()),
            format!(
                "Product {} is not a serialised physical product.",
                product.id
            ),
        ));
    }
    Ok(product)
}

fn new_device(serial: &str, product_id: ProductId, cx: &Context<'_>) -> Device {
    Device {
        id: DeviceId::new(),
        object: "device".into(),
        serial_number: serial.to_owned(),
        product_id,
        status: DeviceStatus::InStock,
        holder: None,
        asset: None,
        shipment_id: None,
        created_at: cx.now,
        updated_at: cx.now,
    }
}

/// Registers a device in stock (`device.created`); a serial number names one device.
pub async fn register(
    cx: &mut Context<'_>,
    serial_number: String,
    product_id: String,
) -> Result<Device, Error> {
    let serial = parse_serial_number("serial_number", &serial_number)?;
    let product = serialised_product(cx, &product_id, "product_id").await?;
    if let Some(other) = by_serial(cx, &serial).await? {
        return Err(Error::state(
            "serial_number_in_use",
            other.status.as_str(),
            format!("Serial number {serial} is device {} already.", other.id),
        )
        .with_param("serial_number"));
    }
    let device = new_device(&serial, product.id, cx);
    insert(cx, &device).await?;
    let id = device.id.as_str();
    cx.emit_object(event_type::DEVICE_CREATED, "device", id, &device)
        .await?;
    Ok(device)
}

/// The serialised products among `product_ids`.
async fn serialised_among(
    cx: &mut Context<'_>,
    product_ids: impl Iterator<Item = &ProductId>,
) -> Result<Vec<ProductId>, Error> {
    let ids: Vec<&str> = product_ids.map(|p| p.as_str()).collect();
    let products: Vec<Product> =
        documents::find_in(cx.tx, PRODUCT, cx.workspace_id, "object_id", &ids).await?;
    Ok(products
        .into_iter()
        .filter(|p| p.serialized && p.kind == ProductKind::Physical)
        .map(|p| p.id)
        .collect())
}

fn unavailable(refused: Unavailable, param: String) -> Error {
    Error::state(
        "device_unavailable",
        refused.status.as_str(),
        refused.message,
    )
    .with_param(param)
}

/// Puts the serialised units of a new shipment's lines in it: each line of a serialised
/// product names one serial number per unit; an outbound parcel takes devices from stock
/// (registering serial numbers met for the first time), a return takes back devices the
/// customer holds that came in `origin`. The devices' ids, in line order.
pub(super) async fn load(
    cx: &mut Context<'_>,
    shipment: &Shipment,
    origin: Option<&Shipment>,
) -> Result<Vec<DeviceId>, Error> {
    let serialised = serialised_among(cx, shipment.lines.iter().map(|l| &l.product_id)).await?;
    let mut loaded = Vec::new();
    for (i, line) in shipment.lines.iter().enumerate() {
        if !serialised.contains(&line.product_id) {
            continue;
        }
        if line.serial_numbers.len() as i64 != line.quantity {
            return Err(Error::invalid(
                "parameter_invalid",
                Some(format!("lines[{i}].serial_numbers")),
                format!(
                    "Product {} is serialised: give one serial number per unit.",
                    line.product_id
                ),
            ));
        }
        for (j, serial) in line.serial_numbers.iter().enumerate() {
            let param = format!("lines[{i}].serial_numbers[{j}]");
            let device = load_one(cx, shipment, origin, (serial, &line.product_id), &param).await?;
            loaded.push(device);
        }
    }
    Ok(loaded)
}

async fn load_one(
    cx: &mut Context<'_>,
    shipment: &Shipment,
    origin: Option<&Shipment>,
    (serial, product_id): (&str, &ProductId),
    param: &str,
) -> Result<DeviceId, Error> {
    let existing = by_serial(cx, serial).await?;
    if let Some(device) = &existing {
        if &device.product_id != product_id {
            return Err(Error::invalid(
                "parameter_invalid",
                Some(param.to_owned()),
                format!(
                    "Device {serial} is a unit of product {}.",
                    device.product_id
                ),
            ));
        }
    }
    let mut device = match (shipment.direction, existing) {
        (ShipmentDirection::Outbound, Some(mut device)) => {
            device
                .ship(&shipment.id, cx.now)
                .map_err(|e| unavailable(e, param.to_owned()))?;
            device
        }
        (ShipmentDirection::Outbound, None) => {
            let mut device = new_device(serial, product_id.clone(), cx);
            device
                .ship(&shipment.id, cx.now)
                .map_err(|e| unavailable(e, param.to_owned()))?;
            insert(cx, &device).await?;
            return Ok(device.id);
        }
        (ShipmentDirection::Return, Some(mut device))
            if origin.is_some_and(|o| o.devices.contains(&device.id)) =>
        {
            device
                .send_back(&shipment.customer_id, cx.now)
                .map_err(|e| unavailable(e, param.to_owned()))?;
            device
        }
        (ShipmentDirection::Return, _) => {
            return Err(Error::invalid(
                "parameter_invalid",
                Some(param.to_owned()),
                format!("Device {serial} did not come in the shipment this returns."),
            ));
        }
    };
    device.updated_at = cx.now;
    save(cx, &device).await?;
    Ok(device.id)
}

/// The most devices one replacement replaces.
pub const REPLACES_MAX: usize = 100;

/// The units per product a replacement may ship: one per replaced device, each one this
/// customer holds now.
pub(super) async fn replaceable(
    cx: &mut Context<'_>,
    order: &Order,
    replaces: &[String],
) -> Result<BTreeMap<ProductId, i64>, Error> {
    if replaces.len() > REPLACES_MAX {
        return Err(Error::invalid(
            "parameter_invalid",
            Some("replaces".into()),
            format!("A replacement replaces at most {REPLACES_MAX} devices."),
        ));
    }
    let mut open = BTreeMap::new();
    for (i, serial) in replaces.iter().enumerate() {
        let param = format!("replaces[{i}]");
        parse_serial_number(&param, serial)?;
        if replaces[..i].contains(serial) {
            return Err(Error::invalid(
                "parameter_invalid",
                Some(param),
                "Each replaced device appears once.",
            ));
        }
        let Some(device) = by_serial(cx, serial).await? else {
            return Err(Error::not_found("device", serial).with_param(param));
        };
        let theirs = device.status == DeviceStatus::Assigned
            && device.holder.as_ref().map(|h| &h.customer_id) == Some(&order.customer_id);
        if !theirs {
            return Err(Error::state(
                "device_unavailable",
                device.status.as_str(),
                format!(
                    "Device {serial} is not held by this order's customer; it cannot be replaced."
                ),
            )
            .with_param(param));
        }
        *open.entry(device.product_id).or_insert(0) += 1;
    }
    Ok(open)
}

/// A cancelled parcel's devices go back where they were.
pub(super) async fn unload(cx: &mut Context<'_>, shipment: &Shipment) -> Result<(), Error> {
    for id in &shipment.devices {
        let found: Option<Device> =
            documents::get(cx.tx, DEVICE, cx.workspace_id, id.as_str(), true).await?;
        if let Some(mut device) = found {
            device.unship(cx.now);
            save(cx, &device).await?;
        }
    }
    Ok(())
}

/// A devices step that cannot be done: why (the attempt fails with it; nothing is written).
fn refused(message: String) -> Error {
    Error::state("device_step_refused", "running", message)
}

/// The devices step: the assignment history after the delivery of `shipment`
/// (`device.assigned`, `device.replaced` or `device.returned` per device). A refusal
/// ([`ErrorKind::State`](crate::error::ErrorKind::State)) writes nothing.
pub(super) async fn apply(
    cx: &mut Context<'_>,
    shipment: &Shipment,
    run_id: &AutomationRunId,
) -> Result<(), Error> {
    let cause = |reason| AssignmentCause {
        reason,
        shipment_id: Some(shipment.id.clone()),
        automation_run_id: Some(run_id.clone()),
        other_device_id: None,
    };
    // Windows open and close when the courier saw the parcel delivered.
    let at = shipment.delivered_at.unwrap_or(cx.now);
    let mut changes = Changes::default();
    let loaded = changes.load(cx, &shipment.devices).await?;
    if shipment.direction == ShipmentDirection::Return {
        for mut device in loaded {
            changes.close_all(&device, cause(AssignmentReason::Returned), at);
            device.status = DeviceStatus::InStock;
            device.holder = None;
            device.asset = None;
            device.updated_at = cx.now;
            changes.devices.push(device);
        }
        return changes.write(cx, event_type::DEVICE_RETURNED).await;
    }
    let mut replaced = changes.replace(cx, shipment, (&loaded, at), &cause).await?;
    let holder = Holder {
        customer_id: shipment.customer_id.clone(),
        company_id: shipment.company_id.clone(),
    };
    for mut device in loaded {
        let expected = device.status == DeviceStatus::Shipped
            && device.shipment_id.as_ref() == Some(&shipment.id);
        if !expected {
            return Err(refused(format!(
                "Device {} is {}, not in this parcel.",
                device.serial_number,
                device.status.as_str()
            )));
        }
        let predecessor = replaced
            .iter()
            .position(|old| old.product_id == device.product_id);
        let (opened, asset) = match predecessor.map(|i| replaced.remove(i)) {
            Some(old) => {
                let mut opened = cause(AssignmentReason::Replacement);
                opened.other_device_id = Some(old.id);
                (opened, old.asset)
            }
            None => (cause(AssignmentReason::Delivered), None),
        };
        changes.opened.push(DeviceAssignment::open(
            &device,
            &holder,
            None,
            opened.clone(),
            at,
        ));
        if let Some(asset) = &asset {
            let window = DeviceAssignment::open(&device, &holder, Some(asset.clone()), opened, at);
            changes.opened.push(window);
        }
        device.status = DeviceStatus::Assigned;
        device.holder = Some(holder.clone());
        device.asset = asset;
        device.updated_at = cx.now;
        changes.devices.push(device);
    }
    changes.write(cx, event_type::DEVICE_ASSIGNED).await
}

/// The writes of one devices step, made only once every check passed.
#[derive(Default)]
struct Changes {
    devices: Vec<Device>,
    closed: Vec<DeviceAssignment>,
    opened: Vec<DeviceAssignment>,
    open_windows: BTreeMap<DeviceId, Vec<DeviceAssignment>>,
}

impl Changes {
    /// The devices (locked) and their open windows.
    async fn load(&mut self, cx: &mut Context<'_>, ids: &[DeviceId]) -> Result<Vec<Device>, Error> {
        let mut loaded = Vec::with_capacity(ids.len());
        for id in ids {
            let found: Option<Device> =
                documents::get(cx.tx, DEVICE, cx.workspace_id, id.as_str(), true).await?;
            let device = found.ok_or_else(|| refused(format!("Device {id} is gone.")))?;
            let windows = windows_in(cx.tx, cx.workspace_id, id.as_str()).await?;
            let open = windows
                .into_iter()
                .filter(DeviceAssignment::is_open)
                .collect();
            self.open_windows.insert(id.clone(), open);
            loaded.push(device);
        }
        Ok(loaded)
    }

    fn close_all(&mut self, device: &Device, cause: AssignmentCause, now: Timestamp) {
        for mut window in self.open_windows.remove(&device.id).unwrap_or_default() {
            window.close(cause.clone(), now);
            self.closed.push(window);
        }
    }

    /// Closes the windows of the devices a replacement replaces, each naming the new device of
    /// its product that succeeds it (in order). The replaced devices as they were, whose
    /// assets their successors take over.
    async fn replace(
        &mut self,
        cx: &mut Context<'_>,
        shipment: &Shipment,
        (loaded, at): (&[Device], Timestamp),
        cause: &(dyn Fn(AssignmentReason) -> AssignmentCause + Sync),
    ) -> Result<Vec<Device>, Error> {
        let mut replaced: Vec<Device> = Vec::new();
        for serial in &shipment.replaces {
            let Some(found) = by_serial(cx, serial).await? else {
                return Err(refused(format!("Replaced device {serial} is gone.")));
            };
            let mut old = self
                .load(cx, std::slice::from_ref(&found.id))
                .await?
                .remove(0);
            let earlier = replaced
                .iter()
                .filter(|o| o.product_id == old.product_id)
                .count();
            let successor = loaded
                .iter()
                .filter(|d| d.product_id == old.product_id)
                .nth(earlier);
            let mut closing = cause(AssignmentReason::Replacement);
            closing.other_device_id = successor.map(|d| d.id.clone());
            self.close_all(&old, closing, at);
            replaced.push(old.clone());
            if old.status == DeviceStatus::Assigned {
                old.status = DeviceStatus::Replaced;
            }
            old.holder = None;
            old.asset = None;
            old.updated_at = cx.now;
            self.devices.push(old);
        }
        Ok(replaced)
    }

    async fn write(self, cx: &mut Context<'_>, event: &'static str) -> Result<(), Error> {
        for window in self.closed.iter().chain(&self.opened) {
            write_window(cx, window).await?;
        }
        for device in &self.devices {
            save(cx, device).await?;
            let event = match device.status {
                DeviceStatus::Replaced => event_type::DEVICE_REPLACED,
                _ => event,
            };
            cx.emit_object(event, "device", device.id.as_str(), device)
                .await?;
        }
        Ok(())
    }
}

/// A device's assignment windows, oldest first.
pub async fn windows_in(
    tx: &mut Tx,
    workspace_id: &WorkspaceId,
    device_id: &str,
) -> Result<Vec<DeviceAssignment>, Error> {
    let mut windows: Vec<DeviceAssignment> = documents::find_in(
        tx,
        DEVICE_ASSIGNMENT,
        workspace_id,
        "device_id",
        &[device_id],
    )
    .await?;
    windows.sort_by_key(|w| (w.from, w.kind as u8));
    Ok(windows)
}

/// A device's assignment history, oldest first.
pub async fn history(
    app: &App,
    workspace_id: &WorkspaceId,
    device_id: String,
) -> Result<Vec<DeviceAssignment>, Error> {
    let _: Device =
        crate::lookup::get(app, workspace_id, DEVICE, "device", device_id.clone()).await?;
    let workspace = workspace_id.clone();
    app.db
        .read(move |tx: &mut Tx| {
            Box::pin(async move {
                windows_in(tx, &workspace, &device_id)
                    .await
                    .map_err(|e| bursar_store::StoreError::Corrupt(e.message))
            })
        })
        .await
        .map_err(Error::from)
}

/// Installs a device the customer holds in one of their assets, or removes it from its asset
/// (`asset` none): the open asset window closes, a new one opens (`device.asset_changed`).
pub async fn set_asset(
    cx: &mut Context<'_>,
    device_id: &str,
    asset: Option<String>,
) -> Result<Device, Error> {
    let asset = asset.map(|a| parse_asset("asset", &a)).transpose()?;
    let mut device: Device = crate::lookup::get_in(cx, DEVICE, "device", device_id, "id").await?;
    let Some(holder) = device
        .holder
        .clone()
        .filter(|_| device.status == DeviceStatus::Assigned)
    else {
        return Err(Error::state(
            "device_state_invalid",
            device.status.as_str(),
            "Only a device a customer holds can be installed in one of their assets.",
        ));
    };
    if device.asset == asset {
        return Ok(device);
    }
    let windows = windows_in(cx.tx, cx.workspace_id, device_id).await?;
    for mut window in windows
        .into_iter()
        .filter(|w| w.is_open() && w.kind == AssignmentKind::Asset)
    {
        window.close(AssignmentCause::new(AssignmentReason::Removed), cx.now);
        write_window(cx, &window).await?;
    }
    if let Some(asset) = &asset {
        let window = DeviceAssignment::open(
            &device,
            &holder,
            Some(asset.clone()),
            AssignmentCause::new(AssignmentReason::Installed),
            cx.now,
        );
        write_window(cx, &window).await?;
    }
    device.asset = asset;
    device.updated_at = cx.now;
    save(cx, &device).await?;
    cx.emit_object(
        event_type::DEVICE_ASSET_CHANGED,
        "device",
        device_id,
        &device,
    )
    .await?;
    Ok(device)
}

async fn write_window(cx: &mut Context<'_>, window: &DeviceAssignment) -> Result<(), Error> {
    let columns = [("device_id", Value::from(window.device_id.as_str()))];
    documents::upsert(
        cx.tx,
        DEVICE_ASSIGNMENT,
        cx.workspace_id,
        window.id.as_str(),
        window,
        &columns,
    )
    .await?;
    Ok(())
}
