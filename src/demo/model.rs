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

use chrono::{DateTime, Datelike, Duration, NaiveDate, NaiveDateTime, TimeZone, Timelike, Utc};

use crate::clock::{self, ZONE};

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

// ---------------------------------------------------------------------------------------
// Tariff, season, weather, sun
// ---------------------------------------------------------------------------------------

/// G12 zones: `T1` peak (07–13 and 15–22), `T2` off-peak (13–15 and nights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    T1,
    T2,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::T1 => "T1",
            Zone::T2 => "T2",
        }
    }

    /// The distribution price of the zone, PLN/kWh.
    pub fn distribution(self) -> f64 {
        match self {
            Zone::T1 => G12_PEAK,
            Zone::T2 => G12_OFF_PEAK,
        }
    }
}

/// The G12 zone of a local hour (0–23).
pub fn tariff_zone(local_hour: u32) -> Zone {
    if (7..13).contains(&local_hour) || (15..22).contains(&local_hour) {
        Zone::T1
    } else {
        Zone::T2
    }
}

/// The final price the coordinator computes from a market price: market + SC + distribution.
pub fn final_price(market_pln_mwh: f64, zone: Zone) -> f64 {
    market_pln_mwh / 1000.0 + SC_COMPONENT + zone.distribution()
}

/// 1 in mid-January, 0 in mid-July.
pub fn winterness(date: NaiveDate) -> f64 {
    let doy = date.ordinal() as f64;
    (1.0 + (2.0 * std::f64::consts::PI * (doy - 15.0) / 365.25).cos()) / 2.0
}

/// One day's weather: overall cloudiness and an hourly share of clear-sky irradiance.
#[derive(Debug, Clone)]
pub struct Weather {
    /// 0 clear … 1 overcast.
    pub cloud: f64,
    /// Outdoor temperature at noon, °C.
    pub noon_temp_c: f64,
    transmission: [f64; 25],
}

impl Weather {
    /// Share of clear-sky PV output getting through at a local hour (fractional), 0.05–1.
    pub fn transmission(&self, hour: f64) -> f64 {
        let h = hour.clamp(0.0, 23.999);
        let i = h.floor() as usize;
        let f = h - i as f64;
        self.transmission[i] * (1.0 - f) + self.transmission[i + 1] * f
    }
}

/// The weather of `date` for `seed`: cloudier and colder in winter.
pub fn weather(seed: u64, date: NaiveDate) -> Weather {
    let mut rng = day_rng(seed, date, 1);
    let w = winterness(date);
    let mean = 0.35 + 0.35 * w;
    let cloud = (mean + (rng.unit() - 0.5) * 0.9).clamp(0.0, 1.0);
    let mut transmission = [0.0; 25];
    for t in transmission.iter_mut() {
        *t = (1.0 - cloud * rng.range(0.55, 1.0)).clamp(0.05, 1.0);
    }
    let noon_temp_c = 22.0 - 22.0 * w + rng.range(-4.0, 4.0);
    Weather {
        cloud,
        noon_temp_c,
        transmission,
    }
}

/// The sine of the sun's elevation at `t` over the demo site (negative at night).
pub fn solar_elevation_sin(t: DateTime<Utc>) -> f64 {
    use std::f64::consts::PI;
    let doy = t.ordinal() as f64;
    let decl = 23.44_f64.to_radians() * (2.0 * PI * (284.0 + doy) / 365.0).sin();
    let lat = LAT_DEG.to_radians();
    let utc_h = t.hour() as f64 + t.minute() as f64 / 60.0 + t.second() as f64 / 3600.0;
    let solar_h = utc_h + LON_DEG / 15.0;
    let ha = ((solar_h - 12.0) * 15.0).to_radians();
    lat.sin() * decl.sin() + lat.cos() * decl.cos() * ha.cos()
}

/// Clear-sky PV output at `t`, W.
pub fn clear_sky_pv_w(t: DateTime<Utc>) -> f64 {
    let s = solar_elevation_sin(t);
    if s <= 0.0 {
        return 0.0;
    }
    // Air mass losses near the horizon.
    PV_PEAK_W * 0.9 * s.powf(1.1) * (1.0 - (-12.0 * s).exp())
}

/// The house's typical consumption at a local time, W, before appliance events and noise.
pub fn house_profile_w(local: NaiveDateTime) -> f64 {
    let h = local.hour() as f64 + local.minute() as f64 / 60.0;
    let weekend = local.weekday().number_from_monday() >= 6;
    let g = |mu: f64, sigma: f64, amp: f64| amp * (-((h - mu) / sigma).powi(2) / 2.0).exp();
    let w = winterness(local.date());
    let morning = if weekend {
        g(8.8, 1.2, 700.0)
    } else {
        g(6.9, 0.8, 900.0)
    };
    let midday = if weekend {
        g(13.0, 2.0, 550.0)
    } else {
        g(13.0, 2.0, 200.0)
    };
    let evening = g(19.0, 1.8, 1300.0);
    // A heat pump in winter, working harder at night and in the morning.
    let heating = w * (550.0 + g(5.0, 3.0, 500.0));
    280.0 + morning + midday + evening + heating
}

// ---------------------------------------------------------------------------------------
// Market prices
// ---------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------
// The simulator
// ---------------------------------------------------------------------------------------

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

#[cfg(test)]
mod tests {
    use super::*;

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
