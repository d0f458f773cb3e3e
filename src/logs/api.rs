//! The `/logs` request handlers and the JSON they answer with.
//!
//! `GET /logs` answers a default view (`lines=100`, no `level`, no `q`) from the snapshot;
//! anything else is filtered here from the tail the refresh side published, which holds at
//! most `logs.max_lines` lines, so the work per request is bounded whatever the file size.
//! `lines` is 1 to `logs.max_lines` (0 is also accepted with `follow=true`: no backlog).
//! With `follow=true` the reply is a stream ([`super::follow`]) for a file or `journal`;
//! `summary` cannot be followed.
//!
//! Fields of a `/logs` answer:
//! - `log_file`: the file's name, `systemd-journal` or `coordinator-summary`;
//! - `lines`: the last `lines` lines (oldest first) of the records that pass `level`/`q`;
//! - `returned_lines`: how many lines that is; `level_filter`: the level asked for or `""`;
//!   `search`: the `q` asked for or null;
//! - `scanned_lines`: how many lines the daemon read and holds for this source (the end of
//!   the file, at most `logs.max_lines`; for the journal, the lines `journalctl -n` gave);
//!   `matched_lines`: how many of those pass every filter (for `journal`/`summary` that
//!   includes the view's own key-event selection and, for `summary`, duplicate removal);
//! - `total_lines` / `filtered_lines`: the same two counts for the *whole* file (or the
//!   unit's whole journal), given only when the lines held are all of it; otherwise `null`,
//!   because the daemon does not count the lines of a file it did not read;
//! - `window_complete`: whether the lines held are the whole file; `as_of`: when they were
//!   read; `source_error`: the last refresh error while older data is still served.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use serde_json::json;

use super::{download, follow, resolve, valid_names, LogsHub, LogsView, Resolved, Target};
use crate::clock;
use crate::http::query::{BadParam, Query};
use crate::http::routes::{HttpContext, Reply, RequestInfo, Route};
use crate::refresh::SourceId;
use crate::snapshot::{route_key, Body, Snapshot};
use crate::sources::log_dir::FileTail;
use crate::sources::log_text::record::{self, Filter, Level, Record};

pub use super::{DOWNLOAD, FILES, LOGS};

/// The longest `q` accepted.
pub const MAX_QUERY_CHARS: usize = 200;

/// A validated `/logs` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogsRequest {
    pub file: Resolved,
    pub lines: usize,
    pub level: Option<Level>,
    pub q: Option<String>,
    pub follow: bool,
    /// The answer stops before this many bytes (`logs.max_response_bytes`).
    pub max_bytes: usize,
}

impl LogsRequest {
    pub fn filter(&self) -> Filter {
        Filter::new(self.level, self.q.as_deref())
    }

    /// True for the views the refresh side pre-serializes.
    pub fn is_default_view(&self) -> bool {
        self.lines == super::DEFAULT_LINES && self.level.is_none() && self.q.is_none()
    }
}

/// The snapshot key of the default view of `file`.
pub fn default_key(file_key: &str) -> String {
    route_key(
        LOGS,
        &[
            ("file", file_key),
            ("lines", &super::DEFAULT_LINES.to_string()),
        ],
    )
}

/// Why a `/logs` request cannot be answered: a 400 or a 404.
#[derive(Debug)]
pub enum Refusal {
    Bad(BadParam),
    UnknownFile(Vec<String>),
}

impl Refusal {
    pub fn body(&self) -> Body {
        match self {
            Refusal::Bad(b) => b.body(),
            Refusal::UnknownFile(valid) => Body::error(
                404,
                &format!("log file not found; valid names: {}", valid.join(", ")),
                json!({"parameter": "file", "valid_files": valid}),
            ),
        }
    }
}

/// Validates the query of `/logs`.
pub fn parse_request(q: &Query, max_lines: usize, view: &LogsView) -> Result<LogsRequest, Refusal> {
    let listing = view.listing.as_deref();
    let file_value = q.get("file").filter(|v| !v.is_empty()).unwrap_or("master");
    let file =
        resolve(file_value, listing).ok_or_else(|| Refusal::UnknownFile(valid_names(listing)))?;
    let level = match q.get("level") {
        None | Some("") => None,
        Some(v) => Some(Level::from_field(&v.to_ascii_uppercase()).ok_or_else(|| {
            Refusal::Bad(BadParam::new(
                "level",
                format!(
                    "invalid value for 'level'; allowed values: {}",
                    Level::NAMES.join(", ")
                ),
                json!(Level::NAMES),
            ))
        })?),
    };
    let search = match q.get("q") {
        None | Some("") => None,
        Some(v) if v.chars().count() > MAX_QUERY_CHARS => {
            return Err(Refusal::Bad(BadParam::new(
                "q",
                format!("'q' is too long; use at most {MAX_QUERY_CHARS} characters"),
                json!({"max_chars": MAX_QUERY_CHARS}),
            )))
        }
        Some(v) => Some(v.to_string()),
    };
    let follow = match q.get("follow").map(str::to_ascii_lowercase).as_deref() {
        None | Some("") | Some("false") | Some("0") => false,
        Some("true") | Some("1") => true,
        Some(_) => {
            return Err(Refusal::Bad(BadParam::new(
                "follow",
                "invalid value for 'follow'; allowed values: true, false",
                json!(["true", "false"]),
            )))
        }
    };
    // A stream may start with no backlog (`lines=0`: only new lines), as the page asks.
    let min_lines = if follow { 0 } else { 1 };
    let lines = q
        .int_in("lines", min_lines, max_lines as i64)
        .map_err(Refusal::Bad)?
        .map_or(super::DEFAULT_LINES.min(max_lines), |n| n as usize);
    Ok(LogsRequest {
        file,
        lines,
        level,
        q: search,
        follow,
        max_bytes: crate::config::defaults::LOGS_MAX_RESPONSE_BYTES,
    })
}

#[allow(
    clippy::too_many_arguments,
    reason = "the fields of one answer, each named at the call site"
)]
fn answer(
    log_file: &str,
    req: &LogsRequest,
    lines: &[String],
    records: &[Record],
    scanned: usize,
    complete: bool,
    as_of: chrono::DateTime<chrono::Utc>,
    source_error: Option<&str>,
) -> Body {
    let sel = record::select(lines, records, &req.filter(), req.lines);
    let matched = sel.matched_lines;
    let kept = within_budget(&sel.lines, req.max_bytes.saturating_sub(ENVELOPE));
    let truncated = kept.len() < sel.lines.len();
    Body::json(
        200,
        &json!({
            "log_file": log_file,
            "lines": kept,
            "returned_lines": kept.len(),
            "truncated": truncated,
            "max_response_bytes": req.max_bytes,
            "level_filter": req.level.map_or("", Level::as_str),
            "search": req.q,
            "total_lines": complete.then_some(scanned),
            "filtered_lines": complete.then_some(matched),
            "scanned_lines": scanned,
            "matched_lines": matched,
            "window_complete": complete,
            "as_of": clock::local_rfc3339(as_of),
            "source_error": source_error,
        }),
    )
}

/// Room kept in `logs.max_response_bytes` for the answer's other fields.
const ENVELOPE: usize = 4096;

/// The newest of `lines` whose JSON strings fit in `budget` bytes, oldest first. The
/// size of each is counted as serde_json writes it (escapes included), so the answer built
/// from them never exceeds the budget, and no more is built than fits.
fn within_budget<'a>(lines: &'a [&'a str], budget: usize) -> &'a [&'a str] {
    let mut used = 0usize;
    let mut first = lines.len();
    for (i, line) in lines.iter().enumerate().rev() {
        let size = 3 + line
            .bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                0..=0x1f => 6,
                _ => 1,
            })
            .sum::<usize>();
        if used + size > budget {
            break;
        }
        used += size;
        first = i;
    }
    &lines[first..]
}

/// The answer for a file's tail.
pub fn file_body(
    name: &str,
    tail: &FileTail,
    req: &LogsRequest,
    source_error: Option<&str>,
) -> Body {
    answer(
        name,
        req,
        &tail.lines,
        &tail.records,
        tail.lines.len(),
        tail.from_start,
        tail.read_at,
        source_error,
    )
}

/// The answer for a validated request, from the published view (no I/O).
pub fn build(req: &LogsRequest, view: &LogsView) -> Body {
    match &req.file.target {
        Target::File(name) => {
            let Some(listing) = view.listing.as_deref() else {
                return Body::error(
                    503,
                    &format!(
                        "the log directory is not readable yet: {}",
                        view.listing_error.as_deref().unwrap_or("not read yet")
                    ),
                    json!({"source": SourceId::Logs}),
                );
            };
            if let Some(e) = listing.tail_errors.get(name) {
                return Body::error(503, e, json!({"log_file": name}));
            }
            match listing.tails.get(name) {
                Some(t) => file_body(name, t, req, view.listing_error.as_deref()),
                None => Body::error(
                    404,
                    &format!(
                        "log file {name} (file={}) does not exist in the log directory; valid names: {}",
                        req.file.key,
                        valid_names(Some(listing)).join(", ")
                    ),
                    json!({"parameter": "file", "valid_files": valid_names(Some(listing))}),
                ),
            }
        }
        Target::Journal | Target::Summary => {
            let Some(j) = view.journal.as_deref() else {
                return Body::error(
                    503,
                    &format!(
                        "the systemd journal is unavailable: {}",
                        view.journal_error.as_deref().unwrap_or("not read yet")
                    ),
                    json!({"source": SourceId::Journal, "state": "unavailable"}),
                );
            };
            let (name, v) = if req.file.target == Target::Journal {
                ("systemd-journal", &j.journal)
            } else {
                ("coordinator-summary", &j.summary)
            };
            answer(
                name,
                req,
                &v.lines,
                &v.records,
                j.raw_lines,
                j.complete,
                j.read_at,
                view.journal_error.as_deref(),
            )
        }
    }
}

/// The log routes; `hub` holds their settings and stream caps.
pub fn routes(hub: Arc<LogsHub>) -> Vec<Route> {
    let files_hub = Arc::clone(&hub);
    let download_hub = Arc::clone(&hub);
    vec![
        Route::exact(LOGS, move |req, snap, ctx| logs_route(req, snap, ctx, &hub)),
        Route::exact(FILES, move |req, snap, ctx| {
            files_route(req, snap, ctx, &files_hub)
        }),
        Route::prefix(DOWNLOAD, move |req, snap, ctx| {
            download_route(req, snap, ctx, &download_hub)
        }),
    ]
}

/// `GET /logs`.
pub fn logs_route(
    req: &RequestInfo,
    snap: &Snapshot,
    ctx: &HttpContext,
    hub: &Arc<LogsHub>,
) -> Reply {
    let view = hub.view();
    let mut parsed = match parse_request(&req.query, hub.settings.max_lines, &view) {
        Ok(p) => p,
        Err(r) => return Reply::Owned(r.body()),
    };
    parsed.max_bytes = hub.settings.max_response_bytes;
    if parsed.follow {
        return start_follow(hub, &view, parsed, req.method == "HEAD", ctx);
    }
    if parsed.is_default_view() {
        if let Some(b) = snap.get(&default_key(&parsed.file.key)) {
            return Reply::Shared(Arc::clone(b));
        }
    }
    Reply::Owned(build(&parsed, &view))
}

fn start_follow(
    hub: &Arc<LogsHub>,
    view: &LogsView,
    req: LogsRequest,
    head: bool,
    ctx: &HttpContext,
) -> Reply {
    if req.file.target == Target::Summary {
        return Reply::Owned(Body::error(
            400,
            "live streaming is not supported for the summary; use file=journal or poll file=summary",
            json!({"parameter": "follow"}),
        ));
    }
    let too_many = || at_capacity("log followers", "max_followers", hub.followers.limit, 15);
    let Target::File(name) = &req.file.target else {
        let Some(permit) = hub.followers.try_enter() else {
            return too_many();
        };
        let job = follow::JournalJob {
            hub: Arc::clone(hub),
            lines: req.lines,
            filter: req.filter(),
            stopping: Arc::clone(&ctx.stopping),
            head,
        };
        return Reply::Stream(Box::new(move |w| {
            let _permit = permit;
            follow::run_journal(w, job);
        }));
    };
    let listed = view
        .listing
        .as_deref()
        .is_some_and(|l| l.files.iter().any(|f| &f.name == name));
    if !listed {
        return Reply::Owned(Body::error(
            404,
            &format!("log file {name} does not exist in the log directory"),
            json!({"parameter": "file", "valid_files": valid_names(view.listing.as_deref())}),
        ));
    }
    let Some(permit) = hub.followers.try_enter() else {
        return too_many();
    };
    let job = follow::Job {
        path: hub.settings.dir.join(name),
        lines: req.lines,
        filter: req.filter(),
        stopping: Arc::clone(&ctx.stopping),
        head,
    };
    Reply::Stream(Box::new(move |w| {
        let _permit = permit;
        follow::run(w, job);
    }))
}

/// The 503 for a full stream cap: what is full, its limit (under `key`), and when to retry.
fn at_capacity(what: &str, key: &str, limit: usize, retry_after_s: u32) -> Reply {
    let mut extra = serde_json::Map::new();
    extra.insert(key.to_string(), json!(limit));
    Reply::Owned(
        Body::error(
            503,
            &format!("too many {what} ({limit} at most); try again later"),
            serde_json::Value::Object(extra),
        )
        .with_header("Retry-After", retry_after_s.to_string()),
    )
}

/// `GET /logs/files`: pre-serialized by the refresh side.
pub fn files_route(req: &RequestInfo, snap: &Snapshot, _ctx: &HttpContext, hub: &LogsHub) -> Reply {
    match snap.get(FILES) {
        Some(b) => Reply::Shared(Arc::clone(b)),
        None => {
            let why = hub
                .view()
                .listing_error
                .clone()
                .unwrap_or_else(|| "not read yet".into());
            Reply::Owned(Body::error(
                503,
                &format!("the log directory is not readable: {why}"),
                json!({"route": req.path}),
            ))
        }
    }
}

/// `GET /logs/download/<name>`.
pub fn download_route(
    req: &RequestInfo,
    _snap: &Snapshot,
    ctx: &HttpContext,
    hub: &LogsHub,
) -> Reply {
    let raw = &req.path[DOWNLOAD.len()..];
    let view = hub.view();
    let name = match download::check_name(raw, view.listing.as_deref()) {
        Ok(n) => n,
        Err(refused) => return Reply::Owned(refused.body()),
    };
    let Some(permit) = hub.downloads.try_enter() else {
        return at_capacity(
            "downloads in progress",
            "max_downloads",
            hub.downloads.limit,
            5,
        );
    };
    let dir = hub.settings.dir.clone();
    let head = req.method == "HEAD";
    let stopping = Arc::clone(&ctx.stopping);
    Reply::Stream(Box::new(move |w| {
        let _permit = permit;
        if !stopping.load(Ordering::Relaxed) {
            download::send(w, &dir, &name, head, &stopping);
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sources::log_dir::{LogFileInfo, LogListing};
    use serde_json::Value;

    #[test]
    fn answers_stop_at_the_byte_budget() {
        // Each line costs its JSON string plus a comma: 3 + 4 bytes for `a"b`.
        let lines = vec!["a\"b"; 10];
        assert_eq!(within_budget(&lines, 70).len(), 10);
        assert_eq!(within_budget(&lines, 69).len(), 9);
        assert!(within_budget(&lines, 0).is_empty());
        assert_eq!(serde_json::to_string("\u{1}").unwrap().len() + 1, 3 + 6);

        let long = format!(
            "2025-12-06 14:00:01,234 - m - ERROR - {}",
            "\"x".repeat(500)
        );
        let many: Vec<&str> = vec![long.as_str(); 2000];
        let v = view_with(&many, true);
        let mut req = parse_request(&Query::parse("lines=2000&level=error"), 5000, &v).unwrap();
        req.max_bytes = 65_536;
        let body = build(&req, &v);
        assert!(body.bytes.len() <= 65_536, "{}", body.bytes.len());
        let j = json_of(&body);
        assert_eq!(j["truncated"], true);
        assert_eq!(j["matched_lines"], 2000);
        let returned = j["returned_lines"].as_u64().unwrap();
        assert!(returned > 10 && returned < 2000, "{returned}");
        req.max_bytes = 64 * 1024 * 1024;
        assert_eq!(json_of(&build(&req, &v))["truncated"], false);
    }

    fn view_with(lines: &[&str], from_start: bool) -> LogsView {
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        let tail = crate::sources::log_dir::FileTail::from_lines(lines, from_start);
        let mut listing = LogListing::default();
        listing.files.push(LogFileInfo {
            name: "master_coordinator.log".into(),
            size: 1,
            modified: None,
        });
        listing
            .tails
            .insert("master_coordinator.log".into(), Arc::new(tail));
        LogsView {
            listing: Some(Arc::new(listing)),
            ..Default::default()
        }
    }

    fn json_of(b: &Body) -> Value {
        serde_json::from_slice(&b.bytes).unwrap()
    }

    #[test]
    fn parameters() {
        let v = view_with(&[], true);
        let ok = parse_request(&Query::parse("level=error&lines=5&q=x"), 5000, &v).unwrap();
        assert_eq!(ok.level, Some(Level::Error));
        assert_eq!(ok.lines, 5);
        assert_eq!(ok.file.key, "master");
        let d = parse_request(&Query::parse(""), 5000, &v).unwrap();
        assert!(d.is_default_view());
        assert_eq!(
            parse_request(&Query::parse("file=SYSTEMD"), 5000, &v)
                .unwrap()
                .file
                .key,
            "journal"
        );
        assert_eq!(
            parse_request(&Query::parse("file=master_coordinator.log"), 5000, &v)
                .unwrap()
                .file
                .target,
            Target::File("master_coordinator.log".into())
        );
        for bad in [
            "lines=0",
            "lines=-1",
            "lines=5001",
            "lines=abc",
            "lines=1e3",
        ] {
            match parse_request(&Query::parse(bad), 5000, &v) {
                Err(Refusal::Bad(b)) => {
                    assert_eq!(b.parameter, "lines", "{bad}");
                    assert!(b.message.contains("5000"), "{bad}: {}", b.message);
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
        for bad in [
            "level=ERR",
            "level='ERROR'",
            "level=ERROR;ls",
            "level=$(id)",
            "level=`id`",
        ] {
            match parse_request(&Query::parse(bad), 5000, &v) {
                Err(Refusal::Bad(b)) => assert_eq!(b.parameter, "level", "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        match parse_request(&Query::parse("file=../etc/passwd"), 5000, &v) {
            Err(r @ Refusal::UnknownFile(_)) => {
                let body = json_of(&r.body());
                assert_eq!(r.body().status, 404);
                assert!(body["valid_files"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .any(|f| f == "master_coordinator.log"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn honest_counts() {
        let lines = [
            "2025-12-06 14:00:01,234 - m - INFO - a",
            "2025-12-06 14:00:02,234 - m - ERROR - b",
            "Traceback",
        ];
        let v = view_with(&lines, true);
        let r = parse_request(&Query::parse("level=ERROR"), 5000, &v).unwrap();
        let j = json_of(&build(&r, &v));
        assert_eq!(j["lines"], json!([lines[1], lines[2]]));
        assert_eq!(j["returned_lines"], 2);
        assert_eq!(j["total_lines"], 3);
        assert_eq!(j["filtered_lines"], 2);
        assert_eq!(j["level_filter"], "ERROR");
        assert_eq!(j["log_file"], "master_coordinator.log");
        let v = view_with(&lines, false);
        let j = json_of(&build(&r, &v));
        assert!(j["total_lines"].is_null());
        assert!(j["filtered_lines"].is_null());
        assert_eq!(j["scanned_lines"], 3);
        assert_eq!(j["matched_lines"], 2);
        let r = parse_request(&Query::parse("file=fast_charge"), 5000, &v).unwrap();
        assert_eq!(build(&r, &v).status, 404);
        let r = parse_request(&Query::parse("file=journal"), 5000, &v).unwrap();
        assert_eq!(build(&r, &v).status, 503);
    }
}
