//! The coordinator's SQLite schema (its schema version 4), as its writer creates it.
//!
//! energy-monitor never executes this against the coordinator's DB: it opens that DB
//! read-only. The demo generator, the benchmark and the tests use it to write DBs of the
//! same shape. Only the tables energy-monitor reads are listed, with the writer's indexes.
//!
//! Conventions of the writer: `timestamp` columns hold local (Europe/Warsaw) naive ISO text
//! `YYYY-MM-DDTHH:MM:SS.ffffff`; `created_at` holds UTC `YYYY-MM-DD HH:MM:SS`; powers are
//! in W; `grid_power` is negative for import; the `*_total_kwh` columns are meter counters.

/// DDL for the tables energy-monitor reads, and their indexes.
pub const DDL: &str = "
CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at TEXT DEFAULT CURRENT_TIMESTAMP,
    description TEXT
);
CREATE TABLE IF NOT EXISTS energy_data (
    timestamp TEXT PRIMARY KEY,
    battery_soc REAL,
    pv_power INTEGER,
    grid_power INTEGER,
    house_consumption INTEGER,
    battery_power INTEGER,
    grid_voltage REAL,
    grid_frequency REAL,
    battery_voltage REAL,
    battery_current REAL,
    battery_temperature REAL,
    price_pln REAL,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP,
    grid_import_total_kwh REAL,
    grid_export_total_kwh REAL,
    house_consumption_total_kwh REAL,
    pv_generation_total_kwh REAL,
    tariff_zone TEXT
);
CREATE TABLE IF NOT EXISTS system_state (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    state TEXT,
    uptime REAL,
    active_modules TEXT,
    last_error TEXT,
    metrics TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE IF NOT EXISTS coordinator_decisions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    timestamp TEXT NOT NULL,
    decision_type TEXT,
    action TEXT,
    reason TEXT,
    parameters TEXT,
    source_module TEXT,
    created_at TEXT DEFAULT CURRENT_TIMESTAMP
);
CREATE INDEX IF NOT EXISTS idx_energy_timestamp ON energy_data(timestamp);
CREATE INDEX IF NOT EXISTS idx_state_timestamp ON system_state(timestamp);
CREATE INDEX IF NOT EXISTS idx_decisions_timestamp ON coordinator_decisions(timestamp);
CREATE INDEX IF NOT EXISTS idx_decisions_type_time ON coordinator_decisions(decision_type, timestamp);
INSERT OR IGNORE INTO schema_version (version, description) VALUES (4, 'energy-monitor test schema');
";

/// Creates the tables in `conn` and switches it to WAL, as the coordinator does.
pub fn create(conn: &rusqlite::Connection) -> rusqlite::Result<()> {
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.execute_batch(DDL)
}

#[cfg(test)]
mod tests {
    #[test]
    fn schema_creates() {
        let dir = tempfile::tempdir().unwrap();
        let conn = rusqlite::Connection::open(dir.path().join("x.db")).unwrap();
        super::create(&conn).unwrap();
        let n: i64 = conn
            .query_row(
                "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert!(n >= 4);
    }
}
