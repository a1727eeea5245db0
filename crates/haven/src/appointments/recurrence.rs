//! Recurring appointments as RFC 5545 rules (the `rrule` crate): weekly, every N weeks,
//! or monthly on the same weekday ("the second Tuesday"), until a date or N times. The
//! rule runs on wall-clock time in the organisation's zone, so a 10:00 session stays at
//! 10:00 across a daylight-saving change (and moves in UTC).

use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, TimeZone, Utc};
use rrule::{Frequency, NWeekday, RRule, RRuleSet, Tz};
use serde::{Deserialize, Serialize};

/// No series runs longer than this many occurrences or than two years.
pub const MAX_OCCURRENCES: u16 = 200;
const MAX_DAYS: i64 = 2 * 366;

crate::word_enum!(
    /// How often a series repeats.
    RepeatEvery {
        Week => "weekly", "Every week (or every few weeks)",
        MonthWeekday => "monthly_weekday", "Every month, on the same weekday",
    }
);

/// What the person booking asks for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Recurrence {
    pub repeat: RepeatEvery,
    /// Every `interval` weeks or months (1 to 12).
    #[serde(default = "one")]
    pub interval: u16,
    /// How many occurrences in all (2 to 200), or
    pub count: Option<u16>,
    /// the last day one may fall on (in the organisation's time zone).
    pub until: Option<NaiveDate>,
}

fn one() -> u16 {
    1
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecurrenceError {
    #[error("give either a number of occurrences or an end date, not both")]
    CountAndUntil,
    #[error("give a number of occurrences or an end date")]
    Endless,
    #[error("the number of occurrences must be 2 to {MAX_OCCURRENCES}")]
    Count,
    #[error("the interval must be 1 to 12")]
    Interval,
    #[error("the end date must be after the first appointment and within two years")]
    Until,
    #[error("the start time does not exist in the organisation's time zone (a daylight-saving gap)")]
    NoSuchTime,
    #[error("the stored rule cannot be read: {0}")]
    Stored(String),
}

impl RecurrenceError {
    /// Which field of [`Recurrence`] the problem is with.
    pub fn field(&self) -> &'static str {
        match self {
            Self::CountAndUntil | Self::Endless => "recurrence",
            Self::Count => "recurrence.count",
            Self::Interval => "recurrence.interval",
            Self::Until => "recurrence.until",
            Self::NoSuchTime | Self::Stored(_) => "starts_at",
        }
    }
}

/// The series' rule as iCalendar properties (`DTSTART;TZID=…` and `RRULE:…`), ready to
/// store and to expand with [`occurrences`].
pub fn rule(recurrence: &Recurrence, first: DateTime<Utc>, zone: chrono_tz::Tz) -> Result<String, RecurrenceError> {
    if !(1..=12).contains(&recurrence.interval) {
        return Err(RecurrenceError::Interval);
    }
    let start = first.with_timezone(&Tz::Tz(zone));
    let local_first = start.date_naive();
    let mut rrule = RRule::new(match recurrence.repeat {
        RepeatEvery::Week => Frequency::Weekly,
        RepeatEvery::MonthWeekday => Frequency::Monthly,
    })
    .interval(recurrence.interval);
    if recurrence.repeat == RepeatEvery::MonthWeekday {
        // The same weekday of the month as the first: the 1st to 4th, or the last.
        let nth = i16::try_from((local_first.day() - 1) / 7 + 1).unwrap_or(1);
        let nth = if nth >= 5 { -1 } else { nth };
        rrule = rrule.by_weekday(vec![NWeekday::Nth(nth, local_first.weekday())]);
    }
    rrule = match (recurrence.count, recurrence.until) {
        (Some(_), Some(_)) => return Err(RecurrenceError::CountAndUntil),
        (None, None) => return Err(RecurrenceError::Endless),
        (Some(count), None) if (2..=MAX_OCCURRENCES).contains(&count) => rrule.count(u32::from(count)),
        (Some(_), None) => return Err(RecurrenceError::Count),
        (None, Some(until)) => {
            let days = (until - local_first).num_days();
            if !(1..=MAX_DAYS).contains(&days) {
                return Err(RecurrenceError::Until);
            }
            rrule.until(end_of_day(until, zone)?.with_timezone(&Tz::UTC))
        }
    };
    let set = rrule.build(start).map_err(|e| RecurrenceError::Stored(e.to_string()))?;
    Ok(set.to_string())
}

/// The last instant of `day` in `zone`.
fn end_of_day(day: NaiveDate, zone: chrono_tz::Tz) -> Result<DateTime<Utc>, RecurrenceError> {
    let last: NaiveDateTime = day.and_hms_opt(23, 59, 59).ok_or(RecurrenceError::Until)?;
    zone.from_local_datetime(&last)
        .latest()
        .map(|t| t.with_timezone(&Utc))
        .ok_or(RecurrenceError::Until)
}

/// Every start the stored rule gives, in UTC, at most [`MAX_OCCURRENCES`].
pub fn occurrences(rule: &str) -> Result<Vec<DateTime<Utc>>, RecurrenceError> {
    let set: RRuleSet = rule
        .parse()
        .map_err(|e: rrule::RRuleError| RecurrenceError::Stored(e.to_string()))?;
    Ok(set
        .all(MAX_OCCURRENCES)
        .dates
        .into_iter()
        .map(|t| t.with_timezone(&Utc))
        .collect())
}

/// The same rule ending before `before` (a series cut where "this and following" was
/// changed), or `None` when nothing of it would be left.
pub fn ending_before(rule: &str, before: DateTime<Utc>) -> Result<Option<String>, RecurrenceError> {
    let kept: Vec<DateTime<Utc>> = occurrences(rule)?.into_iter().filter(|t| *t < before).collect();
    let Some(last) = kept.last() else {
        return Ok(None);
    };
    let set: RRuleSet = rule
        .parse()
        .map_err(|e: rrule::RRuleError| RecurrenceError::Stored(e.to_string()))?;
    let start = *set.get_dt_start();
    let Some(original) = set.get_rrule().first() else {
        return Err(RecurrenceError::Stored("no RRULE".to_owned()));
    };
    let mut cut = RRule::new(original.get_freq())
        .interval(original.get_interval())
        .until(last.with_timezone(&Tz::UTC));
    if !original.get_by_weekday().is_empty() && original.get_freq() == Frequency::Monthly {
        cut = cut.by_weekday(original.get_by_weekday().to_vec());
    }
    let set = cut.build(start).map_err(|e| RecurrenceError::Stored(e.to_string()))?;
    Ok(Some(set.to_string()))
}

/// The same repetition (frequency, interval, weekday of the month) restarted at `first`
/// for `count` occurrences: the rule of the part of a series that was moved.
pub fn restarted(rule: &str, first: DateTime<Utc>, zone: chrono_tz::Tz, count: u16) -> Result<String, RecurrenceError> {
    let set: RRuleSet = rule
        .parse()
        .map_err(|e: rrule::RRuleError| RecurrenceError::Stored(e.to_string()))?;
    let Some(original) = set.get_rrule().first() else {
        return Err(RecurrenceError::Stored("no RRULE".to_owned()));
    };
    let mut again = RRule::new(original.get_freq())
        .interval(original.get_interval())
        .count(u32::from(count.max(1)));
    if original.get_freq() == Frequency::Monthly {
        let local = first.with_timezone(&zone).date_naive();
        let nth = i16::try_from((local.day() - 1) / 7 + 1).unwrap_or(1);
        again = again.by_weekday(vec![NWeekday::Nth(if nth >= 5 { -1 } else { nth }, local.weekday())]);
    }
    let set = again
        .build(first.with_timezone(&Tz::Tz(zone)))
        .map_err(|e| RecurrenceError::Stored(e.to_string()))?;
    Ok(set.to_string())
}

#[cfg(test)]
mod tests {
    use chrono::Timelike;

    use super::*;

    fn at(zone: chrono_tz::Tz, y: i32, m: u32, d: u32, h: u32) -> DateTime<Utc> {
        zone.with_ymd_and_hms(y, m, d, h, 0, 0).unwrap().with_timezone(&Utc)
    }

    fn weekly(count: u16) -> Recurrence {
        Recurrence {
            repeat: RepeatEvery::Week,
            interval: 1,
            count: Some(count),
            until: None,
        }
    }

    #[test]
    fn a_weekly_session_keeps_its_local_time_across_daylight_saving() {
        // Melbourne leaves daylight saving on the first Sunday of April 2027.
        let zone = chrono_tz::Australia::Melbourne;
        let first = at(zone, 2027, 3, 25, 10);
        let rule = rule(&weekly(4), first, zone).unwrap();
        assert!(rule.contains("TZID=Australia/Melbourne"), "{rule}");
        let starts = occurrences(&rule).unwrap();
        assert_eq!(starts.len(), 4);
        for start in &starts {
            assert_eq!(start.with_timezone(&zone).hour(), 10, "{start}");
        }
        // 10:00 AEDT is 23:00 UTC the day before; 10:00 AEST is 00:00 UTC.
        assert_eq!(starts[0].hour(), 23);
        assert_eq!(starts[1].hour(), 23);
        assert_eq!(starts[2].hour(), 0);
        assert_eq!(starts[2] - starts[1], chrono::TimeDelta::hours(24 * 7 + 1));
    }

    #[test]
    fn every_other_week_until_a_date_and_monthly_on_a_weekday() {
        let zone = chrono_tz::Europe::London;
        let first = at(zone, 2027, 1, 5, 14); // a Tuesday
        let fortnightly = Recurrence {
            repeat: RepeatEvery::Week,
            interval: 2,
            count: None,
            until: NaiveDate::from_ymd_opt(2027, 2, 16),
        };
        let starts = occurrences(&rule(&fortnightly, first, zone).unwrap()).unwrap();
        let days: Vec<u32> = starts.iter().map(|s| s.with_timezone(&zone).day()).collect();
        assert_eq!(days, [5, 19, 2, 16], "the end date is included");

        // The second Tuesday of each month, across the spring change in London.
        let second_tuesday = at(zone, 2027, 2, 9, 9);
        let monthly = Recurrence {
            repeat: RepeatEvery::MonthWeekday,
            interval: 1,
            count: Some(4),
            until: None,
        };
        let starts = occurrences(&rule(&monthly, second_tuesday, zone).unwrap()).unwrap();
        let local: Vec<(u32, u32, u32)> = starts
            .iter()
            .map(|s| {
                let l = s.with_timezone(&zone);
                (l.month(), l.day(), l.hour())
            })
            .collect();
        assert_eq!(local, [(2, 9, 9), (3, 9, 9), (4, 13, 9), (5, 11, 9)]);
        assert_eq!(starts[2].hour(), 8, "09:00 BST is 08:00 UTC");
    }

    #[test]
    fn a_series_cut_before_an_occurrence_keeps_the_earlier_ones() {
        let zone = chrono_tz::UTC;
        let first = at(zone, 2027, 1, 4, 9);
        let rule = rule(&weekly(6), first, zone).unwrap();
        let starts = occurrences(&rule).unwrap();
        let cut = ending_before(&rule, starts[3]).unwrap().unwrap();
        assert_eq!(occurrences(&cut).unwrap(), starts[..3]);
        assert_eq!(ending_before(&rule, starts[0]).unwrap(), None);
    }

    #[test]
    fn impossible_series_are_refused_with_the_field_to_fix() {
        let zone = chrono_tz::UTC;
        let first = at(zone, 2027, 1, 4, 9);
        let both = Recurrence {
            until: NaiveDate::from_ymd_opt(2027, 3, 1),
            ..weekly(3)
        };
        assert_eq!(rule(&both, first, zone), Err(RecurrenceError::CountAndUntil));
        let endless = Recurrence {
            count: None,
            ..weekly(3)
        };
        assert_eq!(rule(&endless, first, zone), Err(RecurrenceError::Endless));
        assert_eq!(rule(&weekly(1), first, zone), Err(RecurrenceError::Count));
        assert_eq!(rule(&weekly(201), first, zone), Err(RecurrenceError::Count));
        let past = Recurrence {
            count: None,
            until: NaiveDate::from_ymd_opt(2026, 12, 1),
            ..weekly(3)
        };
        assert_eq!(rule(&past, first, zone).unwrap_err().field(), "recurrence.until");
        let often = Recurrence {
            interval: 13,
            ..weekly(3)
        };
        assert_eq!(rule(&often, first, zone), Err(RecurrenceError::Interval));
    }
}
