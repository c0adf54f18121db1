//! A rule's `introspect`: tokens on the rule must also be confirmed by their provider's
//! introspection endpoint, by an answer at most `max_cache_seconds` old. Compiled against the
//! providers the rule accepts: each must have an `introspection` endpoint (a token of one
//! without could never be confirmed), and the rule cannot trust an answer longer than the
//! endpoint's own `cache_seconds`.

use crate::error::ConfigError;
use crate::issuer::Endpoints;
use crate::json::{Document, FromJson, Node};
use crate::jwt::provider::Provider;
use crate::policy::rules::Route;
use crate::request::credential::CredentialKind;

/// `rules[i].introspect`, as written.
pub(super) struct RawIntrospect {
    max_cache_seconds: u64,
}

impl FromJson for RawIntrospect {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["max_cache_seconds"])?;
        Ok(RawIntrospect {
            max_cache_seconds: fields.required("max_cache_seconds")?,
        })
    }
}

/// `<field>.introspect` of `route` (its `accept` and `providers` already compiled): the
/// longest an answer is reused, `None` when the rule does not ask.
pub(super) fn compile_rule_introspect(
    raw: Option<RawIntrospect>,
    field: &str,
    route: &Route,
    providers: &[Provider],
    endpoints: &[Endpoints],
) -> Result<Option<u64>, ConfigError> {
    let Some(raw) = raw else {
        return Ok(None);
    };
    let at = format!("{field}.introspect");
    if !route.accept.contains(&CredentialKind::Jwt) {
        return Err(ConfigError::new(
            &at,
            "applies to tokens, and the rule does not accept jwt",
        ));
    }
    let accepted: Vec<usize> = if route.providers.is_empty() {
        (0..providers.len()).collect()
    } else {
        route.providers.clone()
    };
    for index in accepted {
        let name = providers.get(index).map_or("", |p| p.name.as_str());
        let Some(introspection) = endpoints.get(index).and_then(|e| e.introspection.as_ref())
        else {
            return Err(ConfigError::new(
                &at,
                format!(
                    "the rule accepts tokens of provider {name:?}, which has no introspection \
                     endpoint (give it one, or narrow the rule's providers)"
                ),
            ));
        };
        if raw.max_cache_seconds > introspection.cache_seconds {
            return Err(ConfigError::new(
                &format!("{at}.max_cache_seconds"),
                format!(
                    "must not exceed provider {name:?}'s introspection.cache_seconds ({})",
                    introspection.cache_seconds
                ),
            ));
        }
    }
    Ok(Some(raw.max_cache_seconds))
}
