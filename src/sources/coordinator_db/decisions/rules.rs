//! The category rules and the [`Facts`] of a decision: which fields say selling, wait or
//! charging (first match wins), and the numbers every figure is computed from. The rules
//! read [`Fields`], looked up by key in a decision object or a DB record alike.

use super::*;

const CHARGING_ACTIONS: [&str; 4] = [
    "charge",
    "charging",
    "start_pv_charging",
    "start_grid_charging",
];
const CHARGING_PHRASES: [&str; 5] = [
    "start charging",
    "charging from",
    "pv charging",
    "grid charging",
    "charging started",
];

/// The fields of a decision that its category and facts depend on, however it was read.
#[derive(Debug, Clone, Default)]
pub struct Fields<'a> {
    pub action: Option<&'a str>,
    pub decision: Option<&'a str>,
    pub filename: Option<&'a str>,
    pub reason: Option<&'a str>,
    pub reasoning: Option<&'a str>,
    pub energy_kwh: Option<f64>,
    pub energy_sold_kwh: Option<f64>,
    pub estimated_cost_pln: Option<f64>,
    pub cost_pln: Option<f64>,
    pub estimated_savings_pln: Option<f64>,
    pub savings_pln: Option<f64>,
    pub expected_revenue_pln: Option<f64>,
    pub confidence: Option<f64>,
    pub current_price: Option<f64>,
    pub current_price_pln: Option<f64>,
    pub tariff_zone: Option<&'a str>,
    pub source: Option<&'a str>,
    pub charging_source: Option<&'a str>,
    pub execution_success: Option<bool>,
}

/// A field's value as a decision holds it: text of a DB column, a JSON value of an object,
/// or a null column.
#[derive(Debug, Clone, Copy)]
pub enum Lookup<'a> {
    Text(&'a str),
    Value(&'a Value),
    Other,
}

impl<'a> Lookup<'a> {
    fn text(self) -> Option<&'a str> {
        match self {
            Lookup::Text(t) => Some(t),
            Lookup::Value(v) => v.as_str(),
            Lookup::Other => None,
        }
    }

    fn number(self) -> Option<f64> {
        match self {
            Lookup::Text(t) => t.trim().parse::<f64>().ok().filter(|f| f.is_finite()),
            Lookup::Value(v) => number(Some(v)),
            Lookup::Other => None,
        }
    }

    fn boolean(self) -> Option<bool> {
        match self {
            Lookup::Value(v) => v.as_bool(),
            _ => None,
        }
    }
}

impl<'a> Fields<'a> {
    /// The fields of a decision whose values `get` looks up by key.
    pub fn read(get: impl Fn(&str) -> Option<Lookup<'a>>) -> Fields<'a> {
        let t = |k: &str| get(k).and_then(Lookup::text);
        let n = |k: &str| get(k).and_then(Lookup::number);
        Fields {
            action: t("action"),
            decision: t("decision"),
            filename: t("filename"),
            reason: t("reason"),
            reasoning: t("reasoning"),
            energy_kwh: n("energy_kwh"),
            energy_sold_kwh: n("energy_sold_kwh"),
            estimated_cost_pln: n("estimated_cost_pln"),
            cost_pln: n("cost_pln"),
            estimated_savings_pln: n("estimated_savings_pln"),
            savings_pln: n("savings_pln"),
            expected_revenue_pln: n("expected_revenue_pln"),
            confidence: n("confidence"),
            current_price: n("current_price"),
            current_price_pln: n("current_price_pln"),
            tariff_zone: t("tariff_zone"),
            source: t("source"),
            charging_source: t("charging_source"),
            execution_success: get("execution_success").and_then(Lookup::boolean),
        }
    }

    /// The fields of a decision object.
    pub fn of_object(o: &'a Map<String, Value>) -> Fields<'a> {
        Fields::read(|k| o.get(k).map(Lookup::Value))
    }

    /// The category (rules in the module docs).
    pub fn category(&self) -> Category {
        let action = self.action.unwrap_or("");
        if action == "battery_selling"
            || self.decision == Some("battery_selling")
            || self
                .filename
                .is_some_and(|f| f.contains("battery_selling_decision"))
        {
            return Category::Selling;
        }
        if action == "wait" {
            return Category::Wait;
        }
        if CHARGING_ACTIONS.contains(&action) {
            return Category::Charging;
        }
        let reason = self
            .reason
            .filter(|r| !r.is_empty())
            .or(self.reasoning)
            .unwrap_or("")
            .to_lowercase();
        if CHARGING_PHRASES.iter().any(|p| reason.contains(p)) {
            Category::Charging
        } else {
            Category::Wait
        }
    }

    pub fn facts(&self, at: DateTime<Utc>) -> Facts {
        let category = self.category();
        let (energy, revenue) = match category {
            Category::Selling => (
                self.energy_sold_kwh.or(self.energy_kwh),
                self.expected_revenue_pln.or(self.estimated_savings_pln),
            ),
            _ => (self.energy_kwh, None),
        };
        Facts {
            at,
            category,
            energy_kwh: energy,
            cost_pln: self.estimated_cost_pln.or(self.cost_pln),
            savings_pln: self.estimated_savings_pln.or(self.savings_pln),
            revenue_pln: revenue,
            confidence: self.confidence,
            price: self.current_price.or(self.current_price_pln),
            tariff_zone: self.tariff_zone.map(str::to_string),
            execution_success: self.execution_success,
            charging_source: self.source.or(self.charging_source).map(str::to_string),
        }
    }
}

/// The category of a decision object (rules in the module docs).
pub fn categorise(o: &Map<String, Value>) -> Category {
    Fields::of_object(o).category()
}

/// The facts of a decision object taken at `at`.
pub fn facts_of(o: &Map<String, Value>, at: DateTime<Utc>) -> Facts {
    Fields::of_object(o).facts(at)
}
