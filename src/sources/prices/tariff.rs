//! Tariffs: the distribution price and tariff zone of a quarter, and the final price
//! (market + SC component + distribution), compatible with the coordinator's
//! `electricity_tariff` section (tariff types `static`, `time_based`, `seasonal_time_based`,
//! `kompas_based`), plus the Polish public-holiday calendar that `g13s` needs.
//!
//! Everything here is pure: an instant in, prices out. Hours are Europe/Warsaw wall-clock
//! hours of the quarter's **start**.
//!
//! `seasonal_time_based` tables are read in the coordinator's own layout
//! (`prices.working_days.<season>.day_peak | day_off_peak | night`, hours under
//! `seasons.<season>.time_zones`) and in the short spelling (`peak | off_peak | night`).
//! `time_based` tables may say `free_days: off_peak` (the default for `g12w`): then
//! weekends and Polish public holidays are off-peak all day.

use chrono::{DateTime, Datelike, Timelike, Utc};
use serde_json::json;

use crate::clock;

mod calendar;
mod yaml;

pub use calendar::{easter_sunday, is_free_day, is_public_holiday};
use calendar::{next_day, prev_day};

/// The SC component (PLN/kWh) when the configuration does not give one.
pub const DEFAULT_SC_COMPONENT: f64 = 0.0892;
/// The tariff used when neither our config nor the coordinator's names one.
pub const DEFAULT_TARIFF: &str = "g12";

/// A configuration problem: the key (relative to the tariff section) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TariffError {
    pub key: String,
    pub message: String,
}

impl std::fmt::Display for TariffError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// Prices of the three zones of a seasonal working day.
#[derive(Debug, Clone, PartialEq)]
pub struct ZonePrices {
    pub peak: f64,
    pub off_peak: f64,
    pub night: f64,
}

/// One season of a `g13s` tariff: its working-day prices and hours (`[start, end)` local
/// hours; every hour in neither list is night).
#[derive(Debug, Clone, PartialEq)]
pub struct Season {
    pub prices: ZonePrices,
    pub peak_hours: Vec<(u32, u32)>,
    pub off_peak_hours: Vec<(u32, u32)>,
}

/// How the distribution price is chosen.
#[derive(Debug, Clone, PartialEq)]
pub enum Pricing {
    /// One price all day (`g11`).
    Static { price: f64 },
    /// Peak hours with off-peak windows (`g12`, `g12w`, `g12as`). With
    /// `free_days_off_peak`, weekends and public holidays are off-peak all day (`g12w`).
    TimeBased {
        peak: f64,
        off_peak: f64,
        peak_hours: (u32, u32),
        off_peak_windows: Vec<(u32, u32)>,
        free_days_off_peak: bool,
    },
    /// Free days (weekends, public holidays) at one price, working days by season and zone
    /// (`g13s`). Summer runs from `summer_from` to `summer_to` (month, day; inclusive).
    Seasonal {
        free_days: f64,
        summer: Season,
        winter: Season,
        summer_from: (u32, u32),
        summer_to: (u32, u32),
    },
    /// `g14dynamic`: the price depends on the PSE "Kompas" status, which we do not read, so
    /// the configured fallback price applies.
    Kompas { fallback: f64 },
    /// No usable distribution table: final = market + SC.
    MarketPlusSc,
}

/// A configured tariff.
#[derive(Debug, Clone, PartialEq)]
pub struct Tariff {
    /// `tariff_type`, e.g. `g12`.
    pub name: String,
    /// SC component, PLN/kWh.
    pub sc_component: f64,
    pub pricing: Pricing,
}

/// The price parts of one quarter, PLN/kWh.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Priced {
    pub market: f64,
    pub distribution: f64,
    pub final_price: f64,
    pub zone: &'static str,
}

impl Tariff {
    /// The built-in tariff of `name`, from the coordinator's shipped tables; `None` for
    /// tariffs whose prices we do not know (`g12w`, `g13s` must be configured).
    pub fn builtin(name: &str) -> Option<Tariff> {
        let pricing = match name {
            "g11" => Pricing::Static { price: 0.3125 },
            "g12" => Pricing::TimeBased {
                peak: 0.3566,
                off_peak: 0.0749,
                peak_hours: (7, 22),
                off_peak_windows: vec![(13, 15)],
                free_days_off_peak: false,
            },
            "g12as" => Pricing::TimeBased {
                peak: 0.3125,
                off_peak: 0.0312,
                peak_hours: (7, 13),
                off_peak_windows: vec![],
                free_days_off_peak: false,
            },
            "g14dynamic" => Pricing::Kompas { fallback: 0.0578 },
            _ => return None,
        };
        Some(Tariff {
            name: name.to_string(),
            sc_component: DEFAULT_SC_COMPONENT,
            pricing,
        })
    }

    /// Market + SC only, for when no tariff table can be used.
    pub fn market_plus_sc(sc_component: f64) -> Tariff {
        Tariff {
            name: "none".into(),
            sc_component,
            pricing: Pricing::MarketPlusSc,
        }
    }

    /// `tariff_aware`, or `market_plus_sc` when there is no distribution table.
    pub fn calculation_method(&self) -> &'static str {
        match self.pricing {
            Pricing::MarketPlusSc => "market_plus_sc",
            _ => "tariff_aware",
        }
    }

    /// Distribution price (PLN/kWh) and zone for the quarter starting at `start`.
    pub fn distribution(&self, start: DateTime<Utc>) -> (f64, &'static str) {
        let local = start.with_timezone(&clock::ZONE);
        let h = local.hour();
        match &self.pricing {
            Pricing::Static { price } => (*price, "all_day"),
            Pricing::TimeBased {
                peak,
                off_peak,
                peak_hours,
                off_peak_windows,
                free_days_off_peak,
            } => {
                let off_all_day = *free_days_off_peak && is_free_day(local.date_naive());
                let in_window = off_peak_windows.iter().any(|(s, e)| *s <= h && h < *e);
                if off_all_day || in_window {
                    (*off_peak, "off_peak")
                } else if peak_hours.0 <= h && h < peak_hours.1 {
                    (*peak, "peak")
                } else {
                    (*off_peak, "off_peak")
                }
            }
            Pricing::Seasonal {
                free_days,
                summer,
                winter,
                summer_from,
                summer_to,
            } => {
                let date = local.date_naive();
                if is_free_day(date) {
                    return (*free_days, "free_day");
                }
                let md = (date.month(), date.day());
                let season = if *summer_from <= md && md <= *summer_to {
                    summer
                } else {
                    winter
                };
                let within = |hours: &[(u32, u32)]| hours.iter().any(|(s, e)| *s <= h && h < *e);
                if within(&season.peak_hours) {
                    (season.prices.peak, "peak")
                } else if within(&season.off_peak_hours) {
                    (season.prices.off_peak, "off_peak")
                } else {
                    (season.prices.night, "night")
                }
            }
            Pricing::Kompas { fallback } => (*fallback, "kompas_fallback"),
            Pricing::MarketPlusSc => (0.0, "none"),
        }
    }

    /// The final price of a quarter with market price `market_pln_mwh` starting at `start`.
    pub fn price(&self, market_pln_mwh: f64, start: DateTime<Utc>) -> Priced {
        let market = market_pln_mwh / 1000.0;
        let (distribution, zone) = self.distribution(start);
        Priced {
            market,
            distribution,
            final_price: market + self.sc_component + distribution,
            zone,
        }
    }

    /// This tariff as a `prices.tariff` section (the coordinator's `electricity_tariff`
    /// shape), for the effective configuration. `None` for market + SC, which no section
    /// expresses.
    pub fn to_config(&self) -> Option<serde_json::Value> {
        if self.pricing == Pricing::MarketPlusSc {
            return None;
        }
        let mut table = serde_json::Map::new();
        table.insert(self.name.clone(), self.to_json()["distribution"].clone());
        Some(json!({
            "tariff_type": self.name,
            "sc_component_pln_kwh": self.sc_component,
            "distribution_pricing": table,
        }))
    }

    /// A description for `/prices`.
    pub fn to_json(&self) -> serde_json::Value {
        let table = match &self.pricing {
            Pricing::Static { price } => json!({"type": "static", "price": price}),
            Pricing::TimeBased {
                peak,
                off_peak,
                peak_hours,
                off_peak_windows,
                free_days_off_peak,
            } => json!({
                "type": "time_based",
                "prices": {"peak": peak, "off_peak": off_peak},
                "peak_hours": {"start": peak_hours.0, "end": peak_hours.1},
                "off_peak_windows": off_peak_windows.iter().map(|(s, e)| json!({"start": s, "end": e})).collect::<Vec<_>>(),
                "free_days": if *free_days_off_peak { "off_peak" } else { "as_working_days" },
            }),
            Pricing::Seasonal {
                free_days,
                summer,
                winter,
                summer_from,
                summer_to,
            } => {
                let season = |s: &Season, from: (u32, u32), to: (u32, u32)| {
                    let mut zones = serde_json::Map::new();
                    let two_peaks = s.peak_hours.len() == 2;
                    for (i, (a, b)) in s.peak_hours.iter().enumerate() {
                        let name = match (two_peaks, i) {
                            (true, 0) => "day_peak_morning".to_string(),
                            (true, _) => "day_peak_evening".to_string(),
                            (false, 0) => "day_peak".to_string(),
                            (false, _) => format!("day_peak_{}", i + 1),
                        };
                        zones.insert(name, json!({"start": a, "end": b}));
                    }
                    for (i, (a, b)) in s.off_peak_hours.iter().enumerate() {
                        let name = match i {
                            0 => "day_off_peak".to_string(),
                            _ => format!("day_off_peak_{}", i + 1),
                        };
                        zones.insert(name, json!({"start": a, "end": b}));
                    }
                    json!({
                        "start_month": from.0, "start_day": from.1,
                        "end_month": to.0, "end_day": to.1,
                        "time_zones": zones,
                    })
                };
                let after = next_day(*summer_to);
                let before = prev_day(*summer_from);
                json!({
                    "type": "seasonal_time_based",
                    "seasons": {
                        "summer": season(summer, *summer_from, *summer_to),
                        "winter": season(winter, after, before),
                    },
                    "prices": {
                        "free_days": {"all_hours": free_days},
                        "working_days": {
                            "summer": {"day_peak": summer.prices.peak, "day_off_peak": summer.prices.off_peak, "night": summer.prices.night},
                            "winter": {"day_peak": winter.prices.peak, "day_off_peak": winter.prices.off_peak, "night": winter.prices.night},
                        }
                    }
                })
            }
            Pricing::Kompas { fallback } => {
                json!({"type": "kompas_based", "fallback_price": fallback})
            }
            Pricing::MarketPlusSc => json!({"type": "none"}),
        };
        json!({
            "tariff_type": self.name,
            "sc_component_pln_kwh": self.sc_component,
            "distribution": table,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;
    use serde_yaml::Value;

    fn local(y: i32, mo: u32, d: u32, h: u32, mi: u32) -> DateTime<Utc> {
        clock::ZONE
            .with_ymd_and_hms(y, mo, d, h, mi, 0)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    fn round4(x: f64) -> f64 {
        (x * 10_000.0).round() / 10_000.0
    }

    #[test]
    fn worked_example_g12_at_ten() {
        let t = Tariff::builtin("g12").unwrap();
        let p = t.price(400.0, local(2025, 12, 6, 10, 15));
        assert_eq!(round4(p.final_price), 0.8458);
        assert_eq!(p.zone, "peak");
        // Off-peak window 13-15 and nights.
        assert_eq!(t.distribution(local(2025, 12, 6, 13, 0)).0, 0.0749);
        assert_eq!(t.distribution(local(2025, 12, 6, 22, 0)).1, "off_peak");
        assert_eq!(t.distribution(local(2025, 12, 6, 6, 45)).1, "off_peak");
        assert_eq!(t.distribution(local(2025, 12, 6, 7, 0)).1, "peak");
    }

    #[test]
    fn quarter_start_decides_the_hour() {
        // 06:45-07:00 is priced at the 6 o'clock rate (the original used the end, hour 7).
        let t = Tariff::builtin("g12").unwrap();
        assert_eq!(t.distribution(local(2026, 11, 20, 6, 45)).0, 0.0749);
        // Negative market prices are kept, not clamped.
        let p = t.price(-2086.86, local(2026, 5, 10, 13, 0));
        assert_eq!(round4(p.final_price), round4(-2.08686 + 0.0892 + 0.0749));
    }

    fn g13s() -> Tariff {
        let yaml: Value = serde_yaml::from_str(
            "tariff_type: g13s\nsc_component_pln_kwh: 0.09\ndistribution_pricing:\n  g13s:\n    type: seasonal_time_based\n    prices:\n      free_days: {all_hours: 0.110}\n      working_days:\n        summer: {peak: 0.30, off_peak: 0.20, night: 0.10}\n        winter: {peak: 0.40, off_peak: 0.25, night: 0.12}\n",
        )
        .unwrap();
        Tariff::from_yaml(&yaml, true).unwrap()
    }

    #[test]
    fn g13s_on_real_days() {
        let t = g13s();
        // Corpus Christi 2026 (Thursday 4 June): a free day.
        assert_eq!(t.distribution(local(2026, 6, 4, 8, 0)), (0.110, "free_day"));
        // Friday 5 June, summer: peak 7-9, off-peak 9-17, night otherwise.
        assert_eq!(t.distribution(local(2026, 6, 5, 8, 0)), (0.30, "peak"));
        assert_eq!(t.distribution(local(2026, 6, 5, 12, 0)), (0.20, "off_peak"));
        assert_eq!(t.distribution(local(2026, 6, 5, 18, 0)), (0.30, "peak"));
        assert_eq!(t.distribution(local(2026, 6, 5, 23, 0)), (0.10, "night"));
        // Friday 20 November, winter: peak 7-10 and 15-21, off-peak 10-15.
        assert_eq!(t.distribution(local(2026, 11, 20, 9, 30)), (0.40, "peak"));
        assert_eq!(
            t.distribution(local(2026, 11, 20, 14, 45)),
            (0.25, "off_peak")
        );
        assert_eq!(t.distribution(local(2026, 11, 20, 15, 0)), (0.40, "peak"));
        // Easter Monday 2026 and a Sunday.
        assert_eq!(t.distribution(local(2026, 4, 6, 8, 0)).1, "free_day");
        assert_eq!(t.distribution(local(2026, 11, 22, 8, 0)).1, "free_day");
        assert_eq!(t.sc_component, 0.09);
    }

    #[test]
    fn config_sections() {
        let parse = |s: &str, strict| Tariff::from_yaml(&serde_yaml::from_str(s).unwrap(), strict);
        let t = parse("tariff_type: g11\n", true).unwrap();
        assert_eq!(t.pricing, Pricing::Static { price: 0.3125 });
        assert_eq!(t.sc_component, DEFAULT_SC_COMPONENT);
        let t = parse("tariff_type: g14dynamic\n", true).unwrap();
        assert_eq!(t.distribution(local(2026, 1, 1, 0, 0)).0, 0.0578);
        let t = parse(
            "tariff_type: g12w\ndistribution_pricing:\n  g12w:\n    type: time_based\n    peak_hours: {start: 6, end: 22}\n    prices: {peak: 0.4, off_peak: '0.1'}\n",
            true,
        )
        .unwrap();
        assert_eq!(t.distribution(local(2026, 1, 2, 6, 0)), (0.4, "peak"));
        assert_eq!(t.distribution(local(2026, 1, 2, 5, 45)), (0.1, "off_peak"));
        assert_eq!(
            parse("tariff_type: g12w\n", true).unwrap_err().key,
            "distribution_pricing.g12w"
        );
        assert_eq!(
            parse("tarif_type: g12\n", true).unwrap_err().key,
            "tarif_type"
        );
        assert!(parse("tarif_type: g12\n", false).is_ok());
        let e = parse(
            "tariff_type: g12\ndistribution_pricing:\n  g12:\n    type: time_based\n    prices: {peak: x}\n",
            true,
        )
        .unwrap_err();
        assert_eq!(e.key, "distribution_pricing.g12.prices.peak");
        let e = parse(
            "tariff_type: g11\ndistribution_pricing:\n  g11: {type: flat}\n",
            true,
        )
        .unwrap_err();
        assert_eq!(e.key, "distribution_pricing.g11.type");
    }

    /// The coordinator's own file (its layout, `tariff_type: g13s`).
    const COORDINATOR_FILE: &str =
        include_str!("../../../test/fixtures/master_coordinator_config.yaml");

    fn coordinator_tariff(name: &str) -> Tariff {
        let doc: Value = serde_yaml::from_str(COORDINATOR_FILE).unwrap();
        let mut section = doc["electricity_tariff"].clone();
        section["tariff_type"] = Value::String(name.into());
        Tariff::from_yaml(&section, false).unwrap()
    }

    #[test]
    fn g13s_from_the_coordinators_own_file() {
        let t = coordinator_tariff("g13s");
        assert_eq!(t.calculation_method(), "tariff_aware");
        // Winter peak, Thursday 2026-11-19 17:00 (winter evening peak 15-21), market
        // 575.88 PLN/MWh: 0.57588 + 0.0892 SC + 0.340 winter day_peak = 1.00508 -> 1.0051
        // (without the distribution price it was 0.6651).
        let p = t.price(575.88, local(2026, 11, 19, 17, 0));
        assert_eq!((p.distribution, p.zone), (0.340, "peak"));
        assert_eq!(round4(p.final_price), 1.0051);
        // Summer peak, Wednesday 2026-07-15 08:00 (summer morning peak 7-9), 400 PLN/MWh:
        // 0.400 + 0.0892 + 0.290 = 0.7792.
        let p = t.price(400.0, local(2026, 7, 15, 8, 0));
        assert_eq!((p.distribution, p.zone), (0.290, "peak"));
        assert_eq!(round4(p.final_price), 0.7792);
        // Summer 09:00 is day_off_peak 0.100; 21:00 night 0.110; winter 10:00 off-peak 0.200.
        assert_eq!(
            t.distribution(local(2026, 7, 15, 9, 0)),
            (0.100, "off_peak")
        );
        assert_eq!(t.distribution(local(2026, 7, 15, 21, 0)), (0.110, "night"));
        assert_eq!(
            t.distribution(local(2026, 11, 19, 10, 0)),
            (0.200, "off_peak")
        );
        // Season edges from seasons.summer: 30 Sep (Wed) 08:00 summer, 1 Oct (Thu) 09:00
        // winter peak.
        assert_eq!(t.distribution(local(2026, 9, 30, 8, 0)).0, 0.290);
        assert_eq!(t.distribution(local(2026, 10, 1, 9, 0)).0, 0.340);
        // Saturday 2026-11-21 17:00, 578.10 PLN/MWh: free day 0.110 ->
        // 0.5781 + 0.0892 + 0.110 = 0.7773.
        let p = t.price(578.1, local(2026, 11, 21, 17, 0));
        assert_eq!((p.distribution, p.zone), (0.110, "free_day"));
        assert_eq!(round4(p.final_price), 0.7773);
        // Wednesday 11 November 2026 (Independence Day) 17:00: free day, 0.7773 again.
        let p = t.price(578.1, local(2026, 11, 11, 17, 0));
        assert_eq!((p.distribution, p.zone), (0.110, "free_day"));
        assert_eq!(round4(p.final_price), 0.7773);
        // Its description round-trips through our own (strict) reader.
        let again = Tariff::from_yaml(&serde_yaml::to_value(t.to_config().unwrap()).unwrap(), true)
            .unwrap();
        assert_eq!(again, t);
    }

    #[test]
    fn g12w_weekends_and_holidays_are_off_peak() {
        let t = coordinator_tariff("g12w");
        // Friday 2026-11-20 17:00 (peak 6-22), 578.10 PLN/MWh:
        // 0.5781 + 0.0892 + 0.3566 = 1.0239.
        let p = t.price(578.1, local(2026, 11, 20, 17, 0));
        assert_eq!((p.distribution, p.zone), (0.3566, "peak"));
        assert_eq!(round4(p.final_price), 1.0239);
        // Saturday 2026-11-21 17:00: off-peak all day, 0.5781 + 0.0892 + 0.0749 = 0.7422.
        let p = t.price(578.1, local(2026, 11, 21, 17, 0));
        assert_eq!((p.distribution, p.zone), (0.0749, "off_peak"));
        assert_eq!(round4(p.final_price), 0.7422);
        // Wednesday 11 November 2026 17:00 (public holiday): 0.7422.
        assert_eq!(
            round4(t.price(578.1, local(2026, 11, 11, 17, 0)).final_price),
            0.7422
        );
        // Friday 25 December 2026 17:00, 577.00 PLN/MWh: 0.577 + 0.0892 + 0.0749 = 0.7411
        // (1.0228 if it were charged as peak). Christmas Eve (Thursday) too, from 2025.
        assert_eq!(
            round4(t.price(577.0, local(2026, 12, 25, 17, 0)).final_price),
            0.7411
        );
        assert_eq!(t.distribution(local(2026, 12, 24, 17, 0)).1, "off_peak");
        // Plain g12 has no free days: Saturday 17:00 is peak.
        let g12 = coordinator_tariff("g12");
        assert_eq!(g12.distribution(local(2026, 11, 21, 17, 0)).1, "peak");
        // Our own file may say it for any two-zone tariff, or turn it off.
        let parse = |s: &str| Tariff::from_yaml(&serde_yaml::from_str(s).unwrap(), true);
        let own = parse(
            "tariff_type: g12\ndistribution_pricing:\n  g12:\n    type: time_based\n    free_days: off_peak\n    prices: {peak: 0.3566, off_peak: 0.0749}\n",
        )
        .unwrap();
        assert_eq!(own.distribution(local(2026, 11, 21, 17, 0)).1, "off_peak");
        let e = parse(
            "tariff_type: g12w\ndistribution_pricing:\n  g12w:\n    type: time_based\n    free_days: cheap\n    prices: {peak: 0.3566, off_peak: 0.0749}\n",
        )
        .unwrap_err();
        assert_eq!(e.key, "distribution_pricing.g12w.free_days");
    }

    #[test]
    fn g13s_tables_that_cannot_be_understood_name_the_key() {
        let parse = |s: &str| Tariff::from_yaml(&serde_yaml::from_str(s).unwrap(), false);
        let base = "tariff_type: g13s\ndistribution_pricing:\n  g13s:\n    type: seasonal_time_based\n    prices:\n      free_days: {all_hours: 0.11}\n      working_days:\n";
        // A zone missing in both spellings.
        let e = parse(&format!(
            "{base}        summer: {{day_peak: 0.29, night: 0.11}}\n        winter: {{day_peak: 0.34, day_off_peak: 0.2, night: 0.11}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.key,
            "distribution_pricing.g13s.prices.working_days.summer.day_off_peak"
        );
        assert!(
            e.message
                .contains("expected day_peak, day_off_peak and night"),
            "{e}"
        );
        // Both spellings at once.
        let e = parse(&format!(
            "{base}        summer: {{day_peak: 0.29, peak: 0.3, day_off_peak: 0.1, night: 0.11}}\n        winter: {{day_peak: 0.34, day_off_peak: 0.2, night: 0.11}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.key,
            "distribution_pricing.g13s.prices.working_days.summer.peak"
        );
        // An unknown zone name under time_zones.
        let e = parse(&format!(
            "{base}        summer: {{peak: 0.29, off_peak: 0.1, night: 0.11}}\n        winter: {{peak: 0.34, off_peak: 0.2, night: 0.11}}\n    seasons:\n      winter:\n        time_zones:\n          shoulder: {{start: 6, end: 7}}\n"
        ))
        .unwrap_err();
        assert_eq!(
            e.key,
            "distribution_pricing.g13s.seasons.winter.time_zones.shoulder"
        );
    }
}
