//! Authorization beyond scopes in the configuration: `claim_conditions` (of a rule, or of a
//! provider as its tokens' default), mirrored exactly and compiled into
//! [`Condition`]s whose claim paths share one table (with the claims path bindings read) ([`ClaimTable`], handed to every provider
//! so that identities keep the values the conditions read), and a rule's `providers` and
//! `audiences`, compiled against the providers.

use crate::error::ConfigError;
use crate::json::{Document, Fields, FromJson, Node, Value};
use crate::jwt::claims::{ClaimPath, Condition, Test};
use crate::jwt::provider::Provider;

/// Most conditions one rule or provider may set.
const MAX_CONDITIONS: usize = 32;
/// Most values one `any_of` or `all_of` may list.
const MAX_VALUES: usize = 256;
/// Longest claim path.
const MAX_PATH_BYTES: usize = 256;

#[derive(Default)]
pub(super) struct RawCondition {
    path: String,
    any_of: Option<Vec<Value>>,
    all_of: Option<Vec<Value>>,
    equals: Option<Value>,
    present: Option<bool>,
    not: bool,
    space_separated: bool,
}

impl FromJson for RawCondition {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(
            node,
            &[
                "path",
                "any_of",
                "all_of",
                "equals",
                "present",
                "not",
                "space_separated",
            ],
        )?;
        let mut raw = RawCondition::default();
        raw.read(&fields)?;
        Ok(raw)
    }
}

impl RawCondition {
    /// Reads the fields in place, as `config::RawConfig::read` does: after an error the
    /// caller drops the whole in one place, not each field read so far after every `?`.
    fn read(&mut self, fields: &Fields) -> Result<(), ConfigError> {
        self.path = fields.required("path")?;
        self.any_of = fields.optional("any_of")?;
        self.all_of = fields.optional("all_of")?;
        self.equals = fields.optional("equals")?;
        self.present = fields.optional("present")?;
        self.not = fields.or_default("not")?;
        self.space_separated = fields.or_default("space_separated")?;
        Ok(())
    }
}

/// The claim paths every condition of the policy reads, each once: a condition's `slot`.
#[derive(Default)]
pub(super) struct ClaimTable {
    paths: Vec<ClaimPath>,
}

impl ClaimTable {
    /// The slot of `path`, added if it is new.
    pub(super) fn slot(&mut self, path: &ClaimPath) -> usize {
        match self.paths.iter().position(|known| known == path) {
            Some(slot) => slot,
            None => {
                self.paths.push(path.clone());
                self.paths.len() - 1
            }
        }
    }

    /// Gives every provider the table, so that its identities keep the values at these paths.
    pub(super) fn share(self, providers: &mut [Provider]) {
        for provider in providers {
            provider.condition_claims.clone_from(&self.paths);
        }
    }
}

/// `<field>` (a `claim_conditions` list), each condition compiled and its path given a slot.
pub(super) fn compile_conditions(
    raw: Vec<RawCondition>,
    field: &str,
    table: &mut ClaimTable,
) -> Result<Vec<Condition>, ConfigError> {
    if raw.len() > MAX_CONDITIONS {
        return Err(ConfigError::new(
            field,
            format!("at most {MAX_CONDITIONS} conditions"),
        ));
    }
    let mut conditions = Vec::with_capacity(raw.len());
    for (index, condition) in raw.into_iter().enumerate() {
        conditions.push(compile_condition(
            condition,
            &format!("{field}[{index}]"),
            table,
        )?);
    }
    Ok(conditions)
}

/// `<field>`: a claim path (a condition's, or a claim `forward.claims` sends): at most
/// MAX_PATH_BYTES, no control characters, the syntax of [`ClaimPath::parse`].
pub(super) fn claim_path(text: &str, field: &str) -> Result<ClaimPath, ConfigError> {
    if text.len() > MAX_PATH_BYTES {
        return Err(ConfigError::new(
            field,
            format!("at most {MAX_PATH_BYTES} bytes"),
        ));
    }
    if text.chars().any(char::is_control) {
        return Err(ConfigError::new(
            field,
            "must not contain control characters",
        ));
    }
    ClaimPath::parse(text).map_err(|err| ConfigError::new(field, err.to_string()))
}

/// `<field>`: one condition: a path, exactly one operator, and its modifiers.
fn compile_condition(
    raw: RawCondition,
    field: &str,
    table: &mut ClaimTable,
) -> Result<Condition, ConfigError> {
    let path = claim_path(&raw.path, &format!("{field}.path"))?;
    let given = [
        raw.any_of.is_some(),
        raw.all_of.is_some(),
        raw.equals.is_some(),
        raw.present.is_some(),
    ];
    if given.iter().filter(|given| **given).count() != 1 {
        return Err(ConfigError::new(
            field,
            "give exactly one of any_of, all_of, equals, present",
        ));
    }
    let test = if let Some(values) = raw.any_of {
        Test::AnyOf(scalar_list(values, &format!("{field}.any_of"))?)
    } else if let Some(values) = raw.all_of {
        Test::AllOf(scalar_list(values, &format!("{field}.all_of"))?)
    } else if let Some(value) = raw.equals {
        scalar(&value, &format!("{field}.equals"))?;
        Test::Equals(value)
    } else {
        if raw.present != Some(true) {
            return Err(ConfigError::new(
                &format!("{field}.present"),
                "must be true (for an absent claim write \"present\": true, \"not\": true)",
            ));
        }
        Test::Present
    };
    if raw.space_separated && matches!(test, Test::Equals(_) | Test::Present) {
        return Err(ConfigError::new(
            &format!("{field}.space_separated"),
            "only with any_of or all_of",
        ));
    }
    Ok(Condition {
        slot: table.slot(&path),
        path,
        test,
        space_separated: raw.space_separated,
        negated: raw.not,
    })
}

/// `<field>`: a non-empty list of strings, numbers and booleans.
fn scalar_list(values: Vec<Value>, field: &str) -> Result<Vec<Value>, ConfigError> {
    if values.is_empty() || values.len() > MAX_VALUES {
        return Err(ConfigError::new(
            field,
            format!("must list 1 to {MAX_VALUES} values"),
        ));
    }
    for (index, value) in values.iter().enumerate() {
        scalar(value, &format!("{field}[{index}]"))?;
    }
    Ok(values)
}

/// `<field>`: a string, number or boolean, compared exactly.
fn scalar(value: &Value, field: &str) -> Result<(), ConfigError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(()),
        _ => Err(ConfigError::new(
            field,
            "must be a string, number or boolean",
        )),
    }
}

/// `<field>.providers`: names of configured providers, as their indexes; empty when omitted.
pub(super) fn compile_rule_providers(
    raw: Option<Vec<String>>,
    field: &str,
    providers: &[Provider],
) -> Result<Vec<usize>, ConfigError> {
    let Some(names) = raw else {
        return Ok(Vec::new());
    };
    if names.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.providers"),
            "must name at least one provider (omit it for all)",
        ));
    }
    let mut indexes = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let Some(at) = providers.iter().position(|provider| provider.name == *name) else {
            return Err(ConfigError::new(
                &format!("{field}.providers[{index}]"),
                format!("no provider is named {name:?}"),
            ));
        };
        indexes.push(at);
    }
    Ok(indexes)
}

/// `<field>.audiences`: each an audience of a provider the rule accepts (any other could never
/// pass the provider's own check); empty when omitted.
pub(super) fn compile_rule_audiences(
    raw: Option<Vec<String>>,
    field: &str,
    providers: &[Provider],
    accepted: &[usize],
) -> Result<Vec<String>, ConfigError> {
    let Some(audiences) = raw else {
        return Ok(Vec::new());
    };
    if audiences.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.audiences"),
            "must list at least one audience (omit it for any)",
        ));
    }
    let accepts = |index: usize| accepted.is_empty() || accepted.contains(&index);
    for (index, audience) in audiences.iter().enumerate() {
        let known = providers
            .iter()
            .enumerate()
            .any(|(at, provider)| accepts(at) && provider.audiences.contains(audience));
        if !known {
            return Err(ConfigError::new(
                &format!("{field}.audiences[{index}]"),
                format!("{audience:?} is not in the audiences of a provider the rule accepts"),
            ));
        }
    }
    Ok(audiences)
}
