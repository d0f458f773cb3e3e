//! Daily snapshots per spec §5.5, computed from the decision and energy rows written for
//! each day, as the original computed them.

use std::path::PathBuf;

use chrono::{DateTime, Duration, NaiveDate, Utc};

use super::*;
use crate::clock::{self, ZONE};

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

#[cfg(test)]
mod tests {
    use super::*;

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
