//! The configuration error every part reports: which field, and what is wrong with it.
//!
//! A leaf: the parts that compile their own piece of the configuration (keys, issuers, clients)
//! return it without importing the compiler in [`crate::config`].

use std::fmt;

/// A configuration problem, with the path of the field it is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    field: String,
    problem: String,
}

impl ConfigError {
    /// An error about `field` (a path such as `providers[0].issuer`; empty for the whole document).
    pub fn new(field: &str, problem: impl Into<String>) -> ConfigError {
        ConfigError {
            field: field.to_string(),
            problem: problem.into(),
        }
    }

    /// The path of the offending field.
    pub fn field(&self) -> &str {
        &self.field
    }

    /// What is wrong with it.
    pub fn problem(&self) -> &str {
        &self.problem
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.field, self.problem)
        }
    }
}

impl std::error::Error for ConfigError {}
