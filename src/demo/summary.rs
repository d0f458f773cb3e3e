//! What [`super::generate`] wrote ([`DemoSummary`], with the DB's row counts), and how it is
//! printed.

use std::fmt;
use std::path::PathBuf;
use std::time::Duration as StdDuration;

use super::*;

/// Row counts of the generated DB.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DbCounts {
    pub energy_data: u64,
    pub system_state: u64,
    pub decisions: u64,
}

/// What [`generate`] wrote.
#[derive(Debug)]
pub struct DemoSummary {
    pub dir: PathBuf,
    pub database: PathBuf,
    pub config: PathBuf,
    pub price_cache: PathBuf,
    pub state_file: Option<PathBuf>,
    pub counts: DbCounts,
    pub days: u32,
    /// First and last simulated minute.
    pub first: DateTime<Utc>,
    pub last: DateTime<Utc>,
    pub charging_files: usize,
    pub selling_files: usize,
    pub snapshots: usize,
    pub master_log_lines: usize,
    pub fast_charge_log_lines: usize,
    /// (business date, quarters) in the price cache.
    pub price_days: Vec<(NaiveDate, usize)>,
    pub port: u16,
    pub elapsed: StdDuration,
    /// Where the simulation stopped, to keep the DB growing ([`live::spawn`]).
    pub resume: live::Resume,
}

impl DemoSummary {
    /// The dashboard URL of the written config.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}/", self.port)
    }
}

impl fmt::Display for DemoSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rel = |p: &Path| p.strip_prefix(&self.dir).unwrap_or(p).display().to_string();
        writeln!(
            f,
            "energy-monitor demo: wrote SYNTHETIC demo data (a simulated installation, not real measurements) to {}",
            self.dir.display()
        )?;
        writeln!(
            f,
            "  database  {}: {} energy_data, {} system_state, {} coordinator_decisions rows ({} days, {} .. {})",
            rel(&self.database),
            self.counts.energy_data,
            self.counts.system_state,
            self.counts.decisions,
            self.days,
            clock::local_rfc3339(self.first),
            clock::local_rfc3339(self.last),
        )?;
        writeln!(
            f,
            "  files     out/energy_data: {} charging and {} selling decision files; out/daily_snapshots: {} snapshots; {}",
            self.charging_files,
            self.selling_files,
            self.snapshots,
            self.state_file.as_deref().map(rel).unwrap_or_else(|| "no state file".into()),
        )?;
        writeln!(
            f,
            "  logs      logs/master_coordinator.log ({} lines), logs/fast_charge.log ({} lines)",
            self.master_log_lines, self.fast_charge_log_lines
        )?;
        let days: Vec<String> = self
            .price_days
            .iter()
            .map(|(d, n)| format!("{d} ({n} quarters)"))
            .collect();
        writeln!(
            f,
            "  prices    {}: {}",
            rel(&self.price_cache),
            days.join(", ")
        )?;
        writeln!(f, "  config    {}", rel(&self.config))?;
        write!(f, "  generated in {:.2} s", self.elapsed.as_secs_f64())
    }
}
