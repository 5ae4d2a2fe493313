//! Credentials in configuration: one scheme for every secret.
//!
//! A secret key (`clickhouse.password`, `kafka.sasl_password`, `connectors.<name>.token`) is
//! never written in the configuration file, which lands in ConfigMaps and repositories. It
//! comes from the environment like every other override (`ATTRIB_CLICKHOUSE__PASSWORD`), or from
//! the file its `<key>_file` sibling names (a mounted Kubernetes or Docker secret). The value
//! is held as a [`Secret`], which prints as `***` and cannot be serialized, so no log line,
//! error or `validate --print` shows it.

use std::fmt;

/// A credential's value, or none.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Option<String>);

/// A secret that could not be read, or was given twice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecretError(pub String);

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for SecretError {}

impl Secret {
    /// A secret holding `value`; an empty value is no secret (an unset variable in a template).
    pub fn new(value: impl Into<String>) -> Secret {
        let value = value.into();
        Secret((!value.is_empty()).then_some(value))
    }

    pub fn is_set(&self) -> bool {
        self.0.is_some()
    }

    /// The value, for the one place that sends it (a client's credentials).
    pub fn expose(&self) -> Option<&str> {
        self.0.as_deref()
    }

    /// This secret, or the content of `file` (its path; empty: none) with the trailing line
    /// break removed. `key` names the secret in errors (`clickhouse.password`): giving both is
    /// an error, as is a file that cannot be read or is empty.
    pub fn or_file(&self, file: &str, key: &str) -> Result<Secret, SecretError> {
        let file = file.trim();
        if file.is_empty() {
            return Ok(self.clone());
        }
        if self.is_set() {
            return Err(SecretError(format!("{key} is set both directly and by {key}_file ({file}): set one")));
        }
        let text = std::fs::read_to_string(file).map_err(|e| SecretError(format!("{key}_file {file}: {e}")))?;
        let value = text.trim_end_matches(['\n', '\r']);
        if value.is_empty() {
            return Err(SecretError(format!("{key}_file {file} is empty")));
        }
        Ok(Secret::new(value))
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.is_set() { "Secret(***)" } else { "Secret(unset)" })
    }
}

impl<'de> serde::Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        String::deserialize(d).map(Secret::new)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Section {
        #[serde(default)]
        password: Secret,
    }

    #[test]
    fn a_secret_never_prints_and_empty_means_unset() {
        let s: Section = toml::from_str("password = \"hunter2\"").unwrap();
        assert_eq!(s.password.expose(), Some("hunter2"));
        assert!(!format!("{s:?}").contains("hunter2"), "{s:?}");
        let empty: Section = toml::from_str("password = \"\"").unwrap();
        assert!(!empty.password.is_set());
        let absent: Section = toml::from_str("").unwrap();
        assert!(!absent.password.is_set());
    }

    #[test]
    fn a_file_gives_the_secret_without_its_line_break_and_mistakes_name_the_key() {
        let dir = std::env::temp_dir().join(format!("attrib-secret-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("pw");
        std::fs::write(&file, "s3cret\n").unwrap();
        let path = file.to_str().unwrap();
        assert_eq!(Secret::default().or_file(path, "clickhouse.password").unwrap().expose(), Some("s3cret"));
        assert_eq!(Secret::new("x").or_file("", "k").unwrap().expose(), Some("x"));
        let both = Secret::new("x").or_file(path, "clickhouse.password").unwrap_err().to_string();
        assert!(both.contains("clickhouse.password") && both.contains("set one") && !both.contains("s3cret"), "{both}");
        let missing = Secret::default().or_file("/nonexistent/pw", "kafka.sasl_password").unwrap_err().to_string();
        assert!(missing.contains("kafka.sasl_password_file /nonexistent/pw"), "{missing}");
        std::fs::write(&file, "\n").unwrap();
        assert!(Secret::default().or_file(path, "k").unwrap_err().to_string().contains("is empty"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
