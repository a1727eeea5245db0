//! The living style guide: every component of the design system in each of its states,
//! drawn by the same templates and stylesheet as the app, at `/style-guide`.

use askama::Template;
use axum::response::Response;

use super::form::{Field, Kind, Problem, Section, attach_errors};
use super::page::{Chrome, render};
use crate::actor::Actor;
use crate::error::{Error, FieldError, FieldErrors};

#[derive(Template)]
#[template(path = "style_guide.html")]
struct StyleGuide {
    chrome: Chrome,
    colours: Vec<(&'static str, &'static str)>,
    sections: Vec<Section>,
    errors: Vec<Problem>,
}

pub async fn style_guide(caller: Actor) -> Result<Response, Error> {
    let mut sections = vec![
        Section::new(
            "Form fields",
            vec![
                Field::text("example_text", "A text field")
                    .hint("A hint says what to enter.")
                    .required(),
                Field::text("example_error", "A field with a mistake")
                    .value("2999-01-01")
                    .required(),
                Field::new("example_date", "A date", Kind::Date),
                Field::new("example_select", "A choice", Kind::Select)
                    .options([("a", "First"), ("b", "Second")])
                    .value("b"),
                Field::new("example_box", "A yes/no", Kind::Checkbox)
                    .checked(true)
                    .hint("Checkboxes carry their hint beneath."),
                Field::new("example_area", "Longer text", Kind::TextArea).max(500),
            ],
        )
        .hint("Fields are drawn by one macro: label, hint, value, error."),
    ];
    let errors = attach_errors(
        &mut sections,
        &FieldErrors(vec![FieldError::new("example_error", "cannot be in the future")]),
    );
    render(&StyleGuide {
        chrome: caller
            .chrome()
            .await?
            .at("style_guide")
            .toast(Some("A toast: a change was saved.".to_owned())),
        colours: vec![
            ("--colour-primary", "Primary"),
            ("--colour-text", "Text"),
            ("--colour-muted", "Muted text"),
            ("--colour-border", "Border"),
            ("--colour-surface", "Surface"),
            ("--colour-bg", "Background"),
            ("--colour-danger", "Danger"),
            ("--colour-success", "Success"),
            ("--colour-warning", "Warning"),
            ("--colour-focus", "Focus"),
        ],
        sections,
        errors,
    })
}
