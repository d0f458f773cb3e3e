//! Parsing PSE answers: the `{"value": [...], "nextLink": ...}` envelope of one page, and
//! placing a business date's rows on the UTC time line as quarters.
//!
//! Rows are placed by `dtime_utc` (the quarter's **end**, UTC) when present; otherwise by
//! the local `period` start on the business date, otherwise by the local `dtime` end. On the
//! autumn DST day the repeated hour is resolved by its `a` label (`02a:15`) or, without one,
//! by its second appearance. Days of 92, 96 or 100 quarters all fit; hourly rows are split
//! into four quarters carrying the same price (which is what PSE itself published before
//! October 2025).

use std::collections::HashSet;

use chrono::{DateTime, Duration, NaiveDate, NaiveDateTime, NaiveTime, TimeZone, Utc};
use serde_json::Value;

use super::model::Quarter;
use crate::clock;

/// A PSE answer that cannot be used: which URL and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub url: String,
    pub what: String,
}

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "unusable answer from {}: {}", self.url, self.what)
    }
}

impl std::error::Error for ParseError {}

/// One row as PSE sent it, with the fields we use.
#[derive(Debug, Clone, PartialEq)]
pub struct RawRow {
    pub market_pln_mwh: f64,
    pub dtime: Option<String>,
    pub dtime_utc: Option<String>,
    pub period: Option<String>,
    pub period_utc: Option<String>,
    pub business_date: Option<String>,
}

/// One page: its rows (null prices left out) and the link to the next page.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub rows: Vec<RawRow>,
    pub next_link: Option<String>,
    /// Rows whose price was null (not published for that quarter).
    pub null_rows: usize,
}

/// Parses one page of `url` whose prices are in `value_field`.
pub fn parse_page(body: &[u8], url: &str, value_field: &str) -> Result<Page, ParseError> {
    let fail = |what: String| ParseError {
        url: url.to_string(),
        what,
    };
    let doc: Value = serde_json::from_slice(body).map_err(|e| {
        let start = String::from_utf8_lossy(&body[..body.len().min(60)]).replace(['\n', '\r'], " ");
        fail(format!("not JSON ({e}); the body starts with {start:?}"))
    })?;
    let obj = doc.as_object().ok_or_else(|| {
        fail(format!(
            "expected a JSON object with a \"value\" list, got {}",
            kind(&doc)
        ))
    })?;
    let list = match obj.get("value") {
        Some(Value::Array(a)) => a,
        Some(other) => {
            return Err(fail(format!(
                "\"value\" should be a list, got {}",
                kind(other)
            )))
        }
        None => return Err(fail(
            "no \"value\" list in the object (is the URL a PSE API entity such as /api/csdac-pln?)"
                .into(),
        )),
    };
    let next_link = match obj.get("nextLink").or_else(|| obj.get("@odata.nextLink")) {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) if s.trim().is_empty() => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => {
            return Err(fail(format!(
                "\"nextLink\" should be a string, got {}",
                kind(other)
            )))
        }
    };
    let mut rows = Vec::with_capacity(list.len());
    let mut null_rows = 0;
    for (i, row) in list.iter().enumerate() {
        let r = row
            .as_object()
            .ok_or_else(|| fail(format!("row {i} should be an object, got {}", kind(row))))?;
        let price = match r.get(value_field) {
            None => {
                let mut keys: Vec<&str> = r.keys().map(String::as_str).collect();
                keys.sort();
                return Err(fail(format!(
                    "row {i} has no field {value_field:?} (it has: {}); set prices.value_field",
                    keys.join(", ")
                )));
            }
            Some(Value::Null) => {
                null_rows += 1;
                continue;
            }
            Some(Value::Number(n)) => n.as_f64(),
            Some(Value::String(s)) => s.trim().replace(',', ".").parse::<f64>().ok(),
            Some(_) => None,
        };
        let market_pln_mwh = price.filter(|p| p.is_finite()).ok_or_else(|| {
            fail(format!(
                "row {i}: {value_field} should be a number, got {}",
                r.get(value_field)
                    .map(|v| v.to_string())
                    .unwrap_or_default()
            ))
        })?;
        let text = |k: &str| {
            r.get(k)
                .and_then(Value::as_str)
                .map(|s| s.trim().to_string())
        };
        rows.push(RawRow {
            market_pln_mwh,
            dtime: text("dtime"),
            dtime_utc: text("dtime_utc"),
            period: text("period"),
            period_utc: text("period_utc"),
            business_date: text("business_date"),
        });
    }
    Ok(Page {
        rows,
        next_link,
        null_rows,
    })
}

fn kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// A wall-clock label: hour, minute, and whether it carried the `a` of the repeated hour.
type Label = (u32, u32, bool);

/// `HH:MM` or `HHa:MM` (the repeated autumn hour); `24:00` is allowed for an end.
fn hm(s: &str) -> Option<Label> {
    let (h, m) = s.trim().split_once(':')?;
    let (h, a) = match h.strip_suffix('a') {
        Some(h) => (h, true),
        None => (h, false),
    };
    let h: u32 = h.parse().ok()?;
    let m: u32 = m.get(..2).unwrap_or(m).parse().ok()?;
    (h <= 24 && m < 60).then_some((h, m, a))
}

/// `"HH:MM - HH:MM"` → start, end.
fn period_parts(s: &str) -> Option<(Label, Label)> {
    let (a, b) = s.split_once('-')?;
    Some((hm(a)?, hm(b)?))
}

/// `YYYY-MM-DD HH:MM[:SS]` (also with `T`), with an optional `a` after the hour.
fn date_time(s: &str) -> Option<(NaiveDateTime, bool)> {
    let s = s.trim().replace('T', " ");
    let (d, t) = s.split_once(' ')?;
    let date = NaiveDate::parse_from_str(d, "%Y-%m-%d").ok()?;
    let (h, m, a) = hm(t)?;
    let dt = if h == 24 {
        date.succ_opt()?.and_hms_opt(0, m, 0)?
    } else {
        date.and_time(NaiveTime::from_hms_opt(h, m, 0)?)
    };
    Some((dt, a))
}

/// Resolves a local Warsaw wall time; in the autumn fold the later instant is taken when the
/// label says so (`a`) or when the earlier one is already taken.
fn resolve_local(
    t: NaiveDateTime,
    later: bool,
    taken: &HashSet<DateTime<Utc>>,
) -> Option<DateTime<Utc>> {
    match clock::ZONE.from_local_datetime(&t) {
        chrono::LocalResult::Single(x) => Some(x.with_timezone(&Utc)),
        chrono::LocalResult::Ambiguous(e, l) => {
            let (e, l) = (e.with_timezone(&Utc), l.with_timezone(&Utc));
            Some(if later || taken.contains(&e) { l } else { e })
        }
        chrono::LocalResult::None => None,
    }
}

/// Places the rows of business date `date` as sorted, non-overlapping quarters inside that
/// Warsaw day.
pub fn place_day(rows: &[RawRow], date: NaiveDate, url: &str) -> Result<Vec<Quarter>, ParseError> {
    let fail = |what: String| ParseError {
        url: url.to_string(),
        what,
    };
    let day_start = clock::day_start(date);
    let day_end = clock::day_end(date);
    let mut starts: HashSet<DateTime<Utc>> = HashSet::new();
    let mut ends: HashSet<DateTime<Utc>> = HashSet::new();
    let mut out = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        if let Some(bd) = &r.business_date {
            if bd.get(..10) != Some(&date.format("%Y-%m-%d").to_string()[..]) {
                return Err(fail(format!(
                    "row {i} is for business date {bd}, asked for {date}"
                )));
            }
        }
        // Length: from the UTC period when given, else the local one; hourly rows are 60 min.
        let wall_len = |p: &str| {
            period_parts(p).map(|((h1, m1, _), (h2, m2, _))| {
                ((h2 * 60 + m2) as i64 - (h1 * 60 + m1) as i64).rem_euclid(1440)
            })
        };
        let minutes = r
            .period_utc
            .as_deref()
            .and_then(wall_len)
            .or_else(|| r.period.as_deref().and_then(wall_len))
            .filter(|m| *m == 60)
            .unwrap_or(15);
        let len = Duration::minutes(minutes);
        let start = if let Some((end, _)) = r.dtime_utc.as_deref().and_then(date_time) {
            Utc.from_utc_datetime(&end) - len
        } else if let Some(((h, m, a), _)) = r.period.as_deref().and_then(period_parts) {
            // Only the start's own label counts: the first pass's last quarter may end at
            // `02a:00` while it starts in the first pass.
            let later = a;
            let local = date
                .and_hms_opt(h.min(23), m, 0)
                .ok_or_else(|| fail(format!("row {i}: bad period {:?}", r.period)))?;
            resolve_local(local, later, &starts).ok_or_else(|| {
                fail(format!(
                    "row {i}: period {:?} does not exist on {date} in Europe/Warsaw",
                    r.period.as_deref().unwrap_or("")
                ))
            })?
        } else if let Some((end, later)) = r.dtime.as_deref().and_then(date_time) {
            let end = resolve_local(end, later, &ends).ok_or_else(|| {
                fail(format!(
                    "row {i}: dtime {:?} does not exist in Europe/Warsaw",
                    r.dtime.as_deref().unwrap_or("")
                ))
            })?;
            end - len
        } else {
            return Err(fail(format!(
                "row {i} has no usable time (needs dtime_utc, period or dtime), got dtime={:?} period={:?}",
                r.dtime, r.period
            )));
        };
        let end = start + len;
        if start < day_start || end > day_end {
            return Err(fail(format!(
                "row {i} ({} - {} UTC) lies outside business date {date}",
                clock::utc_rfc3339(start),
                clock::utc_rfc3339(end)
            )));
        }
        ends.insert(end);
        let period = r.period.clone().unwrap_or_else(|| local_period(start, end));
        let mut q = start;
        while q < end {
            if !starts.insert(q) {
                return Err(fail(format!(
                    "two rows for the quarter starting {}",
                    clock::local_rfc3339(q)
                )));
            }
            let qe = q + Duration::minutes(15);
            let label = if minutes == 15 {
                period.clone()
            } else {
                local_period(q, qe)
            };
            out.push(Quarter {
                start: q,
                end: qe,
                period: label,
                market_pln_mwh: r.market_pln_mwh,
            });
            q = qe;
        }
    }
    out.sort_by_key(|q| q.start);
    Ok(out)
}

/// `"HH:MM - HH:MM"` in Warsaw wall time.
pub fn local_period(start: DateTime<Utc>, end: DateTime<Utc>) -> String {
    format!(
        "{} - {}",
        start.with_timezone(&clock::ZONE).format("%H:%M"),
        end.with_timezone(&clock::ZONE).format("%H:%M")
    )
}

/// How many quarters a Warsaw day has (92, 96 or 100).
pub fn quarters_in_day(date: NaiveDate) -> usize {
    let a = clock::day_start(date);
    let b = clock::day_end(date);
    ((b - a).num_minutes() / 15) as usize
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// Rows shaped like PSE's csdac-pln rows for a whole Warsaw day.
    fn day_rows(date: NaiveDate, with_utc: bool, a_labels: bool) -> Vec<Value> {
        let mut t = clock::day_start(date);
        let end = clock::day_start(date.succ_opt().unwrap());
        let mut rows = Vec::new();
        let mut seen_two = false;
        while t < end {
            let e = t + Duration::minutes(15);
            let ls = t.with_timezone(&clock::ZONE);
            let le = e.with_timezone(&clock::ZONE);
            let repeated = a_labels && ls.format("%H").to_string() == "02" && {
                // second pass through 02:xx: offset +01:00
                ls.format("%z").to_string() == "+0100" && seen_two
            };
            if ls.format("%H").to_string() == "02" {
                seen_two = true;
            }
            let h = |x: &chrono::DateTime<chrono_tz::Tz>| {
                let hh = x.format("%H").to_string();
                if repeated && hh == "02" {
                    format!("{hh}a")
                } else {
                    hh
                }
            };
            let mut row = json!({
                "business_date": date.to_string(),
                "dtime": format!("{} {}:{}", le.format("%Y-%m-%d"), h(&le), le.format("%M")),
                "period": format!("{}:{} - {}:{}", h(&ls), ls.format("%M"), h(&le), le.format("%M")),
                "csdac_pln": 400.0 + rows.len() as f64,
                "publication_ts": "2026-01-01 14:22:24.403",
            });
            if with_utc {
                row["dtime_utc"] = json!(e.format("%Y-%m-%d %H:%M:%S").to_string());
                row["period_utc"] = json!(format!("{} - {}", t.format("%H:%M"), e.format("%H:%M")));
            }
            rows.push(row);
            t = e;
        }
        rows
    }

    fn place(rows: Vec<Value>, date: NaiveDate) -> Result<Vec<Quarter>, ParseError> {
        let body = serde_json::to_vec(&json!({"value": rows})).unwrap();
        let page = parse_page(&body, "http://pse/api/csdac-pln", "csdac_pln")?;
        place_day(&page.rows, date, "http://pse/api/csdac-pln")
    }

    #[test]
    fn dst_days_have_92_96_100_quarters_in_order() {
        for (y, m, d, n) in [(2026, 3, 29, 92), (2026, 10, 25, 100), (2026, 11, 21, 96)] {
            let date = NaiveDate::from_ymd_opt(y, m, d).unwrap();
            assert_eq!(quarters_in_day(date), n);
            for (utc, labels) in [(true, false), (false, true), (false, false)] {
                let qs = place(day_rows(date, utc, labels), date).unwrap();
                assert_eq!(qs.len(), n, "{date} utc={utc} labels={labels}");
                assert_eq!(qs[0].start, clock::day_start(date));
                for (i, w) in qs.windows(2).enumerate() {
                    assert_eq!(w[0].end, w[1].start, "{date} {i}");
                }
                // Prices stay attached to their row order (rows were generated in time order).
                for (i, q) in qs.iter().enumerate() {
                    assert_eq!(
                        q.market_pln_mwh,
                        400.0 + i as f64,
                        "{date} utc={utc} labels={labels}"
                    );
                }
            }
        }
    }

    #[test]
    fn autumn_labels_on_quarter_ends_do_not_move_starts() {
        let date = NaiveDate::from_ymd_opt(2026, 10, 25).unwrap();
        let rows = vec![
            json!({"period": "02:45 - 02a:00", "dtime": "2026-10-25 02a:00", "csdac_pln": 1}),
            json!({"period": "02a:00 - 02a:15", "dtime": "2026-10-25 02a:15", "csdac_pln": 2}),
            json!({"period": "02a:45 - 03:00", "dtime": "2026-10-25 03:00", "csdac_pln": 3}),
        ];
        let qs = place(rows, date).unwrap();
        let starts: Vec<String> = qs.iter().map(|q| clock::local_rfc3339(q.start)).collect();
        assert_eq!(
            starts,
            [
                "2026-10-25T02:45:00+02:00",
                "2026-10-25T02:00:00+01:00",
                "2026-10-25T02:45:00+01:00"
            ]
        );
        // Placed by dtime alone, `02a:00` is the later 02:00.
        let rows = vec![json!({"dtime": "2026-10-25 02a:00", "csdac_pln": 1})];
        let qs = place(rows, date).unwrap();
        assert_eq!(
            clock::local_rfc3339(qs[0].start),
            "2026-10-25T02:45:00+02:00"
        );
    }

    #[test]
    fn dtime_is_the_end_of_the_quarter() {
        let date = NaiveDate::from_ymd_opt(2025, 12, 6).unwrap();
        let rows = vec![json!({"dtime": "2025-12-06 14:15", "csdac_pln": 412.37})];
        let qs = place(rows, date).unwrap();
        assert_eq!(
            clock::local_rfc3339(qs[0].start),
            "2025-12-06T14:00:00+01:00"
        );
        assert_eq!(qs[0].period, "14:00 - 14:15");
        // The last quarter's dtime is the next day's midnight.
        let rows = vec![json!({"dtime": "2025-12-07 00:00:00", "rce_pln": "-12.5"})];
        let body = serde_json::to_vec(&json!({"value": rows})).unwrap();
        let page = parse_page(&body, "u", "rce_pln").unwrap();
        let qs = place_day(&page.rows, date, "u").unwrap();
        assert_eq!(qs[0].period, "23:45 - 00:00");
        assert_eq!(qs[0].market_pln_mwh, -12.5);
    }

    #[test]
    fn hourly_rows_become_four_quarters() {
        let date = NaiveDate::from_ymd_opt(2025, 6, 1).unwrap();
        let rows = vec![json!({"period": "10:00 - 11:00", "csdac_pln": 100})];
        let qs = place(rows, date).unwrap();
        assert_eq!(qs.len(), 4);
        assert_eq!(qs[3].period, "10:45 - 11:00");
    }

    #[test]
    fn bad_answers_say_what_is_wrong() {
        let e =
            parse_page(b"<html>busy</html>", "http://x/api/csdac-pln", "csdac_pln").unwrap_err();
        assert!(e.to_string().contains("http://x/api/csdac-pln"), "{e}");
        assert!(e.what.contains("not JSON"), "{e}");
        let e = parse_page(b"[1,2]", "u", "csdac_pln").unwrap_err();
        assert!(e.what.contains("object"), "{e}");
        let e = parse_page(br#"{"value": [{"rce_pln": 1}]}"#, "u", "csdac_pln").unwrap_err();
        assert!(
            e.what.contains("\"csdac_pln\"") && e.what.contains("rce_pln"),
            "{e}"
        );
        let e = parse_page(br#"{"value": [{"csdac_pln": "abc"}]}"#, "u", "csdac_pln").unwrap_err();
        assert!(e.what.contains("should be a number"), "{e}");
        let p = parse_page(br#"{"value": [], "nextLink": null}"#, "u", "csdac_pln").unwrap();
        assert!(p.rows.is_empty() && p.next_link.is_none());
        let p = parse_page(
            br#"{"value": [{"csdac_pln": null}], "nextLink": "http://n"}"#,
            "u",
            "csdac_pln",
        )
        .unwrap();
        assert_eq!((p.rows.len(), p.null_rows), (0, 1));
        assert_eq!(p.next_link.as_deref(), Some("http://n"));
    }

    #[test]
    fn rejects_duplicates_gaps_and_other_dates() {
        let date = NaiveDate::from_ymd_opt(2026, 3, 29).unwrap();
        let e = place(
            vec![json!({"period": "02:15 - 02:30", "csdac_pln": 1})],
            date,
        )
        .unwrap_err();
        assert!(e.what.contains("does not exist"), "{e}");
        let e = place(
            vec![
                json!({"period": "10:00 - 10:15", "csdac_pln": 1}),
                json!({"period": "10:00 - 10:15", "csdac_pln": 2}),
            ],
            NaiveDate::from_ymd_opt(2026, 3, 30).unwrap(),
        )
        .unwrap_err();
        assert!(e.what.contains("two rows"), "{e}");
        let e = place(
            vec![json!({"business_date": "2026-03-30", "period": "10:00 - 10:15", "csdac_pln": 1})],
            date,
        )
        .unwrap_err();
        assert!(e.what.contains("asked for 2026-03-29"), "{e}");
    }
}
