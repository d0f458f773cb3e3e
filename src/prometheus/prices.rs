//! The price families (`prices` source): the price now and ahead, and the cheapest
//! windows.

use chrono::{DateTime, Utc};

use super::format::{unix, Exposition};
use crate::clock;
use crate::sources::prices::model::PriceData;
use crate::sources::prices::windows;

pub(super) fn prices(e: &mut Exposition, d: &PriceData, now: DateTime<Utc>) {
    let today = clock::local_date(now);
    let days = [
        d.day(today, now),
        today.succ_opt().and_then(|t| d.day(t, now)),
    ];
    let current = days[0]
        .into_iter()
        .flat_map(|day| day.quarters.iter())
        .find(|q| q.start <= now && now < q.end)
        .map(|q| d.tariff.price(q.market_pln_mwh, q.start));
    e.family(
        "price_market_pln_per_kwh",
        "gauge",
        "Day-ahead market price of the current quarter hour, PLN/kWh; zone = distribution tariff zone.",
    );
    if let Some(p) = &current {
        e.sample(&[("zone", p.zone)], p.market);
    }
    e.family(
        "price_final_pln_per_kwh",
        "gauge",
        "Final price of the current quarter hour (market + SC component + distribution), PLN/kWh.",
    );
    if let Some(p) = &current {
        e.sample(&[("zone", p.zone)], p.final_price);
    }
    let slots: Vec<windows::Slot> = days
        .iter()
        .flatten()
        .flat_map(|day| day.quarters.iter())
        .filter(|q| q.end > now)
        .map(|q| windows::Slot {
            start: q.start,
            end: q.end,
            price: d.tariff.price(q.market_pln_mwh, q.start).final_price,
        })
        .collect();
    let cheapest: Vec<(&str, windows::Window)> = [("1", 1usize), ("2", 2), ("3", 3)]
        .into_iter()
        .filter_map(|(label, h)| Some((label, windows::extremes(&slots, h * 4).0?)))
        .collect();
    e.family(
        "price_cheapest_window_start_timestamp_seconds",
        "gauge",
        "Start of the cheapest contiguous window of the given hours from now to the end of the published prices (unix seconds).",
    );
    for (h, w) in &cheapest {
        e.sample(&[("hours", h)], unix(w.start));
    }
    e.family(
        "price_cheapest_window_average_pln_per_kwh",
        "gauge",
        "Mean final price of that cheapest window, PLN/kWh.",
    );
    for (h, w) in &cheapest {
        e.sample(&[("hours", h)], w.average);
    }
}
