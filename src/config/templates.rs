//! A rule's `path_template` and its `bind` block, mirrored exactly and compiled into a
//! [`PathTemplate`] and the [`Binding`]s of its route (claim paths given slots in the shared
//! [`ClaimTable`], so that cached identities keep the values a binding reads).

use super::claims::ClaimTable;
use crate::error::ConfigError;
use crate::json::{Document, FromJson, Members, Node};
use crate::jwt::claims::ClaimPath;
use crate::policy::templates::{Binding, BindingSource, PathTemplate};
use crate::request::path::LetterCase;

/// Longest claim path a binding may name.
const MAX_CLAIM_PATH_BYTES: usize = 256;

/// One entry of `bind`: exactly one of its fields.
pub(super) struct RawBinding {
    claim: Option<String>,
    applications: Option<bool>,
    header: Option<String>,
}

impl FromJson for RawBinding {
    fn from_json(node: &Node, document: &Document) -> Result<Self, ConfigError> {
        let fields = document.fields(node, &["claim", "applications", "header"])?;
        Ok(RawBinding {
            claim: fields.optional("claim")?,
            applications: fields.optional("applications")?,
            header: fields.optional("header")?,
        })
    }
}

/// `<field>.path_template`, its literals lower-cased where letters compare without regard to
/// case.
pub(super) fn compile_template(
    text: &str,
    field: &str,
    letter_case: LetterCase,
) -> Result<PathTemplate, ConfigError> {
    let template = PathTemplate::parse(text)
        .map_err(|err| ConfigError::new(&format!("{field}.path_template"), err.to_string()))?;
    Ok(match letter_case {
        LetterCase::Insensitive => template.lower_cased(),
        LetterCase::Reject | LetterCase::Sensitive => template,
    })
}

/// `<field>.bind`: each key a variable of `template`, each value one source.
/// `header_name` validates and lower-cases a header name; `accepts_tokens`: whether the rule
/// accepts `jwt` (a claim binding needs one).
pub(super) fn compile_bindings(
    Members(raw): Members<RawBinding>,
    field: &str,
    template: &PathTemplate,
    accepts_tokens: bool,
    header_name: impl Fn(&str, &str) -> Result<String, ConfigError>,
    table: &mut ClaimTable,
) -> Result<Vec<Binding>, ConfigError> {
    if raw.is_empty() {
        return Err(ConfigError::new(
            &format!("{field}.bind"),
            "must bind at least one variable (omit it for none)",
        ));
    }
    let mut bindings = Vec::with_capacity(raw.len());
    for (variable, binding) in raw {
        let at = format!("{field}.bind.{variable}");
        let segment = template.variable_index(&variable).ok_or_else(|| {
            ConfigError::new(&at, format!("path_template has no variable {{{variable}}}"))
        })?;
        let source = compile_source(binding, &at, accepts_tokens, &header_name, table)?;
        bindings.push(Binding {
            variable,
            segment,
            source,
        });
    }
    Ok(bindings)
}

/// One binding's source at `field`.
fn compile_source(
    raw: RawBinding,
    field: &str,
    accepts_tokens: bool,
    header_name: &impl Fn(&str, &str) -> Result<String, ConfigError>,
    table: &mut ClaimTable,
) -> Result<BindingSource, ConfigError> {
    match (raw.claim, raw.applications, raw.header) {
        (Some(path), None, None) => {
            let at = format!("{field}.claim");
            if !accepts_tokens {
                return Err(ConfigError::new(
                    &at,
                    "applies to tokens, and the rule does not accept jwt",
                ));
            }
            if path.len() > MAX_CLAIM_PATH_BYTES || path.chars().any(char::is_control) {
                return Err(ConfigError::new(
                    &at,
                    format!("at most {MAX_CLAIM_PATH_BYTES} bytes, no control characters"),
                ));
            }
            let path =
                ClaimPath::parse(&path).map_err(|err| ConfigError::new(&at, err.to_string()))?;
            Ok(BindingSource::Claim {
                slot: table.slot(&path),
                path,
            })
        }
        (None, Some(true), None) => Ok(BindingSource::Applications),
        (None, Some(false), None) => Err(ConfigError::new(
            &format!("{field}.applications"),
            "must be true (omit the binding for none)",
        )),
        (None, None, Some(name)) => Ok(BindingSource::Header(header_name(
            &name,
            &format!("{field}.header"),
        )?)),
        _ => Err(ConfigError::new(
            field,
            "give exactly one of claim, applications, header",
        )),
    }
}
