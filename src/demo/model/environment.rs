//! The house's surroundings: G12 tariff zones and final prices, the season, the day's
//! weather, the sun's elevation and clear-sky PV output, and the house's load profile.

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike, Utc};

use super::*;

/// G12 zones: `T1` peak (07–13 and 15–22), `T2` off-peak (13–15 and nights).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Zone {
    T1,
    T2,
}

impl Zone {
    pub fn as_str(self) -> &'static str {
        match self {
            Zone::T1 => "T1",
            Zone::T2 => "T2",
        }
    }

    /// The distribution price of the zone, PLN/kWh.
    pub fn distribution(self) -> f64 {
        match self {
            Zone::T1 => G12_PEAK,
            Zone::T2 => G12_OFF_PEAK,
        }
    }
}

/// The G12 zone of a local hour (0–23).
pub fn tariff_zone(local_hour: u32) -> Zone {
    if (7..13).contains(&local_hour) || (15..22).contains(&local_hour) {
        Zone::T1
    } else {
        Zone::T2
    }
}

/// The final price the coordinator computes from a market price: market + SC + distribution.
pub fn final_price(market_pln_mwh: f64, zone: Zone) -> f64 {
    market_pln_mwh / 1000.0 + SC_COMPONENT + zone.distribution()
}

/// 1 in mid-January, 0 in mid-July.
pub fn winterness(date: NaiveDate) -> f64 {
    let doy = date.ordinal() as f64;
    (1.0 + (2.0 * std::f64::consts::PI * (doy - 15.0) / 365.25).cos()) / 2.0
}

/// One day's weather: overall cloudiness and an hourly share of clear-sky irradiance.
#[derive(Debug, Clone)]
pub struct Weather {
    /// 0 clear … 1 overcast.
    pub cloud: f64,
    /// Outdoor temperature at noon, °C.
    pub noon_temp_c: f64,
    transmission: [f64; 25],
}

impl Weather {
    /// Share of clear-sky PV output getting through at a local hour (fractional), 0.05–1.
    pub fn transmission(&self, hour: f64) -> f64 {
        let h = hour.clamp(0.0, 23.999);
        let i = h.floor() as usize;
        let f = h - i as f64;
        self.transmission[i] * (1.0 - f) + self.transmission[i + 1] * f
    }
}

/// The weather of `date` for `seed`: cloudier and colder in winter.
pub fn weather(seed: u64, date: NaiveDate) -> Weather {
    let mut rng = day_rng(seed, date, 1);
    let w = winterness(date);
    let mean = 0.35 + 0.35 * w;
    let cloud = (mean + (rng.unit() - 0.5) * 0.9).clamp(0.0, 1.0);
    let mut transmission = [0.0; 25];
    for t in transmission.iter_mut() {
        *t = (1.0 - cloud * rng.range(0.55, 1.0)).clamp(0.05, 1.0);
    }
    let noon_temp_c = 22.0 - 22.0 * w + rng.range(-4.0, 4.0);
    Weather {
        cloud,
        noon_temp_c,
        transmission,
    }
}

/// The sine of the sun's elevation at `t` over the demo site (negative at night).
pub fn solar_elevation_sin(t: DateTime<Utc>) -> f64 {
    use std::f64::consts::PI;
    let doy = t.ordinal() as f64;
    let decl = 23.44_f64.to_radians() * (2.0 * PI * (284.0 + doy) / 365.0).sin();
    let lat = LAT_DEG.to_radians();
    let utc_h = t.hour() as f64 + t.minute() as f64 / 60.0 + t.second() as f64 / 3600.0;
    let solar_h = utc_h + LON_DEG / 15.0;
    let ha = ((solar_h - 12.0) * 15.0).to_radians();
    lat.sin() * decl.sin() + lat.cos() * decl.cos() * ha.cos()
}

/// Clear-sky PV output at `t`, W.
pub fn clear_sky_pv_w(t: DateTime<Utc>) -> f64 {
    let s = solar_elevation_sin(t);
    if s <= 0.0 {
        return 0.0;
    }
    // Air mass losses near the horizon.
    PV_PEAK_W * 0.9 * s.powf(1.1) * (1.0 - (-12.0 * s).exp())
}

/// The house's typical consumption at a local time, W, before appliance events and noise.
pub fn house_profile_w(local: NaiveDateTime) -> f64 {
    let h = local.hour() as f64 + local.minute() as f64 / 60.0;
    let weekend = local.weekday().number_from_monday() >= 6;
    let g = |mu: f64, sigma: f64, amp: f64| amp * (-((h - mu) / sigma).powi(2) / 2.0).exp();
    let w = winterness(local.date());
    let morning = if weekend {
        g(8.8, 1.2, 700.0)
    } else {
        g(6.9, 0.8, 900.0)
    };
    let midday = if weekend {
        g(13.0, 2.0, 550.0)
    } else {
        g(13.0, 2.0, 200.0)
    };
    let evening = g(19.0, 1.8, 1300.0);
    // A heat pump in winter, working harder at night and in the morning.
    let heating = w * (550.0 + g(5.0, 3.0, 500.0));
    280.0 + morning + midday + evening + heating
}
