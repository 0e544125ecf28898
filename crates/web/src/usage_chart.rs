//! A meter's usage as a server-rendered SVG chart: the running total day by day this period
//! (solid) against the last period (dashed), with a sentence saying the same for people who
//! do not see the chart.

use bursar_core::portal_usage::MeterUsage;

use crate::i18n::Tr;

/// The chart's drawing area, in SVG user units.
const WIDTH: f64 = 300.0;
const HEIGHT: f64 = 120.0;
const MARGIN: f64 = 6.0;

/// What the template draws for one meter.
pub struct UsageChart {
    pub width: f64,
    pub height: f64,
    /// `x,y` points of this period's running total.
    pub this_period: String,
    /// The same for the last period.
    pub last_period: String,
    /// "Tokens: 1,200 so far this period (solid line), 3,400 last period (dashed)."
    pub summary: String,
}

/// The chart of `usage`.
pub fn chart(tr: &Tr, usage: &MeterUsage) -> UsageChart {
    let this = running(&usage.this_period);
    let last = running(&usage.last_period);
    let days = usage.last_period.len().max(usage.this_period.len()).max(2);
    let top = this
        .last()
        .copied()
        .unwrap_or(0.0)
        .max(last.last().copied().unwrap_or(0.0));
    UsageChart {
        width: WIDTH,
        height: HEIGHT,
        this_period: points(&this, days, top),
        last_period: points(&last, days, top),
        summary: tr.args(
            "usage-summary",
            &[
                ("meter", &usage.meter),
                ("this", &number(usage.this_total())),
                ("last", &number(usage.last_total())),
            ],
        ),
    }
}

/// The running total of `values`.
fn running(values: &[f64]) -> Vec<f64> {
    values
        .iter()
        .scan(0.0, |total, v| {
            *total += v;
            Some(*total)
        })
        .collect()
}

/// `values` as polyline points: day `i` at x, its total scaled to the height under `top`.
fn points(values: &[f64], days: usize, top: f64) -> String {
    let step = (WIDTH - 2.0 * MARGIN) / (days - 1) as f64;
    let scale = if top > 0.0 {
        (HEIGHT - 2.0 * MARGIN) / top
    } else {
        0.0
    };
    values
        .iter()
        .enumerate()
        .map(|(day, total)| {
            let x = MARGIN + day as f64 * step;
            let y = HEIGHT - MARGIN - total * scale;
            format!("{x:.1},{y:.1}")
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A usage figure as people read it: whole numbers without decimals, others to two places.
fn number(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        format!("{value:.0}")
    } else {
        format!("{value:.2}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::i18n::Lang;

    fn usage(this: Vec<f64>, last: Vec<f64>) -> MeterUsage {
        let at = bursar_domain::time::Timestamp::from_unix_micros(0);
        MeterUsage {
            meter: "Tokens".into(),
            this_period: this,
            last_period: last,
            period_start: at,
            period_end: at,
        }
    }

    #[test]
    fn the_chart_draws_running_totals_on_one_scale() {
        let tr = Tr { lang: Lang::En };
        let drawn = chart(
            &tr,
            &usage(vec![10.0, 0.0, 30.0], vec![20.0, 20.0, 20.0, 20.0, 20.0]),
        );
        // Five days across 288 units: a step of 72; the last period's 100 is the top.
        assert_eq!(drawn.this_period, "6.0,103.2 78.0,103.2 150.0,70.8");
        assert_eq!(drawn.last_period.split(' ').next_back(), Some("294.0,6.0"));
        assert_eq!(
            drawn.summary,
            "Tokens: 40 so far this period (solid line), 100 last period (dashed line)."
        );
        let empty = chart(&tr, &usage(vec![0.0], Vec::new()));
        assert_eq!(empty.this_period, "6.0,114.0", "no usage: the baseline");
        assert_eq!(number(2.5), "2.50");
    }
}
