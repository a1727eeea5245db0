//! Forms as data: each field knows its label, value, hint and error, and one template
//! macro (`templates/macros.html`) draws every kind the same accessible way. Field names
//! are the API's field paths, so a validation error lands next to its field.

use crate::error::FieldErrors;
pub use crate::validate::Problems;

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

/// Paging parameters of a list page or API query.
impl Problems {
    /// `page` (from 1) and `per_page` (1 to `max_per_page`, default 25) as limit and offset.
    pub fn page(&mut self, params: &Submitted, max_per_page: i64) -> (i64, i64) {
        let page = self.number("page", params.get("page"), 1, 10_000);
        let per_page = self.number("per_page", params.get("per_page"), 25, max_per_page);
        (per_page, (page - 1) * per_page)
    }
}
