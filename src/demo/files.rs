//! The coordinator's files for a simulated period: daily snapshots computed from the rows
//! written (spec §5.5), decision files, the state dump, the two log files, and
//! energy-monitor's own `price_cache.json`.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Timelike, Utc};

use super::model::{self, Action, Decision, Glitch, Minute, Zone};
use super::rows::{self, Stamps};
use super::DemoError;
use crate::clock::{self, ZONE};

/// Creates `path` and writes `bytes` (plain, like the coordinator does).
pub fn write_plain(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    std::fs::write(path, bytes).map_err(|e| DemoError::io(path, e))
}

/// Writes `bytes` to `path` atomically: a temp file in the same directory, fsync, rename,
/// then fsync of the directory.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<(), DemoError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp.{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)?;
        if let Ok(d) = File::open(dir) {
            let _ = d.sync_all();
        }
        Ok(())
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map_err(|e| DemoError::io(path, e))
}

fn pretty(v: &serde_json::Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(v).unwrap_or_default();
    out.push(b'\n');
    out
}

fn r(x: f64, dp: i32) -> f64 {
    let s = 10f64.powi(dp);
    (x * s).round() / s + 0.0
}

// ---------------------------------------------------------------------------------------
// Daily snapshots
// ---------------------------------------------------------------------------------------

#[derive(Debug, Clone)]
struct DecisionRecord {
    action: Action,
    confidence: f64,
    energy_kwh: f64,
    cost: f64,
    savings: f64,
    current_price: f64,
    zone: Zone,
    revenue: f64,
}

/// The rows of one local day, enough to compute its snapshot as the original did.
#[derive(Debug, Default)]
struct DayRows {
    decisions: Vec<DecisionRecord>,
    /// (local timestamp text, `grid_import_total_kwh`, zone)
    energy: Vec<(String, f64, Zone)>,
}

/// Collects rows per local day and writes `out/daily_snapshots/snapshot_YYYYMMDD.json`
/// for every day before `today` that holds rows.
pub struct Snapshots {
    dir: PathBuf,
    now: DateTime<Utc>,
    today: NaiveDate,
    current: Option<(NaiveDate, DayRows)>,
    pub written: usize,
}

impl Snapshots {
    pub fn new(dir: PathBuf, now: DateTime<Utc>) -> Snapshots {
        Snapshots {
            dir,
            now,
            today: clock::local_date(now),
            current: None,
            written: 0,
        }
    }

    fn day(&mut self, date: NaiveDate) -> Result<&mut DayRows, DemoError> {
        if self.current.as_ref().map(|c| c.0) != Some(date) {
            self.flush()?;
            self.current = Some((date, DayRows::default()));
        }
        Ok(&mut self.current.as_mut().expect("set above").1)
    }

    pub fn energy_row(&mut self, m: &Minute, st: &Stamps) -> Result<(), DemoError> {
        let day = self.day(m.local.date())?;
        day.energy
            .push((st.data.clone(), rows::meter(m.import_total_kwh), m.zone));
        Ok(())
    }

    pub fn decision(&mut self, d: &Decision, st: &Stamps) -> Result<(), DemoError> {
        let day = self.day(st.decision_local.date())?;
        day.decisions.push(DecisionRecord {
            action: d.action,
            confidence: d.confidence,
            energy_kwh: d.energy_kwh,
            cost: d.cost_pln,
            savings: d.savings_pln,
            current_price: d.current_price,
            zone: d.zone,
            revenue: d.sell.as_ref().map(|s| s.expected_revenue).unwrap_or(0.0),
        });
        Ok(())
    }

    /// Writes the pending day's snapshot if that day is in the past.
    pub fn flush(&mut self) -> Result<(), DemoError> {
        let Some((date, day)) = self.current.take() else {
            return Ok(());
        };
        if date >= self.today || day.decisions.is_empty() {
            return Ok(());
        }
        // The snapshot manager creates a day's file shortly after midnight.
        let created =
            (clock::day_start(date + Duration::days(1)) + Duration::seconds(317)).min(self.now);
        let v = snapshot_json(
            date,
            &day,
            &rows::local_iso(created.with_timezone(&ZONE).naive_local()),
        );
        let path = self
            .dir
            .join(format!("snapshot_{}.json", date.format("%Y%m%d")));
        write_plain(&path, &pretty(&v))?;
        self.written += 1;
        Ok(())
    }
}

/// A day's snapshot with the fields and rules of spec §5.5, from the rows as the
/// coordinator's DB holds them (selling rows carry no sold energy there).
fn snapshot_json(date: NaiveDate, day: &DayRows, created_at: &str) -> serde_json::Value {
    let charging: Vec<&DecisionRecord> = day
        .decisions
        .iter()
        .filter(|d| d.action == Action::Charge)
        .collect();
    let selling: Vec<&DecisionRecord> = day
        .decisions
        .iter()
        .filter(|d| d.action == Action::Sell)
        .collect();
    let total = day.decisions.len();
    let energy: f64 = charging.iter().map(|d| d.energy_kwh).sum();
    let cost: f64 = charging.iter().map(|d| d.cost).sum();
    let revenue: f64 = selling.iter().map(|d| d.revenue).sum();
    let savings: f64 = charging.iter().map(|d| d.savings).sum::<f64>() + revenue;
    let confidence = if total > 0 {
        day.decisions.iter().map(|d| d.confidence).sum::<f64>() / total as f64
    } else {
        0.0
    };
    let prices: Vec<f64> = charging
        .iter()
        .map(|d| d.current_price)
        .filter(|p| *p > 0.0)
        .collect();
    let price_stats = if prices.is_empty() {
        serde_json::json!({"min": 0, "max": 0, "avg": 0})
    } else {
        serde_json::json!({
            "min": r(prices.iter().copied().fold(f64::INFINITY, f64::min), 4),
            "max": r(prices.iter().copied().fold(f64::NEG_INFINITY, f64::max), 4),
            "avg": r(prices.iter().sum::<f64>() / prices.len() as f64, 4),
        })
    };
    let mut breakdown = serde_json::Map::new();
    if !charging.is_empty() {
        breakdown.insert("unknown".into(), charging.len().into());
    }
    if !selling.is_empty() {
        breakdown.insert("battery_selling".into(), selling.len().into());
    }
    let charged = |z: Zone| {
        r(
            charging
                .iter()
                .filter(|d| d.zone == z)
                .map(|d| d.energy_kwh)
                .sum(),
            2,
        )
    };
    let mut v = serde_json::json!({
        "date": date.format("%Y-%m-%d").to_string(),
        "created_at": created_at,
        "total_decisions": total,
        "charging_count": charging.len(),
        "wait_count": total - charging.len() - selling.len(),
        "selling_count": selling.len(),
        "total_energy_kwh": r(energy, 2),
        "total_energy_sold_kwh": 0.0,
        "total_cost_pln": r(cost, 2),
        "total_savings_pln": r(savings, 2),
        "selling_revenue_pln": r(revenue, 2),
        "avg_confidence": r(confidence, 4),
        "avg_cost_per_kwh": if energy > 0.0 { r(cost / energy, 4) } else { 0.0 },
        "source_breakdown": breakdown,
        "price_stats": price_stats,
        "file_count": total,
        "energy_charged_t1_kwh": charged(Zone::T1),
        "energy_charged_t2_kwh": charged(Zone::T2),
        "real_grid_import_kwh": 0.0,
        "grid_import_t1_kwh": 0.0,
        "grid_import_t2_kwh": 0.0,
    });
    // The DB returns rows ordered by their timestamp text.
    let mut energy_rows: Vec<&(String, f64, Zone)> = day.energy.iter().collect();
    energy_rows.sort_by(|a, b| a.0.cmp(&b.0));
    if energy_rows.len() >= 2 {
        let (mut t1, mut t2) = (0.0, 0.0);
        for w in energy_rows.windows(2) {
            let inc = w[1].1 - w[0].1;
            if inc > 0.0 {
                match w[1].2 {
                    Zone::T1 => t1 += inc,
                    Zone::T2 => t2 += inc,
                }
            }
        }
        let first = energy_rows[0].1;
        let last = energy_rows[energy_rows.len() - 1].1;
        v["real_grid_import_kwh"] = r(last - first, 3).into();
        v["grid_import_t1_kwh"] = r(t1, 3).into();
        v["grid_import_t2_kwh"] = r(t2, 3).into();
        v["grid_import_total_kwh"] = r(r(t1, 3) + r(t2, 3), 3).into();
    }
    v
}

// ---------------------------------------------------------------------------------------
// Decision files and the state dump
// ---------------------------------------------------------------------------------------

fn file_stamp(st: &Stamps) -> String {
    st.decision_local.format("%Y%m%d_%H%M%S").to_string()
}

/// Writes `charging_decision_*.json` for one decision.
pub fn write_charging_file(dir: &Path, d: &Decision, st: &Stamps) -> Result<(), DemoError> {
    let path = dir.join(format!("charging_decision_{}.json", file_stamp(st)));
    write_plain(&path, &pretty(&rows::charging_file(d, &st.decision)))
}

/// Writes `battery_selling_decision_*.json` for one selling decision.
pub fn write_selling_file(dir: &Path, d: &Decision, st: &Stamps) -> Result<bool, DemoError> {
    let Some(v) = rows::selling_file(d, &st.decision) else {
        return Ok(false);
    };
    let path = dir.join(format!("battery_selling_decision_{}.json", file_stamp(st)));
    write_plain(&path, &pretty(&v))?;
    Ok(true)
}

/// Writes `out/coordinator_state_YYYYMMDD_HHMMSS.json` for the reading `m`.
pub fn write_state_file(out: &Path, m: &Minute, st: &Stamps) -> Result<PathBuf, DemoError> {
    let mut cd = String::new();
    rows::push_current_data(&mut cd, m, &st.data);
    let current: serde_json::Value = serde_json::from_str(&cd).unwrap_or(serde_json::Value::Null);
    let v = serde_json::json!({
        "timestamp": st.state,
        "state": rows::state_name(m),
        "uptime": r(m.uptime_s, 1),
        "decision_count": m.decision_count,
        "current_data": current,
        "performance_metrics": {
            "uptime_seconds": r(m.uptime_s, 1),
            "decision_count": m.decision_count,
            "active_modules": serde_json::from_str::<serde_json::Value>(rows::ACTIVE_MODULES).unwrap_or_default(),
        },
    });
    let path = out.join(format!(
        "coordinator_state_{}.json",
        m.local.format("%Y%m%d_%H%M%S")
    ));
    write_plain(&path, &pretty(&v))?;
    Ok(path)
}

// ---------------------------------------------------------------------------------------
// Logs
// ---------------------------------------------------------------------------------------

const SRC: &str = "/opt/goodwe-dynamic-price-optimiser/src";
/// The loggers of the coordinator's main loop and of its data collector.
const MAIN: &str = "__main__";
const COLLECTOR: &str = "enhanced_data_collector";

/// A log file in the coordinator's format, counting its lines.
pub struct LogFile {
    path: PathBuf,
    out: BufWriter<File>,
    pub lines: usize,
}

impl LogFile {
    pub fn create(path: PathBuf) -> Result<LogFile, DemoError> {
        let f = File::create(&path).map_err(|e| DemoError::io(&path, e))?;
        Ok(LogFile {
            path,
            out: BufWriter::with_capacity(64 * 1024, f),
            lines: 0,
        })
    }

    fn line(
        &mut self,
        at: chrono::NaiveDateTime,
        logger: &str,
        level: &str,
        msg: &str,
    ) -> Result<(), DemoError> {
        self.lines += 1;
        writeln!(
            self.out,
            "{} - {logger} - {level} - {msg}",
            rows::log_time(at)
        )
        .map_err(|e| DemoError::io(&self.path, e))
    }

    fn continuation(&mut self, lines: &[&str]) -> Result<(), DemoError> {
        for l in lines {
            self.lines += 1;
            writeln!(self.out, "{l}").map_err(|e| DemoError::io(&self.path, e))?;
        }
        Ok(())
    }

    pub fn finish(mut self) -> Result<(PathBuf, usize), DemoError> {
        self.out.flush().map_err(|e| DemoError::io(&self.path, e))?;
        Ok((self.path, self.lines))
    }
}

/// One minute's log records, sorted by time before they are written.
#[derive(Default)]
struct Pending {
    entries: Vec<(
        chrono::NaiveDateTime,
        String,
        &'static str,
        String,
        Vec<String>,
    )>,
}

impl Pending {
    fn line(
        &mut self,
        at: chrono::NaiveDateTime,
        logger: &str,
        level: &'static str,
        msg: &str,
    ) -> Result<(), DemoError> {
        self.entries
            .push((at, logger.to_string(), level, msg.to_string(), Vec::new()));
        Ok(())
    }

    /// Continuation lines (a traceback) of the last record.
    fn continuation(&mut self, lines: &[&str]) -> Result<(), DemoError> {
        if let Some(last) = self.entries.last_mut() {
            last.4.extend(lines.iter().map(|l| l.to_string()));
        }
        Ok(())
    }

    fn write_to(mut self, file: &mut LogFile) -> Result<(), DemoError> {
        self.entries.sort_by_key(|e| e.0);
        for (at, logger, level, msg, cont) in &self.entries {
            file.line(*at, logger, level, msg)?;
            let cont: Vec<&str> = cont.iter().map(String::as_str).collect();
            file.continuation(&cont)?;
        }
        Ok(())
    }
}

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

// ---------------------------------------------------------------------------------------
// Price cache
// ---------------------------------------------------------------------------------------

/// The `price_cache.json` document for `dates`, in energy-monitor's cache format.
pub fn price_cache(
    seed: u64,
    dates: &[NaiveDate],
    fetched_at: DateTime<Utc>,
) -> (serde_json::Value, Vec<usize>) {
    let mut days = Vec::new();
    let mut counts = Vec::new();
    for &date in dates {
        let prices = model::day_prices(seed, date);
        let next_midnight = clock::day_start(date + Duration::days(1));
        let hm = |t: DateTime<Utc>| {
            if t == next_midnight {
                "24:00".to_string()
            } else {
                t.with_timezone(&ZONE).format("%H:%M").to_string()
            }
        };
        let quarters: Vec<serde_json::Value> = prices
            .quarters
            .iter()
            .map(|q| {
                serde_json::json!({
                    "start_utc": clock::utc_rfc3339(q.start),
                    "end_utc": clock::utc_rfc3339(q.end),
                    "period": format!("{} - {}", hm(q.start), hm(q.end)),
                    "market_pln_mwh": q.market_pln_mwh,
                })
            })
            .collect();
        counts.push(quarters.len());
        days.push(serde_json::json!({
            "business_date": date.format("%Y-%m-%d").to_string(),
            "fetched_at": clock::utc_rfc3339(fetched_at),
            "source_url": "https://api.raporty.pse.pl/api/csdac-pln",
            "value_field": "csdac_pln",
            "quarters": quarters,
        }));
    }
    (
        serde_json::json!({"format": "energy-monitor-price-cache", "version": 1, "days": days}),
        counts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn price_cache_has_dst_quarter_counts_and_periods() {
        let dates = [
            NaiveDate::from_ymd_opt(2026, 3, 29).unwrap(),
            NaiveDate::from_ymd_opt(2026, 11, 21).unwrap(),
            NaiveDate::from_ymd_opt(2026, 10, 25).unwrap(),
        ];
        let now = chrono::TimeZone::with_ymd_and_hms(&Utc, 2026, 11, 21, 11, 2, 3).unwrap();
        let (v, counts) = price_cache(9, &dates, now);
        assert_eq!(counts, vec![92, 96, 100]);
        let normal = &v["days"][1];
        assert_eq!(normal["business_date"], "2026-11-21");
        assert_eq!(normal["fetched_at"], "2026-11-21T11:02:03Z");
        assert_eq!(normal["quarters"][0]["start_utc"], "2026-11-20T23:00:00Z");
        assert_eq!(normal["quarters"][0]["period"], "00:00 - 00:15");
        assert_eq!(normal["quarters"][95]["period"], "23:45 - 24:00");
        let spring = &v["days"][0]["quarters"];
        assert_eq!(spring[7]["period"], "01:45 - 03:00");
        assert_eq!(spring[7]["end_utc"], "2026-03-29T01:00:00Z");
        assert_eq!(v["format"], "energy-monitor-price-cache");
    }

    #[test]
    fn snapshot_follows_the_original_rules() {
        let rec = |action, energy, cost, zone, revenue| DecisionRecord {
            action,
            confidence: 0.8,
            energy_kwh: energy,
            cost,
            savings: 0.1,
            current_price: 0.5,
            zone,
            revenue,
        };
        let day = DayRows {
            decisions: vec![
                rec(Action::Charge, 1.0, 0.5, Zone::T2, 0.0),
                rec(Action::Wait, 0.0, 0.0, Zone::T1, 0.0),
                rec(Action::Sell, 0.0, 0.0, Zone::T1, 0.9),
            ],
            energy: vec![
                ("2026-11-20T00:05:00.000002".into(), 10.0, Zone::T2),
                ("2026-11-20T00:00:00.000002".into(), 9.5, Zone::T2),
                ("2026-11-20T08:00:00.000002".into(), 11.0, Zone::T1),
            ],
        };
        let v = snapshot_json(NaiveDate::from_ymd_opt(2026, 11, 20).unwrap(), &day, "x");
        assert_eq!(v["charging_count"], 1);
        assert_eq!(v["wait_count"], 1);
        assert_eq!(v["selling_count"], 1);
        assert_eq!(v["total_savings_pln"], 1.0);
        assert_eq!(v["selling_revenue_pln"], 0.9);
        assert_eq!(v["source_breakdown"]["unknown"], 1);
        assert_eq!(v["source_breakdown"]["battery_selling"], 1);
        assert_eq!(v["real_grid_import_kwh"], 1.5);
        assert_eq!(v["grid_import_t1_kwh"], 1.0);
        assert_eq!(v["grid_import_t2_kwh"], 0.5);
        assert_eq!(v["grid_import_total_kwh"], 1.5);
        assert_eq!(v["energy_charged_t2_kwh"], 1.0);
        assert_eq!(v["avg_cost_per_kwh"], 0.5);
    }
}
