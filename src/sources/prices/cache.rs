//! The price cache file `<data_dir>/price_cache.json`: raw market quarters per business
//! date with their fetch time and source URL, so that a restart serves prices at once even
//! with PSE down.
//!
//! Format (version 1): `{"format": "energy-monitor-price-cache", "version": 1, "days":
//! [{business_date, fetched_at, source_url, value_field, quarters: [{start_utc, end_utc,
//! period, market_pln_mwh}]}]}`. Final prices are not stored; they are recomputed with the
//! tariff in force. Writes are atomic (temp file in the same directory, fsync, rename,
//! fsync of the directory), so a crash leaves either the old or the new file.
//!
//! The original dashboard's file (`{"price_data": {...}, "cache_timestamp": ...}`, hourly
//! final and market prices) is read once as an import: each hour becomes four quarters
//! flagged `hourly_legacy`. Its hours were bucketed by the quarter's end, so imported prices
//! are approximate; they are replaced by the next successful fetch. Hours that cannot be
//! placed on a DST day (a missing or repeated local hour) are skipped.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};

use super::model::{DayPrices, Quarter};
use crate::clock;

pub const FILE_NAME: &str = "price_cache.json";
pub const FORMAT: &str = "energy-monitor-price-cache";
pub const VERSION: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
struct CacheFile {
    format: String,
    version: u32,
    days: Vec<CachedDay>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedDay {
    business_date: NaiveDate,
    fetched_at: DateTime<Utc>,
    source_url: String,
    value_field: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    hourly_legacy: bool,
    quarters: Vec<CachedQuarter>,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedQuarter {
    start_utc: DateTime<Utc>,
    end_utc: DateTime<Utc>,
    period: String,
    market_pln_mwh: f64,
}

/// What was found on disk.
#[derive(Debug, Default)]
pub struct Loaded {
    pub days: Vec<DayPrices>,
    /// True when the file was the original dashboard's format.
    pub imported_legacy: bool,
    /// Problems worth a warning (a corrupt file, days that were dropped).
    pub warnings: Vec<String>,
}

/// The cache file's path inside `data_dir`.
pub fn path_in(data_dir: &Path) -> PathBuf {
    data_dir.join(FILE_NAME)
}

/// Reads the cache. Never fails: an absent file is empty, a corrupt or foreign one is
/// reported in `warnings` and ignored (it is replaced on the next successful save).
pub fn load(path: &Path) -> Loaded {
    let mut out = Loaded::default();
    let bytes = match fs::read(path) {
        Ok(b) => b,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            out.warnings.push(format!(
                "cannot read price cache {}: {e}; ignoring it",
                path.display()
            ));
            return out;
        }
    };
    let doc: serde_json::Value = match serde_json::from_slice(&bytes) {
        Ok(v) => v,
        Err(e) => {
            out.warnings.push(format!(
                "price cache {} is not valid JSON ({e}); ignoring it, it will be replaced",
                path.display()
            ));
            return out;
        }
    };
    if doc.get("format").and_then(|f| f.as_str()) == Some(FORMAT) {
        if doc.get("version").and_then(|v| v.as_u64()) != Some(u64::from(VERSION)) {
            out.warnings.push(format!(
                "price cache {} has version {}, this build reads {VERSION}; ignoring it",
                path.display(),
                doc.get("version").cloned().unwrap_or_default()
            ));
            return out;
        }
        match serde_json::from_value::<CacheFile>(doc) {
            Ok(file) => {
                for day in file.days {
                    match check_day(day) {
                        Ok(d) => out.days.push(d),
                        Err(why) => out.warnings.push(format!(
                            "price cache {}: {why}; day dropped",
                            path.display()
                        )),
                    }
                }
            }
            Err(e) => out.warnings.push(format!(
                "price cache {} has the wrong shape ({e}); ignoring it",
                path.display()
            )),
        }
    } else if doc.get("price_data").is_some() && doc.get("business_date").is_some() {
        match import_legacy(&doc) {
            Ok((day, skipped)) => {
                if skipped > 0 {
                    out.warnings.push(format!(
                        "imported the original dashboard's price cache; skipped {skipped} hour(s) that do not map to one local hour on {}",
                        day.business_date
                    ));
                }
                out.imported_legacy = true;
                out.days.push(day);
            }
            Err(why) => out.warnings.push(format!(
                "price cache {} is in the original dashboard's format but cannot be imported: {why}; ignoring it",
                path.display()
            )),
        }
    } else {
        out.warnings.push(format!(
            "price cache {} is not an energy-monitor price cache (no \"format\": \"{FORMAT}\"); ignoring it, it will be replaced",
            path.display()
        ));
    }
    out
}

fn check_day(day: CachedDay) -> Result<DayPrices, String> {
    let start = clock::day_start(day.business_date);
    let end = clock::day_end(day.business_date);
    let mut quarters = Vec::with_capacity(day.quarters.len());
    for q in day.quarters {
        if !(q.market_pln_mwh.is_finite()
            && q.start_utc < q.end_utc
            && q.start_utc >= start
            && q.end_utc <= end)
        {
            return Err(format!(
                "{}: quarter {} is outside the day or has no finite price",
                day.business_date, q.start_utc
            ));
        }
        quarters.push(Quarter {
            start: q.start_utc,
            end: q.end_utc,
            period: q.period,
            market_pln_mwh: q.market_pln_mwh,
        });
    }
    quarters.sort_by_key(|q| q.start);
    if quarters.windows(2).any(|w| w[0].end > w[1].start) {
        return Err(format!("{}: overlapping quarters", day.business_date));
    }
    if quarters.is_empty() {
        return Err(format!("{}: no quarters", day.business_date));
    }
    Ok(DayPrices {
        business_date: day.business_date,
        fetched_at: day.fetched_at,
        source_url: day.source_url,
        value_field: day.value_field,
        hourly_legacy: day.hourly_legacy,
        quarters,
    })
}

/// The original's `{"price_data": {"prices": [{hour, market_price (PLN/kWh)}]},
/// "cache_timestamp", "business_date"}` as one hourly-legacy day, and how many hours were
/// skipped.
fn import_legacy(doc: &serde_json::Value) -> Result<(DayPrices, usize), String> {
    let date: NaiveDate = doc["business_date"]
        .as_str()
        .and_then(|s| s.parse().ok())
        .ok_or("business_date is not a date")?;
    let ts = doc["cache_timestamp"]
        .as_f64()
        .filter(|t| t.is_finite())
        .ok_or("cache_timestamp is missing")?;
    let fetched_at = Utc
        .timestamp_opt(ts.trunc() as i64, 0)
        .single()
        .ok_or("cache_timestamp is out of range")?;
    let list = doc["price_data"]["prices"]
        .as_array()
        .ok_or("price_data.prices is not a list")?;
    let source = doc["price_data"]["data_source"]
        .as_str()
        .unwrap_or("original dashboard");
    let mut quarters = Vec::new();
    let mut skipped = 0;
    for entry in list {
        let hour = entry["hour"].as_u64().filter(|h| *h < 24);
        let market = entry["market_price"].as_f64().filter(|m| m.is_finite());
        let (Some(hour), Some(market)) = (hour, market) else {
            skipped += 1;
            continue;
        };
        let local = date.and_hms_opt(hour as u32, 0, 0).ok_or("bad hour")?;
        let Some(start) = clock::ZONE.from_local_datetime(&local).single() else {
            skipped += 1;
            continue;
        };
        let start = start.with_timezone(&Utc);
        for k in 0..4 {
            let s = start + Duration::minutes(15 * k);
            let e = s + Duration::minutes(15);
            quarters.push(Quarter {
                start: s,
                end: e,
                period: super::parse::local_period(s, e),
                market_pln_mwh: market * 1000.0,
            });
        }
    }
    if quarters.is_empty() {
        return Err("no usable hours".into());
    }
    quarters.sort_by_key(|q| q.start);
    Ok((
        DayPrices {
            business_date: date,
            fetched_at,
            source_url: format!("legacy cache ({source})"),
            value_field: "market_price".into(),
            hourly_legacy: true,
            quarters,
        },
        skipped,
    ))
}

/// Writes `days` atomically to `path`. Non-finite prices are refused before anything is
/// written (serde_json would turn them into `null`, which would not read back).
pub fn save(path: &Path, days: &[&DayPrices]) -> std::io::Result<()> {
    let invalid = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidData, m);
    let mut file = CacheFile {
        format: FORMAT.into(),
        version: VERSION,
        days: Vec::with_capacity(days.len()),
    };
    for d in days {
        if let Some(q) = d.quarters.iter().find(|q| !q.market_pln_mwh.is_finite()) {
            return Err(invalid(format!(
                "refusing to save a non-finite price for {} ({})",
                d.business_date, q.period
            )));
        }
        file.days.push(CachedDay {
            business_date: d.business_date,
            fetched_at: d.fetched_at,
            source_url: d.source_url.clone(),
            value_field: d.value_field.clone(),
            hourly_legacy: d.hourly_legacy,
            quarters: d
                .quarters
                .iter()
                .map(|q| CachedQuarter {
                    start_utc: q.start,
                    end_utc: q.end,
                    period: q.period.clone(),
                    market_pln_mwh: q.market_pln_mwh,
                })
                .collect(),
        });
    }
    let bytes = serde_json::to_vec_pretty(&file).map_err(|e| invalid(e.to_string()))?;
    write_atomic(path, &bytes)
}

/// Temp file in the same directory, fsync, rename over `path`, fsync the directory. On a
/// failure the temp file is removed.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let mut tmp_name = path.file_name().unwrap_or_default().to_os_string();
    tmp_name.push(".tmp");
    let tmp = dir.join(tmp_name);
    let written = File::create(&tmp)
        .and_then(|mut f| {
            f.write_all(bytes)?;
            f.sync_all()
        })
        .and_then(|()| fs::rename(&tmp, path));
    if let Err(e) = written {
        // A full disk or a failed rename must not leave a partial temp file behind.
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn day(date: &str, fetched: &str, price: f64) -> DayPrices {
        let d: NaiveDate = date.parse().unwrap();
        let s = clock::day_start(d);
        DayPrices {
            business_date: d,
            fetched_at: fetched.parse().unwrap(),
            source_url: "http://x/api/csdac-pln".into(),
            value_field: "csdac_pln".into(),
            hourly_legacy: false,
            quarters: vec![Quarter {
                start: s,
                end: s + Duration::minutes(15),
                period: "00:00 - 00:15".into(),
                market_pln_mwh: price,
            }],
        }
    }

    #[test]
    fn round_trip_and_exact_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        let d = day("2026-11-21", "2026-11-21T11:02:03Z", 412.37);
        save(&p, &[&d]).unwrap();
        let text = fs::read_to_string(&p).unwrap();
        let v: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["format"], FORMAT);
        assert_eq!(v["version"], 1);
        assert_eq!(v["days"][0]["fetched_at"], "2026-11-21T11:02:03Z");
        assert_eq!(
            v["days"][0]["quarters"][0]["start_utc"],
            "2026-11-20T23:00:00Z"
        );
        assert!(v["days"][0].get("hourly_legacy").is_none());
        let l = load(&p);
        assert!(l.warnings.is_empty(), "{:?}", l.warnings);
        assert_eq!(l.days, vec![d]);
        assert!(save(&p, &[&day("2026-11-21", "2026-11-21T11:02:03Z", f64::NAN)]).is_err());
        // The good file is untouched by the refused save.
        assert_eq!(load(&p).days.len(), 1);
    }

    #[test]
    fn a_failed_write_leaves_no_temp_file() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        // The target is a non-empty directory: the temp file is written, the rename fails.
        fs::create_dir_all(p.join("x")).unwrap();
        let d = day("2026-11-21", "2026-11-21T11:02:03Z", 412.37);
        assert!(save(&p, &[&d]).is_err());
        let names: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![FILE_NAME.to_string()], "no .tmp stays behind");
    }

    #[test]
    fn reads_the_documented_example() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        fs::write(
            &p,
            r#"{"format": "energy-monitor-price-cache", "version": 1,
 "days": [{"business_date": "2026-11-21", "fetched_at": "2026-11-21T11:02:03Z",
           "source_url": "https://api.raporty.pse.pl/api/csdac-pln", "value_field": "csdac_pln",
           "quarters": [{"start_utc": "2026-11-20T23:00:00Z", "end_utc": "2026-11-20T23:15:00Z",
                         "period": "00:00 - 00:15", "market_pln_mwh": 412.37}]}]}"#,
        )
        .unwrap();
        let l = load(&p);
        assert_eq!(l.days.len(), 1);
        assert_eq!(l.days[0].quarters[0].market_pln_mwh, 412.37);
    }

    #[test]
    fn corrupt_and_foreign_files_are_warnings() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        assert!(load(&p).warnings.is_empty());
        for text in [
            "{not json",
            "[]",
            r#"{"format": "other"}"#,
            r#"{"format": "energy-monitor-price-cache", "version": 2, "days": []}"#,
            r#"{"format": "energy-monitor-price-cache", "version": 1, "days": 3}"#,
        ] {
            fs::write(&p, text).unwrap();
            let l = load(&p);
            assert!(l.days.is_empty());
            assert_eq!(l.warnings.len(), 1, "{text}: {:?}", l.warnings);
        }
    }

    #[test]
    fn imports_the_original_format() {
        let dir = tempfile::tempdir().unwrap();
        let p = path_in(dir.path());
        fs::write(&p, r#"{"price_data": {"average_price_pln_kwh": 0.8542, "price_trend": "stable", "data_source": "PSE API (CSDAC-PLN)",
                "last_updated": "2025-12-06T13:55:51.288390", "calculation_method": "tariff_aware",
                "prices": [{"hour": 0, "hour_str": "00:00", "price": 0.5866, "market_price": 0.4225},
                           {"hour": 1, "hour_str": "01:00", "price": 0.4866, "market_price": 0.3225}]},
 "cache_timestamp": 1765029351.29, "business_date": "2025-12-06", "created_at": "2025-12-06T13:55:51.290011"}"#).unwrap();
        let l = load(&p);
        assert!(l.imported_legacy);
        let d = &l.days[0];
        assert!(d.hourly_legacy);
        assert_eq!(d.quarters.len(), 8);
        assert_eq!(d.quarters[4].period, "01:00 - 01:15");
        assert!((d.quarters[4].market_pln_mwh - 322.5).abs() < 1e-9);
        assert_eq!(clock::utc_rfc3339(d.fetched_at), "2025-12-06T13:55:51Z");
    }
}
