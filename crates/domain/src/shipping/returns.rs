//! What a return is worth: the refund a received return (an RMA) pays back for its units.
//!
//! Each unit is refunded at what the customer paid for it: its order line's total (after the
//! line's discount) shared over the line's units. Shares are cut so that a line's units add up
//! to exactly its total however they come back — in one parcel or one at a time — by giving
//! each return the difference between the value of every unit returned so far and of those
//! returned before it.

use std::collections::BTreeMap;

use crate::commerce::{PricedLine, ProductKind};
use crate::id::ProductId;
use crate::shipping::{Shipment, ShipmentDirection, TrackingStatus};

/// The refund for `returning`'s units, given the units of each product `earlier` returns took
/// back before it. A product's units are taken from the order's physical lines in order; units
/// beyond what was ordered are worth nothing. `None` only if the sum overflows.
pub fn return_value(
    lines: &[PricedLine],
    earlier: &BTreeMap<ProductId, i64>,
    returning: &BTreeMap<ProductId, i64>,
) -> Option<i64> {
    let mut value: i64 = 0;
    let mut start: BTreeMap<&ProductId, i64> = BTreeMap::new();
    for line in lines
        .iter()
        .filter(|l| l.product_kind == ProductKind::Physical && l.quantity > 0)
    {
        let first = start.entry(&line.product_id).or_insert(0);
        let units_before = earlier.get(&line.product_id).copied().unwrap_or(0);
        let units_now = returning.get(&line.product_id).copied().unwrap_or(0);
        let covered = |units: i64| units.saturating_sub(*first).clamp(0, line.quantity);
        let from = covered(units_before);
        let to = covered(units_before.saturating_add(units_now));
        let share = share_of(line.total, to, line.quantity)?.checked_sub(share_of(
            line.total,
            from,
            line.quantity,
        )?)?;
        value = value.checked_add(share)?;
        *first += line.quantity;
    }
    Some(value)
}

/// `total × units / quantity`, rounded down, without overflow.
fn share_of(total: i64, units: i64, quantity: i64) -> Option<i64> {
    let exact = i128::from(total).checked_mul(i128::from(units))? / i128::from(quantity);
    i64::try_from(exact).ok()
}

/// The units of each product the order's returns received before `this` took back: the
/// delivered returns that arrived earlier (by delivery instant, then id).
pub fn returned_before(shipments: &[Shipment], this: &Shipment) -> BTreeMap<ProductId, i64> {
    let key = |s: &Shipment| (s.delivered_at, s.id.to_string());
    let mut units = BTreeMap::new();
    for earlier in shipments.iter().filter(|s| {
        s.direction == ShipmentDirection::Return
            && s.status == TrackingStatus::Delivered
            && s.id != this.id
            && key(s) < key(this)
    }) {
        add_lines(&mut units, earlier);
    }
    units
}

/// The units of each product in `shipment`.
pub fn units_of(shipment: &Shipment) -> BTreeMap<ProductId, i64> {
    let mut units = BTreeMap::new();
    add_lines(&mut units, shipment);
    units
}

fn add_lines(units: &mut BTreeMap<ProductId, i64>, shipment: &Shipment) {
    for line in &shipment.lines {
        let entry = units.entry(line.product_id.clone()).or_insert(0);
        *entry = entry.saturating_add(line.quantity);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::commerce::{PricingRule, TaxBehavior};
    use crate::money::Currency;

    fn product(n: u8) -> ProductId {
        ProductId::from_trusted(format!("prod_0{n}"))
    }

    fn line(n: u8, quantity: i64, total: i64) -> PricedLine {
        PricedLine {
            product_id: product(n),
            product_name: format!("product {n}"),
            product_kind: ProductKind::Physical,
            quantity,
            currency: Currency::from_code("USD").unwrap(),
            unit_amount: total / quantity,
            amount: total,
            discount_amount: 0,
            total,
            rule: PricingRule::Default,
            source_id: "price_1".into(),
            tax_behavior: TaxBehavior::Exclusive,
        }
    }

    fn units(pairs: &[(u8, i64)]) -> BTreeMap<ProductId, i64> {
        pairs.iter().map(|(n, q)| (product(*n), *q)).collect()
    }

    #[test]
    fn units_returned_one_at_a_time_add_up_to_the_line_total() {
        // Three units for 1,000 (a discount left an uneven total): 333, 333, 334.
        let lines = [line(1, 3, 1_000)];
        let shares: Vec<i64> = (0..3)
            .map(|before| return_value(&lines, &units(&[(1, before)]), &units(&[(1, 1)])).unwrap())
            .collect();
        assert_eq!(shares, vec![333, 333, 334]);
        assert_eq!(shares.iter().sum::<i64>(), 1_000);
        assert_eq!(
            return_value(&lines, &units(&[]), &units(&[(1, 3)])),
            Some(1_000)
        );
    }

    #[test]
    fn a_product_on_two_lines_is_taken_from_them_in_order() {
        // Two units at 500 each, then three at 300 each (an agreement's price, say).
        let lines = [line(1, 2, 1_000), line(2, 1, 77), line(1, 3, 900)];
        let value = |before: i64, now: i64| {
            return_value(&lines, &units(&[(1, before)]), &units(&[(1, now)])).unwrap()
        };
        assert_eq!(value(0, 1), 500);
        assert_eq!(value(1, 2), 500 + 300);
        assert_eq!(value(3, 2), 600);
        assert_eq!(value(0, 5), 1_900);
        // Beyond what was ordered: nothing more.
        assert_eq!(value(4, 3), 300);
        assert_eq!(value(5, 1), 0);
        assert_eq!(
            return_value(&lines, &units(&[]), &units(&[(2, 1), (3, 4)])),
            Some(77)
        );
    }

    #[test]
    fn service_lines_are_never_returned() {
        let mut service = line(1, 1, 5_000);
        service.product_kind = ProductKind::Service;
        assert_eq!(
            return_value(&[service], &units(&[]), &units(&[(1, 1)])),
            Some(0)
        );
    }

    #[test]
    fn huge_totals_do_not_overflow_the_share() {
        let lines = [line(1, 3, i64::MAX - 1)];
        assert_eq!(
            return_value(&lines, &units(&[]), &units(&[(1, 3)])),
            Some(i64::MAX - 1)
        );
    }
}
