//! The `abuse` section of the configuration: the failed-secret lockout, the signature-check
//! budget, and how IPv6 sources are grouped; mirrored exactly and compiled into
//! [`AbuseLimits`]. Each limit is off unless its object is present.

use crate::error::ConfigError;
use crate::json::{Document, FromJson, Node};
use crate::policy::abuse::records::Table;
use crate::policy::abuse::AbuseLimits;
use crate::policy::abuse::{budget, lockout};
use crate::request::source::DEFAULT_IPV6_PREFIX;

/// Longest lockout window: a day.
const MAX_WINDOW_SECONDS: u64 = 86_400;
/// Largest failure limit (per pair, and per source).
const MAX_FAILURES: u32 = 10_000;
/// Fastest budget refill, checks per second. Written out in the message below rather than
/// formatted: `{}` of an f64 alone linked 17 KB of float formatting into the `.wasm`.
const MAX_RATE: f64 = 1_000_000.0;
/// Largest budget burst.
const MAX_BURST: u64 = 1_000_000;
/// How many times `max_failures` a source may fail, across client ids, when
/// `max_failures_per_source` is not given.
const DEFAULT_SOURCE_FACTOR: u32 = 4;

pub(super) struct RawAbuse {
    lockout: Option<RawLockout>,
    signature_budget: Option<RawBudget>,
    ipv6_prefix_length: Option<u8>,
}

impl FromJson for RawAbuse {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields =
            document.fields(node, &["lockout", "signature_budget", "ipv6_prefix_length"])?;
        Ok(RawAbuse {
            lockout: fields.optional("lockout")?,
            signature_budget: fields.optional("signature_budget")?,
            ipv6_prefix_length: fields.optional("ipv6_prefix_length")?,
        })
    }
}

struct RawLockout {
    max_failures: u32,
    window_seconds: u64,
    max_failures_per_source: Option<u32>,
}

impl FromJson for RawLockout {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &["max_failures", "window_seconds", "max_failures_per_source"],
        )?;
        Ok(RawLockout {
            max_failures: fields.required("max_failures")?,
            window_seconds: fields.required("window_seconds")?,
            max_failures_per_source: fields.optional("max_failures_per_source")?,
        })
    }
}

struct RawBudget {
    rate: f64,
    burst: u64,
}

impl FromJson for RawBudget {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["rate", "burst"])?;
        Ok(RawBudget {
            rate: fields.required("rate")?,
            burst: fields.required("burst")?,
        })
    }
}

/// Compiles the `abuse` section (absent: every limit off).
pub(super) fn compile_abuse(raw: Option<RawAbuse>) -> Result<AbuseLimits, ConfigError> {
    let Some(raw) = raw else {
        return Ok(AbuseLimits::default());
    };
    let ipv6_prefix = raw.ipv6_prefix_length.unwrap_or(DEFAULT_IPV6_PREFIX);
    if !(1..=128).contains(&ipv6_prefix) {
        return Err(ConfigError::new(
            "abuse.ipv6_prefix_length",
            "must be between 1 and 128",
        ));
    }
    let lockout = raw.lockout.map(compile_lockout).transpose()?;
    let signature_budget = raw.signature_budget.map(compile_budget).transpose()?;
    Ok(AbuseLimits {
        lockout,
        signature_budget,
        ipv6_prefix,
    })
}

fn compile_lockout(raw: RawLockout) -> Result<lockout::Lockout, ConfigError> {
    if !(1..=MAX_FAILURES).contains(&raw.max_failures) {
        return Err(ConfigError::new(
            "abuse.lockout.max_failures",
            format!("must be between 1 and {MAX_FAILURES}"),
        ));
    }
    if !(1..=MAX_WINDOW_SECONDS).contains(&raw.window_seconds) {
        return Err(ConfigError::new(
            "abuse.lockout.window_seconds",
            format!("must be between 1 and {MAX_WINDOW_SECONDS}"),
        ));
    }
    let per_source = raw.max_failures_per_source.unwrap_or_else(|| {
        raw.max_failures
            .saturating_mul(DEFAULT_SOURCE_FACTOR)
            .min(MAX_FAILURES)
    });
    if !(raw.max_failures..=MAX_FAILURES).contains(&per_source) {
        return Err(ConfigError::new(
            "abuse.lockout.max_failures_per_source",
            format!("must be between max_failures and {MAX_FAILURES}"),
        ));
    }
    Ok(lockout::Lockout {
        max_failures: raw.max_failures,
        max_failures_per_source: per_source,
        window_seconds: raw.window_seconds,
        table: Table {
            name: "edge-auth/lockout".into(),
            buckets: lockout::BUCKETS,
            per_bucket: lockout::PER_BUCKET,
        },
    })
}

fn compile_budget(raw: RawBudget) -> Result<budget::SignatureBudget, ConfigError> {
    if !(raw.rate.is_finite() && raw.rate >= 0.001 && raw.rate <= MAX_RATE) {
        return Err(ConfigError::new(
            "abuse.signature_budget.rate",
            "must be a number of checks per second between 0.001 and 1000000",
        ));
    }
    if !(1..=MAX_BURST).contains(&raw.burst) {
        return Err(ConfigError::new(
            "abuse.signature_budget.burst",
            format!("must be between 1 and {MAX_BURST}"),
        ));
    }
    // In range by the check above: at most 10^9 thousandths per second.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let rate_milli = (raw.rate * 1000.0).round() as u64;
    Ok(budget::SignatureBudget {
        rate_milli: rate_milli.max(1),
        burst: raw.burst,
        table: Table {
            name: "edge-auth/budget".into(),
            buckets: budget::BUCKETS,
            per_bucket: budget::PER_BUCKET,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_rate_message_names_the_limit_the_check_uses() {
        for rate in [0.0, 0.000_9, MAX_RATE * 2.0, f64::NAN] {
            let error = compile_budget(RawBudget { rate, burst: 5 }).err().unwrap();
            assert_eq!(error.field(), "abuse.signature_budget.rate");
            assert_eq!(
                error.problem(),
                format!("must be a number of checks per second between 0.001 and {MAX_RATE}"),
            );
        }
        assert!(compile_budget(RawBudget {
            rate: MAX_RATE,
            burst: 5
        })
        .is_ok());
    }
}
