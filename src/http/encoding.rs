//! Content negotiation for compressed bodies: does the request's `Accept-Encoding` allow
//! gzip (RFC 9110 §12.5.3)? Pure.

/// True when `accept_encoding` (every `Accept-Encoding` field, joined with commas) lists
/// `gzip` (or `x-gzip`) with a non-zero `q`, or `*` with a non-zero `q` and no `gzip`
/// entry at all. An empty value allows nothing but the identity.
pub fn accepts_gzip(accept_encoding: &str) -> bool {
    let mut star = None;
    for item in accept_encoding.split(',') {
        let mut parts = item.split(';');
        let coding = parts.next().unwrap_or("").trim();
        if coding.is_empty() {
            continue;
        }
        let q = parts
            .filter_map(|p| {
                let (k, v) = p.split_once('=')?;
                k.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| v.trim().parse::<f32>().unwrap_or(0.0))
            })
            .next_back()
            .unwrap_or(1.0);
        if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
            return q > 0.0;
        }
        if coding == "*" {
            star = Some(q > 0.0);
        }
    }
    star.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::accepts_gzip;

    #[test]
    fn gzip_is_taken_only_when_allowed() {
        assert!(accepts_gzip("gzip, deflate, br"));
        assert!(accepts_gzip(",GZIP;q=0.5"));
        assert!(accepts_gzip("br, *"));
        assert!(accepts_gzip("x-gzip"));
        assert!(!accepts_gzip(""));
        assert!(!accepts_gzip("identity"));
        assert!(!accepts_gzip("gzip;q=0"));
        assert!(!accepts_gzip("gzip; q=0.000, *"));
        assert!(!accepts_gzip("*;q=0"));
        assert!(!accepts_gzip("br, deflate"));
    }
}
