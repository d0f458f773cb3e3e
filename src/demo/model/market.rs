//! Quarter-hour market prices of a Warsaw day (92/96/100 quarters), seeded per day, with
//! evening peaks and negative prices on sunny middays.

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::*;
use crate::clock::{self, ZONE};

/// One quarter-hour of the day-ahead market.
#[derive(Debug, Clone)]
pub struct Quarter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    pub market_pln_mwh: f64,
    pub zone: Zone,
    /// Market + SC + distribution, PLN/kWh.
    pub final_pln_kwh: f64,
}

/// The quarters of a Warsaw calendar day, in UTC between the local midnights: 96 on a
/// normal day, 92 on the spring-forward day, 100 on the fall-back day.
pub fn quarter_bounds(date: NaiveDate) -> Vec<(DateTime<Utc>, DateTime<Utc>)> {
    let start = clock::day_start(date);
    let end = clock::day_end(date);
    let mut out = Vec::with_capacity(100);
    let mut t = start;
    while t < end {
        let next = t + Duration::minutes(15);
        out.push((t, next));
        t = next;
    }
    out
}

/// One day's prices and the coordinator's thresholds derived from them.
#[derive(Debug, Clone)]
pub struct DayPrices {
    pub date: NaiveDate,
    pub weather: Weather,
    pub quarters: Vec<Quarter>,
    /// Mean of the day's final prices, PLN/kWh (the savings baseline).
    pub avg_final: f64,
    /// Charging is worth it at or below this final price (the day's cheapest quarter).
    pub charge_below: f64,
    /// Selling is worth it at or above this market price (the day's most expensive fifth).
    pub sell_above: f64,
    pub cheapest_final: f64,
    pub cheapest_hour: u32,
    /// The highest final price of the evening (17–21 h), PLN/kWh.
    pub evening_peak: f64,
}

impl DayPrices {
    /// The quarter holding `t` (clamped to the day).
    pub fn at(&self, t: DateTime<Utc>) -> &Quarter {
        let i = ((t - self.quarters[0].start).num_seconds() / 900).max(0) as usize;
        &self.quarters[i.min(self.quarters.len() - 1)]
    }
}

/// The market prices of `date` for `seed`, PLN/MWh: night lows, a morning and a larger
/// evening peak, and a midday dip that goes negative on sunny summer days.
pub fn day_prices(seed: u64, date: NaiveDate) -> DayPrices {
    let weather = weather(seed, date);
    let mut rng = day_rng(seed, date, 2);
    let w = winterness(date);
    let sun = 1.0 - weather.cloud;
    let level = (380.0 + 160.0 * w) * rng.range(0.85, 1.15);
    let g = |h: f64, mu: f64, sigma: f64| (-((h - mu) / sigma).powi(2) / 2.0).exp();
    let mut quarters = Vec::with_capacity(100);
    for (start, end) in quarter_bounds(date) {
        let local = start.with_timezone(&ZONE);
        let h = local.hour() as f64 + local.minute() as f64 / 60.0 + 0.125;
        let shape = 1.0 - 0.28 * g(h, 3.5, 2.2) + 0.22 * g(h, 8.0, 1.2) + 0.45 * g(h, 19.0, 1.6);
        let dip = 520.0 * sun * sun * (1.0 - w) * g(h, 13.0, 2.0);
        let noise = level * 0.06 * rng.range(-1.0, 1.0);
        let market = ((level * shape - dip + noise).max(-500.0) * 100.0).round() / 100.0;
        let zone = tariff_zone(local.hour());
        quarters.push(Quarter {
            start,
            end,
            market_pln_mwh: market,
            zone,
            final_pln_kwh: final_price(market, zone),
        });
    }
    let mut finals: Vec<f64> = quarters.iter().map(|q| q.final_pln_kwh).collect();
    finals.sort_by(f64::total_cmp);
    let mut markets: Vec<f64> = quarters.iter().map(|q| q.market_pln_mwh).collect();
    markets.sort_by(f64::total_cmp);
    let avg_final = finals.iter().sum::<f64>() / finals.len().max(1) as f64;
    let cheapest = quarters
        .iter()
        .min_by(|a, b| a.final_pln_kwh.total_cmp(&b.final_pln_kwh))
        .map(|q| (q.final_pln_kwh, q.start.with_timezone(&ZONE).hour()))
        .unwrap_or((0.0, 0));
    let evening_peak = quarters
        .iter()
        .filter(|q| (17..21).contains(&q.start.with_timezone(&ZONE).hour()))
        .map(|q| q.final_pln_kwh)
        .fold(f64::NEG_INFINITY, f64::max);
    DayPrices {
        date,
        weather,
        evening_peak,
        charge_below: finals[finals.len() / 4],
        sell_above: markets[markets.len() * 4 / 5],
        avg_final,
        cheapest_final: cheapest.0,
        cheapest_hour: cheapest.1,
        quarters,
    }
}
