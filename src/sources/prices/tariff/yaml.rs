//! Reading a tariff from an `electricity_tariff`-shaped YAML section ([`Tariff::from_yaml`]):
//! the four tariff types, the coordinator's seasonal layout and the short spelling, and
//! errors that name the key.

use serde_yaml::Value;

use super::*;

/// The coordinator's season hours: summer peak 7-9 and 17-21, off-peak 9-17; winter peak
/// 7-10 and 15-21, off-peak 10-15; night otherwise.
const SUMMER_HOURS: ([(u32, u32); 2], (u32, u32)) = ([(7, 9), (17, 21)], (9, 17));
const WINTER_HOURS: ([(u32, u32); 2], (u32, u32)) = ([(7, 10), (15, 21)], (10, 15));

impl Tariff {
    /// Reads an `electricity_tariff`-shaped section. `strict` rejects unknown top-level keys
    /// (our own config); the coordinator's file is read leniently.
    pub fn from_yaml(section: &Value, strict: bool) -> Result<Tariff, TariffError> {
        let err = |key: &str, message: String| TariffError {
            key: key.to_string(),
            message,
        };
        let map = match section {
            Value::Null => return Ok(Tariff::builtin(DEFAULT_TARIFF).expect("default exists")),
            Value::Mapping(m) => m,
            other => {
                return Err(err(
                    "",
                    format!("should be a mapping with tariff_type, sc_component_pln_kwh and distribution_pricing, found {other:?}"),
                ))
            }
        };
        if strict {
            for k in map.keys() {
                let name = k.as_str().unwrap_or("");
                if ![
                    "tariff_type",
                    "sc_component_pln_kwh",
                    "distribution_pricing",
                ]
                .contains(&name)
                {
                    return Err(err(
                        name,
                        "unknown key; allowed: tariff_type, sc_component_pln_kwh, distribution_pricing"
                            .into(),
                    ));
                }
            }
        }
        let name = match section.get("tariff_type") {
            None | Some(Value::Null) => DEFAULT_TARIFF.to_string(),
            Some(Value::String(s)) => s.trim().to_ascii_lowercase(),
            Some(other) => {
                return Err(err(
                    "tariff_type",
                    format!("should be a name such as g12, found {other:?}"),
                ))
            }
        };
        let sc_component = match section.get("sc_component_pln_kwh") {
            None | Some(Value::Null) => DEFAULT_SC_COMPONENT,
            Some(v) => number(v, "sc_component_pln_kwh")?,
        };
        let table = section
            .get("distribution_pricing")
            .and_then(|d| d.get(name.as_str()))
            .filter(|v| !v.is_null());
        let pricing = match table {
            Some(t) => pricing_from(t, &name, &format!("distribution_pricing.{name}"))?,
            None => match Tariff::builtin(&name) {
                Some(b) => b.pricing,
                None => {
                    return Err(err(
                        &format!("distribution_pricing.{name}"),
                        format!(
                            "no prices for tariff {name:?}; add its table (built in: g11, g12, g12as, g14dynamic)"
                        ),
                    ))
                }
            },
        };
        Ok(Tariff {
            name,
            sc_component,
            pricing,
        })
    }
}

fn number(v: &Value, key: &str) -> Result<f64, TariffError> {
    let n = match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    match n {
        Some(n) if n.is_finite() && n.abs() < 100.0 => Ok(n),
        _ => Err(TariffError {
            key: key.to_string(),
            message: format!("should be a price in PLN/kWh such as 0.3566, found {v:?}"),
        }),
    }
}

fn hour(v: &Value, key: &str) -> Result<u32, TariffError> {
    let h = match v {
        Value::Number(n) => n.as_u64().map(|h| h as u32),
        Value::String(s) => s.split(':').next().and_then(|h| h.trim().parse().ok()),
        _ => None,
    };
    match h {
        Some(h) if h <= 24 => Ok(h),
        _ => Err(TariffError {
            key: key.to_string(),
            message: format!("should be an hour from 0 to 24, found {v:?}"),
        }),
    }
}

fn required<'a>(v: &'a Value, path: &[&str], base: &str) -> Result<&'a Value, TariffError> {
    let mut cur = v;
    for p in path {
        cur = cur.get(*p).ok_or_else(|| TariffError {
            key: format!("{base}.{}", path.join(".")),
            message: "missing".into(),
        })?;
    }
    Ok(cur)
}

fn range(v: &Value, key: &str, default: (u32, u32)) -> Result<(u32, u32), TariffError> {
    if v.is_null() {
        return Ok(default);
    }
    let s = v
        .get("start")
        .map(|s| hour(s, &format!("{key}.start")))
        .transpose()?;
    let e = v
        .get("end")
        .map(|e| hour(e, &format!("{key}.end")))
        .transpose()?;
    Ok((s.unwrap_or(default.0), e.unwrap_or(default.1)))
}

/// The `[start, end)` hour ranges of a zone; a range that wraps midnight (21-7) is split.
fn push_hours(out: &mut Vec<(u32, u32)>, (s, e): (u32, u32)) {
    if s <= e {
        out.push((s, e));
    } else {
        out.push((s, 24));
        out.push((0, e));
    }
}

/// `seasons.<season>.time_zones`: zones named `day_peak*` (or `peak*`), `day_off_peak*`
/// (or `off_peak*`) and `night*` (every other hour); `None` when absent.
#[allow(
    clippy::type_complexity,
    reason = "the peak and off-peak hour ranges, named in the doc comment"
)]
fn time_zones(
    v: &Value,
    key: &str,
) -> Result<Option<(Vec<(u32, u32)>, Vec<(u32, u32)>)>, TariffError> {
    let map = match v {
        Value::Null => return Ok(None),
        Value::Mapping(m) => m,
        _ => {
            return Err(TariffError {
                key: key.to_string(),
                message:
                    "should be a mapping of zones such as day_peak_morning: {start: 7, end: 10}"
                        .into(),
            })
        }
    };
    let (mut peak, mut off_peak) = (Vec::new(), Vec::new());
    for (k, zone) in map {
        let name = k.as_str().unwrap_or("");
        let zkey = format!("{key}.{name}");
        let hours = range(zone, &zkey, (25, 25))?;
        if hours.0 > 24 || hours.1 > 24 {
            return Err(TariffError {
                key: zkey,
                message: "should be {start: H, end: H} with hours from 0 to 24".into(),
            });
        }
        if name.starts_with("day_off_peak") || name.starts_with("off_peak") {
            push_hours(&mut off_peak, hours);
        } else if name.starts_with("day_peak") || name.starts_with("peak") {
            push_hours(&mut peak, hours);
        } else if !name.starts_with("night") {
            return Err(TariffError {
                key: zkey,
                message: "is not a zone; expected day_peak..., day_off_peak... or night".into(),
            });
        }
    }
    peak.sort_unstable();
    off_peak.sort_unstable();
    Ok(Some((peak, off_peak)))
}

/// `(month, day)` from `start_month`/`start_day` (or `end_...`) of a season.
fn month_day(
    v: &Value,
    key: &str,
    which: &str,
    default: (u32, u32),
) -> Result<(u32, u32), TariffError> {
    let part = |name: &str, max: u32, d: u32| -> Result<u32, TariffError> {
        let k = format!("{which}_{name}");
        match v.get(k.as_str()) {
            None | Some(Value::Null) => Ok(d),
            Some(x) => x
                .as_u64()
                .filter(|n| (1..=u64::from(max)).contains(n))
                .map(|n| n as u32)
                .ok_or_else(|| TariffError {
                    key: format!("{key}.{k}"),
                    message: format!("should be a {name} number from 1 to {max}, found {x:?}"),
                }),
        }
    };
    Ok((part("month", 12, default.0)?, part("day", 31, default.1)?))
}

fn pricing_from(t: &Value, name: &str, base: &str) -> Result<Pricing, TariffError> {
    let kind = t.get("type").and_then(Value::as_str).unwrap_or("");
    let num_at = |path: &[&str]| -> Result<f64, TariffError> {
        number(
            required(t, path, base)?,
            &format!("{base}.{}", path.join(".")),
        )
    };
    match kind {
        "static" => Ok(Pricing::Static {
            price: num_at(&["price"])?,
        }),
        "time_based" => {
            let peak_hours = range(
                t.get("peak_hours").unwrap_or(&Value::Null),
                &format!("{base}.peak_hours"),
                (6, 22),
            )?;
            let mut windows = Vec::new();
            if let Some(list) = t.get("off_peak_windows") {
                let items = list.as_sequence().ok_or_else(|| TariffError {
                    key: format!("{base}.off_peak_windows"),
                    message: "should be a list of {start, end} hours".into(),
                })?;
                for (i, w) in items.iter().enumerate() {
                    windows.push(range(
                        w,
                        &format!("{base}.off_peak_windows[{i}]"),
                        (0, 0),
                    )?);
                }
            }
            // G12w: Saturdays, Sundays and public holidays are off-peak all day.
            let free_days_off_peak = match t.get("free_days") {
                None | Some(Value::Null) => name == "g12w",
                Some(Value::String(v)) if v == "off_peak" => true,
                Some(Value::String(v)) if v == "as_working_days" => false,
                Some(other) => {
                    return Err(TariffError {
                        key: format!("{base}.free_days"),
                        message: format!(
                            "should be off_peak (weekends and public holidays off-peak all day) or as_working_days, found {other:?}"
                        ),
                    })
                }
            };
            Ok(Pricing::TimeBased {
                peak: num_at(&["prices", "peak"])?,
                off_peak: num_at(&["prices", "off_peak"])?,
                peak_hours,
                off_peak_windows: windows,
                free_days_off_peak,
            })
        }
        "seasonal_time_based" => {
            // A zone price under either spelling: the coordinator's `day_peak` or `peak`.
            let zone_price = |season: &str, names: &[&str]| -> Result<f64, TariffError> {
                let key = |n: &str| format!("{base}.prices.working_days.{season}.{n}");
                let given: Vec<(&str, &Value)> = names
                    .iter()
                    .filter_map(|n| {
                        let v = t.get("prices")?.get("working_days")?.get(season)?.get(*n)?;
                        Some((*n, v))
                    })
                    .collect();
                match given.as_slice() {
                    [(n, v)] => number(v, &key(n)),
                    [] => Err(TariffError {
                        key: key(names[0]),
                        message: format!(
                            "missing; expected day_peak, day_off_peak and night (or peak, off_peak, night) in PLN/kWh under prices.working_days.{season}"
                        ),
                    }),
                    _ => Err(TariffError {
                        key: key(names[names.len() - 1]),
                        message: format!("given twice (also as {}); keep one", names[0]),
                    }),
                }
            };
            let seasons = t.get("seasons").unwrap_or(&Value::Null);
            let season = |name: &str,
                          default: ([(u32, u32); 2], (u32, u32))|
             -> Result<Season, TariffError> {
                let key = format!("{base}.seasons.{name}.time_zones");
                let zones = seasons
                    .get(name)
                    .and_then(|s| s.get("time_zones"))
                    .unwrap_or(&Value::Null);
                let (peak_hours, off_peak_hours) = time_zones(zones, &key)?
                    .unwrap_or_else(|| (default.0.to_vec(), vec![default.1]));
                Ok(Season {
                    prices: ZonePrices {
                        peak: zone_price(name, &["day_peak", "peak"])?,
                        off_peak: zone_price(name, &["day_off_peak", "off_peak"])?,
                        night: zone_price(name, &["night"])?,
                    },
                    peak_hours,
                    off_peak_hours,
                })
            };
            let summer_def = seasons.get("summer").unwrap_or(&Value::Null);
            let skey = format!("{base}.seasons.summer");
            Ok(Pricing::Seasonal {
                free_days: num_at(&["prices", "free_days", "all_hours"])?,
                summer: season("summer", SUMMER_HOURS)?,
                winter: season("winter", WINTER_HOURS)?,
                summer_from: month_day(summer_def, &skey, "start", (4, 1))?,
                summer_to: month_day(summer_def, &skey, "end", (9, 30))?,
            })
        }
        "kompas_based" => Ok(Pricing::Kompas {
            fallback: num_at(&["fallback_price"])?,
        }),
        other => Err(TariffError {
            key: format!("{base}.type"),
            message: format!(
                "{other:?} is not a tariff type; use static, time_based, seasonal_time_based or kompas_based"
            ),
        }),
    }
}
