//! Query strings: decoding, and validation that answers with a 400 naming the parameter
//! and the allowed values. Client input is only ever compared with known values here; it is
//! never used as a path, a pattern or a header.

use serde_json::json;

use crate::snapshot::Body;

/// A decoded query string. Repeated names keep their first value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Query {
    pairs: Vec<(String, String)>,
}

/// A parameter that failed validation.
#[derive(Debug, Clone, PartialEq)]
pub struct BadParam {
    pub parameter: String,
    pub message: String,
    pub allowed: serde_json::Value,
}

impl BadParam {
    pub fn new(
        parameter: &str,
        message: impl Into<String>,
        allowed: serde_json::Value,
    ) -> BadParam {
        BadParam {
            parameter: parameter.to_string(),
            message: message.into(),
            allowed,
        }
    }

    /// The 400 body: `{"error", "parameter", "allowed"}`.
    pub fn body(&self) -> Body {
        Body::error(
            400,
            &self.message,
            json!({"parameter": self.parameter, "allowed": self.allowed}),
        )
    }
}

impl Query {
    pub fn parse(raw: &str) -> Query {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for part in raw.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let k = percent_decode(k);
            if pairs.iter().any(|(have, _)| *have == k) {
                continue;
            }
            pairs.push((k, percent_decode(v)));
        }
        Query { pairs }
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// The value of `name`, which must be one of `allowed` (exact match); `default` when the
    /// parameter is absent or empty.
    pub fn one_of<'a>(
        &self,
        name: &str,
        allowed: &[&'a str],
        default: &'a str,
    ) -> Result<&'a str, BadParam> {
        match self.get(name) {
            None | Some("") => Ok(default),
            Some(v) => allowed.iter().find(|a| **a == v).copied().ok_or_else(|| {
                BadParam::new(
                    name,
                    format!(
                        "invalid value for '{name}'; allowed values: {}",
                        allowed.join(", ")
                    ),
                    json!(allowed),
                )
            }),
        }
    }

    /// An integer parameter in `min..=max`; `None` when absent or empty.
    pub fn int_in(&self, name: &str, min: i64, max: i64) -> Result<Option<i64>, BadParam> {
        let range = || json!({"min": min, "max": max});
        match self.get(name) {
            None | Some("") => Ok(None),
            Some(v) => match v.parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => Ok(Some(n)),
                Ok(_) => Err(BadParam::new(
                    name,
                    format!("'{name}' is out of range; use a whole number from {min} to {max}"),
                    range(),
                )),
                Err(_) => Err(BadParam::new(
                    name,
                    format!("'{name}' is not a whole number; use one from {min} to {max}"),
                    range(),
                )),
            },
        }
    }
}

/// Decodes a query component: `+` is a space, `%XX` (two hex digits) is that byte; any
/// other `%` is kept literally; invalid UTF-8 is replaced.
pub fn percent_decode(s: &str) -> String {
    percent_encoding::percent_decode_str(&s.replace('+', " "))
        .decode_utf8_lossy()
        .into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes() {
        assert_eq!(percent_decode("a%20b+c"), "a b c");
        assert_eq!(percent_decode("%2e%2E"), "..");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
        assert_eq!(percent_decode("%4"), "%4");
        // A sign is not a hex digit: `%+A` is not a newline.
        assert_eq!(percent_decode("%+A"), "% A");
        assert_eq!(percent_decode("%2B"), "+");
    }

    #[test]
    fn one_of_and_int() {
        let q = Query::parse("time_range=7d&n=12&bad=x&time_range=1h");
        assert_eq!(
            q.one_of("time_range", &["1h", "24h", "7d"], "24h"),
            Ok("7d")
        );
        assert_eq!(q.one_of("missing", &["a"], "a"), Ok("a"));
        let e = Query::parse("time_range=2y")
            .one_of("time_range", &["1h", "24h"], "24h")
            .unwrap_err();
        assert_eq!(e.parameter, "time_range");
        assert_eq!(q.int_in("n", 1, 12), Ok(Some(12)));
        assert!(q.int_in("n", 1, 11).is_err());
        assert_eq!(q.int_in("bad", 1, 2).unwrap_err().parameter, "bad");
        let body = e.body();
        assert_eq!(body.status, 400);
        let v: serde_json::Value = serde_json::from_slice(&body.bytes).unwrap();
        assert_eq!(v["parameter"], "time_range");
        assert_eq!(v["allowed"][1], "24h");
    }
}
