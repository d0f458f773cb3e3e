//! The inverter source: the newest inverter reading, from the DB's `system_state` rows or
//! from the coordinator's state files (`out/coordinator_state_*.json`), whichever is newer.
//!
//! Parsing is pure ([`reading_from_row`], [`reading_from_state_file`]): a sensor value of
//! `"Unknown"` becomes `null` and never discards the rest; a row or file that does not
//! parse is skipped and named in [`InverterData::skipped`], and the next older one is used.
//!
//! The reading depends only on the DB and the newest state files, so while their stamps
//! (size, mtime, inode) stay equal the source returns the reading it holds without a query.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use chrono::{DateTime, Utc};
use serde_json::Value;

use super::db::{file_stamp, Db, DbError, DbStamp, FileStamp, RACY};
use super::time;
use crate::refresh::{RefreshContext, Refreshed, Source, SourceError, SourceId, SourceResult};

/// How many of the newest rows (and state files) are tried before giving up.
const CANDIDATES: usize = 5;

/// What the coordinator said about itself alongside the reading (DB rows only).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CoordinatorInfo {
    pub state: Option<String>,
    pub uptime_s: Option<f64>,
    pub last_error: Option<String>,
    pub decision_count: Option<i64>,
}

/// One inverter reading.
#[derive(Debug, Clone, PartialEq)]
pub struct InverterReading {
    /// When the reading was taken.
    pub at: DateTime<Utc>,
    /// The reading's timestamp as the coordinator wrote it.
    pub timestamp: String,
    /// `current_data`, with every `"Unknown"` replaced by `null`.
    pub data: Value,
    /// `database` or `state_file`.
    pub origin: &'static str,
    /// `system_state id 42` or the state file's name.
    pub detail: String,
    pub coordinator: Option<CoordinatorInfo>,
}

/// The source's data.
#[derive(Debug, Clone, PartialEq)]
pub struct InverterData {
    pub reading: InverterReading,
    /// Rows and files skipped on the way, with the reason.
    pub skipped: Vec<String>,
    pub db_connected: bool,
    pub db_has_rows: bool,
}

/// Replaces every string `"Unknown"` (any case) in `v` with `null`, in place.
pub fn unknown_to_null(v: &mut Value) {
    match v {
        Value::String(s) if s.eq_ignore_ascii_case("unknown") => *v = Value::Null,
        Value::Array(a) => a.iter_mut().for_each(unknown_to_null),
        Value::Object(m) => m.values_mut().for_each(unknown_to_null),
        _ => {}
    }
}

/// The `current_data` object inside a state object: `metrics.current_data`,
/// `current_data`, or the object itself when it looks like a reading.
fn current_data_of(obj: &Value) -> Option<&Value> {
    obj.pointer("/metrics/current_data")
        .filter(|v| v.is_object())
        .or_else(|| obj.get("current_data").filter(|v| v.is_object()))
        .or_else(|| {
            (obj.get("battery").is_some() || obj.get("photovoltaic").is_some()).then_some(obj)
        })
}

fn reading_time(
    data: &Value,
    fallback: Option<&str>,
    hint: Option<DateTime<Utc>>,
) -> Option<(DateTime<Utc>, String)> {
    let own = data.get("timestamp").and_then(Value::as_str);
    for text in [own, fallback].into_iter().flatten() {
        if let Some(t) = time::parse_instant(text, hint) {
            return Some((t, text.to_string()));
        }
    }
    None
}

/// One `system_state` row → a reading.
pub fn reading_from_row(
    id: i64,
    timestamp: &str,
    metrics: Option<&str>,
    created_at: Option<&str>,
    info: CoordinatorInfo,
) -> Result<InverterReading, String> {
    let what = format!("system_state id {id}");
    let text = metrics.ok_or_else(|| format!("{what}: metrics is empty"))?;
    let parsed: Value =
        serde_json::from_str(text).map_err(|e| format!("{what}: metrics is not JSON ({e})"))?;
    let mut data = parsed
        .get("current_data")
        .filter(|v| v.is_object())
        .cloned()
        .ok_or_else(|| format!("{what}: metrics has no current_data object"))?;
    unknown_to_null(&mut data);
    let hint = created_at.and_then(time::parse_created_at);
    let (at, ts) = reading_time(&data, Some(timestamp), hint)
        .ok_or_else(|| format!("{what}: no readable timestamp"))?;
    let mut info = info;
    info.uptime_s = info
        .uptime_s
        .or_else(|| parsed.get("uptime_seconds").and_then(Value::as_f64));
    info.decision_count = parsed.get("decision_count").and_then(Value::as_i64);
    Ok(InverterReading {
        at,
        timestamp: ts,
        data,
        origin: "database",
        detail: what,
        coordinator: Some(info),
    })
}

/// A state file's text → a reading. The file is either one JSON object or JSON lines (one
/// state per line, newest last); a truncated or malformed last line is skipped and reported
/// in the returned notes.
pub fn reading_from_state_file(
    name: &str,
    text: &str,
) -> Result<(InverterReading, Vec<String>), String> {
    let mut notes = Vec::new();
    let whole = serde_json::from_str::<Value>(text);
    let candidates: Vec<Value> = match whole {
        Ok(v) => vec![v],
        Err(whole_err) => {
            let mut out = Vec::new();
            let lines: Vec<&str> = text.lines().collect();
            for (i, line) in lines.iter().enumerate().rev() {
                if line.trim().is_empty() {
                    continue;
                }
                match serde_json::from_str::<Value>(line) {
                    Ok(v) => {
                        out.push(v);
                        break;
                    }
                    Err(e) => notes.push(format!("{name} line {}: not JSON ({e})", i + 1)),
                }
            }
            if out.is_empty() {
                return Err(format!("{name}: not JSON ({whole_err})"));
            }
            out
        }
    };
    let obj = &candidates[0];
    let mut data = current_data_of(obj)
        .cloned()
        .ok_or_else(|| format!("{name}: no current_data object"))?;
    unknown_to_null(&mut data);
    let fallback = obj.get("timestamp").and_then(Value::as_str);
    let (at, ts) = reading_time(&data, fallback, None)
        .ok_or_else(|| format!("{name}: no readable timestamp"))?;
    Ok((
        InverterReading {
            at,
            timestamp: ts,
            data,
            origin: "state_file",
            detail: name.to_string(),
            coordinator: None,
        },
        notes,
    ))
}

/// Picks the newer of two readings (the DB wins a tie).
pub fn newer(
    db: Option<InverterReading>,
    file: Option<InverterReading>,
) -> Option<InverterReading> {
    match (db, file) {
        (Some(d), Some(f)) => Some(if f.at > d.at { f } else { d }),
        (d, f) => d.or(f),
    }
}

/// State file names in `out_dir`, newest first (names embed the date and time).
pub fn state_files(out_dir: &Path) -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(out_dir) else {
        return Vec::new();
    };
    let mut names: Vec<String> = entries
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .filter(|n| n.starts_with("coordinator_state_") && n.ends_with(".json"))
        .collect();
    names.sort_unstable_by(|a, b| b.cmp(a));
    names
}

/// What a refresh reads: the DB's stamp and the newest state files' names and stamps.
/// The reading depends on nothing else (not on the time), so an equal key gives an equal
/// reading.
type InputKey = (DbStamp, Vec<(String, FileStamp)>);

/// The source.
pub struct InverterSource {
    db: Db,
    /// The inputs and the data of the last successful refresh, with its warning; reused
    /// while the inputs are unchanged.
    held: Option<(InputKey, InverterData, Option<String>)>,
    /// How many refreshes read the DB and the state files; shown in tests.
    pub reads: u64,
    out_dir: PathBuf,
    interval: Duration,
    stale_after: Duration,
    /// What was skipped last time, so a lasting problem is logged once, not every run.
    last_skipped: Vec<String>,
    /// Why the last reading did not come from the DB, when it came from a state file.
    fallback_warning: Option<String>,
}

impl InverterSource {
    pub fn new(
        database: PathBuf,
        root: &Path,
        interval: Duration,
        stale_after: Duration,
    ) -> InverterSource {
        InverterSource {
            db: Db::new(database),
            held: None,
            reads: 0,
            out_dir: root.join("out"),
            interval,
            stale_after,
            last_skipped: Vec::new(),
            fallback_warning: None,
        }
    }

    /// Drops the held reading, so the next refresh reads as after a change (the bench
    /// times both).
    pub fn forget_reads(&mut self) {
        self.held = None;
    }

    /// The newest parseable DB reading; `Ok(None)` when the table is empty.
    fn read_db(&mut self, skipped: &mut Vec<String>) -> Result<Option<InverterReading>, DbError> {
        let conn = self.db.connection()?;
        let q = |e| DbError::Query("newest system_state rows", e);
        let mut stmt = conn
            .prepare_cached(
                "SELECT id, timestamp, metrics, created_at, state, uptime, last_error \
                 FROM system_state ORDER BY id DESC LIMIT ?1",
            )
            .map_err(q)?;
        let rows = stmt
            .query_map([CANDIDATES as i64], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, Option<String>>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, Option<String>>(3)?,
                    r.get::<_, Option<String>>(4)?,
                    r.get::<_, Option<f64>>(5)?,
                    r.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(q)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(q)?;
        for (id, ts, metrics, created, state, uptime, last_error) in rows {
            let info = CoordinatorInfo {
                state,
                uptime_s: uptime,
                last_error,
                decision_count: None,
            };
            match reading_from_row(
                id,
                ts.as_deref().unwrap_or(""),
                metrics.as_deref(),
                created.as_deref(),
                info,
            ) {
                Ok(r) => return Ok(Some(r)),
                Err(e) => skipped.push(e),
            }
        }
        Ok(None)
    }

    /// The inputs as they are now, and whether every file of them was last written more
    /// than [`RACY`] before `taken` (else the key is not trusted for reuse).
    fn input_key(&self, taken: SystemTime) -> (InputKey, bool) {
        let db = self.db.stamp();
        let files: Vec<(String, FileStamp)> = state_files(&self.out_dir)
            .into_iter()
            .take(CANDIDATES)
            .map(|n| {
                let st = file_stamp(&self.out_dir.join(&n));
                (n, st)
            })
            .collect();
        let limit = taken
            .duration_since(std::time::UNIX_EPOCH)
            .map(|t| t.saturating_sub(RACY).as_nanos() as i128)
            .unwrap_or(0);
        let settled = db.settled(taken)
            && files
                .iter()
                .filter_map(|(_, st)| *st)
                .all(|(_, mtime, _)| mtime < limit);
        ((db, files), settled)
    }

    fn read_files(&self, skipped: &mut Vec<String>) -> Option<InverterReading> {
        for name in state_files(&self.out_dir).into_iter().take(CANDIDATES) {
            let path = self.out_dir.join(&name);
            let text = match std::fs::read(&path) {
                Ok(b) => String::from_utf8_lossy(&b).into_owned(),
                Err(e) => {
                    skipped.push(format!("{name}: cannot read ({e})"));
                    continue;
                }
            };
            match reading_from_state_file(&name, &text) {
                Ok((r, notes)) => {
                    skipped.extend(notes);
                    return Some(r);
                }
                Err(e) => skipped.push(e),
            }
        }
        None
    }
}

impl Source for InverterSource {
    type Data = InverterData;

    fn id(&self) -> SourceId {
        SourceId::Inverter
    }

    fn interval(&self) -> Duration {
        self.interval
    }

    fn stale_after(&self) -> Duration {
        self.stale_after
    }

    fn warnings(&self) -> Vec<String> {
        self.fallback_warning.iter().cloned().collect()
    }

    fn refresh(&mut self, _ctx: &RefreshContext) -> SourceResult<InverterData> {
        let taken = SystemTime::now();
        let (key, settled) = self.input_key(taken);
        if let Some((held_key, data, warning)) = &self.held {
            if *held_key == key {
                // Nothing it reads changed: the same reading, without a query.
                self.fallback_warning = warning.clone();
                let (at, origin) = (data.reading.at, data.reading.origin);
                return Ok(Refreshed::new(data.clone()).observed_at(at).origin(origin));
            }
        }
        self.held = None;
        self.reads += 1;
        self.fallback_warning = None;
        let mut skipped = Vec::new();
        let db = self.read_db(&mut skipped);
        if let Err(DbError::Query(..)) = &db {
            self.db.reset();
        }
        let file = self.read_files(&mut skipped);
        let db_connected = db.is_ok();
        let (db_reading, db_problem) = match db {
            Ok(Some(r)) => (Some(r), None),
            Ok(None) => (None, Some("system_state holds no readable row".to_string())),
            Err(e) => (None, Some(e.to_string())),
        };
        let db_has_rows = db_reading.is_some();
        if skipped != self.last_skipped {
            for s in &skipped {
                log::warn!("inverter: skipped {s}");
            }
            self.last_skipped = skipped.clone();
        }
        let Some(reading) = newer(db_reading, file) else {
            let mut why = vec![db_problem.unwrap_or_default()];
            why.push(format!(
                "no readable coordinator_state_*.json in {}",
                self.out_dir.display()
            ));
            why.extend(skipped);
            return Err(SourceError::new(format!(
                "no inverter reading: {}",
                why.join("; ")
            )));
        };
        let (at, origin) = (reading.at, reading.origin);
        // A reading from a state file while the DB is gone or empty is served, but never
        // as if all were well: the problem names the DB.
        self.fallback_warning =
            db_problem.map(|p| format!("{p}; the reading shown is from {}", reading.detail));
        let data = InverterData {
            reading,
            skipped,
            db_connected,
            db_has_rows,
        };
        if settled {
            self.held = Some((key, data.clone(), self.fallback_warning.clone()));
        }
        Ok(Refreshed::new(data).observed_at(at).origin(origin))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unknown_values_become_null_and_the_rest_stays() {
        let metrics = json!({"uptime_seconds": 12.5, "decision_count": 3, "current_data": {
            "timestamp": "2026-07-01T12:00:00", "battery": {"soc_percent": "Unknown", "temperature": 21.5},
            "photovoltaic": {"current_power_w": 850}, "grid": {"flow_direction": "unknown", "power_w": -420}}})
        .to_string();
        let r = reading_from_row(
            7,
            "2026-07-01T12:00:01",
            Some(&metrics),
            None,
            CoordinatorInfo::default(),
        )
        .unwrap();
        assert!(r.data["battery"]["soc_percent"].is_null());
        assert_eq!(r.data["battery"]["temperature"], 21.5);
        assert_eq!(r.data["photovoltaic"]["current_power_w"], 850);
        assert!(r.data["grid"]["flow_direction"].is_null());
        assert_eq!(r.timestamp, "2026-07-01T12:00:00");
        assert_eq!(r.at.to_rfc3339(), "2026-07-01T10:00:00+00:00");
        assert_eq!(r.detail, "system_state id 7");
        let c = r.coordinator.unwrap();
        assert_eq!(c.uptime_s, Some(12.5));
        assert_eq!(c.decision_count, Some(3));
    }

    #[test]
    fn malformed_metrics_is_an_error_naming_the_row() {
        let e = reading_from_row(
            9,
            "2026-07-01T12:00:00",
            Some("{\"current_data\": {"),
            None,
            CoordinatorInfo::default(),
        )
        .unwrap_err();
        assert!(
            e.contains("system_state id 9") && e.contains("not JSON"),
            "{e}"
        );
        let e = reading_from_row(
            9,
            "2026-07-01T12:00:00",
            Some("{\"x\": 1}"),
            None,
            CoordinatorInfo::default(),
        )
        .unwrap_err();
        assert!(e.contains("no current_data"), "{e}");
        // A reading without its own timestamp uses the row's.
        let r = reading_from_row(
            9,
            "2026-07-01T12:00:00",
            Some("{\"current_data\": {\"battery\": {}}}"),
            None,
            CoordinatorInfo::default(),
        )
        .unwrap();
        assert_eq!(r.timestamp, "2026-07-01T12:00:00");
    }

    #[test]
    fn state_files_whole_or_lines_with_truncated_tail() {
        let one = json!({"timestamp": "2026-07-01T12:00:00", "state": "monitoring",
            "metrics": {"current_data": {"timestamp": "2026-07-01T11:59:00", "battery": {"soc_percent": 50}}}})
        .to_string();
        let (r, notes) =
            reading_from_state_file("coordinator_state_20260701_120000.json", &one).unwrap();
        assert_eq!(r.data["battery"]["soc_percent"], 50);
        assert_eq!(r.timestamp, "2026-07-01T11:59:00");
        assert!(notes.is_empty());

        let l1 = json!({"timestamp": "2026-07-01T12:00:00", "current_data": {"battery": {"soc_percent": 51}}}).to_string();
        let l2 = json!({"timestamp": "2026-07-01T12:01:00", "current_data": {"battery": {"soc_percent": 52}}}).to_string();
        let text = format!("{l1}\n{l2}\n{}", &l2[..l2.len() / 2]);
        let (r, notes) = reading_from_state_file("coordinator_state_20260701.json", &text).unwrap();
        assert_eq!(r.data["battery"]["soc_percent"], 52);
        assert_eq!(r.timestamp, "2026-07-01T12:01:00");
        assert_eq!(notes.len(), 1);
        assert!(notes[0].contains("line 3"), "{notes:?}");

        let e = reading_from_state_file("x.json", &one[..one.len() / 2]).unwrap_err();
        assert!(e.contains("x.json"), "{e}");
    }

    #[test]
    fn newer_reading_wins() {
        let mk = |ts: &str, origin| InverterReading {
            at: time::parse_instant(ts, None).unwrap(),
            timestamp: ts.into(),
            data: json!({}),
            origin,
            detail: String::new(),
            coordinator: None,
        };
        let d = mk("2026-07-01T12:00:00", "database");
        let f = mk("2026-07-01T12:05:00", "state_file");
        assert_eq!(
            newer(Some(d.clone()), Some(f.clone())).unwrap().origin,
            "state_file"
        );
        assert_eq!(newer(Some(f.clone()), None).unwrap().origin, "state_file");
        assert_eq!(
            newer(Some(d.clone()), Some(d.clone())).unwrap().origin,
            "database"
        );
        assert!(newer(None, None).is_none());
    }

    #[test]
    fn a_state_file_standing_in_for_a_missing_db_is_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        let state = json!({"timestamp": "2026-07-01T12:00:00", "state": "monitoring",
            "metrics": {"current_data": {"timestamp": "2026-07-01T11:59:00", "battery": {"soc_percent": 50}}}});
        std::fs::write(
            dir.path()
                .join("out/coordinator_state_20260701_120000.json"),
            state.to_string(),
        )
        .unwrap();
        let db = dir.path().join("data/goodwe_energy.db");
        let mut src = InverterSource::new(
            db.clone(),
            dir.path(),
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let r = src.refresh(&RefreshContext::default()).unwrap();
        let data = r.data;
        assert_eq!(data.reading.origin, "state_file");
        let w = src.warnings();
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].contains(&db.display().to_string()), "{w:?}");
        assert!(w[0].contains("does not exist"), "{w:?}");
        assert!(
            w[0].contains("coordinator_state_20260701_120000.json"),
            "{w:?}"
        );
    }

    fn age(path: &Path, secs: u64) {
        let past = SystemTime::now() - Duration::from_secs(secs);
        if let Ok(f) = std::fs::File::options().write(true).open(path) {
            f.set_modified(past).unwrap();
        }
    }

    #[test]
    fn unchanged_inputs_are_not_read_again_and_a_new_row_is_seen() {
        use crate::sources::coordinator_db::writer;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("out")).unwrap();
        std::fs::create_dir_all(dir.path().join("data")).unwrap();
        let db = dir.path().join("data/goodwe_energy.db");
        let wal = dir.path().join("data/goodwe_energy.db-wal");
        let c = rusqlite::Connection::open(&db).unwrap();
        crate::schema::create(&c).unwrap();
        let t0 = time::parse_instant("2026-07-01T12:00:00", None).unwrap();
        writer::state(&c, t0, &writer::current_data(t0, 40.0, 100)).unwrap();
        let aged = || {
            age(&db, 60);
            age(&wal, 60);
        };
        aged();
        let mut src = InverterSource::new(
            db.clone(),
            dir.path(),
            Duration::from_secs(30),
            Duration::from_secs(60),
        );
        let ctx = RefreshContext::default();
        let first = src.refresh(&ctx).unwrap().data;
        let again = src.refresh(&ctx).unwrap().data;
        assert_eq!(src.reads, 1, "unchanged inputs were read again");
        assert_eq!(first, again);
        // A new row (a commit to the -wal file only, the writer stays open).
        let t1 = t0 + chrono::Duration::minutes(1);
        writer::state(&c, t1, &writer::current_data(t1, 41.0, 100)).unwrap();
        let d = src.refresh(&ctx).unwrap().data;
        assert_eq!(src.reads, 2);
        assert_eq!(d.reading.at, t1);
        // A newer state file is a new input too.
        aged();
        src.refresh(&ctx).unwrap();
        src.refresh(&ctx).unwrap();
        assert_eq!(src.reads, 3);
        let state = json!({"timestamp": "2026-07-01T12:05:00",
            "metrics": {"current_data": {"timestamp": "2026-07-01T12:05:00", "battery": {"soc_percent": 60}}}});
        std::fs::write(
            dir.path()
                .join("out/coordinator_state_20260701_120500.json"),
            state.to_string(),
        )
        .unwrap();
        let d = src.refresh(&ctx).unwrap().data;
        assert_eq!(src.reads, 4);
        assert_eq!(d.reading.origin, "state_file");
        assert_eq!(d.reading.data["battery"]["soc_percent"], 60);
    }
}
