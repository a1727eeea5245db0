//! Which backups to keep: the newest of each of the last so many days, weeks and months
//! (in the organisation's zone), like "7 daily, 4 weekly, 12 monthly". Old files are
//! pruned only after a newer backup has verified.

use std::collections::BTreeSet;

use chrono::{DateTime, Datelike as _, Utc};
use chrono_tz::Tz;

pub use crate::organisation::Keep;

/// A backup's period: its day, ISO week or month.
type PeriodOf = fn(DateTime<Tz>) -> (i32, u32, u32);

/// The indices of `made` to keep: for each rule, the newest backup of each of the most
/// recent periods that have one; the newest backup always.
pub fn keep(made: &[DateTime<Utc>], rule: Keep, zone: Tz) -> BTreeSet<usize> {
    let mut order: Vec<usize> = (0..made.len()).collect();
    order.sort_by(|a, b| made[*b].cmp(&made[*a]));
    let mut kept: BTreeSet<usize> = order.first().copied().into_iter().collect();
    let periods: [(u32, PeriodOf); 3] = [
        (rule.daily, |t| (t.year(), t.month(), t.day())),
        (rule.weekly, |t| (t.iso_week().year(), t.iso_week().week(), 0)),
        (rule.monthly, |t| (t.year(), t.month(), 0)),
    ];
    for (count, period_of) in periods {
        let mut seen = BTreeSet::new();
        for &i in &order {
            if seen.len() >= count as usize {
                break;
            }
            if seen.insert(period_of(made[i].with_timezone(&zone))) {
                kept.insert(i);
            }
        }
    }
    kept
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone as _;

    use super::*;

    fn day(n: u32) -> DateTime<Utc> {
        // Daily at 02:00 from Monday 2026-01-05.
        Utc.with_ymd_and_hms(2026, 1, 5, 2, 0, 0).unwrap() + chrono::TimeDelta::days(i64::from(n))
    }

    #[test]
    fn seven_daily_four_weekly_twelve_monthly() {
        // A year and a bit of daily backups, plus a second backup on the last day.
        let mut made: Vec<DateTime<Utc>> = (0..400).map(day).collect();
        made.push(day(399) + chrono::TimeDelta::hours(3));
        let kept = keep(&made, Keep::default(), chrono_tz::UTC);
        let newest = made.len() - 1;
        assert!(kept.contains(&newest));
        // The last day's earlier backup goes (the later one is that day's newest).
        assert!(!kept.contains(&399));
        // The six days before are kept as daily ones.
        assert!((393..399).all(|i| kept.contains(&i)));
        // Daily: the last 7 days. The last 4 weeks' newest add two the daily ones do not
        // hold (384 and 391); the last 12 months' newest add ten more.
        assert!([384, 391].iter().all(|i| kept.contains(i)), "{kept:?}");
        assert_eq!(kept.len(), 7 + 2 + 10, "{kept:?}");
        assert!(!kept.contains(&0), "the oldest is past every rule");
    }

    #[test]
    fn periods_are_the_organisations_days() {
        // 23:30 and 00:30 UTC are the same day in Auckland (UTC+13 in January).
        let late = Utc.with_ymd_and_hms(2026, 1, 5, 23, 30, 0).unwrap();
        let early = Utc.with_ymd_and_hms(2026, 1, 6, 0, 30, 0).unwrap();
        let rule = Keep {
            daily: 2,
            weekly: 0,
            monthly: 0,
        };
        assert_eq!(keep(&[late, early], rule, chrono_tz::UTC).len(), 2);
        assert_eq!(keep(&[late, early], rule, chrono_tz::Pacific::Auckland).len(), 1);
    }
}
