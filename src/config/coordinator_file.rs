//! The coordinator's own `master_coordinator_config.yaml`: someone else's file, so only the
//! sections we understand are read, and unknown keys there are ignored.

use super::*;

/// What we take from the coordinator's `master_coordinator_config.yaml`.
#[derive(Debug, Clone, Default)]
pub struct CoordinatorFile {
    /// `price_analysis.api_url`
    pub price_api_url: Option<String>,
    /// `data_storage.database_storage.sqlite.path`
    pub database_path: Option<String>,
    /// The whole `electricity_tariff` section, parsed by the price source.
    pub electricity_tariff: Option<serde_yaml::Value>,
}

/// Reads the sections we understand from the coordinator's YAML; everything else there is
/// ignored.
pub(super) fn read_coordinator_file(path: &Path) -> Result<CoordinatorFile, String> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        format!(
            "cannot read {} ({e}); fix the path or remove the key",
            path.display()
        )
    })?;
    let doc: serde_yaml::Value = serde_yaml::from_str(&text).map_err(|e| {
        format!(
            "{} is not valid YAML ({e}); fix the file or remove the key",
            path.display()
        )
    })?;
    let get = |keys: &[&str]| -> Option<serde_yaml::Value> {
        let mut v = &doc;
        for k in keys {
            v = v.get(*k)?;
        }
        Some(v.clone())
    };
    let string_at = |keys: &[&str]| -> Result<Option<String>, String> {
        match get(keys) {
            None | Some(serde_yaml::Value::Null) => Ok(None),
            Some(serde_yaml::Value::String(s)) => Ok(Some(s)),
            Some(other) => Err(format!(
                "{}: {} should be a string, found {:?}; fix the coordinator's file or remove the key",
                path.display(),
                keys.join("."),
                other
            )),
        }
    };
    Ok(CoordinatorFile {
        price_api_url: string_at(&["price_analysis", "api_url"])?,
        database_path: string_at(&["data_storage", "database_storage", "sqlite", "path"])?,
        electricity_tariff: get(&["electricity_tariff"]),
    })
}
