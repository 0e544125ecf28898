//! The portal's usage: for each meter a subscription rates, the customer's usage day by day
//! this billing period and the last, one meter query each (daily windows, UTC), for the
//! subscription page's chart.

use std::collections::{BTreeMap, HashSet};

use bursar_domain::contract::Contract;
use bursar_domain::id::WorkspaceId;
use bursar_domain::metering::{Meter, WindowSize};
use bursar_domain::subscription::period_of;
use bursar_domain::time::Timestamp;
use bursar_store::{metering, Tx};

use crate::error::Error;
use crate::meter_query::{query, MeterQuery};
use crate::App;

const DAY: i64 = 86_400;

/// One meter's usage by the customer: per day of this period (so far) and of the last.
#[derive(Debug, Clone, PartialEq)]
pub struct MeterUsage {
    /// The meter's name, else its slug.
    pub meter: String,
    pub this_period: Vec<f64>,
    pub last_period: Vec<f64>,
    pub period_start: Timestamp,
    pub period_end: Timestamp,
}

impl MeterUsage {
    pub fn this_total(&self) -> f64 {
        self.this_period.iter().sum()
    }

    pub fn last_total(&self) -> f64 {
        self.last_period.iter().sum()
    }
}

/// The usage of each meter `contract`'s usage lines rate (each meter once), by its buyer,
/// this billing period and the last; `now` ends this period's days.
pub async fn usage(
    app: &App,
    workspace_id: &WorkspaceId,
    contract: &Contract,
    now: Timestamp,
) -> Result<Vec<MeterUsage>, Error> {
    let mut slugs: Vec<String> = Vec::new();
    for line in &contract.lines {
        if let Some(usage) = &line.usage {
            if !slugs.contains(&usage.meter) {
                slugs.push(usage.meter.clone());
            }
        }
    }
    if slugs.is_empty() {
        return Ok(Vec::new());
    }
    let (start, end) = period_of(contract.billing.anchor_day, now);
    let (last_start, _) = period_of(contract.billing.anchor_day, start.plus_seconds(-1));
    let mut charts = Vec::with_capacity(slugs.len());
    for slug in slugs {
        let (ws, key) = (workspace_id.clone(), slug.clone());
        let meter: Option<Meter> = app
            .db
            .read(move |tx: &mut Tx| {
                Box::pin(async move { metering::find_meter(tx, &ws, &key).await })
            })
            .await?;
        let Some(meter) = meter.filter(|m| m.deleted_at.is_none()) else {
            continue;
        };
        let seconds = |at: Timestamp| at.unix_micros().div_euclid(1_000_000);
        let to = seconds(now).div_euclid(DAY) * DAY + DAY;
        let asked = MeterQuery {
            subjects: Vec::new(),
            customers: vec![contract.buyer_id.clone()],
            group_by: Vec::new(),
            filters: BTreeMap::<String, HashSet<String>>::new(),
            advanced: Vec::new(),
            window: Some(WindowSize::Day),
            time_zone: jiff::tz::TimeZone::UTC,
            from: Some(seconds(last_start)),
            to: Some(to),
        };
        let result = query(app, workspace_id, &meter, asked).await?;
        let days = |from: Timestamp, to: Timestamp| {
            usize::try_from((seconds(to) - seconds(from)).div_euclid(DAY)).unwrap_or(0)
        };
        let mut this_period = vec![0.0; days(start, end)];
        let mut last_period = vec![0.0; days(last_start, start)];
        for row in result.data {
            let Some(at) = Timestamp::parse_rfc3339(&row.window_start) else {
                continue;
            };
            let (series, from) = if at >= start {
                (&mut this_period, start)
            } else {
                (&mut last_period, last_start)
            };
            if let Some(day) = series.get_mut(days(from, at)) {
                *day += row.value;
            }
        }
        // Days still to come are not part of this period's usage.
        this_period.truncate(days(start, now) + 1);
        charts.push(MeterUsage {
            meter: if meter.name.is_empty() {
                meter.slug.clone()
            } else {
                meter.name.clone()
            },
            this_period,
            last_period,
            period_start: start,
            period_end: end,
        });
    }
    Ok(charts)
}
