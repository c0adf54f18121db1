//! The `fleet` section of the configuration: the rate limit service the Envoys of a fleet
//! share, and which of edge-auth's memories it keeps (DPoP proofs, failed secrets); mirrored
//! exactly and compiled into [`FleetSettings`]. Off unless present.

use crate::error::ConfigError;
use crate::fleet::{FleetSettings, OnUnavailable};
use crate::json::{Document, Fields, FromJson, Node};

/// The rate limit domain unless configured.
const DEFAULT_DOMAIN: &str = "edge-auth";
/// How long a call may take unless configured: a request that needs one waits at most this.
const DEFAULT_TIMEOUT_MS: u64 = 100;
/// Longest call timeout.
const MAX_TIMEOUT_MS: u64 = 5_000;

#[derive(Default)]
pub(super) struct RawFleet {
    cluster: String,
    domain: Option<String>,
    timeout_ms: Option<u64>,
    dpop_replay: Option<RawUse>,
    lockout: Option<RawUse>,
}

impl FromJson for RawFleet {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &["cluster", "domain", "timeout_ms", "dpop_replay", "lockout"],
        )?;
        let mut raw = RawFleet::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawFleet {
    /// Reads the fields in place, as `config::RawConfig::read` does: after an error the
    /// caller drops the whole in one place, not each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.cluster = fields.required("cluster")?;
        self.domain = fields.optional("domain")?;
        self.timeout_ms = fields.optional("timeout_ms")?;
        self.dpop_replay = fields.optional("dpop_replay")?;
        self.lockout = fields.optional("lockout")?;
        Ok(())
    }
}

struct RawUse {
    on_unavailable: Option<String>,
}

impl FromJson for RawUse {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["on_unavailable"])?;
        Ok(RawUse {
            on_unavailable: fields.optional("on_unavailable")?,
        })
    }
}

/// Compiles the `fleet` section; `dpop` and `lockout` say whether the memories it would share
/// are configured at all.
pub(super) fn compile_fleet(
    raw: Option<RawFleet>,
    dpop: bool,
    lockout: bool,
) -> Result<Option<FleetSettings>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    if raw.cluster.trim().is_empty() || raw.cluster.chars().any(char::is_control) {
        return Err(ConfigError::new(
            "fleet.cluster",
            "must name the Envoy cluster (HTTP/2) of the rate limit service",
        ));
    }
    let domain = raw.domain.unwrap_or_else(|| DEFAULT_DOMAIN.to_string());
    if domain.is_empty() || !domain.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ConfigError::new(
            "fleet.domain",
            "must be a non-empty rate limit domain of printable ASCII",
        ));
    }
    let timeout_ms = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT_MS);
    if !(1..=MAX_TIMEOUT_MS).contains(&timeout_ms) {
        return Err(ConfigError::new(
            "fleet.timeout_ms",
            format!("must be between 1 and {MAX_TIMEOUT_MS} milliseconds"),
        ));
    }
    let dpop_replay = raw
        .dpop_replay
        .map(|raw| compile_dpop_replay(raw, dpop))
        .transpose()?;
    let shares_lockout = raw
        .lockout
        .map(|raw| compile_lockout(raw, lockout))
        .transpose()?
        .is_some();
    if dpop_replay.is_none() && !shares_lockout {
        return Err(ConfigError::new(
            "fleet",
            "names no use: add dpop_replay or lockout (or remove the section)",
        ));
    }
    Ok(Some(FleetSettings {
        cluster: raw.cluster,
        domain,
        timeout_ms,
        dpop_replay,
        lockout: shares_lockout,
    }))
}

fn compile_dpop_replay(raw: RawUse, dpop: bool) -> Result<OnUnavailable, ConfigError> {
    if !dpop {
        return Err(ConfigError::new(
            "fleet.dpop_replay",
            "needs the dpop section: there are no proofs to share",
        ));
    }
    match raw.on_unavailable.as_deref() {
        None | Some("fail_closed") => Ok(OnUnavailable::FailClosed),
        Some("local") => Ok(OnUnavailable::Local),
        Some(_) => Err(ConfigError::new(
            "fleet.dpop_replay.on_unavailable",
            "must be \"fail_closed\" (503 while the service does not answer) or \"local\" \
             (this Envoy's own replay cache alone)",
        )),
    }
}

fn compile_lockout(raw: RawUse, lockout: bool) -> Result<(), ConfigError> {
    if !lockout {
        return Err(ConfigError::new(
            "fleet.lockout",
            "needs abuse.lockout: there are no failed secrets to share",
        ));
    }
    match raw.on_unavailable.as_deref() {
        None | Some("local") => Ok(()),
        Some(_) => Err(ConfigError::new(
            "fleet.lockout.on_unavailable",
            "must be \"local\": a failure is counted by this Envoy whatever the service says, \
             and refusing good secrets while the service is down would lock every client out",
        )),
    }
}
