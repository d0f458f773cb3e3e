//! The `/prices` renderer: today's and tomorrow's quarters with final prices, hourly
//! means, cheapest and most expensive windows, the trend, and the 503 that says why there
//! is nothing to show; and the `pricing` object `/current-state` embeds.

use chrono::{DateTime, Timelike, Utc};
use serde_json::{json, Map, Value};

use crate::clock;
use crate::refresh::{Follows, Renderer, Run, SourceId, SourceStatus};
use crate::snapshot::{route_key, At, Body, Holes, Show};
use crate::sources::prices::model::{DayPrices, PriceData, Quarter, Tomorrow};
use crate::sources::prices::parse;
use crate::sources::prices::tariff::{Priced, Tariff};
use crate::sources::prices::windows;
use crate::sources::store::{Sources, View};

/// The route.
pub const ROUTE: &str = "/prices";

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
/// cause when no fetch error explains it. The countdown to the next attempt is filled when
/// the body is answered.
fn unavailable(
    view: &View,
    status: Option<&SourceStatus>,
    why: String,
    reason: Option<String>,
) -> Body {
    let reason = status
        .and_then(|s| s.last_error.clone())
        .or(reason)
        .unwrap_or_else(|| "prices have not been fetched yet (first attempt in progress)".into());
    let mut holes = Holes::new();
    let v = json!({
        "error": why,
        "reason": reason,
        "next_attempt_in_s": status.map(|s| holes.put(s.run(Run::NextRefresh), Show::SecondsUntil)),
        "next_attempt": status.map(|s| holes.put(s.run(Run::NextRefresh), Show::Rfc3339)),
        "as_of": holes.put(At::Now, Show::Rfc3339),
        "in_flight": status.map_or(json!(false), |s| holes.put(s.run(Run::InFlightSince), Show::IsSet)),
    });
    Body::live(503, &v, holes, view.now)
}

/// Renders `/prices`, `/prices?day=today` and `/prices?day=tomorrow`.
pub struct PriceRenderer;

impl Renderer<Sources> for PriceRenderer {
    fn inputs(&self) -> &'static [SourceId] {
        &[SourceId::Prices]
    }

    /// While there is nothing to show for today, the 503 shows the last error.
    fn follows(&self, view: &View) -> Follows {
        let today = clock::local_date(view.now);
        let has_today = view
            .data
            .prices
            .as_deref()
            .is_some_and(|d| d.day(today, view.now).is_some());
        if has_today {
            Follows::Data
        } else {
            Follows::Outcomes
        }
    }

    /// The current quarter and the local date move the bodies.
    fn changes_at(&self, view: &View) -> Option<chrono::DateTime<chrono::Utc>> {
        Some(clock::next_quarter(view.now))
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
    let tomorrow = clock::next_day(today);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::prices::model::fixture::{at, date, day};
    use crate::sources::prices::model::{label_for, VALID_FOR};
    use std::sync::Arc;
    use std::time::Duration;

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
        }
    }

    fn status_with(data: PriceData) -> Held {
        let held = Held {
            statuses: [SourceStatus {
                origin: Some("network"),
                next_refresh_at: Some(at("2026-11-20T09:01:00Z")),
                version: 1,
                has_data: true,
                ..SourceStatus::new(SourceId::Prices, Duration::from_secs(300), VALID_FOR / 2)
            }],
            store: Sources {
                prices: Some(Arc::new(data)),
                ..Sources::default()
            },
        };
        held.statuses[0].publish_runs();
        held
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
        assert_eq!(v["next_attempt"], "2026-11-20T10:01:00+01:00");
        assert_eq!(v["next_attempt_in_s"], 60);
        // The countdown is as of the answer, not of the render.
        let body = &bodies.iter().find(|(k, _)| k == "/prices").unwrap().1;
        let later = body.at(at("2026-11-20T09:00:45Z"), false);
        let v: Value = serde_json::from_slice(&later.bytes).unwrap();
        assert_eq!(v["next_attempt_in_s"], 15);
        assert_eq!(v["as_of"], "2026-11-20T10:00:45+01:00");
        assert!(current_pricing(&view).is_none());
        let (code, _) = body_of(&bodies, "/prices?day=tomorrow");
        assert_eq!(code, 200);
    }
}
