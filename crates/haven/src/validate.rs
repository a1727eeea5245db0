//! Checking input field by field: each problem is collected with its field's name, and
//! the whole set becomes one [`Error::Invalid`], so a form or API body gets every mistake
//! at once and nothing is written.

use std::borrow::Cow;

use chrono::NaiveDate;

use crate::error::{Error, FieldError};
use crate::identity::Email;

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
    pub fn id<T: From<uuid::Uuid>>(&mut self, field: &'static str, value: Option<&str>) -> Option<T> {
        match value.map(str::trim) {
            None | Some("") => None,
            Some(text) => {
                let parsed = uuid::Uuid::parse_str(text).ok();
                if parsed.is_none() {
                    self.add(field, "must be an id");
                }
                parsed.map(T::from)
            }
        }
    }

    /// The problems as a validation error, if there are any.
    pub fn check(self) -> Result<(), Error> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(self.0))
        }
    }
}
