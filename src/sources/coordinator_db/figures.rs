//! The savings metrics of `/metrics`: one shape, computed from decision facts and
//! `energy_data` prices. Every formula is in the README ("Metrics"); a figure that the rows
//! cannot support is `null`, never a default.

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;

use super::decisions::{Category, Counts, Facts};
use super::energy::EnergyRow;
use crate::clock;

/// Quarter-hour length in seconds.
const QUARTER_S: i64 = 900;

pub fn round(x: f64, dp: i32) -> f64 {
    let f = 10f64.powi(dp);
    (x * f).round() / f
}

/// Mean `price_pln` per quarter-hour (keyed by the quarter's UTC start, seconds), per
/// Warsaw day.
pub type DayPrices = HashMap<NaiveDate, HashMap<i64, f64>>;

pub fn quarter_prices(rows: &[EnergyRow]) -> DayPrices {
    let mut sums: HashMap<NaiveDate, HashMap<i64, (f64, u32)>> = HashMap::new();
    for r in rows {
        let Some(p) = r.price_pln else { continue };
        let q = r.at.timestamp().div_euclid(QUARTER_S) * QUARTER_S;
        let e = sums
            .entry(clock::local_date(r.at))
            .or_default()
            .entry(q)
            .or_insert((0.0, 0));
        e.0 += p;
        e.1 += 1;
    }
    sums.into_iter()
        .map(|(d, qs)| {
            (
                d,
                qs.into_iter()
                    .map(|(q, (s, n))| (q, s / f64::from(n)))
                    .collect(),
            )
        })
        .collect()
}

/// The cheapest quarter of the day's priced quarters: the lowest `ceil(n / 4)` prices
/// (ties broken by time).
pub fn cheapest_quarters(day: &HashMap<i64, f64>) -> HashSet<i64> {
    let mut v: Vec<(i64, f64)> = day.iter().map(|(q, p)| (*q, *p)).collect();
    v.sort_by(|a, b| a.1.total_cmp(&b.1).then(a.0.cmp(&b.0)));
    let n = v.len().div_ceil(4);
    v.into_iter().take(n).map(|(q, _)| q).collect()
}

/// Figures for one window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Figures {
    pub from: String,
    pub to: String,
    pub decisions: Counts,
    /// Σ `energy_kwh` of charging decisions (the coordinator's planned energy).
    pub energy_charged_kwh: Option<f64>,
    /// Σ `estimated_cost_pln` of charging decisions.
    pub charging_cost_pln: Option<f64>,
    /// Σ `estimated_savings_pln` of charging decisions: the coordinator's estimate against
    /// the day's average price.
    pub savings_vs_daily_average_pln: Option<f64>,
    /// Σ revenue of selling decisions whose execution is known to have succeeded.
    pub selling_revenue_pln: Option<f64>,
    pub selling_succeeded: u64,
    pub selling_failed: u64,
    /// Selling decisions without a recorded outcome (DB rows do not keep it).
    pub selling_outcome_unknown: u64,
    /// Σ cost / Σ energy over charging decisions that have both, PLN/kWh.
    pub avg_price_paid_pln_per_kwh: Option<f64>,
    /// Share (%) of charged energy planned in the day's cheapest quarter of quarter-hours.
    pub cheapest_quarter_share_percent: Option<f64>,
    /// Charging energy (kWh) for which the day's quarter-hour prices were known.
    pub energy_with_known_prices_kwh: f64,
    /// Mean `confidence` of all decisions, in percent.
    pub avg_confidence_percent: Option<f64>,
    /// Charging decisions lacking `energy_kwh` or `estimated_cost_pln`.
    pub charging_incomplete: u64,
}

/// Σ of the present values; 0 for no items; `None` when there are items and none has
/// the value.
fn sum_present(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    let (mut n, mut have, mut sum) = (0u64, 0u64, 0.0);
    for v in values {
        n += 1;
        if let Some(x) = v {
            have += 1;
            sum += x;
        }
    }
    (n == 0 || have > 0).then_some(sum)
}

pub fn figures(
    facts: &[&Facts],
    prices: &DayPrices,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Figures {
    let charging: Vec<&Facts> = facts
        .iter()
        .copied()
        .filter(|f| f.category == Category::Charging)
        .collect();
    let selling: Vec<&Facts> = facts
        .iter()
        .copied()
        .filter(|f| f.category == Category::Selling)
        .collect();
    let energy = sum_present(charging.iter().map(|f| f.energy_kwh));
    let cost = sum_present(charging.iter().map(|f| f.cost_pln));
    let savings = sum_present(charging.iter().map(|f| f.savings_pln));
    let (mut paid_cost, mut paid_energy) = (0.0, 0.0);
    for f in &charging {
        if let (Some(c), Some(e)) = (f.cost_pln, f.energy_kwh) {
            paid_cost += c;
            paid_energy += e;
        }
    }
    let (mut ok, mut failed, mut unknown, mut revenue) = (0u64, 0u64, 0u64, 0.0);
    for f in &selling {
        match f.execution_success {
            Some(true) => {
                ok += 1;
                revenue += f.revenue_pln.unwrap_or(0.0);
            }
            Some(false) => failed += 1,
            None => unknown += 1,
        }
    }
    let revenue = if !selling.is_empty() && ok == 0 && unknown > 0 {
        None
    } else {
        Some(round(revenue, 2))
    };
    let (mut cheap_e, mut known_e) = (0.0, 0.0);
    for f in &charging {
        let Some(e) = f.energy_kwh else { continue };
        let Some(day) = prices.get(&clock::local_date(f.at)) else {
            continue;
        };
        let q = f.at.timestamp().div_euclid(QUARTER_S) * QUARTER_S;
        if !day.contains_key(&q) {
            continue;
        }
        known_e += e;
        if cheapest_quarters(day).contains(&q) {
            cheap_e += e;
        }
    }
    let confidences: Vec<f64> = facts.iter().filter_map(|f| f.confidence).collect();
    Figures {
        from: clock::local_rfc3339(from),
        to: clock::local_rfc3339(to),
        decisions: Counts::of(facts.iter().copied()),
        energy_charged_kwh: energy.map(|x| round(x, 3)),
        charging_cost_pln: cost.map(|x| round(x, 2)),
        savings_vs_daily_average_pln: savings.map(|x| round(x, 2)),
        selling_revenue_pln: revenue,
        selling_succeeded: ok,
        selling_failed: failed,
        selling_outcome_unknown: unknown,
        avg_price_paid_pln_per_kwh: (paid_energy > 0.0).then(|| round(paid_cost / paid_energy, 4)),
        cheapest_quarter_share_percent: (known_e > 0.0)
            .then(|| round(cheap_e / known_e * 100.0, 1)),
        energy_with_known_prices_kwh: round(known_e, 3),
        avg_confidence_percent: (!confidences.is_empty()).then(|| {
            let mean = confidences.iter().sum::<f64>() / confidences.len() as f64;
            round(if mean <= 1.0 { mean * 100.0 } else { mean }, 1)
        }),
        charging_incomplete: charging
            .iter()
            .filter(|f| f.energy_kwh.is_none() || f.cost_pln.is_none())
            .count() as u64,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn fact(t: &str, category: Category) -> Facts {
        Facts {
            at: at(t),
            category,
            energy_kwh: None,
            cost_pln: None,
            savings_pln: None,
            revenue_pln: None,
            confidence: None,
            price: None,
            tariff_zone: None,
            execution_success: None,
            charging_source: None,
        }
    }

    #[test]
    fn formulas() {
        // Prices for 2026-07-01 (Warsaw): 8 quarters, the two cheapest at 00:00Z and 00:15Z.
        let mut rows = Vec::new();
        for (i, p) in [0.3, 0.4, 0.9, 0.8, 0.7, 0.6, 1.0, 1.1].iter().enumerate() {
            rows.push(EnergyRow {
                at: at("2026-07-01T00:00:00Z") + chrono::Duration::minutes(15 * i as i64),
                price_pln: Some(*p),
                ..Default::default()
            });
        }
        let prices = quarter_prices(&rows);
        let mut c1 = fact("2026-07-01T00:05:00Z", Category::Charging);
        c1.energy_kwh = Some(2.0);
        c1.cost_pln = Some(0.6);
        c1.savings_pln = Some(0.5);
        c1.confidence = Some(0.8);
        let mut c2 = fact("2026-07-01T00:35:00Z", Category::Charging);
        c2.energy_kwh = Some(2.0);
        c2.cost_pln = Some(1.8);
        c2.savings_pln = Some(0.0);
        c2.confidence = Some(0.6);
        let mut c3 = fact("2026-07-02T10:00:00Z", Category::Charging); // no prices that day
        c3.energy_kwh = Some(1.0);
        let mut s1 = fact("2026-07-01T18:00:00Z", Category::Selling);
        s1.revenue_pln = Some(3.0);
        s1.execution_success = Some(true);
        let mut s2 = fact("2026-07-01T19:00:00Z", Category::Selling);
        s2.revenue_pln = Some(5.0);
        s2.execution_success = Some(false);
        let s3 = fact("2026-07-01T20:00:00Z", Category::Selling);
        let w = fact("2026-07-01T21:00:00Z", Category::Wait);
        let all = [&c1, &c2, &c3, &s1, &s2, &s3, &w];
        let f = figures(
            &all,
            &prices,
            at("2026-07-01T00:00:00Z"),
            at("2026-07-03T00:00:00Z"),
        );
        assert_eq!(
            f.decisions,
            Counts {
                total: 7,
                charging: 3,
                selling: 3,
                wait: 1
            }
        );
        assert_eq!(f.energy_charged_kwh, Some(5.0));
        assert_eq!(f.charging_cost_pln, Some(2.4));
        assert_eq!(f.savings_vs_daily_average_pln, Some(0.5));
        assert_eq!(f.selling_revenue_pln, Some(3.0));
        assert_eq!(
            (
                f.selling_succeeded,
                f.selling_failed,
                f.selling_outcome_unknown
            ),
            (1, 1, 1)
        );
        assert_eq!(f.avg_price_paid_pln_per_kwh, Some(0.6)); // 2.4 / 4.0
        assert_eq!(f.cheapest_quarter_share_percent, Some(50.0)); // c1 cheap, c2 not, c3 unknown
        assert_eq!(f.energy_with_known_prices_kwh, 4.0);
        assert_eq!(f.avg_confidence_percent, Some(70.0));
        assert_eq!(f.charging_incomplete, 1);
    }

    #[test]
    fn nothing_to_compute_from_is_null_not_zero() {
        let f = figures(
            &[],
            &DayPrices::new(),
            at("2026-07-01T00:00:00Z"),
            at("2026-07-02T00:00:00Z"),
        );
        assert_eq!(f.energy_charged_kwh, Some(0.0));
        assert_eq!(f.avg_price_paid_pln_per_kwh, None);
        assert_eq!(f.cheapest_quarter_share_percent, None);
        assert_eq!(f.avg_confidence_percent, None);
        let c = fact("2026-07-01T00:05:00Z", Category::Charging);
        let s = fact("2026-07-01T00:05:00Z", Category::Selling);
        let f = figures(
            &[&c, &s],
            &DayPrices::new(),
            at("2026-07-01T00:00:00Z"),
            at("2026-07-02T00:00:00Z"),
        );
        assert_eq!(
            f.energy_charged_kwh, None,
            "charging without any energy figure"
        );
        assert_eq!(f.charging_cost_pln, None);
        assert_eq!(f.selling_revenue_pln, None, "no sale with a known outcome");
    }
}
