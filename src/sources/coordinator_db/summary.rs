//! Daily and monthly summaries (the `/monthly-*` routes): a day computed in memory from its
//! decisions (DB rows and decision files) and `energy_data` meter counters, or from the
//! coordinator's snapshot file when we hold no decision of that day; months aggregated
//! from their days' unrounded [`Tally`]s (rounded once, see `docs/figures.md`); month
//! comparisons like for like. Pure functions only; the caching and I/O live in
//! [`super::source`].

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};
use serde::{Deserialize, Serialize};

use super::decisions::{Category, Facts};
use super::energy::EnergyRow;
use super::figures::{round, Present, Tally};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PriceStats {
    pub min: f64,
    pub max: f64,
    pub avg: f64,
}

/// The money and energy sums of a day or a month (the original's field names), each
/// rounded once to 2 dp from a [`Tally`]; `null` where the decisions do not support it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Sums {
    #[serde(default)]
    pub total_energy_kwh: Option<f64>,
    #[serde(default)]
    pub total_energy_sold_kwh: Option<f64>,
    #[serde(default)]
    pub total_cost_pln: Option<f64>,
    #[serde(default)]
    pub total_savings_pln: Option<f64>,
    #[serde(default)]
    pub selling_revenue_pln: Option<f64>,
}

impl Sums {
    pub fn of(t: &Tally) -> Sums {
        let r2 = |v: Option<f64>| v.map(|x| round(x, 2));
        Sums {
            total_energy_kwh: r2(t.energy_kwh()),
            total_energy_sold_kwh: r2(t.sold_kwh()),
            total_cost_pln: r2(t.cost_pln()),
            total_savings_pln: r2(t.total_savings_pln()),
            selling_revenue_pln: r2(t.revenue_pln()),
        }
    }
}

/// One day, in the original's snapshot field names (spec §5.5), plus `source`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DaySummary {
    pub date: String,
    #[serde(default)]
    pub created_at: Option<String>,
    pub total_decisions: u64,
    pub charging_count: u64,
    pub wait_count: u64,
    #[serde(default)]
    pub selling_count: u64,
    /// The sums are `null` when the day's decisions do not have the value (see
    /// `charging_incomplete`), never 0 in its place.
    #[serde(flatten)]
    pub sums: Sums,
    #[serde(default)]
    pub avg_confidence: Option<f64>,
    #[serde(default)]
    pub avg_cost_per_kwh: Option<f64>,
    #[serde(default)]
    pub source_breakdown: BTreeMap<String, u64>,
    #[serde(default)]
    pub price_stats: Option<PriceStats>,
    #[serde(default)]
    pub file_count: Option<u64>,
    #[serde(default)]
    pub real_grid_import_kwh: Option<f64>,
    #[serde(default)]
    pub grid_import_t1_kwh: Option<f64>,
    #[serde(default)]
    pub grid_import_t2_kwh: Option<f64>,
    #[serde(default)]
    pub grid_import_total_kwh: Option<f64>,
    #[serde(default)]
    pub energy_charged_t1_kwh: Option<f64>,
    #[serde(default)]
    pub energy_charged_t2_kwh: Option<f64>,
    /// Selling decisions whose outcome is not recorded (not counted in revenue).
    #[serde(default)]
    pub selling_outcome_unknown: u64,
    /// Charging decisions lacking `energy_kwh` or a cost (their values are missing from
    /// the sums).
    #[serde(default)]
    pub charging_incomplete: u64,
    /// `snapshot_file`, `database` (computed from DB rows and decision files) or `live`.
    #[serde(default, skip_deserializing)]
    pub source: String,
    /// The unrounded sums of a computed day (`None` for a snapshot file).
    #[serde(skip)]
    pub tally: Option<Tally>,
}

impl DaySummary {
    /// The day's tally: its own for a computed day; for a snapshot file, rebuilt from the
    /// file's (rounded) figures in the original's semantics.
    pub fn tally(&self) -> Tally {
        if let Some(t) = &self.tally {
            return t.clone();
        }
        let present = |v: Option<f64>, n: u64| Present {
            sum: v.unwrap_or_default(),
            have: if v.is_some() { n } else { 0 },
        };
        let revenue = self.sums.selling_revenue_pln.unwrap_or_default();
        let mut t = Tally::default();
        t.counts.total = self.total_decisions;
        t.counts.charging = self.charging_count;
        t.counts.selling = self.selling_count;
        t.counts.wait = self.wait_count;
        t.energy = present(self.sums.total_energy_kwh, self.charging_count);
        t.cost = present(self.sums.total_cost_pln, self.charging_count);
        t.savings = present(
            self.sums.total_savings_pln.map(|s| s - revenue),
            self.charging_count,
        );
        t.energy_t1 = self.energy_charged_t1_kwh.unwrap_or_default();
        t.energy_t2 = self.energy_charged_t2_kwh.unwrap_or_default();
        if let (Some(c), Some(e)) = (self.sums.total_cost_pln, self.sums.total_energy_kwh) {
            t.paid_cost = c;
            t.paid_energy = e;
        }
        t.charging_incomplete = self.charging_incomplete;
        t.sell_unknown = self.selling_outcome_unknown;
        t.sell_ok = self
            .selling_count
            .saturating_sub(self.selling_outcome_unknown);
        t.revenue = revenue;
        t.sold_kwh = self.sums.total_energy_sold_kwh.unwrap_or_default();
        if let Some(c) = self.avg_confidence {
            t.confidence_sum = c * self.total_decisions as f64;
            t.confidence_n = self.total_decisions;
        }
        t
    }
}

/// A snapshot file's text → the day. Wrong types, a missing required key or a date that
/// does not match the file are errors naming the file.
pub fn parse_snapshot(name: &str, date: NaiveDate, text: &str) -> Result<DaySummary, String> {
    let mut d: DaySummary =
        serde_json::from_str(text).map_err(|e| format!("{name}: not a daily snapshot ({e})"))?;
    if d.date != date.format("%Y-%m-%d").to_string() {
        return Err(format!(
            "{name}: holds date {:?}, expected {}",
            d.date,
            date.format("%Y-%m-%d")
        ));
    }
    d.source = "snapshot_file".into();
    Ok(d)
}

/// Computes a day from its decisions and energy rows (both already limited to the day).
/// `None` when there is neither.
pub fn compute_day(
    date: NaiveDate,
    facts: &[&Facts],
    energy: &[EnergyRow],
    source: &str,
) -> Option<DaySummary> {
    if facts.is_empty() && energy.is_empty() {
        return None;
    }
    let tally = Tally::of(facts.iter().copied());
    let mut breakdown: BTreeMap<String, u64> = BTreeMap::new();
    let mut prices = Vec::new();
    for f in facts.iter().filter(|f| f.category == Category::Charging) {
        let src = f
            .charging_source
            .clone()
            .unwrap_or_else(|| "unknown".into());
        *breakdown.entry(src).or_default() += 1;
        if let Some(p) = f.price.filter(|p| *p > 0.0) {
            prices.push(p);
        }
    }
    if tally.counts.selling > 0 {
        breakdown.insert("battery_selling".into(), tally.counts.selling);
    }
    // Meter readings (import counter, zone of the row) of the rows that have one.
    let counters: Vec<(f64, Option<&str>)> = energy
        .iter()
        .filter_map(|r| Some((r.import_total_kwh?, r.tariff_zone.as_deref())))
        .collect();
    let (mut g1, mut g2) = (0.0, 0.0);
    for w in counters.windows(2) {
        let inc = w[1].0 - w[0].0;
        if inc > 0.0 {
            if w[1].1 == Some("T2") {
                g2 += inc;
            } else {
                g1 += inc;
            }
        }
    }
    let two = counters.len() >= 2;
    let real = match (counters.first(), counters.last()) {
        (Some(first), Some(last)) if two => Some(round(last.0 - first.0, 3)),
        _ => None,
    };
    let zones = tally.energy_by_zone();
    Some(DaySummary {
        date: date.format("%Y-%m-%d").to_string(),
        created_at: None,
        total_decisions: tally.counts.total,
        charging_count: tally.counts.charging,
        wait_count: tally.counts.wait,
        selling_count: tally.counts.selling,
        sums: Sums::of(&tally),
        avg_confidence: tally.avg_confidence(),
        avg_cost_per_kwh: tally.avg_price_paid(),
        source_breakdown: breakdown,
        price_stats: (!prices.is_empty()).then(|| PriceStats {
            min: round(prices.iter().copied().fold(f64::INFINITY, f64::min), 4),
            max: round(prices.iter().copied().fold(f64::NEG_INFINITY, f64::max), 4),
            avg: round(prices.iter().sum::<f64>() / prices.len() as f64, 4),
        }),
        file_count: None,
        real_grid_import_kwh: real,
        grid_import_t1_kwh: two.then(|| round(g1, 3)),
        grid_import_t2_kwh: two.then(|| round(g2, 3)),
        grid_import_total_kwh: two.then(|| round(g1 + g2, 3)),
        energy_charged_t1_kwh: zones.map(|z| round(z.0, 2)),
        energy_charged_t2_kwh: zones.map(|z| round(z.1, 2)),
        selling_outcome_unknown: tally.sell_unknown,
        charging_incomplete: tally.charging_incomplete,
        source: source.into(),
        tally: Some(tally),
    })
}

/// Where the days of a month came from.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DaySources {
    pub snapshot_file: u32,
    pub database: u32,
    pub live: u32,
}

/// One month (spec §5.6 field names), always with the same keys.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MonthSummary {
    pub year: i32,
    pub month: u32,
    pub month_name: &'static str,
    /// `YYYY-MM`.
    pub label: String,
    pub total_decisions: u64,
    pub charging_count: u64,
    pub wait_count: u64,
    pub selling_count: u64,
    /// Sums over the month's decisions, rounded once; `null` for a month without data or
    /// when its decisions do not have the value (never 0 in its place).
    #[serde(flatten)]
    pub sums: Sums,
    /// Charging decisions lacking `energy_kwh` or a cost.
    pub charging_incomplete: u64,
    pub selling_outcome_unknown: u64,
    pub avg_cost_per_kwh: Option<f64>,
    pub savings_percentage: Option<f64>,
    pub avg_confidence: Option<f64>,
    pub days_with_data: u32,
    /// Meter-based figures: the sum over the days that had meter counters, `null` when no
    /// day had any (never a zero standing in for a missing reading).
    pub real_grid_import_kwh: Option<f64>,
    pub grid_import_t1_kwh: Option<f64>,
    pub grid_import_t2_kwh: Option<f64>,
    pub grid_import_total_kwh: Option<f64>,
    /// How many of `days_with_data` had meter counters.
    pub days_with_meter_data: u32,
    pub energy_charged_t1_kwh: Option<f64>,
    pub energy_charged_t2_kwh: Option<f64>,
    pub source_breakdown: BTreeMap<String, u64>,
    pub day_sources: DaySources,
    /// Snapshot files that were skipped, with the reason (the day was computed instead).
    pub skipped: Vec<String>,
    pub daily_summaries: Vec<DaySummary>,
}

pub const MONTH_NAMES: [&str; 12] = [
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
];

/// Aggregates the days of one month.
pub fn aggregate(
    year: i32,
    month: u32,
    days: Vec<DaySummary>,
    skipped: Vec<String>,
) -> MonthSummary {
    let known = |f: &dyn Fn(&DaySummary) -> Option<f64>| {
        let values: Vec<f64> = days.iter().filter_map(f).collect();
        (!values.is_empty()).then(|| round(values.iter().sum::<f64>(), 2))
    };
    let mut tally = Tally::default();
    for d in &days {
        tally.add(&d.tally());
    }
    let zones = tally.energy_by_zone();
    let mut breakdown = BTreeMap::new();
    let mut sources = DaySources::default();
    for d in &days {
        for (k, v) in &d.source_breakdown {
            *breakdown.entry(k.clone()).or_default() += v;
        }
        match d.source.as_str() {
            "snapshot_file" => sources.snapshot_file += 1,
            "live" => sources.live += 1,
            _ => sources.database += 1,
        }
    }
    MonthSummary {
        year,
        month,
        month_name: MONTH_NAMES[(month.clamp(1, 12) - 1) as usize],
        label: format!("{year}-{month:02}"),
        total_decisions: tally.counts.total,
        charging_count: tally.counts.charging,
        wait_count: tally.counts.wait,
        selling_count: tally.counts.selling,
        sums: Sums::of(&tally),
        charging_incomplete: tally.charging_incomplete,
        selling_outcome_unknown: tally.sell_unknown,
        avg_cost_per_kwh: tally.avg_price_paid(),
        savings_percentage: tally.savings_percentage(),
        avg_confidence: tally.avg_confidence(),
        days_with_data: days.len() as u32,
        real_grid_import_kwh: known(&|d| d.real_grid_import_kwh),
        grid_import_t1_kwh: known(&|d| d.grid_import_t1_kwh),
        grid_import_t2_kwh: known(&|d| d.grid_import_t2_kwh),
        grid_import_total_kwh: known(&|d| d.grid_import_total_kwh),
        days_with_meter_data: days
            .iter()
            .filter(|d| d.real_grid_import_kwh.is_some())
            .count() as u32,
        energy_charged_t1_kwh: zones.map(|z| round(z.0, 2)),
        energy_charged_t2_kwh: zones.map(|z| round(z.1, 2)),
        source_breakdown: breakdown,
        day_sources: sources,
        skipped,
        daily_summaries: days,
    }
}

/// `(cur − prev) / prev × 100` (1 dp); `null` when either is unknown (a month without
/// data) or the base is 0.
pub fn change_pct(cur: Option<f64>, prev: Option<f64>) -> Option<f64> {
    let (c, p) = (cur?, prev?);
    (p != 0.0).then(|| round((c - p) / p * 100.0, 1))
}

/// `cur − prev` (2 dp); `null` when either is unknown.
fn diff(cur: Option<f64>, prev: Option<f64>) -> Option<f64> {
    Some(round(cur? - prev?, 2))
}

/// `month` cut to its days numbered up to `last_day` (the same days as a month in
/// progress); the whole month when it has no later day.
pub fn same_days(month: &MonthSummary, last_day: u32) -> MonthSummary {
    let days: Vec<DaySummary> = month
        .daily_summaries
        .iter()
        .filter(|d| {
            NaiveDate::parse_from_str(&d.date, "%Y-%m-%d").is_ok_and(|x| x.day() <= last_day)
        })
        .cloned()
        .collect();
    aggregate(month.year, month.month, days, Vec::new())
}

/// The `/monthly-comparison` body for `current` against `previous` (spec §2.13 shape, plus
/// labels). `current_through` is the last day of `current` that has begun (today for the
/// month in progress): `changes` compare like for like, `current` against the same days of
/// `previous` (`previous_month_same_days`); `changes_full_month` compare against the whole
/// of `previous` (`previous_month`).
pub fn comparison(
    current: &MonthSummary,
    previous: &MonthSummary,
    current_through: u32,
) -> serde_json::Value {
    let brief = |m: &MonthSummary, through: Option<u32>| {
        serde_json::json!({
            "label": m.label,
            "days": through.map(|t| format!("{}-01..{}-{t:02}", m.label, m.label)),
            "year": m.year, "month": m.month, "month_name": m.month_name,
            "total_cost_pln": m.sums.total_cost_pln, "total_energy_kwh": m.sums.total_energy_kwh,
            "total_savings_pln": m.sums.total_savings_pln, "avg_cost_per_kwh": m.avg_cost_per_kwh,
            "days_with_data": m.days_with_data, "charging_count": m.charging_count,
            "selling_count": m.selling_count, "selling_revenue_pln": m.sums.selling_revenue_pln,
            "charging_incomplete": m.charging_incomplete,
        })
    };
    let changes = |c: &MonthSummary, p: &MonthSummary| {
        serde_json::json!({
            "cost_change_pct": change_pct(c.sums.total_cost_pln, p.sums.total_cost_pln),
            "energy_change_pct": change_pct(c.sums.total_energy_kwh, p.sums.total_energy_kwh),
            "savings_change_pct": change_pct(c.sums.total_savings_pln, p.sums.total_savings_pln),
            "cost_diff_pln": diff(c.sums.total_cost_pln, p.sums.total_cost_pln),
            "energy_diff_kwh": diff(c.sums.total_energy_kwh, p.sums.total_energy_kwh),
            "savings_diff_pln": diff(c.sums.total_savings_pln, p.sums.total_savings_pln),
        })
    };
    let prev_same = same_days(previous, current_through);
    serde_json::json!({
        "current_month": brief(current, Some(current_through)),
        "previous_month": brief(previous, None),
        "previous_month_same_days": brief(&prev_same, Some(current_through.min(days_in_month(previous.year, previous.month)))),
        "changes": changes(current, &prev_same),
        "changes_full_month": changes(current, previous),
        "compared": format!("{} against {}", current.label, previous.label),
    })
}

/// The number of days of `(year, month)`.
pub fn days_in_month(year: i32, month: u32) -> u32 {
    let (ny, nm) = next_month(year, month);
    NaiveDate::from_ymd_opt(ny, nm, 1)
        .and_then(|d| d.pred_opt())
        .map_or(31, |d| d.day())
}

/// `(year, month)` of a date.
pub fn month_of(d: NaiveDate) -> (i32, u32) {
    (d.year(), d.month())
}

/// The first day of the month after `(year, month)`.
pub fn next_month(year: i32, month: u32) -> (i32, u32) {
    if month >= 12 {
        (year + 1, 1)
    } else {
        (year, month + 1)
    }
}

/// The month before `(year, month)`.
pub fn prev_month(year: i32, month: u32) -> (i32, u32) {
    if month <= 1 {
        (year - 1, 12)
    } else {
        (year, month - 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use serde_json::Value;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn charge(t: &str, e: f64, c: f64, s: f64, zone: &str) -> Facts {
        Facts {
            at: at(t),
            category: Category::Charging,
            energy_kwh: Some(e),
            cost_pln: Some(c),
            savings_pln: Some(s),
            revenue_pln: None,
            confidence: Some(0.5),
            price: Some(c / e),
            tariff_zone: Some(zone.into()),
            execution_success: None,
            charging_source: None,
        }
    }

    #[test]
    fn day_from_decisions_and_meter_counters() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let a = charge("2026-07-01T01:00:00Z", 2.0, 1.0, 0.4, "T2");
        let b = charge("2026-07-01T12:00:00Z", 1.0, 0.9, 0.0, "T1");
        let mut sold = a.clone();
        sold.category = Category::Selling;
        sold.energy_kwh = Some(3.0);
        sold.revenue_pln = Some(2.5);
        sold.execution_success = Some(true);
        let mut unk = sold.clone();
        unk.execution_success = None;
        let rows: Vec<EnergyRow> = [(100.0, "T2"), (101.5, "T2"), (101.5, "T1"), (103.0, "T1")]
            .iter()
            .enumerate()
            .map(|(i, (k, z))| EnergyRow {
                at: at("2026-07-01T00:00:00Z") + chrono::Duration::minutes(5 * i as i64),
                import_total_kwh: Some(*k),
                tariff_zone: Some(z.to_string()),
                ..Default::default()
            })
            .collect();
        let s = compute_day(d, &[&a, &b, &sold, &unk], &rows, "database").unwrap();
        assert_eq!(s.date, "2026-07-01");
        assert_eq!(
            (
                s.total_decisions,
                s.charging_count,
                s.selling_count,
                s.wait_count
            ),
            (4, 2, 2, 0)
        );
        assert_eq!(s.sums.total_energy_kwh, Some(3.0));
        assert_eq!(s.sums.total_cost_pln, Some(1.9));
        assert_eq!(s.sums.selling_revenue_pln, Some(2.5));
        assert_eq!(s.sums.total_savings_pln, Some(2.9));
        assert_eq!(s.sums.total_energy_sold_kwh, Some(3.0));
        assert_eq!(s.selling_outcome_unknown, 1);
        assert_eq!(s.energy_charged_t2_kwh, Some(2.0));
        assert_eq!(s.energy_charged_t1_kwh, Some(1.0));
        assert_eq!(s.real_grid_import_kwh, Some(3.0));
        assert_eq!(s.grid_import_t2_kwh, Some(1.5));
        assert_eq!(s.grid_import_t1_kwh, Some(1.5));
        assert_eq!(s.avg_cost_per_kwh, Some(0.6333));
        assert_eq!(s.source_breakdown["unknown"], 2);
        assert_eq!(s.source_breakdown["battery_selling"], 2);
        assert!(compute_day(d, &[], &[], "database").is_none());
    }

    #[test]
    fn snapshots_with_wrong_types_are_rejected() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let good = r#"{"date": "2026-07-01", "total_decisions": 2, "charging_count": 2, "wait_count": 0,
            "total_energy_kwh": 4.0, "total_cost_pln": 2.1, "total_savings_pln": 0.5, "avg_confidence": 0.7}"#;
        let s = parse_snapshot("snapshot_20260701.json", d, good).unwrap();
        assert_eq!(s.source, "snapshot_file");
        assert_eq!(s.sums.total_energy_kwh, Some(4.0));
        let bad = good.replace("4.0", "\"four\"");
        let e = parse_snapshot("snapshot_20260701.json", d, &bad).unwrap_err();
        assert!(e.contains("snapshot_20260701.json"), "{e}");
        let other_day = good.replace("2026-07-01", "2026-07-02");
        assert!(parse_snapshot("snapshot_20260701.json", d, &other_day).is_err());
    }

    #[test]
    fn month_aggregation_and_comparison() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let a = charge("2026-07-01T01:00:00Z", 2.0, 1.0, 0.5, "T2");
        let mut day1 = compute_day(d, &[&a], &[], "database").unwrap();
        let mut day2 = day1.clone();
        day2.date = "2026-07-02".into();
        day2.source = "snapshot_file".into();
        // Day 1 as a snapshot file gives it: only its (rounded) figures, confidence 0.9.
        day1.avg_confidence = Some(0.9);
        day1.tally = None;
        let m = aggregate(2026, 7, vec![day1, day2], vec!["x".into()]);
        assert_eq!(m.month_name, "July");
        assert_eq!(m.sums.total_energy_kwh, Some(4.0));
        assert_eq!(m.sums.total_cost_pln, Some(2.0));
        assert_eq!(m.savings_percentage, Some(33.3));
        assert_eq!(m.avg_confidence, Some(0.7));
        assert_eq!(m.day_sources.snapshot_file, 1);
        assert_eq!(m.days_with_data, 2);
        let empty = aggregate(2026, 6, vec![], vec![]);
        assert_eq!(empty.avg_cost_per_kwh, None);
        assert_eq!(empty.month_name, "June");
        // Against a month without data there is no change to state (was +100 %).
        let c = comparison(&m, &empty, 2);
        assert_eq!(c["changes"]["cost_change_pct"], Value::Null);
        assert_eq!(c["changes"]["energy_diff_kwh"], Value::Null);
        assert_eq!(c["previous_month"]["label"], "2026-06");
        assert_eq!(change_pct(Some(0.0), Some(0.0)), None, "the base is 0");
        assert_eq!(change_pct(Some(1.5), Some(1.0)), Some(50.0));
        assert_eq!(change_pct(Some(1.5), None), None);
        assert_eq!(next_month(2026, 12), (2027, 1));
        assert_eq!(prev_month(2026, 1), (2025, 12));
    }

    #[test]
    fn meter_figures_are_null_without_counters_and_sum_known_days() {
        let d = NaiveDate::from_ymd_opt(2026, 7, 1).unwrap();
        let a = charge("2026-07-01T01:00:00Z", 2.0, 1.0, 0.5, "T2");
        let no_meter = compute_day(d, &[&a], &[], "database").unwrap();
        assert_eq!(no_meter.real_grid_import_kwh, None);
        let m = aggregate(2026, 7, vec![no_meter.clone()], vec![]);
        assert_eq!(
            m.real_grid_import_kwh, None,
            "no counters must not read as 0 kWh"
        );
        assert_eq!(m.grid_import_total_kwh, None);
        assert_eq!(m.days_with_meter_data, 0);
        let mut metered = no_meter.clone();
        metered.date = "2026-07-02".into();
        metered.real_grid_import_kwh = Some(3.5);
        metered.grid_import_total_kwh = Some(3.5);
        let m = aggregate(2026, 7, vec![no_meter, metered], vec![]);
        assert_eq!(m.real_grid_import_kwh, Some(3.5));
        assert_eq!(m.grid_import_total_kwh, Some(3.5));
        assert_eq!(m.days_with_meter_data, 1);
        assert_eq!(m.days_with_data, 2);
    }

    #[test]
    fn a_day_with_incomplete_decisions_is_null_with_a_count_never_zero() {
        let d = NaiveDate::from_ymd_opt(2026, 11, 18).unwrap();
        // Ten charging decisions recorded without energy_kwh or estimated_cost_pln, and
        // two sales whose outcome is not recorded (DB rows).
        let mut bare = charge("2026-11-18T01:00:00Z", 0.0, 0.0, 0.0, "T2");
        bare.energy_kwh = None;
        bare.cost_pln = None;
        bare.savings_pln = None;
        let charges: Vec<Facts> = (0..10).map(|_| bare.clone()).collect();
        let mut sale = bare.clone();
        sale.category = Category::Selling;
        sale.revenue_pln = Some(4.0);
        let mut facts: Vec<&Facts> = charges.iter().collect();
        facts.push(&sale);
        facts.push(&sale);
        let s = compute_day(d, &facts, &[], "database").unwrap();
        assert_eq!(s.charging_count, 10);
        assert_eq!(s.charging_incomplete, 10);
        // Nothing is known about energy, cost, savings or revenue: null, not 0.0.
        assert_eq!(s.sums.total_energy_kwh, None);
        assert_eq!(s.sums.total_cost_pln, None);
        assert_eq!(s.sums.total_savings_pln, None);
        assert_eq!(
            s.sums.selling_revenue_pln, None,
            "sales with unknown outcome"
        );
        assert_eq!(s.selling_outcome_unknown, 2);
        // One complete charge on another day of the month: 2.0 kWh for 1.00 PLN, 0.40
        // saved. The month sums what is known (2.0 kWh, 1.00 PLN) and says that 10
        // charges had no figures; its savings stay null because the month's sales have no
        // known outcome (savings = charging savings + revenue, and revenue is unknown).
        let other = charge("2026-11-19T01:00:00Z", 2.0, 1.0, 0.4, "T2");
        let s2 = compute_day(d.succ_opt().unwrap(), &[&other], &[], "database").unwrap();
        assert_eq!(s2.sums.total_energy_kwh, Some(2.0));
        let m = aggregate(2026, 11, vec![s, s2], vec![]);
        assert_eq!(m.sums.total_energy_kwh, Some(2.0));
        assert_eq!(m.sums.total_cost_pln, Some(1.0));
        assert_eq!(m.charging_incomplete, 10);
        assert_eq!(m.sums.selling_revenue_pln, None);
        assert_eq!(m.sums.total_savings_pln, None);
        assert_eq!(m.savings_percentage, None);
        // Serialized, a missing sum is null (never 0.0).
        let v = serde_json::to_value(&m.daily_summaries[0]).unwrap();
        assert_eq!(v["total_energy_kwh"], Value::Null);
        assert_eq!(v["charging_incomplete"], 10);
    }

    #[test]
    fn an_empty_month_has_null_totals_and_no_change_percent() {
        // November 2026 with no day at all.
        let empty = aggregate(2026, 11, vec![], vec![]);
        assert_eq!(empty.label, "2026-11");
        assert_eq!(empty.total_decisions, 0);
        for v in [
            empty.sums.total_energy_kwh,
            empty.sums.total_cost_pln,
            empty.sums.total_savings_pln,
            empty.sums.selling_revenue_pln,
            empty.sums.total_energy_sold_kwh,
            empty.energy_charged_t1_kwh,
            empty.avg_cost_per_kwh,
            empty.savings_percentage,
        ] {
            assert_eq!(v, None);
        }
        let text = crate::snapshot::to_json_string(&empty).unwrap();
        assert!(!text.contains("-0.0"), "{text}");
        // December 2026 so far (through the 2nd): 3.0 kWh on the 1st for 1.50 PLN.
        let d = NaiveDate::from_ymd_opt(2026, 12, 1).unwrap();
        let a = charge("2026-12-01T01:00:00Z", 3.0, 1.5, 0.3, "T2");
        let dec = aggregate(
            2026,
            12,
            vec![compute_day(d, &[&a], &[], "live").unwrap()],
            vec![],
        );
        let c = comparison(&dec, &empty, 2);
        assert_eq!(c["current_month"]["label"], "2026-12");
        assert_eq!(c["current_month"]["days"], "2026-12-01..2026-12-02");
        assert_eq!(
            c["previous_month_same_days"]["total_energy_kwh"],
            Value::Null
        );
        assert_eq!(c["changes"]["energy_change_pct"], Value::Null);
        assert_eq!(c["changes_full_month"]["cost_diff_pln"], Value::Null);
    }

    #[test]
    fn comparison_is_like_for_like_and_the_full_month_separately() {
        // October 2026: 1.0 kWh on each of the 1st..31st for 0.50 PLN each.
        let days: Vec<DaySummary> = (1..=31)
            .map(|n| {
                let d = NaiveDate::from_ymd_opt(2026, 10, n).unwrap();
                let t = format!("2026-10-{n:02}T08:00:00Z");
                compute_day(d, &[&charge(&t, 1.0, 0.5, 0.0, "T1")], &[], "database").unwrap()
            })
            .collect();
        let oct = aggregate(2026, 10, days, vec![]);
        assert_eq!(oct.sums.total_energy_kwh, Some(31.0));
        // November so far, through the 10th: 12.0 kWh for 6.00 PLN.
        let d = NaiveDate::from_ymd_opt(2026, 11, 3).unwrap();
        let a = charge("2026-11-03T08:00:00Z", 12.0, 6.0, 0.0, "T1");
        let nov = aggregate(
            2026,
            11,
            vec![compute_day(d, &[&a], &[], "live").unwrap()],
            vec![],
        );
        let c = comparison(&nov, &oct, 10);
        // Like for like: October 1..10 = 10.0 kWh, so +20 %; the whole October 31.0 kWh:
        // (12 - 31) / 31 = -61.29 % -> -61.3.
        assert_eq!(c["previous_month_same_days"]["total_energy_kwh"], 10.0);
        assert_eq!(
            c["previous_month_same_days"]["days"],
            "2026-10-01..2026-10-10"
        );
        assert_eq!(c["changes"]["energy_change_pct"], 20.0);
        assert_eq!(c["changes"]["energy_diff_kwh"], 2.0);
        assert_eq!(c["changes_full_month"]["energy_change_pct"], -61.3);
        assert_eq!(c["previous_month"]["total_energy_kwh"], 31.0);
        assert_eq!(c["compared"], "2026-11 against 2026-10");
    }
}
