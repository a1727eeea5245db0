//! Note templates: the structured fields each kind of note asks for.

use std::collections::BTreeMap;

use crate::error::FieldError;

crate::word_enum!(
    NoteTemplate {
        Progress => "progress", "Progress note",
        Soap => "soap", "SOAP note",
        Dap => "dap", "DAP note",
        Intake => "intake", "Intake assessment",
        Discharge => "discharge", "Discharge summary",
        Psychotherapy => "psychotherapy", "Psychotherapy note",
    }
);

/// The longest any one field may be.
pub const MAX_FIELD: usize = 20_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateField {
    pub name: &'static str,
    pub label: &'static str,
    pub hint: &'static str,
    pub required: bool,
}

const fn field(name: &'static str, label: &'static str, hint: &'static str, required: bool) -> TemplateField {
    TemplateField {
        name,
        label,
        hint,
        required,
    }
}

const PROGRESS: &[TemplateField] = &[
    field("summary", "Session summary", "What the session covered.", true),
    field(
        "interventions",
        "Interventions",
        "What you did: approaches, skills practised.",
        false,
    ),
    field(
        "response",
        "Client's response",
        "How they engaged and responded.",
        false,
    ),
    field("risk", "Risk", "Any change in risk, and what you did.", false),
    field("plan", "Plan", "Next steps, homework, next session.", true),
];

const SOAP: &[TemplateField] = &[
    field(
        "subjective",
        "Subjective",
        "What the client reports, in their words.",
        true,
    ),
    field(
        "objective",
        "Objective",
        "What you observed; measures and scores.",
        true,
    ),
    field("assessment", "Assessment", "Your clinical impression.", true),
    field("plan", "Plan", "Next steps and follow-up.", true),
];

const DAP: &[TemplateField] = &[
    field("data", "Data", "What was said and observed.", true),
    field("assessment", "Assessment", "Your interpretation.", true),
    field("plan", "Plan", "Next steps.", true),
];

const INTAKE: &[TemplateField] = &[
    field(
        "presenting",
        "Presenting concerns",
        "Why they came, in their words.",
        true,
    ),
    field(
        "history",
        "History",
        "Relevant personal, family, medical and mental-health history.",
        false,
    ),
    field(
        "mental_state",
        "Mental state",
        "Appearance, mood, affect, thought, cognition, insight.",
        false,
    ),
    field(
        "risk",
        "Risk assessment",
        "Risk to self and others; safety at home.",
        true,
    ),
    field("strengths", "Strengths and supports", "", false),
    field("formulation", "Formulation", "Your working understanding.", false),
    field("plan", "Plan and goals", "Agreed goals and the plan of care.", true),
];

const DISCHARGE: &[TemplateField] = &[
    field("reason", "Reason for discharge", "", true),
    field("summary", "Summary of care", "What was worked on and how.", true),
    field(
        "outcomes",
        "Outcomes",
        "Progress against goals; measures at start and end.",
        false,
    ),
    field("risk", "Risk at discharge", "", false),
    field(
        "recommendations",
        "Recommendations",
        "Referrals on, relapse prevention, how to come back.",
        true,
    ),
];

const PSYCHOTHERAPY: &[TemplateField] = &[field(
    "process",
    "Process notes",
    "Your own notes on the session's content and process. Kept apart from the record.",
    true,
)];

impl NoteTemplate {
    pub fn fields(self) -> &'static [TemplateField] {
        match self {
            Self::Progress => PROGRESS,
            Self::Soap => SOAP,
            Self::Dap => DAP,
            Self::Intake => INTAKE,
            Self::Discharge => DISCHARGE,
            Self::Psychotherapy => PSYCHOTHERAPY,
        }
    }

    pub fn is_psychotherapy(self) -> bool {
        self == Self::Psychotherapy
    }

    /// Checks `values` against the template: unknown fields and over-long ones are
    /// refused always; required ones only when `signing` (a draft may be incomplete).
    /// Returns the fields in the template's order, trimmed, empty ones left out.
    pub fn check(
        self,
        values: &BTreeMap<String, String>,
        signing: bool,
    ) -> Result<Vec<(&'static str, String)>, Vec<FieldError>> {
        let mut problems = Vec::new();
        for name in values.keys() {
            if !self.fields().iter().any(|f| f.name == name) {
                let names: Vec<&str> = self.fields().iter().map(|f| f.name).collect();
                problems.push(FieldError::new(
                    format!("fields.{name}"),
                    format!("not a field of the {}; use {}", self.label(), names.join(", ")),
                ));
            }
        }
        let mut out = Vec::new();
        for field in self.fields() {
            let value = values.get(field.name).map_or("", |v| v.trim());
            if value.chars().count() > MAX_FIELD {
                problems.push(FieldError::new(
                    format!("fields.{}", field.name),
                    format!("at most {MAX_FIELD} characters"),
                ));
            } else if value.is_empty() {
                if signing && field.required {
                    problems.push(FieldError::new(
                        format!("fields.{}", field.name),
                        format!("{} is needed before signing", field.label),
                    ));
                }
            } else {
                out.push((field.name, value.to_owned()));
            }
        }
        if problems.is_empty() { Ok(out) } else { Err(problems) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn values(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned())).collect()
    }

    #[test]
    fn drafts_may_be_incomplete_but_signing_needs_the_required_fields() {
        let draft = values(&[("subjective", "  Sleeping better. "), ("plan", "")]);
        assert_eq!(
            NoteTemplate::Soap.check(&draft, false).unwrap(),
            vec![("subjective", "Sleeping better.".to_owned())]
        );
        let problems = NoteTemplate::Soap.check(&draft, true).unwrap_err();
        let names: Vec<&str> = problems.iter().map(|p| p.field.as_ref()).collect();
        assert_eq!(names, ["fields.objective", "fields.assessment", "fields.plan"]);
    }

    #[test]
    fn unknown_and_over_long_fields_are_refused() {
        let problems = NoteTemplate::Dap
            .check(
                &values(&[("subjective", "x"), ("data", &"y".repeat(MAX_FIELD + 1))]),
                false,
            )
            .unwrap_err();
        assert_eq!(problems.len(), 2);
        assert!(
            problems[0].message.contains("use data, assessment, plan"),
            "{problems:?}"
        );
        assert_eq!(problems[1].field, "fields.data");
    }

    #[test]
    fn every_template_has_a_required_field() {
        for template in NoteTemplate::ALL {
            assert!(template.fields().iter().any(|f| f.required), "{template:?}");
        }
    }
}
