//! Access-log fields: the outcome of each decided request as one Wasm filter-state value,
//! which Envoy's access log prints with `%FILTER_STATE(wasm.edge_auth:PLAIN)%` (a property set
//! at path `NAME` is the filter-state object `wasm.NAME`).
//!
//! The value is `key=value` pairs separated by spaces (logfmt), in this order and only those a
//! request has: `decision`, `reason`, `credential`, `provider`, and once the credential passed,
//! `client` and `subject`. Never a token, secret or password: none of them is in an
//! [`Outcome`]. Published only with `"access_log_fields": true`: setting filter state is the
//! dearest host call on the cached-token path (measured at about 2 µs of Envoy CPU), and it is
//! one value, not one object per field, for that reason.

use super::Host;
use crate::policy::outcome::Outcome;

/// The filter-state name (Envoy prefixes `wasm.`).
const PROPERTY: &str = "edge_auth";
/// Longest caller value logged, in characters (client ids and subjects are short; a token's
/// `sub` could be anything).
const MAX_VALUE_CHARS: usize = 128;

/// Sets the access-log value for `outcome`.
pub(crate) fn publish(host: &dyn Host, outcome: &Outcome) {
    if outcome.verdict.is_none() {
        return;
    }
    let value = fields(outcome);
    if let Err(status) = host.set_property(PROPERTY, value.as_bytes()) {
        log::debug!("cannot set filter state {PROPERTY}: {status:?}");
    }
}

/// The logfmt line for `outcome`.
fn fields(outcome: &Outcome) -> String {
    let mut line = String::with_capacity(96);
    let mut add = |key: &str, value: &str| {
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(key);
        line.push('=');
        push_value(&mut line, value);
    };
    if let Some(verdict) = outcome.verdict {
        add("decision", verdict.code());
    }
    if let Some(reason) = outcome.reason {
        add("reason", reason.code());
    }
    if let Some(kind) = outcome.credential {
        add("credential", kind.name());
    }
    if let Some(provider) = outcome.provider {
        add("provider", provider);
    }
    if let Some(client) = &outcome.client {
        add("client", client);
    }
    if let Some(subject) = &outcome.subject {
        add("subject", subject);
    }
    line
}

/// A logfmt value: bare when it is plain, else quoted with `"` and `\` escaped; control
/// characters dropped and at most [`MAX_VALUE_CHARS`] kept, so one log line stays one.
fn push_value(line: &mut String, value: &str) {
    let kept = value
        .chars()
        .filter(|c| !c.is_control())
        .take(MAX_VALUE_CHARS);
    let plain = !value.is_empty()
        && value
            .chars()
            .all(|c| !c.is_control() && !c.is_whitespace() && c != '"' && c != '=' && c != '\\');
    if plain {
        line.extend(kept);
        return;
    }
    line.push('"');
    for c in kept {
        if c == '"' || c == '\\' {
            line.push('\\');
        }
        line.push(c);
    }
    line.push('"');
}
