//! The coordinator's files for a simulated period: daily snapshots computed from the rows
//! written (spec §5.5), decision files, the state dump, the two log files, and
//! energy-monitor's own `price_cache.json`.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::model::{self, Action, Decision, Glitch, Minute, Zone};
use super::rows::{self, Stamps};
use super::DemoError;
use crate::clock::{self, ZONE};

mod log_file;
mod logs;
mod snapshots;

pub use log_file::LogFile;
use log_file::Pending;
pub use logs::Logs;
pub use snapshots::Snapshots;

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
}
