//! The `prices:` section and the price source's settings: the PSE URL and the tariff, from
//! our file or else the coordinator's.

use super::*;

/// The price source's settings.
#[derive(Debug, Clone)]
pub struct Prices {
    pub api_url: String,
    /// Where `api_url` came from: `prices.api_url`, the coordinator's file, or the default.
    pub api_url_from: &'static str,
    /// The field holding the price in each row (`csdac_pln`, `rce_pln`).
    pub value_field: String,
    pub tariff: crate::sources::prices::tariff::Tariff,
    /// Where the tariff came from.
    pub tariff_from: &'static str,
    /// Why the coordinator's tariff section could not be used, if it could not (shown in
    /// `/status` `problems`; final prices are then market + SC only).
    pub tariff_warning: Option<String>,
    /// The same, as the error `check-config` reports (exit 2): the coordinator's file, the
    /// key and what was expected.
    pub tariff_error: Option<ConfigError>,
    pub today_recheck: Duration,
    pub tomorrow_poll: Duration,
    pub tomorrow_poll_from: chrono::NaiveTime,
}

/// Validates the `prices` section; the coordinator's file supplies the URL and the tariff
/// unless ours sets them.
pub(super) fn prices_from_raw(
    raw: &RawPrices,
    coordinator_file: Option<(&CoordinatorFile, &Path)>,
    err: &dyn Fn(&str, String) -> ConfigError,
) -> Result<Prices, ConfigError> {
    use crate::sources::prices::tariff::Tariff;
    let coordinator = coordinator_file.map(|(f, _)| f);
    let (api_url, api_url_from) = match (
        &raw.api_url,
        coordinator.and_then(|f| f.price_api_url.as_ref()),
    ) {
        (Some(ours), _) => (ours.trim().to_string(), "prices.api_url"),
        (None, Some(theirs)) => (
            theirs.trim().to_string(),
            "coordinator price_analysis.api_url",
        ),
        (None, None) => (defaults::PRICE_API_URL.to_string(), "default"),
    };
    let key = if api_url_from == "prices.api_url" {
        "prices.api_url"
    } else {
        "coordinator.config"
    };
    let scheme_ok = api_url.starts_with("http://") || api_url.starts_with("https://");
    if !scheme_ok || api_url.contains(char::is_whitespace) || api_url.contains('#') {
        return Err(err(
            key,
            format!(
                "{api_url:?} is not an http(s) URL; use e.g. {} (or .../api/rce-pln)",
                defaults::PRICE_API_URL
            ),
        ));
    }
    let entity = crate::sources::prices::model::entity_of(&api_url);
    let value_field = match &raw.value_field {
        Some(v) if !v.trim().is_empty() => v.trim().to_string(),
        Some(_) => {
            return Err(err(
                "prices.value_field",
                "is empty; use the row field holding the price, e.g. csdac_pln or rce_pln".into(),
            ))
        }
        None => entity.replace('-', "_"),
    };
    if value_field.is_empty()
        || !value_field
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_')
    {
        return Err(err(
            "prices.value_field",
            format!(
                "{value_field:?} is not a field name; set prices.value_field to e.g. csdac_pln or rce_pln"
            ),
        ));
    }
    let secs = |key: &str, v: Option<i64>, default: u64| {
        seconds(&format!("prices.{key}"), v, default, err)
    };
    let from_text = raw
        .tomorrow_poll_from
        .clone()
        .unwrap_or_else(|| defaults::TOMORROW_POLL_FROM.into());
    let tomorrow_poll_from =
        chrono::NaiveTime::parse_from_str(from_text.trim(), "%H:%M").map_err(|_| {
            err(
                "prices.tomorrow_poll_from",
                format!("{from_text:?} is not a time; use HH:MM in Europe/Warsaw, e.g. 13:30"),
            )
        })?;
    let theirs = coordinator.and_then(|f| f.electricity_tariff.as_ref());
    let mut tariff_error = None;
    let (tariff, tariff_from, tariff_warning) = match (&raw.tariff, theirs) {
        (Some(ours), _) => (
            Tariff::from_yaml(ours, true).map_err(|e| {
                let key = if e.key.is_empty() {
                    "prices.tariff".to_string()
                } else {
                    format!("prices.tariff.{}", e.key)
                };
                err(&key, e.message)
            })?,
            "prices.tariff",
            None,
        ),
        (None, Some(section)) => match Tariff::from_yaml(section, false) {
            Ok(t) => (t, "coordinator electricity_tariff", None),
            Err(e) => {
                tariff_error = coordinator_file.map(|(_, path)| ConfigError {
                    file: path.to_path_buf(),
                    key: format!("electricity_tariff.{}", e.key),
                    message: format!(
                        "{}; fix the coordinator's tariff table or set prices.tariff in our file",
                        e.message
                    ),
                });
                let sc = section
                    .get("sc_component_pln_kwh")
                    .and_then(serde_yaml::Value::as_f64)
                    .unwrap_or(crate::sources::prices::tariff::DEFAULT_SC_COMPONENT);
                (
                    Tariff::market_plus_sc(sc),
                    "coordinator electricity_tariff (unusable: market + SC only)",
                    Some(format!(
                        "the coordinator's electricity_tariff.{e}; final prices are market + SC only (set prices.tariff to override)"
                    )),
                )
            }
        },
        (None, None) => (
            Tariff::builtin(crate::sources::prices::tariff::DEFAULT_TARIFF)
                .expect("the default tariff is built in"),
            "default",
            None,
        ),
    };
    Ok(Prices {
        api_url,
        api_url_from,
        value_field,
        tariff,
        tariff_from,
        tariff_warning,
        tariff_error,
        today_recheck: secs(
            "today_recheck_seconds",
            raw.today_recheck_seconds,
            defaults::TODAY_RECHECK_S,
        )?,
        tomorrow_poll: secs(
            "tomorrow_poll_seconds",
            raw.tomorrow_poll_seconds,
            defaults::TOMORROW_POLL_S,
        )?,
        tomorrow_poll_from,
    })
}
