//! The coordinator's two log files written for a simulated period
//! (`logs/master_coordinator.log` and `logs/fast_charge.log`): the records each simulated
//! minute and decision gives, in the original's wording.

use std::path::Path;

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::*;

const SRC: &str = "/opt/goodwe-dynamic-price-optimiser/src";
/// The loggers of the coordinator's main loop and of its data collector.
const MAIN: &str = "__main__";
const COLLECTOR: &str = "enhanced_data_collector";

/// Writes `logs/master_coordinator.log` (the last `master_window`) and `logs/fast_charge.log`
/// (the last `fast_window`) from the simulated minutes.
pub struct Logs {
    pub master: LogFile,
    pub fast: LogFile,
    master_from: DateTime<Utc>,
    fast_from: DateTime<Utc>,
    traceback_at: DateTime<Utc>,
    critical_at: DateTime<Utc>,
    rng: model::Rng,
    charging: bool,
    fast_failed: bool,
    tomorrow_fetched: Option<NaiveDate>,
}

impl Logs {
    pub fn new(
        logs_dir: &Path,
        seed: u64,
        first: DateTime<Utc>,
        last: DateTime<Utc>,
    ) -> Result<Logs, DemoError> {
        let master_from = (last - Duration::hours(36)).max(first);
        let span = last - master_from;
        Ok(Logs {
            master: LogFile::create(logs_dir.join("master_coordinator.log"))?,
            fast: LogFile::create(logs_dir.join("fast_charge.log"))?,
            master_from,
            fast_from: (last - Duration::days(7)).max(first),
            traceback_at: floor_minute(master_from + span / 6),
            critical_at: floor_minute(master_from + span * 2 / 3),
            rng: model::Rng::new(seed ^ 0x1065),
            charging: false,
            fast_failed: false,
            tomorrow_fetched: None,
        })
    }

    /// Logs what the coordinator logged during the minute `m`.
    pub fn minute(&mut self, m: &Minute) -> Result<(), DemoError> {
        if m.t >= self.fast_from {
            self.fast_charge(m)?;
        }
        if m.t < self.master_from {
            return Ok(());
        }
        let mut pending = Pending::default();
        let l = &mut pending;
        if m.restarted {
            Self::restart(l, m)?;
        }
        Self::collection(l, m)?;
        Self::status(l, m)?;
        self.weather(l, m)?;
        self.prices(l, m)?;
        if let Some(d) = &m.decision {
            Self::decision(l, m, d)?;
        }
        self.incidents(l, m)?;
        pending.write_to(&mut self.master)
    }

    /// The start-up lines of a coordinator that has just restarted.
    fn restart(l: &mut Pending, m: &Minute) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        l.line(
            ms(-2900),
            MAIN,
            "INFO",
            "Initializing GoodWe Master Coordinator...",
        )?;
        l.line(
            ms(-2850),
            MAIN,
            "INFO",
            &format!("Loaded configuration from {SRC}/../config/master_coordinator_config.yaml"),
        )?;
        l.line(
            ms(-2400),
            "goodwe_fast_charge",
            "INFO",
            &format!(
                "Connected to inverter {} (serial {})",
                rows::INVERTER_MODEL,
                rows::INVERTER_SERIAL
            ),
        )?;
        l.line(
            ms(-2300),
            MAIN,
            "INFO",
            "Master Coordinator initialized; starting coordination loop (interval 60s)",
        )?;
        Ok(())
    }

    /// The data collector's lines: a reading, or what went wrong with it.
    fn collection(l: &mut Pending, m: &Minute) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        l.line(
            ms(-1500),
            COLLECTOR,
            "DEBUG",
            "Collecting comprehensive inverter data",
        )?;
        match m.glitch {
            Glitch::PartialRead => {
                l.line(
                    ms(-200),
                    COLLECTOR,
                    "ERROR",
                    "Failed to read PV string and meter registers: Timeout",
                )?;
                l.continuation(&[
                    "Traceback (most recent call last):",
                    &format!("  File \"{SRC}/enhanced_data_collector.py\", line 187, in collect_comprehensive_data"),
                    "    runtime = await self.inverter.read_runtime_data()",
                    "  File \"/usr/lib/python3/dist-packages/goodwe/et.py\", line 544, in read_runtime_data",
                    "    raw_data = await self._read_from_socket(self._READ_RUNNING_DATA)",
                    "  File \"/usr/lib/python3/dist-packages/goodwe/inverter.py\", line 178, in _read_from_socket",
                    "    raise RequestFailedException(f'No valid response received to \\'{command}\\' request.')",
                    "goodwe.exceptions.RequestFailedException: No valid response received to 'read_runtime_data' request.",
                ])?;
                l.line(
                    ms(-150),
                    COLLECTOR,
                    "WARNING",
                    "Partial inverter reading: PV strings and phase values reported as Unknown",
                )?;
            }
            Glitch::Temperature => {
                l.line(
                    ms(-200),
                    COLLECTOR,
                    "WARNING",
                    "Battery temperature sensor returned no value; reporting Unknown",
                )?;
            }
            Glitch::None => {
                l.line(
                    ms(-100),
                    COLLECTOR,
                    "DEBUG",
                    &format!(
                        "Data collected successfully: SOC {:.0}%, PV {} W, grid {} W, house {} W",
                        m.soc, m.pv_w, m.grid_w, m.house_w
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// The status line, every five minutes.
    fn status(l: &mut Pending, m: &Minute) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        if m.t.minute().is_multiple_of(5) {
            l.line(
                ms(300),
                MAIN,
                "INFO",
                &format!(
                    "Status - State: {}, Battery: {:.0}%, PV: {:.2} kW, Grid: {:.2} kW, House: {:.2} kW, Tariff: {}",
                    rows::state_name(m),
                    m.soc,
                    m.pv_w as f64 / 1000.0,
                    m.grid_w as f64 / 1000.0,
                    m.house_w as f64 / 1000.0,
                    m.zone.as_str()
                ),
            )?;
        }
        Ok(())
    }

    /// The weather update (or its timeout), every hour.
    fn weather(&mut self, l: &mut Pending, m: &Minute) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        if m.local.minute() == 0 {
            if self.rng.chance(0.08) {
                l.line(
                    ms(450),
                    "weather_collector",
                    "WARNING",
                    "Weather API request timed out after 10s; using the cached forecast",
                )?;
            } else {
                l.line(
                    ms(450),
                    "weather_collector",
                    "INFO",
                    &format!(
                        "Weather updated: cloud cover {:.0}%, temperature {:.1}C",
                        m.cloud * 100.0,
                        m.outdoor_temp_c
                    ),
                )?;
            }
        }
        Ok(())
    }

    /// Tomorrow's prices: not published at 13:00, fetched once from 13:30.
    fn prices(&mut self, l: &mut Pending, m: &Minute) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        if m.local.hour() == 13 && m.local.minute() == 0 {
            l.line(
                ms(820),
                "automated_price_charging",
                "WARNING",
                "Prices for tomorrow not published yet; retrying in 30 min",
            )?;
        }
        let tomorrow = m.local.date() + Duration::days(1);
        if m.local.hour() == 13 && m.local.minute() >= 30 && self.tomorrow_fetched != Some(tomorrow)
        {
            self.tomorrow_fetched = Some(tomorrow);
            let n = model::quarter_bounds(tomorrow).len();
            l.line(
                ms(800),
                "automated_price_charging",
                "INFO",
                &format!("Fetched {n} CSDAC price points for {tomorrow}"),
            )?;
        }
        Ok(())
    }

    /// A decision: the prices it saw, the decision, and its execution.
    fn decision(l: &mut Pending, m: &Minute, d: &Decision) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        l.line(
            ms(500),
            "automated_price_charging",
            "INFO",
            &format!(
                "Current price: {:.4} PLN/kWh ({}), cheapest today: {:.4} PLN/kWh at {:02}:00",
                d.current_price,
                d.zone.as_str(),
                d.cheapest_price,
                d.cheapest_hour
            ),
        )?;
        l.line(
            ms(650),
            MAIN,
            "INFO",
            &format!("Decision made: {} - {}", d.action.as_str(), d.reason),
        )?;
        match (&d.action, &d.sell) {
            (Action::Charge, _) => {
                l.line(
                    ms(700),
                    MAIN,
                    "INFO",
                    &format!(
                        "Executing decision: start grid charging {:.2} kWh to target SOC {}%",
                        d.energy_kwh, d.target_soc
                    ),
                )?;
            }
            (Action::Sell, Some(s)) => {
                l.line(
                    ms(700),
                    "battery_selling_engine",
                    "INFO",
                    &format!(
                        "Executing decision: start selling {} W for {:.2} h",
                        s.power_w, s.duration_h
                    ),
                )?;
                if let Some(err) = s.error {
                    l.line(
                        ms(5700),
                        "battery_selling_engine",
                        "ERROR",
                        &format!("Battery selling failed: {err}"),
                    )?;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The rare incidents: a locked database with its traceback, a lost inverter.
    fn incidents(&self, l: &mut Pending, m: &Minute) -> Result<(), DemoError> {
        let ms = |n: i64| m.local + Duration::milliseconds(n);
        if m.t == self.traceback_at {
            l.line(
                ms(900),
                MAIN,
                "ERROR",
                "Failed to save system state to database: database is locked",
            )?;
            l.continuation(&[
                "Traceback (most recent call last):",
                &format!("  File \"{SRC}/master_coordinator.py\", line 612, in _save_system_state"),
                "    await self.storage.save_system_state(state)",
                &format!(
                    "  File \"{SRC}/database/sqlite_storage.py\", line 301, in save_system_state"
                ),
                "    await conn.execute(query, values)",
                "sqlite3.OperationalError: database is locked",
            ])?;
            l.line(ms(1200), MAIN, "INFO", "System state saved on retry")?;
        }
        if m.t == self.critical_at {
            l.line(
                ms(950),
                MAIN,
                "CRITICAL",
                "Inverter communication lost for 3 consecutive cycles; entering safe mode",
            )?;
            l.line(
                ms(58_000),
                "goodwe_fast_charge",
                "INFO",
                &format!(
                    "Successfully connected to inverter {}; leaving safe mode",
                    rows::INVERTER_MODEL
                ),
            )?;
        }
        Ok(())
    }

    fn fast_charge(&mut self, m: &Minute) -> Result<(), DemoError> {
        let at = m.local;
        let l = &mut self.fast;
        let name = "fast_charge";
        if m.grid_charging && !self.charging {
            l.line(
                at,
                name,
                "INFO",
                &format!(
                    "Starting fast charging: SOC {:.0}%, power {} W",
                    m.soc, -m.battery_w
                ),
            )?;
            if !self.fast_failed {
                self.fast_failed = true;
                l.line(
                    at + Duration::milliseconds(40),
                    name,
                    "ERROR",
                    "Failed to set operation mode ECO_CHARGE: Timeout; retrying",
                )?;
                l.continuation(&[
                    "Traceback (most recent call last):",
                    &format!("  File \"{SRC}/fast_charge.py\", line 233, in start_fast_charging"),
                    "    await self.inverter.set_operation_mode(OperationMode.ECO_CHARGE, 100, 100)",
                    "  File \"/usr/lib/python3/dist-packages/goodwe/et.py\", line 701, in set_operation_mode",
                    "    await self._set_offline(False)",
                    "asyncio.exceptions.TimeoutError",
                ])?;
                l.line(
                    at + Duration::milliseconds(2500),
                    name,
                    "INFO",
                    "Operation mode ECO_CHARGE set on retry",
                )?;
            } else if self.rng.chance(0.15) {
                l.line(
                    at + Duration::milliseconds(60),
                    name,
                    "WARNING",
                    &format!(
                        "Charging power limited by the inverter (battery temperature {:.1}C)",
                        m.battery_temp_c
                    ),
                )?;
            }
        } else if m.grid_charging && m.t.minute().is_multiple_of(5) {
            l.line(
                at,
                name,
                "DEBUG",
                &format!(
                    "Fast charging in progress: SOC {:.0}%, battery power {} W",
                    m.soc, m.battery_w
                ),
            )?;
        } else if !m.grid_charging && self.charging {
            l.line(
                at,
                name,
                "INFO",
                &format!("Fast charging stopped at SOC {:.0}%", m.soc),
            )?;
        }
        self.charging = m.grid_charging;
        Ok(())
    }
}

fn floor_minute(t: DateTime<Utc>) -> DateTime<Utc> {
    t - Duration::seconds(t.timestamp().rem_euclid(60))
        - Duration::nanoseconds(t.timestamp_subsec_nanos() as i64)
}
