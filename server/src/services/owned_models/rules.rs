//! The rules of an owner's model fields: id, name, description, labels, and each input's
//! description, unit and valid range. Checked before any file is read.

use std::collections::{BTreeMap, BTreeSet};

use blindfold_api::{FeatureInfo, ModelState};

use crate::services::ServiceError;

/// Longest name of a model, in characters.
pub const MAX_NAME_CHARS: usize = 100;
pub const MAX_DESCRIPTION_CHARS: usize = 2000;
pub const MAX_LABELS: usize = 100;
pub const MAX_LABEL_CHARS: usize = 100;
pub const MAX_INPUT_DESCRIPTION_CHARS: usize = 500;
pub const MAX_UNIT_CHARS: usize = 32;

pub(super) fn taken_error(id: &str) -> ServiceError {
    ServiceError::Conflict(format!("a model with id `{id}` exists"))
}

pub(super) fn not_compiled(state: ModelState) -> ServiceError {
    ServiceError::Conflict(match state {
        ModelState::Compiling => "the model is still being compiled".to_owned(),
        ModelState::Failed => "the model failed to compile: delete it and upload it again".to_owned(),
        state => format!("the model is {}", state.as_str()),
    })
}

/// "`x`, `y` are not inputs of the model", with (some of) its inputs.
pub(super) fn not_inputs(unknown: &[String], features: &[String]) -> String {
    const SHOWN: usize = 20;
    let mut known: Vec<String> = features.iter().take(SHOWN).map(|name| format!("`{name}`")).collect();
    if features.len() > SHOWN {
        known.push(format!("and {} more", features.len() - SHOWN));
    }
    let shown: Vec<&str> = unknown.iter().take(SHOWN).map(String::as_str).collect();
    format!(
        "Not an input of the model: {}. Its inputs are {}.",
        shown.join(", "),
        known.join(", ")
    )
}

/// The rules of a model's details: name, description, and each input's description and unit.
pub(super) fn check_details(
    problems: &mut BTreeMap<&'static str, Vec<String>>,
    name: &str,
    description: &str,
    inputs: &[FeatureInfo],
) {
    let name_chars = name.trim().chars().count();
    if name_chars == 0 || name.chars().count() > MAX_NAME_CHARS {
        problems
            .entry("name")
            .or_default()
            .push(format!("The name must have 1 to {MAX_NAME_CHARS} characters."));
    }
    if name.chars().any(char::is_control) {
        problems
            .entry("name")
            .or_default()
            .push("The name must be one line without control characters.".to_owned());
    }
    if description.chars().count() > MAX_DESCRIPTION_CHARS {
        problems.entry("description").or_default().push(format!(
            "The description may have at most {MAX_DESCRIPTION_CHARS} characters."
        ));
    }
    let mut seen = BTreeSet::new();
    let mut input_problems = BTreeSet::new();
    for input in inputs {
        if !seen.insert(input.name.as_str()) {
            input_problems.insert(format!("`{}` is described twice.", input.name));
        }
        if input.description.chars().count() > MAX_INPUT_DESCRIPTION_CHARS {
            input_problems.insert(format!(
                "The description of `{}` may have at most {MAX_INPUT_DESCRIPTION_CHARS} characters.",
                input.name
            ));
        }
        if input.unit.chars().count() > MAX_UNIT_CHARS || input.unit.chars().any(char::is_control) {
            input_problems.insert(format!(
                "The unit of `{}` must be one line of at most {MAX_UNIT_CHARS} characters.",
                input.name
            ));
        }
        let bounds = [input.valid_min, input.valid_max];
        if bounds.iter().flatten().any(|bound| !bound.is_finite()) {
            input_problems.insert(format!("The valid range of `{}` must be finite numbers.", input.name));
        } else if let (Some(min), Some(max)) = (input.valid_min, input.valid_max)
            && min > max
        {
            input_problems.insert(format!(
                "The valid range of `{}` runs from {min} to {max}: its minimum must not exceed its maximum.",
                input.name
            ));
        }
    }
    if !input_problems.is_empty() {
        problems.entry("inputs").or_default().extend(input_problems);
    }
}

pub(super) fn check_labels(problems: &mut BTreeMap<&'static str, Vec<String>>, labels: &[String]) {
    let mut label_problems = Vec::new();
    if labels.len() > MAX_LABELS {
        label_problems.push(format!("At most {MAX_LABELS} labels."));
    }
    if labels.iter().any(|label| {
        label.trim().is_empty() || label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control)
    }) {
        label_problems.push(format!(
            "Each label must be one line of 1 to {MAX_LABEL_CHARS} characters."
        ));
    }
    if labels.iter().collect::<BTreeSet<_>>().len() != labels.len() {
        label_problems.push("The labels must differ from each other.".to_owned());
    }
    if !label_problems.is_empty() {
        problems.insert("labels", label_problems);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn details_are_checked_field_by_field() {
        let mut problems = BTreeMap::new();
        let inputs = [
            FeatureInfo {
                name: "a".into(),
                description: "x".repeat(MAX_INPUT_DESCRIPTION_CHARS + 1),
                unit: String::new(),
                ..FeatureInfo::default()
            },
            FeatureInfo {
                name: "a".into(),
                description: String::new(),
                unit: "u".repeat(MAX_UNIT_CHARS + 1),
                ..FeatureInfo::default()
            },
        ];
        check_details(&mut problems, " ", &"d".repeat(MAX_DESCRIPTION_CHARS + 1), &inputs);
        assert_eq!(
            problems.keys().copied().collect::<Vec<_>>(),
            ["description", "inputs", "name"]
        );
        assert_eq!(problems["inputs"].len(), 3, "{problems:?}");

        let mut fine = BTreeMap::new();
        check_details(&mut fine, &"é".repeat(MAX_NAME_CHARS), "", &[]);
        check_labels(&mut fine, &["yes".into(), "no".into()]);
        assert!(fine.is_empty(), "{fine:?}");
        check_labels(&mut fine, &["yes".into(), "yes".into(), String::new()]);
        assert_eq!(fine["labels"].len(), 2);
    }

    #[test]
    fn unknown_inputs_are_named_with_the_model_inputs() {
        let message = not_inputs(&["`x`".into()], &["a".into(), "b".into()]);
        assert_eq!(message, "Not an input of the model: `x`. Its inputs are `a`, `b`.");
    }
}
