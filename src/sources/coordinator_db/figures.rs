//! The savings metrics of `/metrics` and the one definition of the decision sums that
//! `/metrics` and `/monthly-*` share ([`Tally`]): computed from decision facts and
//! `energy_data` prices. Every formula is in `docs/figures.md`; a figure that the rows
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

/// A sum and how many of the decisions it runs over had the value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Present {
    pub sum: f64,
    pub have: u64,
}

impl Present {
    fn push(&mut self, v: Option<f64>) {
        if let Some(x) = v {
            self.sum += x;
            self.have += 1;
        }
    }

    fn add(&mut self, o: &Present) {
        self.sum += o.sum;
        self.have += o.have;
    }
}

/// The decision sums of a window (a day, a month, month-to-date), unrounded and additive:
/// a month is the sum of its days' tallies, and the null and rounding rules are applied
/// once, at the end, by the accessors. `/metrics` and `/monthly-*` both use it, so the same
/// decisions give the same figures.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tally {
    pub counts: Counts,
    /// Charging decisions' `energy_kwh`, cost and savings.
    pub energy: Present,
    pub cost: Present,
    pub savings: Present,
    /// Charging energy by recorded tariff zone (`T2`, else T1), kWh.
    pub energy_t1: f64,
    pub energy_t2: f64,
    /// Cost and energy of the charging decisions that have both.
    pub paid_cost: f64,
    pub paid_energy: f64,
    /// Charging decisions lacking `energy_kwh` or a cost.
    pub charging_incomplete: u64,
    pub sell_ok: u64,
    pub sell_failed: u64,
    pub sell_unknown: u64,
    /// Revenue and energy of the sales that succeeded.
    pub revenue: f64,
    pub sold_kwh: f64,
    /// Σ confidence (as recorded, 0–1 or percent) and how many decisions had one.
    pub confidence_sum: f64,
    pub confidence_n: u64,
}

impl Tally {
    /// The tally of `facts`, in the order given.
    pub fn of<'a>(facts: impl IntoIterator<Item = &'a Facts>) -> Tally {
        let mut t = Tally::default();
        for f in facts {
            t.counts.total += 1;
            if let Some(c) = f.confidence {
                t.confidence_sum += c;
                t.confidence_n += 1;
            }
            match f.category {
                Category::Charging => {
                    t.counts.charging += 1;
                    t.energy.push(f.energy_kwh);
                    t.cost.push(f.cost_pln);
                    t.savings.push(f.savings_pln);
                    let e = f.energy_kwh.unwrap_or_default();
                    if f.tariff_zone.as_deref() == Some("T2") {
                        t.energy_t2 += e;
                    } else {
                        t.energy_t1 += e;
                    }
                    match (f.cost_pln, f.energy_kwh) {
                        (Some(c), Some(e)) => {
                            t.paid_cost += c;
                            t.paid_energy += e;
                        }
                        _ => t.charging_incomplete += 1,
                    }
                }
                Category::Selling => {
                    t.counts.selling += 1;
                    match f.execution_success {
                        Some(true) => {
                            t.sell_ok += 1;
                            t.revenue += f.revenue_pln.unwrap_or_default();
                            t.sold_kwh += f.energy_kwh.unwrap_or_default();
                        }
                        Some(false) => t.sell_failed += 1,
                        None => t.sell_unknown += 1,
                    }
                }
                Category::Wait => t.counts.wait += 1,
            }
        }
        t
    }

    /// The tally of `facts` built day by day (Europe/Warsaw days, oldest first, each day's
    /// decisions in time order) and added up: the same additions, in the same order, as a
    /// month summed from its days.
    pub fn by_days(facts: &[&Facts]) -> Tally {
        let mut sorted: Vec<&Facts> = facts.to_vec();
        sorted.sort_by_key(|f| f.at);
        let mut total = Tally::default();
        let mut start = 0;
        while start < sorted.len() {
            let day = clock::local_date(sorted[start].at);
            let end = sorted[start..]
                .iter()
                .position(|f| clock::local_date(f.at) != day)
                .map_or(sorted.len(), |n| start + n);
            total.add(&Tally::of(sorted[start..end].iter().copied()));
            start = end;
        }
        total
    }

    pub fn add(&mut self, o: &Tally) {
        self.counts.total += o.counts.total;
        self.counts.charging += o.counts.charging;
        self.counts.selling += o.counts.selling;
        self.counts.wait += o.counts.wait;
        self.energy.add(&o.energy);
        self.cost.add(&o.cost);
        self.savings.add(&o.savings);
        self.energy_t1 += o.energy_t1;
        self.energy_t2 += o.energy_t2;
        self.paid_cost += o.paid_cost;
        self.paid_energy += o.paid_energy;
        self.charging_incomplete += o.charging_incomplete;
        self.sell_ok += o.sell_ok;
        self.sell_failed += o.sell_failed;
        self.sell_unknown += o.sell_unknown;
        self.revenue += o.revenue;
        self.sold_kwh += o.sold_kwh;
        self.confidence_sum += o.confidence_sum;
        self.confidence_n += o.confidence_n;
    }

    /// A charging sum: `null` without any decision (no data), or when there are charging
    /// decisions and none has the value; 0 when there are decisions but no charging.
    fn charging_sum(&self, p: &Present) -> Option<f64> {
        let known = self.counts.total > 0 && (self.counts.charging == 0 || p.have > 0);
        known.then_some(p.sum)
    }

    pub fn energy_kwh(&self) -> Option<f64> {
        self.charging_sum(&self.energy)
    }

    pub fn cost_pln(&self) -> Option<f64> {
        self.charging_sum(&self.cost)
    }

    pub fn savings_pln(&self) -> Option<f64> {
        self.charging_sum(&self.savings)
    }

    /// Charging energy by zone; `null` without any decision.
    pub fn energy_by_zone(&self) -> Option<(f64, f64)> {
        (self.counts.total > 0).then_some((self.energy_t1, self.energy_t2))
    }

    /// Revenue of successful sales: `null` without any decision, or when there are sales
    /// and none has a known outcome while some have none recorded.
    pub fn revenue_pln(&self) -> Option<f64> {
        let unknown_only = self.counts.selling > 0 && self.sell_ok == 0 && self.sell_unknown > 0;
        (self.counts.total > 0 && !unknown_only).then_some(self.revenue)
    }

    /// Energy of successful sales, under the revenue's rule.
    pub fn sold_kwh(&self) -> Option<f64> {
        self.revenue_pln().map(|_| self.sold_kwh)
    }

    /// Charging savings plus selling revenue.
    pub fn total_savings_pln(&self) -> Option<f64> {
        Some(self.savings_pln()? + self.revenue_pln()?)
    }

    /// total savings ÷ (cost + total savings) × 100, 1 dp; `null` when the base is not
    /// positive or a part is unknown.
    pub fn savings_percentage(&self) -> Option<f64> {
        let (c, sv) = (self.cost_pln()?, self.total_savings_pln()?);
        (c + sv > 0.0).then(|| round(sv / (c + sv) * 100.0, 1))
    }

    /// Σ cost ÷ Σ energy over charging decisions that have both, 4 dp.
    pub fn avg_price_paid(&self) -> Option<f64> {
        (self.paid_energy > 0.0).then(|| round(self.paid_cost / self.paid_energy, 4))
    }

    /// Mean recorded confidence as a fraction (values above 1 are percent), 4 dp.
    pub fn avg_confidence(&self) -> Option<f64> {
        (self.confidence_n > 0).then(|| {
            let mean = self.confidence_sum / self.confidence_n as f64;
            round(if mean > 1.0 { mean / 100.0 } else { mean }, 4)
        })
    }
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
    /// Charging savings + selling revenue (`null` when either is unknown).
    pub total_savings_pln: Option<f64>,
    /// total savings ÷ (cost + total savings) × 100.
    pub savings_percentage: Option<f64>,
    /// The unrounded sums behind the figures.
    #[serde(skip)]
    pub tally: Tally,
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
    let tally = Tally::by_days(facts);
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
        decisions: tally.counts,
        energy_charged_kwh: tally.energy_kwh().map(|x| round(x, 3)),
        charging_cost_pln: tally.cost_pln().map(|x| round(x, 2)),
        savings_vs_daily_average_pln: tally.savings_pln().map(|x| round(x, 2)),
        selling_revenue_pln: tally.revenue_pln().map(|x| round(x, 2)),
        selling_succeeded: tally.sell_ok,
        selling_failed: tally.sell_failed,
        selling_outcome_unknown: tally.sell_unknown,
        avg_price_paid_pln_per_kwh: tally.avg_price_paid(),
        cheapest_quarter_share_percent: (known_e > 0.0)
            .then(|| round(cheap_e / known_e * 100.0, 1)),
        energy_with_known_prices_kwh: round(known_e, 3),
        avg_confidence_percent: (!confidences.is_empty()).then(|| {
            let mean = confidences.iter().sum::<f64>() / confidences.len() as f64;
            round(if mean <= 1.0 { mean * 100.0 } else { mean }, 1)
        }),
        charging_incomplete: tally.charging_incomplete,
        total_savings_pln: tally.total_savings_pln().map(|x| round(x, 2)),
        savings_percentage: tally.savings_percentage(),
        tally,
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
        // No decision at all: no data, so null (not a sum of 0).
        assert_eq!(f.energy_charged_kwh, None);
        assert_eq!(f.charging_cost_pln, None);
        assert_eq!(f.selling_revenue_pln, None);
        assert_eq!(f.total_savings_pln, None);
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
