//! The configuration of sender-constrained tokens and of the protected-resource metadata: the
//! `dpop`, `mtls` and `resource_metadata` blocks, and the `sender_constraint` names providers and
//! rules use. Parsed as strictly as the rest (`deny_unknown_fields`), each error naming its field.
//!
//! `dpop.nonce_keys` are secrets: they are read as plain JSON (not through serde's typed errors,
//! which quote the value they refused) and no error about them repeats any of their text.

use crate::error::ConfigError;
use crate::json::{Document, Fields, FromJson, Node, Value};
use crate::jwt::algorithm::{Algorithm, KeyFamily};
use crate::jwt::confirmation::SenderConstraint;
use crate::jwt::dpop::ProofRules;
use crate::policy::sender::replay::ReplayLimits;
use crate::policy::sender::{CertificateSource, DpopSettings, MtlsSettings, SenderSettings};
use crate::request::credential::NonceKey;

/// Default age a proof may have (RFC 9449 leaves it to the server; a minute covers retries).
const DEFAULT_PROOF_MAX_AGE_SECONDS: u64 = 60;
/// Longest window accepted: the replay cache must hold every proof of the window.
const MAX_PROOF_MAX_AGE_SECONDS: u64 = 600;
/// Default clock tolerance for a proof's `iat`.
const DEFAULT_PROOF_CLOCK_SKEW_SECONDS: u64 = 5;
/// Largest clock tolerance for proofs.
const MAX_PROOF_CLOCK_SKEW_SECONDS: u64 = 60;
/// Default number of proofs the replay cache holds (all workers together).
const DEFAULT_REPLAY_ENTRIES: usize = 16_384;
/// Smallest replay cache.
const MIN_REPLAY_ENTRIES: usize = 1024;
/// Largest replay cache: 24 bytes an entry, in shared data (24 MiB at most).
const MAX_REPLAY_ENTRIES: usize = 1_048_576;
/// Entries per shared-data key. Recording a proof copies its shard out of and back into shared
/// data, so shards stay small (3 KiB) whatever the size of the cache, and more shards also
/// mean fewer compare-and-swap collisions between workers.
const REPLAY_ENTRIES_PER_SHARD: usize = 128;
/// Shortest and longest server-nonce window.
const NONCE_LIFETIME_SECONDS: std::ops::RangeInclusive<u64> = 10..=3600;
/// Most nonce keys listed: the one issuing, the next one rolling out and the previous one still
/// accepted leave one to spare; each is one more MAC per refused nonce.
const MAX_NONCE_KEYS: usize = 4;
/// What every nonce-key error points to.
const NONCE_KEY_HINT: &str = "edge-auth keygen --nonce-key makes one";
/// Proof algorithms when none are listed.
const DEFAULT_PROOF_ALGORITHMS: [Algorithm; 2] = [Algorithm::ES256, Algorithm::EdDSA];

/// `dpop`: DPoP-bound tokens and their proofs.
#[derive(Default)]
pub(super) struct RawDpop {
    algorithms: Option<Vec<String>>,
    max_age_seconds: Option<u64>,
    clock_skew_seconds: Option<u64>,
    replay_cache_entries: Option<usize>,
    external_origin: Option<String>,
    nonce_lifetime_seconds: Option<u64>,
    /// Kept as JSON until compiled: serde's type errors would quote a key.
    nonce_keys: Option<Value>,
}

impl FromJson for RawDpop {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "algorithms",
                "max_age_seconds",
                "clock_skew_seconds",
                "replay_cache_entries",
                "external_origin",
                "nonce_lifetime_seconds",
                "nonce_keys",
            ],
        )?;
        let mut raw = RawDpop::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawDpop {
    /// Reads the fields in place, as `config::RawConfig::read` does: after an error the
    /// caller drops the whole in one place, not each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.algorithms = fields.optional("algorithms")?;
        self.max_age_seconds = fields.optional("max_age_seconds")?;
        self.clock_skew_seconds = fields.optional("clock_skew_seconds")?;
        self.replay_cache_entries = fields.optional("replay_cache_entries")?;
        self.external_origin = fields.optional("external_origin")?;
        self.nonce_lifetime_seconds = fields.optional("nonce_lifetime_seconds")?;
        self.nonce_keys = fields.optional("nonce_keys")?;
        Ok(())
    }
}

/// `mtls`: certificate-bound tokens.
pub(super) struct RawMtls {
    certificate_source: Option<String>,
}

impl FromJson for RawMtls {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["certificate_source"])?;
        Ok(RawMtls {
            certificate_source: fields.optional("certificate_source")?,
        })
    }
}

/// `resource_metadata`: the RFC 9728 document.
pub(super) struct RawResourceMetadata {
    pub(super) resource: String,
    pub(super) documentation: Option<String>,
}

impl FromJson for RawResourceMetadata {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["resource", "documentation"])?;
        Ok(RawResourceMetadata {
            resource: fields.required("resource")?,
            documentation: fields.optional("documentation")?,
        })
    }
}

/// Compiles the `dpop` and `mtls` blocks.
pub(super) fn compile_sender(
    dpop: Option<RawDpop>,
    mtls: Option<RawMtls>,
) -> Result<SenderSettings, ConfigError> {
    Ok(SenderSettings {
        dpop: dpop.map(compile_dpop).transpose()?,
        mtls: mtls.map(compile_mtls).transpose()?,
    })
}

#[inline(never)]
fn compile_dpop(raw: RawDpop) -> Result<DpopSettings, ConfigError> {
    let algorithms = match raw.algorithms {
        None => DEFAULT_PROOF_ALGORITHMS.to_vec(),
        Some(names) if names.is_empty() => {
            return Err(ConfigError::new(
                "dpop.algorithms",
                "must list at least one algorithm (omit it for ES256 and EdDSA)",
            ))
        }
        Some(names) => {
            let mut algorithms = Vec::with_capacity(names.len());
            for (index, name) in names.iter().enumerate() {
                let field = format!("dpop.algorithms[{index}]");
                let alg = Algorithm::from_name(name).ok_or_else(|| {
                    ConfigError::new(&field, format!("unknown algorithm {name:?}"))
                })?;
                if alg.key_family() == KeyFamily::Secret {
                    return Err(ConfigError::new(
                        &field,
                        format!("{name} is symmetric: proofs are signed with a public key"),
                    ));
                }
                if !algorithms.contains(&alg) {
                    algorithms.push(alg);
                }
            }
            algorithms
        }
    };
    let max_age_seconds = raw.max_age_seconds.unwrap_or(DEFAULT_PROOF_MAX_AGE_SECONDS);
    if max_age_seconds == 0 || max_age_seconds > MAX_PROOF_MAX_AGE_SECONDS {
        return Err(ConfigError::new(
            "dpop.max_age_seconds",
            format!("must be 1 to {MAX_PROOF_MAX_AGE_SECONDS} seconds"),
        ));
    }
    let clock_skew_seconds = raw
        .clock_skew_seconds
        .unwrap_or(DEFAULT_PROOF_CLOCK_SKEW_SECONDS);
    if clock_skew_seconds > MAX_PROOF_CLOCK_SKEW_SECONDS {
        return Err(ConfigError::new(
            "dpop.clock_skew_seconds",
            format!("at most {MAX_PROOF_CLOCK_SKEW_SECONDS} seconds"),
        ));
    }
    let entries = raw.replay_cache_entries.unwrap_or(DEFAULT_REPLAY_ENTRIES);
    if !(MIN_REPLAY_ENTRIES..=MAX_REPLAY_ENTRIES).contains(&entries) {
        return Err(ConfigError::new(
            "dpop.replay_cache_entries",
            format!("must be {MIN_REPLAY_ENTRIES} to {MAX_REPLAY_ENTRIES}"),
        ));
    }
    let external_origin = raw
        .external_origin
        .map(|origin| {
            let origin = origin.trim_end_matches('/').to_string();
            let valid = origin.split_once("://").is_some_and(|(scheme, authority)| {
                (scheme == "https" || scheme == "http")
                    && !authority.is_empty()
                    && !authority.contains(['/', '?', '#', '@'])
                    && !authority.chars().any(|c| c.is_control() || c == ' ')
            });
            if valid {
                Ok(origin)
            } else {
                Err(ConfigError::new(
                    "dpop.external_origin",
                    "must be scheme://host[:port] (https or http), without a path",
                ))
            }
        })
        .transpose()?;
    let (nonce_lifetime_seconds, nonce_keys) =
        compile_nonces(raw.nonce_lifetime_seconds, raw.nonce_keys)?;
    Ok(DpopSettings {
        rules: ProofRules {
            algorithms,
            max_age_seconds,
            clock_skew_seconds,
        },
        replay: ReplayLimits {
            shards: entries.div_ceil(REPLAY_ENTRIES_PER_SHARD),
            entries_per_shard: REPLAY_ENTRIES_PER_SHARD,
        },
        external_origin,
        nonce_lifetime_seconds,
        nonce_keys,
    })
}

/// `dpop.nonce_lifetime_seconds` and `dpop.nonce_keys`: server nonces on or off, and the
/// configured keys (none: the workers' random key, one Envoy's own).
#[inline(never)]
fn compile_nonces(
    nonce_lifetime_seconds: Option<u64>,
    keys_json: Option<Value>,
) -> Result<(Option<u64>, Vec<NonceKey>), ConfigError> {
    if nonce_lifetime_seconds.is_some_and(|lifetime| !NONCE_LIFETIME_SECONDS.contains(&lifetime)) {
        return Err(ConfigError::new(
            "dpop.nonce_lifetime_seconds",
            format!(
                "must be {} to {} seconds (omit it for no server nonces)",
                NONCE_LIFETIME_SECONDS.start(),
                NONCE_LIFETIME_SECONDS.end()
            ),
        ));
    }
    let nonce_keys = match keys_json {
        None => Vec::new(),
        Some(_) if nonce_lifetime_seconds.is_none() => {
            return Err(ConfigError::new(
                "dpop.nonce_keys",
                "needs dpop.nonce_lifetime_seconds: without it there are no server nonces",
            ))
        }
        Some(keys) => compile_nonce_keys(&keys)?,
    };
    Ok((nonce_lifetime_seconds, nonce_keys))
}

/// `dpop.nonce_keys`: 1 to [`MAX_NONCE_KEYS`] distinct keys, each 32 bytes in base64url without
/// padding and not all zeros (a placeholder). Errors name the entry, never its text.
fn compile_nonce_keys(raw: &Value) -> Result<Vec<NonceKey>, ConfigError> {
    let field = "dpop.nonce_keys";
    let Value::Array(entries) = raw else {
        return Err(ConfigError::new(
            field,
            format!("must be a list of keys in base64url ({NONCE_KEY_HINT})"),
        ));
    };
    if entries.is_empty() || entries.len() > MAX_NONCE_KEYS {
        return Err(ConfigError::new(
            field,
            format!(
                "must list 1 to {MAX_NONCE_KEYS} keys, the first issuing nonces \
                 (omit it for a random key per Envoy)"
            ),
        ));
    }
    let mut keys: Vec<NonceKey> = Vec::with_capacity(entries.len());
    for (index, entry) in entries.iter().enumerate() {
        let field = format!("{field}[{index}]");
        let key = entry
            .as_str()
            .and_then(crate::base64::decode_url)
            .and_then(|bytes| NonceKey::from_bytes(&bytes))
            .ok_or_else(|| {
                ConfigError::new(
                    &field,
                    format!(
                        "must be {} bytes in base64url ({NONCE_KEY_HINT})",
                        NonceKey::BYTES
                    ),
                )
            })?;
        if key.as_bytes().iter().all(|&byte| byte == 0) {
            return Err(ConfigError::new(
                &field,
                format!("is all zeros, a placeholder ({NONCE_KEY_HINT})"),
            ));
        }
        if let Some(first) = keys.iter().position(|known| *known == key) {
            return Err(ConfigError::new(
                &field,
                format!("is the same key as dpop.nonce_keys[{first}]"),
            ));
        }
        keys.push(key);
    }
    Ok(keys)
}

#[inline(never)]
fn compile_mtls(raw: RawMtls) -> Result<MtlsSettings, ConfigError> {
    let certificate_source = match raw.certificate_source.as_deref() {
        None | Some("connection") => CertificateSource::Connection,
        Some("x-forwarded-client-cert") => CertificateSource::ForwardedHeader,
        Some(other) => {
            return Err(ConfigError::new(
                "mtls.certificate_source",
                format!("{other:?} is not one of connection, x-forwarded-client-cert"),
            ))
        }
    };
    Ok(MtlsSettings { certificate_source })
}

/// Parses a `sender_constraint` value at `field`, checking that the mechanisms it names are
/// configured.
pub(super) fn sender_constraint(
    name: Option<&str>,
    field: &str,
    settings: &SenderSettings,
) -> Result<Option<SenderConstraint>, ConfigError> {
    let Some(name) = name else {
        return Ok(None);
    };
    let constraint = SenderConstraint::from_name(name).ok_or_else(|| {
        ConfigError::new(
            field,
            format!("{name:?} is not one of dpop, mtls, either, none"),
        )
    })?;
    let missing = match constraint {
        SenderConstraint::Dpop if settings.dpop.is_none() => Some("a dpop block"),
        SenderConstraint::Mtls if settings.mtls.is_none() => Some("an mtls block"),
        SenderConstraint::Either if settings.dpop.is_none() && settings.mtls.is_none() => {
            Some("a dpop or an mtls block")
        }
        _ => None,
    };
    match missing {
        Some(block) => Err(ConfigError::new(field, format!("{name} needs {block}"))),
        None => Ok(Some(constraint)),
    }
}
