//! The prices model: a day's market prices in quarters placed in UTC ([`Quarter`],
//! [`DayPrices`]), what the source publishes ([`PriceData`]), and the validity rule: a day
//! is served only on its own business date and only for [`VALID_FOR`] after it was fetched.

use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};

use super::tariff::Tariff;

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

#[cfg(test)]
pub(crate) mod fixture {
    //! Days of quarters for tests.
    use super::*;
    use crate::clock;
    use crate::sources::prices::parse;

    pub(crate) fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    pub(crate) fn day(date: &str, fetched: &str) -> DayPrices {
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

    pub(crate) fn date(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }
}
