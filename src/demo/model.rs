//! The demo's physics and market: a seeded PRNG, weather, PV output, house load, G12 tariff
//! zones, quarter-hour market prices, and [`Simulator`], which steps a battery-backed house one
//! minute at a time and takes the coordinator's decision every 15 minutes.
//!
//! Sign conventions follow the GoodWe inverter: `grid_w` is negative while importing and
//! positive while exporting; `battery_w` is positive while discharging and negative while
//! charging. The balance `grid_w = pv_w + battery_w - house_w` holds exactly on every minute.
//!
//! Everything is a pure function of the seed and the instant, except the simulator's state
//! (SOC, meter counters), which integrates minute by minute.

use chrono::{Datelike, NaiveDate};

/// Nameplate of the demo installation.
pub const PV_PEAK_W: f64 = 8000.0;
pub const BATTERY_WH: f64 = 10_200.0;
pub const BATTERY_MAX_W: f64 = 5000.0;
pub const SOC_MIN: f64 = 10.0;
pub const SOC_MAX: f64 = 100.0;
/// One-way battery efficiency (charging and discharging each lose this share).
pub const EFFICIENCY: f64 = 0.97;
/// G12 tariff components, PLN/kWh (the coordinator's shipped defaults).
pub const SC_COMPONENT: f64 = 0.0892;
pub const G12_PEAK: f64 = 0.3566;
pub const G12_OFF_PEAK: f64 = 0.0749;
/// Roughly central Poland.
const LAT_DEG: f64 = 52.23;
const LON_DEG: f64 = 21.01;
/// The decision cadence.
pub const DECISION_MINUTES: u32 = 15;
/// Charging in the midday off-peak window for the evening peak needs at least this
/// spread, PLN/kWh, and stops at this SOC.
const ARBITRAGE_SPREAD: f64 = 0.3;
const ARBITRAGE_TARGET: f64 = 80.0;
/// The `energy_data` cadence.
pub const ENERGY_MINUTES: u32 = 5;

// ---------------------------------------------------------------------------------------
// PRNG
// ---------------------------------------------------------------------------------------

/// A tiny xorshift64* generator: deterministic, fast, not for cryptography.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator whose state is derived from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Rng {
        // One splitmix64 round spreads similar seeds apart.
        let mut z = seed.wrapping_add(0x9E37_79B9_7F4A_7C15);
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        Rng(if z == 0 { 0x2545_F491_4F6C_DD1D } else { z })
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in [lo, hi).
    pub fn range(&mut self, lo: f64, hi: f64) -> f64 {
        lo + (hi - lo) * self.unit()
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n.max(1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
}

/// A generator for one calendar day and purpose, independent of the order of calls.
fn day_rng(seed: u64, date: NaiveDate, salt: u64) -> Rng {
    let day = date.num_days_from_ce() as u64;
    Rng::new(
        seed ^ day.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ salt.wrapping_mul(0xD6E8_FEB8_6659_FD93),
    )
}

mod environment;
mod market;
mod simulator;

pub use environment::*;
pub use market::*;
pub use simulator::*;

#[cfg(test)]
mod tests {
    use chrono::{DateTime, Duration, TimeZone, Timelike, Utc};

    use super::*;
    use crate::clock::ZONE;

    fn utc(y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap()
    }

    #[test]
    fn rng_is_deterministic_and_spread() {
        let mut a = Rng::new(7);
        let mut b = Rng::new(7);
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..5).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        let mut r = Rng::new(0);
        let mean = (0..10_000).map(|_| r.unit()).sum::<f64>() / 10_000.0;
        assert!((mean - 0.5).abs() < 0.02, "{mean}");
    }

    #[test]
    fn quarter_counts_follow_dst() {
        let n = |y, m, d| quarter_bounds(NaiveDate::from_ymd_opt(y, m, d).unwrap()).len();
        assert_eq!(n(2026, 3, 29), 92);
        assert_eq!(n(2026, 11, 21), 96);
        assert_eq!(n(2026, 10, 25), 100);
        let q = quarter_bounds(NaiveDate::from_ymd_opt(2026, 11, 21).unwrap());
        assert_eq!(
            q[0].0,
            Utc.with_ymd_and_hms(2026, 11, 20, 23, 0, 0).unwrap()
        );
        assert_eq!(
            q[95].1,
            Utc.with_ymd_and_hms(2026, 11, 21, 23, 0, 0).unwrap()
        );
    }

    #[test]
    fn pv_is_a_daytime_bell_larger_in_summer() {
        assert_eq!(clear_sky_pv_w(utc(2026, 6, 21, 0)), 0.0);
        let summer = clear_sky_pv_w(utc(2026, 6, 21, 11));
        let winter = clear_sky_pv_w(utc(2026, 12, 21, 11));
        assert!(summer > 5000.0 && summer < PV_PEAK_W, "{summer}");
        assert!(winter > 500.0 && winter < 2500.0, "{winter}");
        assert!(clear_sky_pv_w(utc(2026, 6, 21, 6)) < summer);
    }

    #[test]
    fn prices_have_evening_peaks_and_sunny_negatives() {
        let seed = 42;
        let mut negatives = 0;
        for d in 1..=30 {
            let p = day_prices(seed, NaiveDate::from_ymd_opt(2026, 6, d).unwrap());
            negatives += p.quarters.iter().filter(|q| q.market_pln_mwh < 0.0).count();
            let at = |h: u32| {
                p.quarters
                    .iter()
                    .filter(|q| q.start.with_timezone(&ZONE).hour() == h)
                    .map(|q| q.market_pln_mwh)
                    .sum::<f64>()
            };
            assert!(at(19) > at(3), "evening above night on 2026-06-{d}");
        }
        assert!(negatives > 0, "some sunny June quarters go negative");
        let winter = day_prices(seed, NaiveDate::from_ymd_opt(2026, 12, 10).unwrap());
        assert!(winter.quarters.iter().all(|q| q.market_pln_mwh > 0.0));
    }

    #[test]
    fn simulation_keeps_soc_in_range_balance_exact_and_counters_monotonic() {
        for (seed, start) in [
            (1, utc(2026, 1, 10, 0)),
            (2, utc(2026, 6, 10, 0)),
            (3, utc(2026, 10, 20, 0)),
        ] {
            let mut sim = Simulator::new(seed, Some(start + Duration::days(3)));
            let mut prev: Option<Minute> = None;
            let (mut charges, mut restarts) = (0, 0);
            for k in 0..(10 * 1440) {
                let m = sim.step(start + Duration::minutes(k));
                assert!((0.0..=100.0).contains(&m.soc), "soc {}", m.soc);
                assert!(m.soc >= SOC_MIN - 0.5, "soc {} below the floor", m.soc);
                assert_eq!(m.grid_w, m.pv_w + m.battery_w - m.house_w);
                assert!(m.battery_w.abs() as f64 <= BATTERY_MAX_W);
                assert!(m.pv_w >= 0 && m.house_w > 0);
                if let Some(p) = &prev {
                    assert!(m.import_total_kwh >= p.import_total_kwh);
                    assert!(m.export_total_kwh >= p.export_total_kwh);
                    assert!(m.pv_total_kwh >= p.pv_total_kwh);
                    assert!(m.house_total_kwh >= p.house_total_kwh);
                    assert!(m.read_at > p.read_at);
                }
                charges += m
                    .decision
                    .iter()
                    .filter(|d| d.action == Action::Charge)
                    .count();
                restarts += m.restarted as usize;
                prev = Some(m);
            }
            assert_eq!(restarts, 1);
            assert!(
                charges > 0,
                "seed {seed}: the coordinator charged at least once"
            );
        }
    }

    #[test]
    fn fall_back_hour_is_marked_as_second_pass() {
        let mut sim = Simulator::new(5, None);
        let start = Utc.with_ymd_and_hms(2026, 10, 24, 23, 0, 0).unwrap();
        let mut folds = 0;
        for k in 0..240 {
            let m = sim.step(start + Duration::minutes(k));
            folds += m.fold as usize;
        }
        assert_eq!(folds, 60);
    }
}
