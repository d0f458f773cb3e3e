//! The prices source: PSE day-ahead prices for today and tomorrow at 15-minute resolution,
//! made tariff-aware, persisted to `<data_dir>/price_cache.json`, and rendered as
//! `/prices` (plus the `pricing` object that `/current-state` embeds).
//!
//! Owns the quarter model ([`Quarter`], [`DayPrices`]), the fetch calendar (today once and
//! re-checked a few times a day; tomorrow polled from ~13:30 Warsaw until published; at
//! midnight tomorrow becomes today without a fetch), and the validity rule: a day is served
//! only on its own business date and only for 24 h after it was fetched.
//!
//! Sub-modules: [`pse`] (HTTP), [`parse`] (answers → quarters), [`tariff`] (final prices),
//! [`cache`] (the file), [`windows`] (cheapest / most expensive runs).

pub mod cache;
pub mod parse;
pub mod pse;
pub mod tariff;
pub mod windows;

use std::collections::hash_map::DefaultHasher;
use std::collections::BTreeMap;
use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};
use serde_json::{json, Map, Value};

use crate::clock;
use crate::http::routes::{HttpContext, Reply, RequestInfo, Route};
use crate::refresh::{
    backoff, RefreshContext, Refreshed, Renderer, Source, SourceError, SourceId, SourceStatus,
};
use crate::snapshot::{route_key, Body, Snapshot};
use pse::{DayAnswer, PseClient};
use tariff::{Priced, Tariff};

use crate::sources::store::{SourceData, SourceResult, Sources, View};

/// The route.
pub const ROUTE: &str = "/prices";
/// How long a fetched day may be served.
pub const VALID_FOR: Duration = Duration::from_secs(24 * 3600);

/// One market-price interval (normally a quarter hour), placed in UTC.
#[derive(Debug, Clone, PartialEq)]
pub struct Quarter {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
    /// The local `"HH:MM - HH:MM"` label as PSE sent it (or as we derived it).
    pub period: String,
    /// Market price, PLN/MWh (may be negative).
    pub market_pln_mwh: f64,
}

/// The quarters of one business date and where they came from.
#[derive(Debug, Clone, PartialEq)]
pub struct DayPrices {
    pub business_date: NaiveDate,
    pub fetched_at: DateTime<Utc>,
    pub source_url: String,
    pub value_field: String,
    /// Imported from the original dashboard's hourly cache (approximate).
    pub hourly_legacy: bool,
    pub quarters: Vec<Quarter>,
}

impl DayPrices {
    /// True when this day may be served at `now` as the business date `date`.
    pub fn valid_for(&self, date: NaiveDate, now: DateTime<Utc>) -> bool {
        self.business_date == date
            && self.fetched_at <= now + chrono::Duration::minutes(5)
            && (now - self.fetched_at).to_std().unwrap_or_default() < VALID_FOR
    }
}

/// What we know about tomorrow's publication.
#[derive(Debug, Clone, PartialEq)]
pub enum Tomorrow {
    NotChecked,
    NotYetPublished { checked_at: DateTime<Utc> },
    Published,
    Failed { at: DateTime<Utc>, error: String },
}

/// The source's data, as renderers see it.
#[derive(Debug, Clone)]
pub struct PriceData {
    /// Days that were valid when the refresh ended, by business date.
    pub days: Vec<DayPrices>,
    pub tariff: Arc<Tariff>,
    /// E.g. `PSE API (CSDAC-PLN)`.
    pub label: String,
    pub tomorrow_date: NaiveDate,
    pub tomorrow: Tomorrow,
    /// From when tomorrow is expected (the local poll start on today's date).
    pub tomorrow_from: DateTime<Utc>,
    /// A fetch that failed during a refresh that otherwise succeeded.
    pub partial_error: Option<String>,
    pub origin: &'static str,
    /// Why the configured tariff could not be used (final prices are market + SC).
    pub tariff_problem: Option<String>,
}

impl PriceData {
    pub fn day(&self, date: NaiveDate, now: DateTime<Utc>) -> Option<&DayPrices> {
        self.days.iter().find(|d| d.valid_for(date, now))
    }
}

/// The schedule knobs.
#[derive(Debug, Clone)]
pub struct Schedule {
    /// Base wake-up interval (`web_server.price_refresh_interval_seconds`).
    pub interval: Duration,
    /// How often today's prices are re-checked.
    pub today_recheck: Duration,
    /// How often tomorrow is polled until published.
    pub tomorrow_poll: Duration,
    /// Local time from which tomorrow is polled.
    pub tomorrow_from: NaiveTime,
}

/// The prices source.
pub struct PriceSource {
    schedule: Schedule,
    client: PseClient,
    value_field: String,
    cache_path: PathBuf,
    tariff: Arc<Tariff>,
    label: String,
    days: BTreeMap<NaiveDate, DayPrices>,
    started: bool,
    origin: &'static str,
    /// Last successful contact with PSE per business date.
    checked: BTreeMap<NaiveDate, DateTime<Utc>>,
    /// After a failure: no new attempt for that date before this instant.
    retry_at: BTreeMap<NaiveDate, DateTime<Utc>>,
    failures: u32,
    tomorrow: (NaiveDate, Tomorrow),
    next_wake: Duration,
    /// The last fetch error per business date (cleared by a successful contact).
    errors: BTreeMap<NaiveDate, String>,
    /// Why the configured tariff could not be used (then final prices are market + SC).
    tariff_warning: Option<String>,
    /// Why the last write of the cache file failed, until one succeeds.
    cache_warning: Option<String>,
    /// The disk cache was read (by [`PriceSource::preload`] or the first refresh).
    disk_loaded: bool,
    /// Demo mode: the disk cache is the only input, PSE is never asked, origin `demo`.
    demo: bool,
}

/// The PSE entity of an API URL: `csdac-pln` for `.../api/csdac-pln?x=1`.
pub fn entity_of(url: &str) -> &str {
    url.split(['?', '#'])
        .next()
        .unwrap_or(url)
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or("")
}

/// `PSE API (CSDAC-PLN)` for `.../api/csdac-pln`.
pub fn label_for(url: &str) -> String {
    format!("PSE API ({})", entity_of(url).to_ascii_uppercase())
}

impl PriceSource {
    pub fn new(
        url: &str,
        value_field: &str,
        api_timeout: Duration,
        data_dir: &std::path::Path,
        tariff: Tariff,
        schedule: Schedule,
    ) -> PriceSource {
        PriceSource {
            client: PseClient::new(url, value_field, api_timeout),
            value_field: value_field.to_string(),
            cache_path: cache::path_in(data_dir),
            tariff: Arc::new(tariff),
            label: label_for(url),
            days: BTreeMap::new(),
            started: false,
            origin: "network",
            checked: BTreeMap::new(),
            retry_at: BTreeMap::new(),
            failures: 0,
            tomorrow: (NaiveDate::MIN, Tomorrow::NotChecked),
            next_wake: schedule.interval,
            schedule,
            errors: BTreeMap::new(),
            tariff_warning: None,
            cache_warning: None,
            disk_loaded: false,
            demo: false,
        }
    }

    /// Demo mode (`demo: true` in the config): prices come from the demo's cache file
    /// only, nothing is fetched, and the origin is `demo`.
    pub fn demo(mut self) -> PriceSource {
        self.demo = true;
        self.label = "demo (synthetic prices)".to_string();
        self
    }

    /// Reports `warning` (the tariff could not be understood) with every refresh, so that
    /// `/status` lists it among its problems.
    pub fn with_tariff_warning(mut self, warning: Option<String>) -> PriceSource {
        self.tariff_warning = warning;
        self
    }

    /// Reads the disk cache now (before the listener opens), so that the first refresh
    /// serves it without waiting; true when it held a valid day for today (then `/prices`
    /// can answer 200 from the first snapshot).
    pub fn preload(&mut self) -> bool {
        let now = clock::now();
        self.load_disk(now);
        self.prune(now);
        self.days.contains_key(&clock::local_date(now))
    }

    fn load_disk(&mut self, now: DateTime<Utc>) {
        if std::mem::replace(&mut self.disk_loaded, true) {
            return;
        }
        let loaded = cache::load(&self.cache_path);
        for w in &loaded.warnings {
            log::warn!("{w}");
        }
        if loaded.imported_legacy {
            log::info!(
                "imported the original dashboard's price cache {} (hourly, approximate) until the next fetch",
                self.cache_path.display()
            );
        }
        let today = clock::local_date(now);
        for d in loaded.days {
            let date = d.business_date;
            let tomorrow = today.succ_opt().unwrap_or(today);
            if (date == today || date == tomorrow) && d.valid_for(date, now) {
                self.checked.insert(date, d.fetched_at);
                self.days.insert(date, d);
                self.origin = "disk_cache";
            }
        }
        if !self.days.is_empty() {
            log::info!(
                "serving {} day(s) of prices from {} until PSE is asked",
                self.days.len(),
                self.cache_path.display()
            );
        }
    }

    fn prune(&mut self, now: DateTime<Utc>) {
        let today = clock::local_date(now);
        self.days
            .retain(|date, d| d.valid_for(*date, now) && *date >= today);
        self.checked.retain(|date, _| *date >= today);
        self.retry_at.retain(|date, _| *date >= today);
    }

    fn tomorrow_from(&self, today: NaiveDate) -> DateTime<Utc> {
        clock::ZONE
            .from_local_datetime(&today.and_time(self.schedule.tomorrow_from))
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_else(|| clock::day_start(today))
    }

    /// When `today` should next be asked for.
    fn today_due_at(&self, today: NaiveDate) -> DateTime<Utc> {
        let s = &self.schedule;
        let base = match (self.days.contains_key(&today), self.checked.get(&today)) {
            (_, None) => DateTime::<Utc>::MIN_UTC,
            (true, Some(t)) => (*t).max(clock::day_start(today)) + s.today_recheck,
            (false, Some(t)) => *t + s.tomorrow_poll,
        };
        base.max(
            self.retry_at
                .get(&today)
                .copied()
                .unwrap_or(DateTime::<Utc>::MIN_UTC),
        )
    }

    /// When `tomorrow` should next be asked for; `None` once it is published.
    fn tomorrow_due_at(&self, today: NaiveDate, tomorrow: NaiveDate) -> Option<DateTime<Utc>> {
        if self.days.contains_key(&tomorrow) {
            return None;
        }
        let from = self.tomorrow_from(today);
        let polled = self
            .checked
            .get(&tomorrow)
            .map(|t| *t + self.schedule.tomorrow_poll)
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        let retry = self
            .retry_at
            .get(&tomorrow)
            .copied()
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        Some(from.max(polled).max(retry))
    }

    /// Asks PSE for `date`; true when new quarters arrived. Times are taken when the answer
    /// is complete, so a slow answer does not look older than it is.
    fn fetch(&mut self, date: NaiveDate, ctx: &RefreshContext) -> Result<bool, String> {
        let result = self.client.fetch_day(date, ctx);
        let now = clock::now();
        match result {
            Ok(answer) => {
                self.origin = "network";
                self.checked.insert(date, now);
                self.retry_at.remove(&date);
                self.errors.remove(&date);
                match answer {
                    DayAnswer::NotPublished => {
                        log::info!("PSE has no prices for {date} yet");
                        Ok(false)
                    }
                    DayAnswer::Published(quarters) => {
                        log::info!(
                            "fetched {} quarters for {date} from {}",
                            quarters.len(),
                            self.client.url()
                        );
                        let expected = parse::quarters_in_day(date);
                        if quarters.len() != expected {
                            log::warn!(
                                "PSE returned {} quarters for {date}, a full day has {expected}",
                                quarters.len()
                            );
                        }
                        self.days.insert(
                            date,
                            DayPrices {
                                business_date: date,
                                fetched_at: now.with_nanosecond(0).unwrap_or(now),
                                source_url: self.client.url().to_string(),
                                value_field: self.value_field.clone(),
                                hourly_legacy: false,
                                quarters,
                            },
                        );
                        Ok(true)
                    }
                }
            }
            Err(e) => {
                let n = self.failures.saturating_add(1);
                self.retry_at
                    .insert(date, now + backoff(self.schedule.interval, n));
                let message = format!("prices for {date}: {e}");
                self.errors.insert(date, message.clone());
                Err(message)
            }
        }
    }

    fn plan(&mut self, now: DateTime<Utc>) {
        let today = clock::local_date(now);
        let tomorrow = today.succ_opt().unwrap_or(today);
        let mut next = now + self.schedule.interval;
        next = next.min(self.today_due_at(today));
        if let Some(t) = self.tomorrow_due_at(today, tomorrow) {
            next = next.min(t);
        }
        next = next.min(clock::day_start(tomorrow) + chrono::Duration::seconds(1));
        self.next_wake = (next - now)
            .to_std()
            .unwrap_or_default()
            .max(Duration::from_millis(100));
    }

    fn origin(&self) -> &'static str {
        if self.demo {
            "demo"
        } else {
            self.origin
        }
    }

    fn data(&self, now: DateTime<Utc>, partial_error: Option<String>) -> Refreshed<SourceData> {
        let today = clock::local_date(now);
        let tomorrow_date = today.succ_opt().unwrap_or(today);
        let tomorrow = if self.days.contains_key(&tomorrow_date) {
            Tomorrow::Published
        } else if self.tomorrow.0 == tomorrow_date {
            self.tomorrow.1.clone()
        } else {
            Tomorrow::NotChecked
        };
        let observed = self
            .days
            .get(&today)
            .or_else(|| self.days.values().next_back())
            .map(|d| d.fetched_at)
            .unwrap_or(now);
        Refreshed::new(PriceData {
            days: self.days.values().cloned().collect(),
            tariff: Arc::clone(&self.tariff),
            label: self.label.clone(),
            tomorrow_date,
            tomorrow,
            tomorrow_from: self.tomorrow_from(today),
            partial_error,
            origin: self.origin(),
            tariff_problem: self.tariff_warning.clone(),
        })
        .observed_at(observed)
        .origin(self.origin())
    }

    fn save(&mut self) {
        let days: Vec<&DayPrices> = self.days.values().collect();
        self.cache_warning = match cache::save(&self.cache_path, &days) {
            Ok(()) => None,
            Err(e) => {
                let w = format!(
                    "cannot write the price cache {}: {e}; prices are served from memory only and a restart would have to fetch them again",
                    self.cache_path.display()
                );
                log::warn!("{w}");
                Some(w)
            }
        };
    }
}

impl Source<SourceData> for PriceSource {
    fn id(&self) -> SourceId {
        SourceId::Prices
    }

    fn interval(&self) -> Duration {
        self.schedule.interval
    }

    /// A day is fetched for its whole date: it is fresh for 12 h and expired at 24 h, when
    /// it stops being served.
    fn stale_after(&self) -> Duration {
        VALID_FOR / 2
    }

    fn next_delay(&self, _succeeded: bool, _consecutive_failures: u32) -> Duration {
        self.next_wake
    }

    fn warnings(&self) -> Vec<String> {
        [&self.tariff_warning, &self.cache_warning]
            .into_iter()
            .flatten()
            .cloned()
            .collect()
    }

    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult {
        let now = clock::now();
        if self.demo {
            self.load_disk(now);
            self.prune(now);
            self.next_wake = self.schedule.interval;
            if !self.days.contains_key(&clock::local_date(now)) {
                return Err(SourceError::new(format!(
                    "the demo's price cache {} holds no prices for today; run `energy-monitor demo` again",
                    self.cache_path.display()
                )));
            }
            return Ok(self.data(now, None));
        }
        if !self.started {
            self.started = true;
            self.load_disk(now);
            self.prune(now);
            if !self.days.is_empty() {
                // Serve the disk copy at once; PSE is asked on the next run, right after.
                self.plan(now);
                return Ok(self.data(now, None));
            }
        }
        self.prune(now);
        let today = clock::local_date(now);
        let tomorrow = today.succ_opt().unwrap_or(today);
        let mut changed = false;
        let mut error: Option<String> = None;

        if self.today_due_at(today) <= now {
            match self.fetch(today, ctx) {
                Ok(c) => changed |= c,
                Err(e) => error = Some(e),
            }
        }
        if error.is_none() && !ctx.stopping() {
            if let Some(due) = self.tomorrow_due_at(today, tomorrow) {
                if due <= now {
                    match self.fetch(tomorrow, ctx) {
                        Ok(true) => {
                            changed = true;
                            self.tomorrow = (tomorrow, Tomorrow::Published);
                        }
                        Ok(false) => {
                            self.tomorrow =
                                (tomorrow, Tomorrow::NotYetPublished { checked_at: now })
                        }
                        Err(e) => {
                            self.tomorrow = (
                                tomorrow,
                                Tomorrow::Failed {
                                    at: now,
                                    error: e.clone(),
                                },
                            );
                            error = Some(e);
                        }
                    }
                }
            }
        }
        if changed {
            self.save();
        }
        self.failures = if error.is_some() {
            self.failures.saturating_add(1)
        } else {
            0
        };
        self.plan(clock::now());
        // Without today's prices, today's own fetch error explains the gap best (not a
        // failure for tomorrow that happened later).
        let today_error = (!self.days.contains_key(&today))
            .then(|| self.errors.get(&today).cloned())
            .flatten();
        if self.days.is_empty() {
            return Err(SourceError::new(today_error.or(error).unwrap_or_else(
                || format!("PSE has not published prices for {today} yet"),
            )));
        }
        match error {
            Some(e) if !changed => Err(SourceError::new(today_error.unwrap_or(e))),
            partial => Ok(self.data(now, partial)),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Rendering
// ---------------------------------------------------------------------------------------

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

struct Row<'a> {
    q: &'a Quarter,
    p: Priced,
}

fn rows<'a>(day: Option<&'a DayPrices>, tariff: &Tariff) -> Vec<Row<'a>> {
    day.map(|d| {
        d.quarters
            .iter()
            .map(|q| Row {
                q,
                p: tariff.price(q.market_pln_mwh, q.start),
            })
            .collect()
    })
    .unwrap_or_default()
}

fn row_json(r: &Row) -> Value {
    json!({
        "start": clock::local_rfc3339(r.q.start),
        "end": clock::local_rfc3339(r.q.end),
        "start_utc": clock::utc_rfc3339(r.q.start),
        "end_utc": clock::utc_rfc3339(r.q.end),
        "period": r.q.period,
        "market_price_pln_mwh": r.q.market_pln_mwh,
        "market_price_pln_kwh": round4(r.p.market),
        "distribution_price_pln_kwh": round4(r.p.distribution),
        "final_price_pln_kwh": round4(r.p.final_price),
        "tariff_zone": r.p.zone,
    })
}

/// Hourly means, bucketed by the hour each quarter **starts** in (a 25-hour day has two
/// 02:00 entries, told apart by `start`).
fn hourly(rows: &[Row]) -> Vec<Value> {
    let mut buckets: Vec<(DateTime<Utc>, f64, f64, usize)> = Vec::new();
    for r in rows {
        let hour = r.q.start
            - chrono::Duration::seconds(i64::from(r.q.start.minute() * 60 + r.q.start.second()));
        match buckets.last_mut() {
            Some(b) if b.0 == hour => {
                b.1 += r.p.final_price;
                b.2 += r.p.market;
                b.3 += 1;
            }
            _ => buckets.push((hour, r.p.final_price, r.p.market, 1)),
        }
    }
    buckets
        .into_iter()
        .map(|(h, price, market, n)| {
            let local = h.with_timezone(&clock::ZONE);
            json!({
                "hour": local.hour(),
                "hour_str": format!("{:02}:00", local.hour()),
                "start": clock::local_rfc3339(h),
                "price": round4(price / n as f64),
                "market_price": round4(market / n as f64),
                "quarters": n,
            })
        })
        .collect()
}

fn extreme_hour(hours: &[Value], cheapest: bool) -> (Value, Value) {
    let mut best: Option<&Value> = None;
    for h in hours {
        let p = h["price"].as_f64().unwrap_or(f64::NAN);
        let better = match best {
            None => true,
            Some(b) => {
                let bp = b["price"].as_f64().unwrap_or(f64::NAN);
                if cheapest {
                    p < bp
                } else {
                    p > bp
                }
            }
        };
        if better {
            best = Some(h);
        }
    }
    match best {
        Some(b) => (b["price"].clone(), b["hour_str"].clone()),
        None => (Value::Null, Value::Null),
    }
}

fn window_json(w: Option<windows::Window>) -> Value {
    match w {
        None => Value::Null,
        Some(w) => json!({
            "start": clock::local_rfc3339(w.start),
            "end": clock::local_rfc3339(w.end),
            "start_utc": clock::utc_rfc3339(w.start),
            "end_utc": clock::utc_rfc3339(w.end),
            "average_final_pln_kwh": round4(w.average),
        }),
    }
}

fn windows_json(rows: &[&Row]) -> Value {
    let slots: Vec<windows::Slot> = rows
        .iter()
        .map(|r| windows::Slot {
            start: r.q.start,
            end: r.q.end,
            price: r.p.final_price,
        })
        .collect();
    let mut cheapest = Map::new();
    let mut dearest = Map::new();
    for hours in [1usize, 2, 3] {
        // Quarters are 15 minutes; hours × 4 quarters.
        let (lo, hi) = windows::extremes(&slots, hours * 4);
        cheapest.insert(format!("{hours}h"), window_json(lo));
        dearest.insert(format!("{hours}h"), window_json(hi));
    }
    json!({"cheapest": cheapest, "most_expensive": dearest})
}

/// `increasing` / `decreasing` / `stable`: the mean of the next hour's quarters against the
/// current quarter (±0.02 PLN/kWh); `None` without a current quarter or a full next hour.
fn trend(current: Option<&Row>, after: &[&Row]) -> Option<&'static str> {
    let c = current?;
    let next: Vec<f64> = after
        .iter()
        .filter(|r| r.q.start >= c.q.end)
        .take(4)
        .map(|r| r.p.final_price)
        .collect();
    if next.len() < 4 {
        return None;
    }
    let mean = next.iter().sum::<f64>() / 4.0;
    let d = mean - c.p.final_price;
    Some(if d > 0.02 {
        "increasing"
    } else if d < -0.02 {
        "decreasing"
    } else {
        "stable"
    })
}

/// Summary fields of one day, in the original's names.
fn summary(day: Option<&DayPrices>, rows: &[Row], data: &PriceData) -> Map<String, Value> {
    let hours = hourly(rows);
    let (cheap_p, cheap_h) = extreme_hour(&hours, true);
    let (dear_p, dear_h) = extreme_hour(&hours, false);
    let average = if rows.is_empty() {
        Value::Null
    } else {
        json!(round4(
            rows.iter().map(|r| r.p.final_price).sum::<f64>() / rows.len() as f64
        ))
    };
    let mut m = Map::new();
    m.insert("prices".into(), Value::Array(hours));
    m.insert("average_price_pln_kwh".into(), average);
    m.insert("cheapest_price_pln_kwh".into(), cheap_p);
    m.insert("cheapest_hour".into(), cheap_h);
    m.insert("most_expensive_price_pln_kwh".into(), dear_p);
    m.insert("most_expensive_hour".into(), dear_h);
    m.insert(
        "data_source".into(),
        json!(match day {
            Some(d) if d.hourly_legacy => format!(
                "{} (imported hourly cache of the original dashboard)",
                data.label
            ),
            _ => data.label.clone(),
        }),
    );
    m.insert(
        "last_updated".into(),
        json!(day.map(|d| clock::local_rfc3339(d.fetched_at))),
    );
    m.insert(
        "hourly_legacy".into(),
        json!(day.is_some_and(|d| d.hourly_legacy)),
    );
    m.insert(
        "calculation_method".into(),
        json!(data.tariff.calculation_method()),
    );
    m
}

fn tomorrow_status(
    data: &PriceData,
    status: &SourceStatus,
    now: DateTime<Utc>,
) -> (&'static str, Option<String>) {
    let tomorrow = clock::local_date(now)
        .succ_opt()
        .unwrap_or(data.tomorrow_date);
    if data.day(tomorrow, now).is_some() {
        return ("published", None);
    }
    if now < data.tomorrow_from || data.tomorrow_date != tomorrow {
        // Not expected yet (or the data is from before midnight): nothing failed for it.
        return ("not_yet_published", None);
    }
    let error = status.last_error.clone().or_else(|| match &data.tomorrow {
        Tomorrow::Failed { error, .. } if data.tomorrow_date == tomorrow => Some(error.clone()),
        _ => None,
    });
    match error {
        Some(e) => ("error", Some(e)),
        None => ("not_yet_published", None),
    }
}

/// The 503 body when there is nothing valid to show: `why` is the summary, `reason` the
/// cause when no fetch error explains it.
fn unavailable(
    view: &View,
    status: Option<&SourceStatus>,
    why: String,
    reason: Option<String>,
) -> Body {
    let next_in = status.and_then(|s| view.next_refresh_in(s));
    let reason = status
        .and_then(|s| s.last_error.clone())
        .or(reason)
        .unwrap_or_else(|| "prices have not been fetched yet (first attempt in progress)".into());
    Body::error(
        503,
        &why,
        json!({
            "reason": reason,
            "next_attempt_in_s": next_in,
            "next_attempt": next_in.map(|s| clock::local_rfc3339(view.now + chrono::Duration::seconds(s as i64))),
            "as_of": clock::local_rfc3339(view.now),
            "in_flight": status.is_some_and(|s| s.in_flight_since.is_some()),
        }),
    )
}

/// Renders `/prices`, `/prices?day=today` and `/prices?day=tomorrow`.
pub struct PriceRenderer;

impl Renderer<Sources> for PriceRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        &[SourceId::Prices]
    }

    fn time_key(&self, view: &View) -> u64 {
        let mut h = DefaultHasher::new();
        clock::local_date(view.now).hash(&mut h);
        (view.now.timestamp() / 900).hash(&mut h);
        // While there is nothing to show, the 503 counts down to the next attempt: it is
        // rebuilt every second (a few hundred bytes), so `next_attempt_in_s` stays true.
        if let Some(s) = view.get(SourceId::Prices) {
            let today = clock::local_date(view.now);
            let has_today = view
                .data
                .prices
                .as_deref()
                .is_some_and(|d| d.day(today, view.now).is_some());
            if !has_today {
                view.now.timestamp().hash(&mut h);
                s.next_due.hash(&mut h);
                s.in_flight_since.hash(&mut h);
            }
        }
        h.finish()
    }

    fn render(&self, view: &View) -> Vec<(String, Body)> {
        let keys = [
            ("all", ROUTE.to_string()),
            ("today", route_key(ROUTE, &[("day", "today")])),
            ("tomorrow", route_key(ROUTE, &[("day", "tomorrow")])),
        ];
        let status = view.get(SourceId::Prices);
        let Some((status, data)) = status.zip(view.data.prices.as_deref()) else {
            let body = unavailable(view, status, "no price data available".into(), None);
            return keys.into_iter().map(|(_, k)| (k, body.clone())).collect();
        };
        keys.into_iter()
            .map(|(which, key)| (key, render_prices(view, status, data, which)))
            .collect()
    }
}

fn render_prices(view: &View, status: &SourceStatus, data: &PriceData, which: &str) -> Body {
    let now = view.now;
    let today = clock::local_date(now);
    let tomorrow = today.succ_opt().unwrap_or(today);
    let today_day = data.day(today, now);
    let tomorrow_day = data.day(tomorrow, now);
    if today_day.is_none() && which != "tomorrow" {
        let expired = data.days.iter().any(|d| d.business_date == today);
        let reason = if expired {
            format!(
                "the prices for {today} were fetched more than 24 h ago and are no longer served"
            )
        } else {
            format!("PSE has not published prices for {today} yet")
        };
        return unavailable(
            view,
            Some(status),
            format!("no valid prices for today ({today})"),
            Some(reason),
        );
    }
    let today_rows = rows(today_day, &data.tariff);
    let tomorrow_rows = rows(tomorrow_day, &data.tariff);
    // The quarter in progress belongs to today: `?day=tomorrow` has none.
    let current = today_rows
        .iter()
        .find(|r| r.q.start <= now && now < r.q.end)
        .filter(|_| which != "tomorrow");
    let ahead: Vec<&Row> = today_rows
        .iter()
        .filter(|r| r.q.end > now)
        .chain(tomorrow_rows.iter())
        .collect();
    let all_today: Vec<&Row> = today_rows.iter().collect();
    let (day, day_rows, date) = if which == "tomorrow" {
        (tomorrow_day, &tomorrow_rows, tomorrow)
    } else {
        (today_day, &today_rows, today)
    };
    let mut body = summary(day, day_rows, data);
    let (t_status, t_error) = tomorrow_status(data, status, now);
    body.insert("business_date".into(), json!(date.to_string()));
    body.insert(
        "current_price_pln_kwh".into(),
        json!(current.map(|r| round4(r.p.final_price))),
    );
    body.insert("price_trend".into(), json!(trend(current, &ahead)));
    body.insert(
        "current".into(),
        current.map(row_json).unwrap_or(Value::Null),
    );
    let mut quarters = Map::new();
    let mut expected = Map::new();
    if which != "tomorrow" {
        quarters.insert("today".into(), today_rows.iter().map(row_json).collect());
        expected.insert("today".into(), json!(parse::quarters_in_day(today)));
    }
    if which != "today" {
        quarters.insert(
            "tomorrow".into(),
            tomorrow_rows.iter().map(row_json).collect(),
        );
        expected.insert("tomorrow".into(), json!(parse::quarters_in_day(tomorrow)));
    }
    body.insert("quarters".into(), Value::Object(quarters));
    body.insert("quarters_expected".into(), Value::Object(expected));
    body.insert(
        "windows".into(),
        json!({"today": windows_json(&all_today), "ahead": windows_json(&ahead)}),
    );
    body.insert("tomorrow_business_date".into(), json!(tomorrow.to_string()));
    body.insert("tomorrow_status".into(), json!(t_status));
    body.insert("tomorrow_error".into(), json!(t_error));
    body.insert("origin".into(), json!(data.origin));
    body.insert(
        "last_error".into(),
        json!(status
            .last_error
            .clone()
            .or_else(|| data.partial_error.clone())),
    );
    body.insert("tariff".into(), data.tariff.to_json());
    body.insert("tariff_problem".into(), json!(data.tariff_problem));
    body.insert("unit".into(), json!("PLN/kWh"));
    Body::json(200, &Value::Object(body))
}

/// The `pricing` object of `/current-state`: the current quarter's final price and zone,
/// today's mean and cheapest hour. `None` without valid prices for today.
pub fn current_pricing(view: &View) -> Option<Value> {
    let data = view.data.prices.as_deref()?;
    let today = clock::local_date(view.now);
    let day = data.day(today, view.now)?;
    let today_rows = rows(Some(day), &data.tariff);
    let current = today_rows
        .iter()
        .find(|r| r.q.start <= view.now && view.now < r.q.end);
    let ahead: Vec<&Row> = today_rows.iter().filter(|r| r.q.end > view.now).collect();
    let mut m = summary(Some(day), &today_rows, data);
    m.insert(
        "current_price_pln_kwh".into(),
        json!(current.map(|r| round4(r.p.final_price))),
    );
    m.insert("price_trend".into(), json!(trend(current, &ahead)));
    m.insert("tariff_zone".into(), json!(current.map(|r| r.p.zone)));
    m.insert(
        "current_quarter".into(),
        json!(current.map(|r| r.q.period.clone())),
    );
    m.insert(
        "current_market_price_pln_kwh".into(),
        json!(current.map(|r| round4(r.p.market))),
    );
    Some(Value::Object(m))
}

/// The prices route.
pub fn routes() -> Vec<Route> {
    vec![Route::exact(ROUTE, handle)]
}

/// `GET /prices[?day=today|tomorrow]`: the body rendered for that key.
pub fn handle(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    let day = match req.query.one_of("day", &["today", "tomorrow"], "all") {
        Ok(d) => d,
        Err(bad) => return Reply::Owned(bad.body()),
    };
    let key = if day == "all" {
        ROUTE.to_string()
    } else {
        route_key(ROUTE, &[("day", day)])
    };
    crate::http::routes::serve_key(snap, &key)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn day(date: &str, fetched: &str) -> DayPrices {
        let d: NaiveDate = date.parse().unwrap();
        let start = clock::day_start(d);
        let n = parse::quarters_in_day(d);
        DayPrices {
            business_date: d,
            fetched_at: at(fetched),
            source_url: "http://pse/api/csdac-pln".into(),
            value_field: "csdac_pln".into(),
            hourly_legacy: false,
            quarters: (0..n)
                .map(|i| {
                    let s = start + chrono::Duration::minutes(15 * i as i64);
                    let e = s + chrono::Duration::minutes(15);
                    Quarter {
                        start: s,
                        end: e,
                        period: parse::local_period(s, e),
                        market_pln_mwh: 400.0 + i as f64,
                    }
                })
                .collect(),
        }
    }

    fn source() -> PriceSource {
        PriceSource::new(
            "http://127.0.0.1:9/api/csdac-pln",
            "csdac_pln",
            Duration::from_secs(1),
            std::path::Path::new("/nonexistent"),
            Tariff::builtin("g12").unwrap(),
            Schedule {
                interval: Duration::from_secs(300),
                today_recheck: Duration::from_secs(4 * 3600),
                tomorrow_poll: Duration::from_secs(600),
                tomorrow_from: NaiveTime::from_hms_opt(13, 30, 0).unwrap(),
            },
        )
    }

    fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn calendar_of_fetches() {
        let mut s = source();
        let today = date("2026-11-20");
        let tomorrow = date("2026-11-21");
        // Nothing known: today is due at once.
        assert_eq!(s.today_due_at(today), DateTime::<Utc>::MIN_UTC);
        s.days
            .insert(today, day("2026-11-20", "2026-11-20T08:00:00Z"));
        s.checked.insert(today, at("2026-11-20T08:00:00Z"));
        // Re-checked 4 h later; tomorrow from 13:30 local (12:30 UTC).
        assert_eq!(s.today_due_at(today), at("2026-11-20T12:00:00Z"));
        assert_eq!(
            s.tomorrow_due_at(today, tomorrow),
            Some(at("2026-11-20T12:30:00Z"))
        );
        s.plan(at("2026-11-20T09:00:00Z"));
        assert_eq!(s.next_wake, Duration::from_secs(300));
        s.plan(at("2026-11-20T11:58:00Z"));
        assert_eq!(s.next_wake, Duration::from_secs(120));
        // Not published at 12:31: polled again 10 minutes later.
        s.checked.insert(tomorrow, at("2026-11-20T12:31:00Z"));
        assert_eq!(
            s.tomorrow_due_at(today, tomorrow),
            Some(at("2026-11-20T12:41:00Z"))
        );
        // A failure pushes the next attempt back.
        s.retry_at.insert(tomorrow, at("2026-11-20T12:50:00Z"));
        assert_eq!(
            s.tomorrow_due_at(today, tomorrow),
            Some(at("2026-11-20T12:50:00Z"))
        );
        // Published: never again.
        s.days
            .insert(tomorrow, day("2026-11-21", "2026-11-20T12:41:00Z"));
        s.checked.insert(tomorrow, at("2026-11-20T12:41:00Z"));
        assert_eq!(s.tomorrow_due_at(today, tomorrow), None);
        // The wake-up before midnight lands just after it.
        s.checked.insert(today, at("2026-11-20T20:00:00Z"));
        s.plan(at("2026-11-20T22:58:00Z"));
        assert_eq!(s.next_wake, Duration::from_secs(121));
        // After midnight tomorrow is today, without a fetch until the first re-check at 04:00.
        let now = at("2026-11-20T23:00:30Z");
        s.prune(now);
        assert_eq!(s.days.len(), 1);
        assert_eq!(s.today_due_at(tomorrow), at("2026-11-21T03:00:00Z"));
    }

    /// A prices status and the store holding its data.
    struct Held {
        statuses: [SourceStatus; 1],
        store: Sources,
    }

    fn view_with<'a>(held: &'a Held, now: &str) -> View<'a> {
        View {
            sources: &held.statuses,
            data: &held.store,
            now: at(now),
            now_instant: Instant::now(),
        }
    }

    fn status_with(data: PriceData) -> Held {
        Held {
            statuses: [SourceStatus {
                origin: Some("network"),
                next_due: Some(Instant::now() + Duration::from_secs(60)),
                version: 1,
                has_data: true,
                ..SourceStatus::new(SourceId::Prices, Duration::from_secs(300), VALID_FOR / 2)
            }],
            store: Sources {
                prices: Some(Arc::new(data)),
                ..Sources::default()
            },
        }
    }

    fn data(days: Vec<DayPrices>) -> PriceData {
        PriceData {
            days,
            tariff: Arc::new(Tariff::builtin("g12").unwrap()),
            label: label_for("http://pse/api/csdac-pln"),
            tomorrow_date: date("2026-11-21"),
            tomorrow: Tomorrow::Published,
            tomorrow_from: at("2026-11-20T12:30:00Z"),
            partial_error: None,
            origin: "network",
            tariff_problem: None,
        }
    }

    fn body_of(bodies: &[(String, Body)], key: &str) -> (u16, Value) {
        let b = &bodies.iter().find(|(k, _)| k == key).unwrap().1;
        (b.status, serde_json::from_slice(&b.bytes).unwrap())
    }

    #[test]
    fn a_tariff_that_cannot_be_used_is_said_in_the_body() {
        let mut d = data(vec![day("2026-11-20", "2026-11-20T08:00:00Z")]);
        d.tariff = Arc::new(Tariff::market_plus_sc(0.0892));
        d.tariff_problem = Some("electricity_tariff.distribution_pricing.g13s: missing".into());
        let statuses = status_with(d);
        let view = view_with(&statuses, "2026-11-20T09:00:00Z");
        let (code, v) = body_of(&PriceRenderer.render(&view), "/prices");
        assert_eq!(code, 200);
        assert_eq!(v["calculation_method"], "market_plus_sc");
        assert!(
            v["tariff_problem"].as_str().unwrap().contains("g13s"),
            "{v}"
        );
        let clean = status_with(data(vec![day("2026-11-20", "2026-11-20T08:00:00Z")]));
        let view = view_with(&clean, "2026-11-20T09:00:00Z");
        let (_, v) = body_of(&PriceRenderer.render(&view), "/prices");
        assert!(v["tariff_problem"].is_null());
    }

    #[test]
    fn at_midnight_tomorrow_becomes_today() {
        let statuses = status_with(data(vec![
            day("2026-11-20", "2026-11-20T08:00:00Z"),
            day("2026-11-21", "2026-11-20T12:41:00Z"),
        ]));
        // 00:30 local on the 21st.
        let view = view_with(&statuses, "2026-11-20T23:30:00Z");
        let bodies = PriceRenderer.render(&view);
        let (code, v) = body_of(&bodies, "/prices");
        assert_eq!(code, 200);
        assert_eq!(v["business_date"], "2026-11-21");
        assert_eq!(v["current"]["period"], "00:30 - 00:45");
        assert_eq!(v["tomorrow_business_date"], "2026-11-22");
        assert_eq!(v["tomorrow_status"], "not_yet_published");
        assert_eq!(v["quarters"]["tomorrow"], json!([]));
        // Yesterday is never served as today.
        let p = current_pricing(&view).unwrap();
        assert_eq!(p["current_quarter"], "00:30 - 00:45");
        assert_eq!(p["tariff_zone"], "off_peak");
        // 400 + 2 quarters = 402 PLN/MWh at night in g12.
        assert_eq!(
            p["current_price_pln_kwh"],
            json!(round4(0.402 + 0.0892 + 0.0749))
        );
    }

    #[test]
    fn nothing_valid_is_a_503_with_the_reason() {
        // Fetched more than 24 h before: not served.
        let statuses = status_with(data(vec![day("2026-11-20", "2026-11-19T08:00:00Z")]));
        let view = view_with(&statuses, "2026-11-20T09:00:00Z");
        let bodies = PriceRenderer.render(&view);
        let (code, v) = body_of(&bodies, "/prices");
        assert_eq!(code, 503);
        assert!(
            v["reason"].as_str().unwrap().contains("more than 24 h"),
            "{v}"
        );
        assert!(v["next_attempt"].is_string());
        assert!(current_pricing(&view).is_none());
        let (code, _) = body_of(&bodies, "/prices?day=tomorrow");
        assert_eq!(code, 200);
    }
}
