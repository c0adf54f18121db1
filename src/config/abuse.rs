//! The `abuse` section of the configuration: the failed-secret lockout, the signature-check
//! budget, and how IPv6 sources are grouped; mirrored exactly and compiled into
//! [`AbuseLimits`]. Each limit is off unless its object is present.

use crate::error::ConfigError;
use crate::json::{Document, FromJson, Node, Number, Rest};
use crate::policy::abuse::records::Table;
use crate::policy::abuse::AbuseLimits;
use crate::policy::abuse::{budget, lockout};
use crate::request::source::DEFAULT_IPV6_PREFIX;

/// Longest lockout window: a day.
const MAX_WINDOW_SECONDS: u64 = 86_400;
/// Largest failure limit (per pair, and per source).
const MAX_FAILURES: u32 = 10_000;
/// Slowest and fastest budget refill, in thousandths of a check per second (0.001 and 10^6 per
/// second, the range the message below writes out). The rate is read as the exact decimal the
/// configuration writes ([`crate::json::number`]): the `.wasm` has no float parsing or
/// formatting (issue 22).
const RATE_MILLI: std::ops::RangeInclusive<u64> = 1..=1_000_000_000;
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
    rate: Number,
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
    // Thousandths, exactly: in range when the whole part is, and not above the top with a rest.
    let rate = raw.rate.scaled(3).filter(|rate| {
        RATE_MILLI.contains(&rate.whole)
            && (rate.whole < *RATE_MILLI.end() || rate.rest == Rest::Zero)
    });
    let Some(rate) = rate else {
        return Err(ConfigError::new(
            "abuse.signature_budget.rate",
            "must be a number of checks per second between 0.001 and 1000000",
        ));
    };
    if !(1..=MAX_BURST).contains(&raw.burst) {
        return Err(ConfigError::new(
            "abuse.signature_budget.burst",
            format!("must be between 1 and {MAX_BURST}"),
        ));
    }
    Ok(budget::SignatureBudget {
        // The nearest thousandth, a half up, as `(rate * 1000.0).round()` was; in the range
        // (a whole part below its top rounds up to the top at most).
        rate_milli: rate.round(),
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
        let budget = |rate: &str| {
            let rate: Number = crate::json::read(rate.as_bytes()).unwrap();
            compile_budget(RawBudget { rate, burst: 5 })
        };
        for rate in [
            "0",
            "0.0009",
            "0.00099999999999999999999",
            "2000000",
            "1000000.0000000000000001",
            "1e7",
            "-1",
            "-0.0",
            "1e300",
        ] {
            let error = budget(rate).err().unwrap();
            assert_eq!(error.field(), "abuse.signature_budget.rate", "{rate}");
            assert_eq!(
                error.problem(),
                "must be a number of checks per second between 0.001 and 1000000",
                "{rate}"
            );
        }
        assert_eq!(
            (*RATE_MILLI.start(), *RATE_MILLI.end()),
            (1, 1_000_000_000),
            "the range the message writes out"
        );
        for (rate, milli) in [
            ("0.001", 1),
            ("1e-3", 1),
            ("0.0015", 2),
            ("0.00149999", 1),
            ("2.5", 2500),
            ("2.0005", 2001),
            ("7", 7000),
            ("1000000", 1_000_000_000),
            ("1e6", 1_000_000_000),
            ("999999.9994", 999_999_999),
            ("999999.9999", 1_000_000_000),
            ("999999.9995", 1_000_000_000),
        ] {
            assert_eq!(budget(rate).unwrap().rate_milli, milli, "{rate}");
        }
    }
}
