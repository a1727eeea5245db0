//! Times as people read them. Every time shown on a page, in an email or in a list goes
//! through [`show`], in the organisation's zone ([`crate::actor::Actor::zone`]); templates
//! use the same function as the `when` filter (`{{ at|when(chrome.zone) }}`). Times are
//! stored and sent over the API in UTC.

use chrono::{DateTime, Utc};
use chrono_tz::Tz;

/// How much of a time to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    /// `3 Dec 2026, 14:05`
    DateTime,
    /// `3 Dec 2026`
    Date,
    /// `Thu 3 Dec 2026`
    Day,
    /// `Thu 3 Dec 2026 14:05`, in lists of occurrences.
    DayTime,
    /// `14:05`
    Time,
    /// `2026-12-03`: the local date as forms and links write it (`?date=`).
    Iso,
    /// `Thursday 3 December 2026`, for headings.
    LongDate,
    /// `Thursday 3 December 2026, 14:05`, for emails.
    Long,
}

impl Style {
    fn pattern(self) -> &'static str {
        match self {
            Self::DateTime => "%-d %b %Y, %H:%M",
            Self::Date => "%-d %b %Y",
            Self::Day => "%a %-d %b %Y",
            Self::DayTime => "%a %-d %b %Y %H:%M",
            Self::Time => "%H:%M",
            Self::Iso => "%Y-%m-%d",
            Self::LongDate => "%A %-d %B %Y",
            Self::Long => "%A %-d %B %Y, %H:%M",
        }
    }

    fn parse(word: &str) -> Self {
        match word {
            "date" => Self::Date,
            "day" => Self::Day,
            "time" => Self::Time,
            "iso" => Self::Iso,
            _ => Self::DateTime,
        }
    }
}

/// `at` in the organisation's `zone`, as people read it.
pub fn show(at: DateTime<Utc>, zone: Tz, style: Style) -> String {
    at.with_timezone(&zone).format(style.pattern()).to_string()
}

/// The template filters: `{{ at|when(chrome.zone) }}`, `{{ at|when(chrome.zone, "date") }}`.
#[allow(clippy::inline_always)] // askama's generated filter code asks for it
pub mod filters {
    use chrono::{DateTime, Utc};
    use chrono_tz::Tz;

    use super::{Style, show};

    #[askama::filter_fn]
    pub fn when(
        at: &DateTime<Utc>,
        _: &dyn askama::Values,
        zone: &Tz,
        #[optional("datetime")] style: &str,
    ) -> askama::Result<String> {
        Ok(show(*at, *zone, Style::parse(style)))
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    #[test]
    fn times_show_in_the_organisations_zone() {
        let at = Utc.with_ymd_and_hms(2026, 12, 2, 23, 30, 0).unwrap();
        let melbourne: Tz = "Australia/Melbourne".parse().unwrap();
        assert_eq!(show(at, melbourne, Style::DateTime), "3 Dec 2026, 10:30");
        assert_eq!(show(at, chrono_tz::UTC, Style::DateTime), "2 Dec 2026, 23:30");
        assert_eq!(show(at, melbourne, Style::Date), "3 Dec 2026");
        assert_eq!(show(at, melbourne, Style::Day), "Thu 3 Dec 2026");
        assert_eq!(show(at, melbourne, Style::Time), "10:30");
        assert_eq!(
            show(at, melbourne, Style::Iso),
            "2026-12-03",
            "the local day, not UTC's"
        );
    }
}
