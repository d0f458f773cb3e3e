//! [`ConfigError`]: which file, which key, what would be accepted; and the turning of a
//! YAML parser error into one that names the key.

use std::fmt;

use super::*;

/// A config problem: which file, which key, and what would be accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    pub file: PathBuf,
    pub key: String,
    pub message: String,
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let msg = self.message.replace(['\n', '\r'], " ");
        if self.key.is_empty() {
            write!(f, "config error in {}: {}", self.file.display(), msg)
        } else {
            write!(
                f,
                "config error in {}: {}: {}",
                self.file.display(),
                self.key,
                msg
            )
        }
    }
}

impl std::error::Error for ConfigError {}

/// Turns a YAML/serde error into a ConfigError whose key is the dotted path, when the
/// parser reported one (`web_server.port: invalid type ...`).
pub(super) fn yaml_error(path: &Path, e: &serde_yaml::Error) -> ConfigError {
    let text = e.to_string();
    let (key, message) = match text.split_once(": ") {
        Some((k, rest)) if !k.contains(' ') && !k.is_empty() => (k.to_string(), rest.to_string()),
        _ => (String::new(), text.clone()),
    };
    let hint = if message.contains("unknown field") {
        "; remove it or fix its spelling (see config/energy-monitor.yaml for every key)"
    } else if message.contains("invalid type") {
        "; see config/energy-monitor.yaml for the expected type"
    } else {
        ""
    };
    let unknown = message
        .split('`')
        .nth(1)
        .filter(|_| message.contains("unknown field"));
    // Name the unknown key itself: `web_server.prot`, or `bogus` at the top level.
    let key = if let (Some(field), false) = (unknown, key.is_empty()) {
        format!("{key}.{field}")
    } else if key.is_empty() {
        message
            .split('`')
            .nth(1)
            .filter(|_| message.contains("unknown field"))
            .unwrap_or("")
            .to_string()
    } else {
        key
    };
    ConfigError {
        file: path.to_path_buf(),
        key,
        message: format!("{message}{hint}"),
    }
}
