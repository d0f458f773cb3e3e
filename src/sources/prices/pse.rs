//! The PSE API client: one business date per call, `$filter=business_date eq 'YYYY-MM-DD'`,
//! following `nextLink` pages on the same origin, with bounded time and body size.

use std::time::Duration;

use chrono::NaiveDate;

use super::model::Quarter;
use super::parse::{self, ParseError, RawRow};
use crate::refresh::RefreshContext;

/// Largest body accepted per page (a 100-row day is ~30 KB).
const MAX_BODY: u64 = 4 * 1024 * 1024;
/// Most pages followed for one day.
const MAX_PAGES: usize = 20;

/// Why a fetch failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FetchError {
    /// Connection refused, DNS, reset, TLS...
    Transport { url: String, message: String },
    /// No complete answer within the configured timeout.
    Timeout { url: String, seconds: u64 },
    /// A non-2xx status, with the start of the body.
    Status {
        url: String,
        code: u16,
        body: String,
    },
    /// The body was larger than the cap.
    TooLarge { url: String },
    /// Not JSON, or the wrong shape.
    Parse(ParseError),
    /// A `nextLink` that leaves the configured origin, or too many pages.
    Paging { url: String, message: String },
    /// Shutdown began between pages.
    Stopped,
}

impl std::fmt::Display for FetchError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FetchError::Transport { url, message } => write!(f, "cannot reach {url}: {message}"),
            FetchError::Timeout { url, seconds } => {
                write!(
                    f,
                    "no answer from {url} within {seconds} s (web_server.api_timeout_seconds)"
                )
            }
            FetchError::Status { url, code, body } => {
                write!(f, "{url} answered HTTP {code}")?;
                if !body.is_empty() {
                    write!(f, ": {body}")?;
                }
                Ok(())
            }
            FetchError::TooLarge { url } => {
                write!(f, "answer from {url} is larger than {} bytes", MAX_BODY)
            }
            FetchError::Parse(e) => e.fmt(f),
            FetchError::Paging { url, message } => write!(f, "paging {url}: {message}"),
            FetchError::Stopped => f.write_str("stopped: shutting down"),
        }
    }
}

/// What PSE has for a business date.
#[derive(Debug, Clone, PartialEq)]
pub enum DayAnswer {
    /// An empty `value` list: not published yet.
    NotPublished,
    Published(Vec<Quarter>),
}

pub struct PseClient {
    agent: ureq::Agent,
    url: String,
    value_field: String,
    timeout: Duration,
}

impl PseClient {
    pub fn new(url: &str, value_field: &str, timeout: Duration) -> PseClient {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(timeout))
            .timeout_connect(Some(timeout))
            .http_status_as_error(false)
            .proxy(None)
            .max_redirects(3)
            .user_agent(concat!("energy-monitor/", env!("CARGO_PKG_VERSION")))
            .build()
            .into();
        PseClient {
            agent,
            url: url.to_string(),
            value_field: value_field.to_string(),
            timeout,
        }
    }

    pub fn url(&self) -> &str {
        &self.url
    }

    /// The first page's URL for `date`.
    pub fn day_url(&self, date: NaiveDate) -> String {
        let sep = if self.url.contains('?') { '&' } else { '?' };
        format!(
            "{}{sep}$filter=business_date%20eq%20'{}'",
            self.url,
            date.format("%Y-%m-%d")
        )
    }

    /// Fetches every page for `date` and places the rows as quarters.
    pub fn fetch_day(
        &self,
        date: NaiveDate,
        ctx: &RefreshContext,
    ) -> Result<DayAnswer, FetchError> {
        let mut url = self.day_url(date);
        let mut rows: Vec<RawRow> = Vec::new();
        let mut nulls = 0;
        for page_no in 0.. {
            if ctx.stopping() {
                return Err(FetchError::Stopped);
            }
            if page_no >= MAX_PAGES {
                return Err(FetchError::Paging {
                    url: self.url.clone(),
                    message: format!("more than {MAX_PAGES} pages for one day; giving up"),
                });
            }
            let body = self.get(&url)?;
            let page =
                parse::parse_page(&body, &url, &self.value_field).map_err(FetchError::Parse)?;
            rows.extend(page.rows);
            nulls += page.null_rows;
            match page.next_link {
                None => break,
                Some(next) => url = self.next_url(&url, &next)?,
            }
        }
        if rows.is_empty() {
            if nulls > 0 {
                log::debug!("{} rows for {date} have no price yet", nulls);
            }
            return Ok(DayAnswer::NotPublished);
        }
        parse::place_day(&rows, date, &self.url)
            .map(DayAnswer::Published)
            .map_err(FetchError::Parse)
    }

    fn get(&self, url: &str) -> Result<Vec<u8>, FetchError> {
        let mut resp = self.agent.get(url).call().map_err(|e| self.error(url, e))?;
        let code = resp.status().as_u16();
        let body = resp
            .body_mut()
            .with_config()
            .limit(MAX_BODY)
            .read_to_vec()
            .map_err(|e| match e {
                ureq::Error::BodyExceedsLimit(_) => FetchError::TooLarge {
                    url: url.to_string(),
                },
                e => self.error(url, e),
            })?;
        if !(200..300).contains(&code) {
            let text: String = String::from_utf8_lossy(&body)
                .chars()
                .take(200)
                .map(|c| if c.is_control() { ' ' } else { c })
                .collect();
            return Err(FetchError::Status {
                url: url.to_string(),
                code,
                body: text.trim().to_string(),
            });
        }
        Ok(body)
    }

    fn error(&self, url: &str, e: ureq::Error) -> FetchError {
        match e {
            ureq::Error::Timeout(_) => FetchError::Timeout {
                url: url.to_string(),
                seconds: self.timeout.as_secs(),
            },
            e => FetchError::Transport {
                url: url.to_string(),
                message: e.to_string(),
            },
        }
    }
}

impl PseClient {
    /// The URL of the next page: a relative link, or an absolute one on the configured host,
    /// is requested from the configured origin; any other host is refused.
    fn next_url(&self, current: &str, next: &str) -> Result<String, FetchError> {
        let base = origin(&self.url);
        if next.starts_with('/') {
            return Ok(format!("{base}{next}"));
        }
        if host(next) != host(&self.url) || !next.contains("://") {
            return Err(FetchError::Paging {
                url: current.to_string(),
                message: format!("nextLink {next:?} leaves {base}; not followed"),
            });
        }
        let rest = next.split_once("://").map(|(_, r)| r).unwrap_or(next);
        let path = rest.find('/').map(|i| &rest[i..]).unwrap_or("/");
        Ok(format!("{base}{path}"))
    }
}

/// The host name of a URL, without port, lower-cased.
fn host(url: &str) -> String {
    let rest = url.split_once("://").map(|(_, r)| r).unwrap_or("");
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    authority
        .split(':')
        .next()
        .unwrap_or("")
        .to_ascii_lowercase()
}

/// `scheme://host[:port]` of a URL (lower-cased), for the same-origin check.
fn origin(url: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    format!(
        "{}://{}",
        scheme.to_ascii_lowercase(),
        host.to_ascii_lowercase()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn day_url_and_origin() {
        let c = PseClient::new(
            "https://api.raporty.pse.pl/api/csdac-pln",
            "csdac_pln",
            Duration::from_secs(1),
        );
        assert_eq!(
            c.day_url(NaiveDate::from_ymd_opt(2026, 3, 29).unwrap()),
            "https://api.raporty.pse.pl/api/csdac-pln?$filter=business_date%20eq%20'2026-03-29'"
        );
        assert_eq!(
            origin("http://127.0.0.1:99/api/x?$after=1"),
            "http://127.0.0.1:99"
        );
        assert_ne!(origin("http://evil/api"), origin("http://127.0.0.1:99/api"));
        let c = PseClient::new(
            "https://api.raporty.pse.pl/api/csdac-pln",
            "csdac_pln",
            Duration::from_secs(1),
        );
        let cur = "https://api.raporty.pse.pl/api/csdac-pln?x";
        assert_eq!(
            c.next_url(cur, "/api/csdac-pln?$after=100").unwrap(),
            "https://api.raporty.pse.pl/api/csdac-pln?$after=100"
        );
        assert_eq!(
            c.next_url(cur, "http://api.raporty.pse.pl:80/api/csdac-pln?$after=100")
                .unwrap(),
            "https://api.raporty.pse.pl/api/csdac-pln?$after=100"
        );
        assert!(c
            .next_url(cur, "https://elsewhere.example/api?$after=1")
            .is_err());
        assert!(c.next_url(cur, "api/csdac-pln?$after=1").is_err());
    }
}
