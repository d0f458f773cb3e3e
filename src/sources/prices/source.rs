//! The prices source: the fetch calendar (today once and re-checked a few times a day;
//! tomorrow polled from ~13:30 Warsaw until published; at midnight tomorrow becomes today
//! without a fetch), the disk cache, and the tariff applied to what PSE published.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, NaiveTime, TimeZone, Timelike, Utc};

use super::model::{label_for, DayPrices, PriceData, Tomorrow, VALID_FOR};
use super::pse::{DayAnswer, PseClient};
use super::tariff::Tariff;
use super::{cache, parse};
use crate::clock;
use crate::refresh::{
    backoff, RefreshContext, Refreshed, Source, SourceError, SourceId, SourceResult,
};

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
    /// Refreshes in a row with a failed fetch, partial ones included (today served but
    /// tomorrow failed): the back-off of the next fetch of a date. Not the source's failure
    /// count, which the scheduler keeps and which counts refreshes that returned no data.
    fetch_failures: u32,
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
            fetch_failures: 0,
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
                let n = self.fetch_failures.saturating_add(1);
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

    fn data(&self, now: DateTime<Utc>, partial_error: Option<String>) -> Refreshed<PriceData> {
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

impl Source for PriceSource {
    type Data = PriceData;

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

    fn refresh(&mut self, ctx: &RefreshContext) -> SourceResult<PriceData> {
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
        self.fetch_failures = if error.is_some() {
            self.fetch_failures.saturating_add(1)
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::prices::model::fixture::{at, date, day};

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
}
