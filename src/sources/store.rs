//! The typed source store: one slot per source holding its latest data as `Arc<T>`.
//!
//! A source returns its own data type; [`refresh::tagged`] turns it into its [`SourceData`]
//! variant (through `From`); the scheduler puts it in its slot of [`Sources`];
//! renderers read the slot they name (`view.data.prices`). A wrong source or type does not
//! compile.

use std::sync::Arc;

use super::coordinator::ProcessReport;
use super::coordinator_db::figures::Figures;
use super::coordinator_db::inverter::InverterData;
use super::coordinator_db::source::CoordinatorData;
use super::host::HostReport;
use super::journal::JournalData;
use super::log_dir::LogListing;
use super::prices::model::PriceData;
use crate::refresh::{self, SourceId, Store};

/// Writes the store's slots, the data enum and its `From` impls from one list of
/// `slot: Variant(Type)`, so that a source is named once.
macro_rules! slots {
    ($($slot:ident: $variant:ident($ty:ty)),* $(,)?) => {
        /// The sources' latest data: `None` until a source first returns data, then its
        /// last good data (kept through failures).
        #[derive(Debug, Default, Clone)]
        pub struct Sources {
            $(pub $slot: Option<Arc<$ty>>,)*
        }

        /// One refresh's data, tagged with its source.
        #[derive(Debug)]
        #[allow(
            clippy::large_enum_variant,
            reason = "one value per refresh, moved once through a channel into its slot"
        )]
        pub enum SourceData {
            $($variant($ty),)*
        }

        $(impl From<$ty> for SourceData {
            fn from(data: $ty) -> SourceData {
                SourceData::$variant(data)
            }
        })*

        impl Store for Sources {
            type Data = SourceData;

            fn source_of(data: &SourceData) -> SourceId {
                match data {
                    $(SourceData::$variant(_) => SourceId::$variant,)*
                }
            }

            fn put(&mut self, data: SourceData) -> bool {
                match data {
                    $(SourceData::$variant(d) => {
                        if self.$slot.as_deref().is_some_and(|held| held.same(&d)) {
                            false
                        } else {
                            self.$slot = Some(Arc::new(d));
                            true
                        }
                    })*
                }
            }
        }
    };
}

/// Whether a refresh brought the data a slot already holds: then the slot keeps its value
/// and the source's version stays, so nothing downstream re-renders. Only what a renderer
/// shows counts; when a refresh happened (`read_at`, `refreshed_at`) does not.
pub trait Same {
    fn same(&self, held: &Self) -> bool;
}

macro_rules! same_by_eq {
    ($($ty:ty),*) => {
        $(impl Same for $ty {
            fn same(&self, held: &Self) -> bool {
                self == held
            }
        })*
    };
}

same_by_eq!(ProcessReport, InverterData, HostReport);

/// A listing with the same files and the same tails; a tail the source kept (an unchanged
/// file) is the same `Arc`, so its lines are not compared.
impl Same for LogListing {
    fn same(&self, held: &Self) -> bool {
        self.dir == held.dir
            && self.files == held.files
            && self.tail_errors == held.tail_errors
            && self.tails.len() == held.tails.len()
            && self
                .tails
                .iter()
                .zip(held.tails.iter())
                .all(|((n, t), (hn, ht))| n == hn && (Arc::ptr_eq(t, ht) || t == ht))
    }
}

impl Same for JournalData {
    fn same(&self, held: &Self) -> bool {
        self.unit == held.unit
            && self.raw_lines == held.raw_lines
            && self.complete == held.complete
            && self.journal == held.journal
            && self.summary == held.summary
    }
}

impl Same for CoordinatorData {
    fn same(&self, held: &Self) -> bool {
        self.db_connected == held.db_connected
            && self.db_problem == held.db_problem
            && self.window_len == held.window_len
            && same_figures(&self.metrics.month_to_date, &held.metrics.month_to_date)
            && same_figures(&self.metrics.last_24h, &held.metrics.last_24h)
            && self.pending_months == held.pending_months
            && self.history == held.history
            && self.week == held.week
            && self.skipped == held.skipped
            && self.newest_sample == held.newest_sample
            && (Arc::ptr_eq(&self.decisions, &held.decisions) || self.decisions == held.decisions)
            && (Arc::ptr_eq(&self.months, &held.months) || self.months == held.months)
    }
}

/// Figures are the same when everything but their window's bounds is: a window that ends
/// now moves with every refresh, and a body showing the same figures is not rebuilt for
/// that (it keeps the bounds of the computation that last changed them, which the figures
/// still describe exactly: the source recomputes when a decision leaves a window).
fn same_figures(a: &Figures, b: &Figures) -> bool {
    let bare = |f: &Figures| Figures {
        from: String::new(),
        to: String::new(),
        ..f.clone()
    };
    bare(a) == bare(b)
}

/// Prices are compared whole: every field is shown or decides what is shown. A day's
/// `fetched_at` is shown and decides how long the day is served, so a new fetch of equal
/// quarters is new data; a run that fetched nothing and placed the same days is not.
impl Same for PriceData {
    fn same(&self, held: &Self) -> bool {
        self.days == held.days
            && (Arc::ptr_eq(&self.tariff, &held.tariff) || self.tariff == held.tariff)
            && self.label == held.label
            && self.tomorrow_date == held.tomorrow_date
            && self.tomorrow == held.tomorrow
            && self.tomorrow_from == held.tomorrow_from
            && self.partial_error == held.partial_error
            && self.origin == held.origin
            && self.tariff_problem == held.tariff_problem
    }
}

slots! {
    coordinator: Coordinator(ProcessReport),
    logs: Logs(LogListing),
    journal: Journal(JournalData),
    inverter: Inverter(InverterData),
    prices: Prices(PriceData),
    metrics: Metrics(CoordinatorData),
    host: Host(HostReport),
}

/// What a renderer sees of the sources.
pub type View<'a> = refresh::StoreView<'a, Sources>;
/// A source of this store (see [`refresh::tagged`]).
pub type DynSource = Box<dyn refresh::Source<Data = SourceData>>;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::prices::model::{DayPrices, Quarter, Tomorrow};
    use crate::sources::prices::tariff::Tariff;
    use chrono::{DateTime, NaiveDate, Utc};

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s).unwrap().with_timezone(&Utc)
    }

    fn prices(fetched_at: &str, price: f64) -> PriceData {
        let start = at("2026-07-14T22:00:00Z");
        PriceData {
            days: vec![DayPrices {
                business_date: NaiveDate::from_ymd_opt(2026, 7, 15).unwrap(),
                fetched_at: at(fetched_at),
                source_url: "http://127.0.0.1/api/csdac-pln".into(),
                value_field: "csdac_pln".into(),
                hourly_legacy: false,
                quarters: vec![Quarter {
                    start,
                    end: start + chrono::Duration::minutes(15),
                    period: "00:00 - 00:15".into(),
                    market_pln_mwh: price,
                }],
            }],
            tariff: Arc::new(Tariff::market_plus_sc(0.09)),
            label: "PSE API (CSDAC-PLN)".into(),
            tomorrow_date: NaiveDate::from_ymd_opt(2026, 7, 16).unwrap(),
            tomorrow: Tomorrow::NotChecked,
            tomorrow_from: at("2026-07-15T11:00:00Z"),
            partial_error: None,
            origin: "network",
            tariff_problem: None,
        }
    }

    #[test]
    fn the_same_prices_are_not_new_data_and_every_shown_change_is() {
        let mut store = Sources::default();
        assert!(store.put(prices("2026-07-15T06:00:00Z", 400.0).into()));
        // Equal data (another Arc of an equal tariff too): the slot keeps its value.
        assert!(!store.put(prices("2026-07-15T06:00:00Z", 400.0).into()));
        // A new price, a new fetch time (shown, and it decides validity), a new origin,
        // tomorrow's state: each is new data.
        assert!(store.put(prices("2026-07-15T06:00:00Z", 401.0).into()));
        assert!(store.put(prices("2026-07-15T07:00:00Z", 401.0).into()));
        let mut p = prices("2026-07-15T07:00:00Z", 401.0);
        p.origin = "disk_cache";
        assert!(store.put(p.clone().into()));
        p.tomorrow = Tomorrow::NotYetPublished {
            checked_at: at("2026-07-15T12:00:00Z"),
        };
        assert!(store.put(p.clone().into()));
        assert!(!store.put(p.into()));
    }
}
