//! [`Simulator`]: steps a battery-backed house one minute at a time (SOC, meter counters,
//! the exact grid balance) and takes the coordinator's decision every 15 minutes.

use chrono::{DateTime, Duration, NaiveDateTime, TimeZone, Timelike, Utc};

use super::*;
use crate::clock::ZONE;

/// What the coordinator decided at a quarter-hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Charge,
    Wait,
    Sell,
}

impl Action {
    /// The `action` value the coordinator writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Charge => "charge",
            Action::Wait => "wait",
            Action::Sell => "battery_selling",
        }
    }
}

/// The extra fields of a selling decision.
#[derive(Debug, Clone)]
pub struct SellInfo {
    pub power_w: u32,
    pub duration_h: f64,
    pub energy_kwh: f64,
    pub revenue_per_kwh: f64,
    pub expected_revenue: f64,
    pub risk_level: &'static str,
    pub success: bool,
    pub error: Option<&'static str>,
}

/// One decision, with the values the coordinator stores for it.
#[derive(Debug, Clone)]
pub struct Decision {
    pub action: Action,
    pub reason: String,
    pub priority: &'static str,
    pub confidence: f64,
    pub energy_kwh: f64,
    pub cost_pln: f64,
    pub savings_pln: f64,
    /// Final price of the quarter, PLN/kWh.
    pub current_price: f64,
    /// Market price of the quarter, PLN/kWh (what selling earns).
    pub market_price: f64,
    pub cheapest_price: f64,
    pub cheapest_hour: u32,
    pub soc: u32,
    pub pv_w: i64,
    pub house_w: i64,
    pub zone: Zone,
    pub target_soc: u32,
    pub sell: Option<SellInfo>,
}

/// A sensor problem on one reading: some leaves become `"Unknown"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Glitch {
    None,
    /// The battery temperature sensor did not answer.
    Temperature,
    /// The PV string and per-phase registers timed out.
    PartialRead,
}

/// The house and the coordinator at one minute.
#[derive(Debug, Clone)]
pub struct Minute {
    /// The step instant (whole minute, UTC).
    pub t: DateTime<Utc>,
    /// When the reading was taken (a few seconds after `t`).
    pub read_at: DateTime<Utc>,
    /// `read_at` as Warsaw wall-clock time.
    pub local: NaiveDateTime,
    /// True for the second pass through a repeated hour on the fall-back day.
    pub fold: bool,
    pub pv_w: i64,
    pub pv1_w: i64,
    pub house_w: i64,
    pub battery_w: i64,
    pub grid_w: i64,
    pub soc: f64,
    pub battery_temp_c: f64,
    pub grid_voltage: f64,
    pub grid_frequency: f64,
    pub zone: Zone,
    pub market_pln_mwh: f64,
    pub price_final: f64,
    pub import_total_kwh: f64,
    pub export_total_kwh: f64,
    pub house_total_kwh: f64,
    pub pv_total_kwh: f64,
    pub today_pv_kwh: f64,
    pub today_import_kwh: f64,
    pub today_export_kwh: f64,
    pub today_house_kwh: f64,
    pub grid_charging: bool,
    pub glitch: Glitch,
    pub uptime_s: f64,
    pub decision_count: u64,
    /// True on the first minute after a coordinator restart.
    pub restarted: bool,
    pub outdoor_temp_c: f64,
    pub cloud: f64,
    pub decision: Option<Decision>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Mode {
    /// Self-consumption: PV surplus charges, deficits discharge.
    Auto,
    /// Charging from the grid at full power up to a SOC.
    GridCharge { until: f64 },
    /// Selling to the grid at full power down to a SOC.
    Sell { floor: f64 },
}

/// Steps the installation minute by minute. Deterministic for a seed and a start.
#[derive(Debug, Clone)]
pub struct Simulator {
    seed: u64,
    rng: Rng,
    soc: f64,
    import_kwh: f64,
    export_kwh: f64,
    house_kwh: f64,
    pv_kwh: f64,
    today: [f64; 4],
    day: Option<DayPrices>,
    mode: Mode,
    uptime_s: f64,
    decision_count: u64,
    sells_today: u32,
    sell_counter: u64,
    appliance_left: u32,
    appliance_w: f64,
    battery_temp: f64,
    restart_at: Option<DateTime<Utc>>,
}

impl Simulator {
    /// A simulator whose coordinator restarts once at `restart_at` (if given).
    pub fn new(seed: u64, restart_at: Option<DateTime<Utc>>) -> Simulator {
        let mut rng = Rng::new(seed);
        Simulator {
            seed,
            soc: rng.range(35.0, 65.0),
            import_kwh: rng.range(8_000.0, 12_000.0),
            export_kwh: rng.range(2_000.0, 4_000.0),
            house_kwh: rng.range(25_000.0, 35_000.0),
            pv_kwh: rng.range(15_000.0, 22_000.0),
            uptime_s: rng.range(3.0, 20.0) * 86_400.0,
            decision_count: rng.below(2000),
            rng,
            today: [0.0; 4],
            day: None,
            mode: Mode::Auto,
            sells_today: 0,
            sell_counter: 0,
            appliance_left: 0,
            appliance_w: 0.0,
            battery_temp: 20.0,
            restart_at,
        }
    }

    /// The current state of charge, %.
    pub fn soc(&self) -> f64 {
        self.soc
    }

    /// Simulates the minute starting at `t` (a whole UTC minute) and returns its readings.
    pub fn step(&mut self, t: DateTime<Utc>) -> Minute {
        let local_t = t.with_timezone(&ZONE);
        let date = local_t.date_naive();
        if self.day.as_ref().map(|d| d.date) != Some(date) {
            self.day = Some(day_prices(self.seed, date));
            self.today = [0.0; 4];
            self.sells_today = 0;
        }
        let restarted = self.restart_at == Some(t);
        if restarted {
            self.uptime_s = 0.0;
            self.decision_count = 0;
            self.mode = Mode::Auto;
        }
        let (market, price_final, zone, weather_t, cloud, noon_temp) = {
            let day = self.day.as_ref().expect("set above");
            let q = day.at(t);
            let hour = local_t.hour() as f64 + local_t.minute() as f64 / 60.0;
            (
                q.market_pln_mwh,
                q.final_pln_kwh,
                tariff_zone(local_t.hour()),
                day.weather.transmission(hour),
                day.weather.cloud,
                day.weather.noon_temp_c,
            )
        };

        // The reading is taken a few seconds into the minute.
        let read_at = t + Duration::milliseconds(2000 + self.rng.below(5000) as i64);
        let local_read = read_at.with_timezone(&ZONE).naive_local();
        let fold = match ZONE.from_local_datetime(&local_read) {
            chrono::LocalResult::Ambiguous(_, latest) => latest == read_at,
            _ => false,
        };

        // PV: clear sky through the day's clouds, flickering on partly cloudy days.
        let flicker = 1.0 - cloud * (1.0 - cloud) * 0.8 * self.rng.unit();
        let pv = clear_sky_pv_w(t) * weather_t * flicker * self.rng.range(0.98, 1.02);
        let pv_w = pv.max(0.0).round() as i64;
        let pv1_w = (pv_w as f64 * self.rng.range(0.48, 0.52)).round() as i64;

        // House: profile, a fridge cycle, appliances (kettle, oven, washing machine), noise.
        if self.appliance_left == 0 && self.rng.chance(0.012) {
            self.appliance_left = 3 + self.rng.below(25) as u32;
            self.appliance_w = self.rng.range(800.0, 2400.0);
        }
        let appliance = if self.appliance_left > 0 {
            self.appliance_left -= 1;
            self.appliance_w
        } else {
            0.0
        };
        let fridge = if (t.timestamp() / 60 / 20) % 3 == 0 {
            90.0
        } else {
            0.0
        };
        let house = (house_profile_w(local_t.naive_local()) + fridge + appliance)
            * self.rng.range(0.95, 1.05);
        let house_w = house.round() as i64;

        // The coordinator decides at every quarter-hour, before acting on the minute.
        let decision = if local_t.minute().is_multiple_of(DECISION_MINUTES) {
            Some(self.decide(t, local_t.hour(), pv_w, house_w))
        } else {
            None
        };

        // Battery within its power and SOC limits.
        let room_w = ((SOC_MAX - self.soc) / 100.0 * BATTERY_WH * 60.0 / EFFICIENCY).max(0.0);
        let avail = |floor: f64, soc: f64| {
            ((soc - floor) / 100.0 * BATTERY_WH * 60.0 * EFFICIENCY).max(0.0)
        };
        let surplus = (pv_w - house_w) as f64;
        let auto = |soc: f64| {
            if surplus > 0.0 {
                -surplus.min(BATTERY_MAX_W).min(room_w)
            } else {
                (-surplus).min(BATTERY_MAX_W).min(avail(SOC_MIN, soc))
            }
        };
        let (battery, grid_charging) = match self.mode {
            Mode::Auto => (auto(self.soc), false),
            Mode::GridCharge { until } if self.soc < until => (-BATTERY_MAX_W.min(room_w), true),
            Mode::GridCharge { .. } => (auto(self.soc), false),
            Mode::Sell { floor } => (BATTERY_MAX_W.min(avail(floor, self.soc)), false),
        };
        let battery_w = battery.round() as i64;
        let grid_w = pv_w + battery_w - house_w;

        // Temperatures drift towards ambient plus heat from the current.
        let ambient = 16.0 + 0.25 * noon_temp;
        let target_temp = ambient + 4.0 * (battery_w.abs() as f64 / BATTERY_MAX_W);
        self.battery_temp += (target_temp - self.battery_temp) * 0.05;

        let glitch = if self.rng.chance(0.0007) {
            Glitch::PartialRead
        } else if self.rng.chance(0.002) {
            Glitch::Temperature
        } else {
            Glitch::None
        };

        let minute = Minute {
            t,
            read_at,
            local: local_read,
            fold,
            pv_w,
            pv1_w,
            house_w,
            battery_w,
            grid_w,
            soc: self.soc,
            battery_temp_c: self.battery_temp,
            grid_voltage: 230.0
                + 3.0 * (t.timestamp() as f64 / 5400.0).sin()
                + self.rng.range(-1.0, 1.0),
            grid_frequency: 50.0 + self.rng.range(-0.03, 0.03),
            zone,
            market_pln_mwh: market,
            price_final,
            import_total_kwh: self.import_kwh,
            export_total_kwh: self.export_kwh,
            house_total_kwh: self.house_kwh,
            pv_total_kwh: self.pv_kwh,
            today_pv_kwh: self.today[0],
            today_import_kwh: self.today[1],
            today_export_kwh: self.today[2],
            today_house_kwh: self.today[3],
            grid_charging,
            glitch,
            uptime_s: self.uptime_s,
            decision_count: self.decision_count,
            restarted,
            outdoor_temp_c: noon_temp,
            cloud,
            decision,
        };

        // Integrate the minute.
        let hours = 1.0 / 60.0;
        if battery_w < 0 {
            self.soc += -battery_w as f64 * hours / BATTERY_WH * 100.0 * EFFICIENCY;
        } else {
            self.soc -= battery_w as f64 * hours / BATTERY_WH * 100.0 / EFFICIENCY;
        }
        self.soc = self.soc.clamp(0.0, SOC_MAX);
        let import = (-grid_w).max(0) as f64 * hours / 1000.0;
        let export = grid_w.max(0) as f64 * hours / 1000.0;
        let pv_e = pv_w as f64 * hours / 1000.0;
        let house_e = house_w as f64 * hours / 1000.0;
        self.import_kwh += import;
        self.export_kwh += export;
        self.pv_kwh += pv_e;
        self.house_kwh += house_e;
        self.today[0] += pv_e;
        self.today[1] += import;
        self.today[2] += export;
        self.today[3] += house_e;
        self.uptime_s += 60.0;
        minute
    }

    /// The coordinator's quarter-hour decision; sets the mode for the next 15 minutes.
    fn decide(&mut self, t: DateTime<Utc>, hour: u32, pv_w: i64, house_w: i64) -> Decision {
        self.decision_count += 1;
        let day = self.day.as_ref().expect("set by step");
        let q = day.at(t);
        let w = winterness(day.date);
        let target = (45.0 + 45.0 * w).round();
        let soc = self.soc;
        let zone = tariff_zone(hour);
        let (avg_final, charge_below, sell_above) =
            (day.avg_final, day.charge_below, day.sell_above);
        let (cheapest_price, cheapest_hour) = (day.cheapest_final, day.cheapest_hour);
        let evening_peak = day.evening_peak;
        let (current, market) = (q.final_pln_kwh, q.market_pln_mwh / 1000.0);
        let r2 = |x: f64| (x * 100.0).round() / 100.0;
        let r4 = |x: f64| (x * 10_000.0).round() / 10_000.0;
        let mut d = Decision {
            action: Action::Wait,
            reason: String::new(),
            priority: "low",
            confidence: 0.0,
            energy_kwh: 0.0,
            cost_pln: 0.0,
            savings_pln: 0.0,
            current_price: r4(current),
            market_price: r4(market),
            cheapest_price: r4(cheapest_price),
            cheapest_hour,
            soc: soc.round() as u32,
            pv_w,
            house_w,
            zone,
            target_soc: target as u32,
            sell: None,
        };
        if (16..21).contains(&hour)
            && q.market_pln_mwh >= sell_above
            && soc >= 50.0
            && self.sells_today < 2
        {
            self.sells_today += 1;
            self.sell_counter += 1;
            let success = !self.sell_counter.is_multiple_of(3);
            let energy = BATTERY_MAX_W / 1000.0 * 0.25;
            d.action = Action::Sell;
            d.priority = "high";
            d.confidence = r2(self.rng.range(0.7, 0.92));
            d.reason = format!(
                "High evening price {:.4} PLN/kWh (top 20% of the day), SOC {}% above safety margin 50% - selling {:.2} kWh",
                market, d.soc, energy
            );
            d.sell = Some(SellInfo {
                power_w: BATTERY_MAX_W as u32,
                duration_h: 0.25,
                energy_kwh: energy,
                revenue_per_kwh: r4(market),
                expected_revenue: r4(energy * market),
                risk_level: if soc > 75.0 { "low" } else { "medium" },
                success,
                error: (!success).then_some("Failed to set export limit on inverter: Timeout"),
            });
            self.mode = if success {
                Mode::Sell { floor: 50.0 }
            } else {
                Mode::Auto
            };
        } else if zone == Zone::T2 && current <= charge_below && soc < target - 3.0 {
            let energy =
                r2((BATTERY_WH / 1000.0 * (target - soc) / 100.0)
                    .min(BATTERY_MAX_W / 1000.0 * 0.25));
            d.action = Action::Charge;
            d.priority = if soc < 30.0 { "high" } else { "medium" };
            d.confidence = r2(self.rng.range(0.75, 0.95));
            d.energy_kwh = energy;
            d.cost_pln = r4(energy * current);
            d.savings_pln = r4((energy * avg_final - energy * current).max(0.0));
            d.reason = format!(
                "Price in cheapest window: {:.4} PLN/kWh <= {:.4} PLN/kWh (T2), SOC {}% below target {}% - start charging from grid",
                current, charge_below, d.soc, target
            );
            self.mode = Mode::GridCharge { until: target };
        } else if zone == Zone::T2
            && (13..15).contains(&hour)
            && evening_peak - current > ARBITRAGE_SPREAD
            && soc < ARBITRAGE_TARGET - 3.0
        {
            let energy = r2((BATTERY_WH / 1000.0 * (ARBITRAGE_TARGET - soc) / 100.0)
                .min(BATTERY_MAX_W / 1000.0 * 0.25));
            d.action = Action::Charge;
            d.priority = "medium";
            d.confidence = r2(self.rng.range(0.65, 0.85));
            d.energy_kwh = energy;
            d.cost_pln = r4(energy * current);
            d.savings_pln = r4((energy * avg_final - energy * current).max(0.0));
            d.target_soc = ARBITRAGE_TARGET as u32;
            d.reason = format!(
                "Arbitrage: midday off-peak price {:.4} PLN/kWh vs evening peak {:.4} PLN/kWh, SOC {}% - start charging from grid to {}%",
                current, evening_peak, d.soc, ARBITRAGE_TARGET
            );
            self.mode = Mode::GridCharge {
                until: ARBITRAGE_TARGET,
            };
        } else {
            d.confidence = r2(self.rng.range(0.6, 0.9));
            d.reason = if soc >= target - 3.0 {
                format!(
                    "Battery SOC {}% at or above target {}% - no action needed",
                    d.soc, target
                )
            } else if pv_w - house_w > 500 {
                format!(
                    "PV surplus {:.2} kW covers consumption and fills the battery - waiting",
                    (pv_w - house_w) as f64 / 1000.0
                )
            } else if zone == Zone::T1 {
                format!(
                    "Peak tariff (T1) at {:.4} PLN/kWh - waiting for the cheapest window at {:02}:00 ({:.4} PLN/kWh)",
                    current, cheapest_hour, cheapest_price
                )
            } else {
                format!(
                    "Current price {:.4} PLN/kWh above threshold {:.4} PLN/kWh - waiting",
                    current, charge_below
                )
            };
            self.mode = Mode::Auto;
        }
        d
    }
}
