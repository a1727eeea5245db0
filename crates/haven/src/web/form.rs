//! Forms as data: each field knows its label, value, hint and error, and one template
//! macro (`templates/macros.html`) draws every kind the same accessible way. Field names
//! are the API's field paths, so a validation error lands next to its field.

use std::borrow::Cow;

use chrono::NaiveDate;

use super::error::{FieldError, FieldErrors, WebError};
use crate::identity::Email;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Email,
    Tel,
    Date,
    Time,
    Search,
    TextArea,
    Select,
    Checkbox,
}

#[derive(Debug, Clone)]
pub struct Field {
    /// The form field's name, e.g. `legal_given_name` or `identifiers[0].value`.
    pub name: String,
    pub label: String,
    pub kind: Kind,
    pub value: String,
    pub hint: Option<String>,
    pub error: Option<String>,
    pub required: bool,
    pub max_length: Option<usize>,
    pub autocomplete: &'static str,
    /// For selects: (value, label).
    pub options: Vec<(String, String)>,
}

impl Field {
    pub fn new(name: impl Into<String>, label: impl Into<String>, kind: Kind) -> Self {
        Self {
            name: name.into(),
            label: label.into(),
            kind,
            value: String::new(),
            hint: None,
            error: None,
            required: false,
            max_length: None,
            autocomplete: "off",
            options: Vec::new(),
        }
    }

    pub fn text(name: impl Into<String>, label: impl Into<String>) -> Self {
        Self::new(name, label, Kind::Text)
    }

    #[must_use]
    pub fn value(mut self, value: impl Into<String>) -> Self {
        self.value = value.into();
        self
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    #[must_use]
    pub fn required(mut self) -> Self {
        self.required = true;
        self
    }

    #[must_use]
    pub fn max(mut self, length: usize) -> Self {
        self.max_length = Some(length);
        self
    }

    #[must_use]
    pub fn autocomplete(mut self, token: &'static str) -> Self {
        self.autocomplete = token;
        self
    }

    #[must_use]
    pub fn options(mut self, options: impl IntoIterator<Item = (impl Into<String>, impl Into<String>)>) -> Self {
        self.options = options.into_iter().map(|(v, l)| (v.into(), l.into())).collect();
        self
    }

    #[must_use]
    pub fn checked(mut self, on: bool) -> Self {
        self.value = if on { "on".to_owned() } else { String::new() };
        self
    }

    /// The id of the input, safe in HTML attributes and CSS.
    pub fn id(&self) -> String {
        let id: String = self
            .name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '_' { c } else { '-' })
            .collect();
        format!("f-{id}")
    }

    pub fn is_checked(&self) -> bool {
        !self.value.is_empty()
    }

    pub fn input_type(&self) -> &'static str {
        match self.kind {
            Kind::Email => "email",
            Kind::Tel => "tel",
            Kind::Date => "date",
            Kind::Time => "time",
            Kind::Search => "search",
            Kind::Checkbox => "checkbox",
            Kind::Text | Kind::TextArea | Kind::Select => "text",
        }
    }

    pub fn is_textarea(&self) -> bool {
        self.kind == Kind::TextArea
    }

    pub fn is_select(&self) -> bool {
        self.kind == Kind::Select
    }

    pub fn is_checkbox(&self) -> bool {
        self.kind == Kind::Checkbox
    }
}

/// A titled group of fields (a `<fieldset>`).
#[derive(Debug, Clone)]
pub struct Section {
    pub title: String,
    pub hint: Option<String>,
    pub fields: Vec<Field>,
}

impl Section {
    pub fn new(title: impl Into<String>, fields: Vec<Field>) -> Self {
        Self {
            title: title.into(),
            hint: None,
            fields,
        }
    }

    #[must_use]
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

/// One line of the error summary at the top of a form, linking to its field.
#[derive(Debug, Clone)]
pub struct Problem {
    /// The input's id, when the form shows that field.
    pub target: Option<String>,
    pub text: String,
}

/// Puts each error next to its field, worded with the field's label ("Date of birth
/// cannot be in the future"), and returns every error for the summary at the top.
pub fn attach_errors(sections: &mut [Section], errors: &FieldErrors) -> Vec<Problem> {
    let mut summary = Vec::new();
    for error in &errors.0 {
        let field = sections
            .iter_mut()
            .flat_map(|s| s.fields.iter_mut())
            .find(|f| f.name == error.field);
        match field {
            Some(field) => {
                let text = format!("{} {}", field.label, error.message);
                field.error = Some(text.clone());
                summary.push(Problem {
                    target: Some(field.id()),
                    text,
                });
            }
            None => summary.push(Problem {
                target: None,
                text: format!("{}: {}", error.field, error.message),
            }),
        }
    }
    summary
}

/// The services' messages start in lower case, to follow a field's name; alone, they
/// read as a sentence.
pub fn sentence(message: &str) -> String {
    let mut chars = message.chars();
    chars
        .next()
        .map(|first| first.to_uppercase().chain(chars).collect())
        .unwrap_or_default()
}

/// A submitted form's values by name.
#[derive(Debug, Clone, Default)]
pub struct Submitted(pub Vec<(String, String)>);

impl Submitted {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }

    /// The value, or `None` when absent (an empty value stays `Some("")`, which clears).
    pub fn text(&self, name: &str) -> Option<String> {
        self.get(name).map(str::to_owned)
    }

    /// A checkbox: present means on.
    pub fn checkbox(&self, name: &str) -> bool {
        self.get(name).is_some()
    }
}

/// Collects problems while checking fields one by one.
#[derive(Debug, Default)]
pub struct Problems(pub Vec<FieldError>);

impl Problems {
    pub fn add(&mut self, field: impl Into<Cow<'static, str>>, message: impl Into<String>) {
        self.0.push(FieldError::new(field, message));
    }

    /// A text that must be present: trimmed, 1 to `max` characters, no control characters.
    pub fn required(&mut self, field: impl Into<Cow<'static, str>>, value: Option<&str>, max: usize) -> Option<String> {
        let field = field.into();
        match value.map(str::trim) {
            None | Some("") => {
                self.add(field, "is required");
                None
            }
            Some(text) => self.text(field, text, max),
        }
    }

    /// A text that may be left out (empty means absent).
    pub fn optional(&mut self, field: impl Into<Cow<'static, str>>, value: Option<&str>, max: usize) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(text) => self.text(field.into(), text, max),
        }
    }

    fn text(&mut self, field: Cow<'static, str>, text: &str, max: usize) -> Option<String> {
        if text.chars().count() > max {
            self.add(field, format!("must be at most {max} characters"));
            None
        } else if text.chars().any(char::is_control) {
            self.add(field, "must not contain control characters");
            None
        } else {
            Some(text.to_owned())
        }
    }

    pub fn email(&mut self, field: impl Into<Cow<'static, str>>, value: Option<&str>) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(text) => match Email::parse(text) {
                Ok(email) => Some(email.as_str().to_owned()),
                Err(message) => {
                    self.add(field, message);
                    None
                }
            },
        }
    }

    /// Digits with the usual punctuation: `+61 3 9999 0000`, `(555) 010-2030`.
    pub fn phone(&mut self, field: impl Into<Cow<'static, str>>, value: Option<&str>) -> Option<String> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let digits = text.chars().filter(char::is_ascii_digit).count();
                let allowed = text
                    .chars()
                    .all(|c| c.is_ascii_digit() || matches!(c, '+' | ' ' | '-' | '(' | ')' | '.'));
                if allowed && (3..=20).contains(&digits) && text.len() <= 40 {
                    Some(text.to_owned())
                } else {
                    self.add(field, "must be a phone number: digits, spaces and + - ( ) only");
                    None
                }
            }
        }
    }

    /// `YYYY-MM-DD`, from 1900 on and not in the future.
    pub fn date_of_birth(
        &mut self,
        field: impl Into<Cow<'static, str>>,
        text: &str,
        today: NaiveDate,
    ) -> Option<NaiveDate> {
        let field = field.into();
        match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Err(_) => {
                self.add(field, "must be a date written YYYY-MM-DD");
                None
            }
            Ok(date) if date > today => {
                self.add(field, "cannot be in the future");
                None
            }
            Ok(date) if date < NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN) => {
                self.add(field, "must be after 1900");
                None
            }
            Ok(date) => Some(date),
        }
    }

    /// One of a fixed set of words, when given (empty means absent).
    pub fn choice<T>(
        &mut self,
        field: &'static str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Option<T>,
        choices: impl FnOnce() -> String,
    ) -> Option<T> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let parsed = parse(text);
                if parsed.is_none() {
                    self.add(field, choices());
                }
                parsed
            }
        }
    }

    /// One of a fixed set of words, which must be given.
    pub fn required_choice<T>(
        &mut self,
        field: &'static str,
        value: Option<&str>,
        parse: impl FnOnce(&str) -> Option<T>,
        choices: impl FnOnce() -> String,
    ) -> Option<T> {
        if value.is_none_or(|v| v.trim().is_empty()) {
            self.add(
                field,
                format!("is required: {}", choices().trim_start_matches("must be ")),
            );
            return None;
        }
        self.choice(field, value, parse, choices)
    }

    /// A whole number from 1 to `max`, or `default` when not given.
    pub fn number(&mut self, field: &'static str, value: Option<&str>, default: i64, max: i64) -> i64 {
        match value.map(str::trim) {
            None | Some("") => default,
            Some(text) => match text.parse::<i64>() {
                Ok(n) if (1..=max).contains(&n) => n,
                _ => {
                    self.add(field, format!("must be a whole number from 1 to {max}"));
                    default
                }
            },
        }
    }

    /// An id, when given.
    pub fn id(&mut self, field: &'static str, value: Option<&str>) -> Option<uuid::Uuid> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let parsed = uuid::Uuid::parse_str(text).ok();
                if parsed.is_none() {
                    self.add(field, "must be an id");
                }
                parsed
            }
        }
    }

    /// `page` (from 1) and `per_page` (1 to `max_per_page`, default 25) as limit and offset.
    pub fn page(&mut self, params: &Submitted, max_per_page: i64) -> (i64, i64) {
        let page = self.number("page", params.get("page"), 1, 10_000);
        let per_page = self.number("per_page", params.get("per_page"), 25, max_per_page);
        (per_page, (page - 1) * per_page)
    }

    /// The problems as a validation error, if there are any.
    pub fn check(self) -> Result<(), WebError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(WebError::Validation(self.0))
        }
    }
}
