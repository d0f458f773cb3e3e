//! Request handlers of the coordinator-data routes: validate the query, pick the
//! pre-rendered body. No I/O; an invalid parameter gets a 400 that names it.

use std::sync::Arc;

use chrono::{Datelike, NaiveDate};
use serde_json::json;

use super::render::{
    history_key, CURRENT_STATE, DECISIONS, HISTORICAL, HISTORY_RANGES, METRICS, MISSING,
    MONTHLY_COMPARISON, MONTHLY_SUMMARY,
};
use crate::clock;
use crate::http::query::{BadParam, Query};
use crate::http::routes::{from_snapshot, serve_key, HttpContext, Reply, RequestInfo, Route};
use crate::snapshot::{route_key, Snapshot};
use crate::sources::coordinator_db::source::WINDOWS;

/// The coordinator-data routes.
pub fn routes() -> Vec<Route> {
    vec![
        Route::exact(CURRENT_STATE, from_snapshot),
        Route::exact(DECISIONS, decisions),
        Route::exact(METRICS, from_snapshot),
        Route::exact(MONTHLY_SUMMARY, monthly_summary),
        Route::exact(MONTHLY_COMPARISON, monthly_comparison),
        Route::exact(HISTORICAL, historical),
    ]
}

/// `GET /decisions?time_range=1h|24h|7d|30d` (default 24h).
pub fn decisions(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    let allowed = WINDOWS.map(|(r, _)| r);
    match req.query.one_of("time_range", &allowed, "24h") {
        Ok(range) => serve_key(snap, &route_key(DECISIONS, &[("time_range", range)])),
        Err(e) => Reply::Owned(e.body()),
    }
}

/// `GET /historical-data?range=24h|7d` (default 24h).
pub fn historical(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    match req.query.one_of("range", &HISTORY_RANGES, "24h") {
        Ok(range) => serve_key(snap, &history_key(range)),
        Err(e) => Reply::Owned(e.body()),
    }
}

/// The month asked for: `None` when neither `year` nor `month` is given; a missing one
/// is taken from the current month. Future months, months outside 1–12 and non-numbers
/// are errors naming the parameter.
pub fn parse_month(q: &Query, today: NaiveDate) -> Result<Option<(i32, u32)>, BadParam> {
    let year = q.int_in("year", 2000, 9999)?;
    let month = q.int_in("month", 1, 12)?;
    if year.is_none() && month.is_none() {
        return Ok(None);
    }
    let y = year.map(|y| y as i32).unwrap_or(today.year());
    let m = month.map(|m| m as u32).unwrap_or(today.month());
    if (y, m) > (today.year(), today.month()) {
        let latest = format!("{}-{:02}", today.year(), today.month());
        let parameter = if y > today.year() { "year" } else { "month" };
        return Err(BadParam::new(
            parameter,
            format!("{y}-{m:02} is in the future; ask for a month up to {latest}"),
            json!({"latest": latest}),
        ));
    }
    Ok(Some((y, m)))
}

fn month_route(req: &RequestInfo, snap: &Snapshot, path: &str) -> Reply {
    let today = clock::local_date(clock::now());
    match parse_month(&req.query, today) {
        Err(e) => Reply::Owned(e.body()),
        Ok(None) => serve_key(snap, path),
        Ok(Some((y, m))) => {
            let key = route_key(path, &[("year", &y.to_string()), ("month", &m.to_string())]);
            match snap.get(&key) {
                Some(b) => Reply::Shared(Arc::clone(b)),
                None => serve_key(snap, &format!("{path}?{MISSING}")),
            }
        }
    }
}

/// `GET /monthly-summary?year=&month=` (default: the current month).
pub fn monthly_summary(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    month_route(req, snap, MONTHLY_SUMMARY)
}

/// `GET /monthly-comparison?year=&month=`: the current month against the given one
/// (default: the month before the current one).
pub fn monthly_comparison(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext) -> Reply {
    month_route(req, snap, MONTHLY_COMPARISON)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn month_parameters() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 21).unwrap();
        let p = |s: &str| parse_month(&Query::parse(s), today);
        assert_eq!(p(""), Ok(None));
        assert_eq!(p("year=2026&month=3"), Ok(Some((2026, 3))));
        assert_eq!(p("month=10"), Ok(Some((2026, 10))));
        assert_eq!(p("year=2025"), Ok(Some((2025, 11))));
        assert_eq!(p("month=13").unwrap_err().parameter, "month");
        assert_eq!(p("month=0").unwrap_err().parameter, "month");
        assert_eq!(p("month=abc").unwrap_err().parameter, "month");
        assert_eq!(p("year=x&month=1").unwrap_err().parameter, "year");
        assert_eq!(p("year=2026&month=12").unwrap_err().parameter, "month");
        assert_eq!(p("year=2027&month=1").unwrap_err().parameter, "year");
    }
}
