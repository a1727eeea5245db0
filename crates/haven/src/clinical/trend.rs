//! A measure's trend as geometry for a server-rendered SVG: one line through the scores,
//! the instrument's bands shaded behind it, and a text description and data table beside
//! it for screen readers (the chart is `role="img"` with a title and description).

use super::assessments::AssessmentSummary;
use super::instruments::Instrument;

pub const WIDTH: f64 = 400.0;
pub const HEIGHT: f64 = 200.0;
const LEFT: f64 = 36.0;
/// Room for the bands' names, right of the plot, clear of the line.
const RIGHT: f64 = 120.0;
const TOP: f64 = 12.0;
const BOTTOM: f64 = 28.0;

#[derive(Debug, Clone)]
pub struct Point {
    pub x: String,
    pub y: String,
    pub total: i16,
    pub date: String,
    pub severity: String,
    pub risk: bool,
}

#[derive(Debug, Clone)]
pub struct Band {
    pub y: String,
    pub height: String,
    pub label: &'static str,
    pub label_y: String,
    pub shade: usize,
}

#[derive(Debug, Clone)]
pub struct Trend {
    pub instrument: Instrument,
    pub id: &'static str,
    pub points: Vec<Point>,
    pub polyline: String,
    pub bands: Vec<Band>,
    pub description: String,
    pub axis_y: Vec<(String, u8)>,
}

fn fmt(v: f64) -> String {
    format!("{v:.1}")
}

impl Trend {
    /// The trend of one instrument's scores (oldest first); `None` when there are none.
    pub fn of(instrument: Instrument, all: &[AssessmentSummary]) -> Option<Self> {
        let scores: Vec<&AssessmentSummary> = all.iter().filter(|a| a.instrument == instrument).collect();
        if scores.is_empty() {
            return None;
        }
        let max = f64::from(instrument.max_total());
        let plot_w = WIDTH - LEFT - RIGHT;
        let plot_h = HEIGHT - TOP - BOTTOM;
        let y_of = |v: f64| TOP + plot_h * (1.0 - v / max);
        let step = if scores.len() > 1 {
            plot_w / f64::from(u32::try_from(scores.len() - 1).unwrap_or(u32::MAX))
        } else {
            0.0
        };
        let points: Vec<Point> = scores
            .iter()
            .enumerate()
            .map(|(i, a)| {
                let x = if scores.len() > 1 {
                    LEFT + step * f64::from(u32::try_from(i).unwrap_or(u32::MAX))
                } else {
                    LEFT + plot_w / 2.0
                };
                Point {
                    x: fmt(x),
                    y: fmt(y_of(f64::from(a.total))),
                    total: a.total,
                    date: a.administered_at.format("%Y-%m-%d").to_string(),
                    severity: a.severity.clone(),
                    risk: a.self_harm_risk,
                }
            })
            .collect();
        let polyline = points
            .iter()
            .map(|p| format!("{},{}", p.x, p.y))
            .collect::<Vec<_>>()
            .join(" ");
        let floors: Vec<(u8, &'static str)> = instrument.band_floors().collect();
        let bands = floors
            .iter()
            .enumerate()
            .map(|(i, (floor, label))| {
                let top_value = floors.get(i + 1).map_or(max, |(next, _)| f64::from(*next));
                let y_top = y_of(top_value);
                let y_bottom = y_of(f64::from(*floor));
                Band {
                    y: fmt(y_top),
                    height: fmt(y_bottom - y_top),
                    label,
                    label_y: fmt(y_top + 11.0),
                    shade: i,
                }
            })
            .collect();
        let (first, last) = (scores[0], scores[scores.len() - 1]);
        let description = if scores.len() == 1 {
            format!(
                "One {} score: {} ({}) on {}.",
                instrument.short_name(),
                last.total,
                last.severity,
                last.administered_at.format("%Y-%m-%d")
            )
        } else {
            format!(
                "{} {} scores from {} to {}: from {} ({}) to {} ({}).",
                scores.len(),
                instrument.short_name(),
                first.administered_at.format("%Y-%m-%d"),
                last.administered_at.format("%Y-%m-%d"),
                first.total,
                first.severity,
                last.total,
                last.severity
            )
        };
        let axis_y = floors
            .iter()
            .map(|(floor, _)| (fmt(y_of(f64::from(*floor)) + 4.0), *floor))
            .chain(std::iter::once((fmt(y_of(max) + 4.0), instrument.max_total())))
            .collect();
        Some(Self {
            instrument,
            id: instrument.as_str(),
            points,
            polyline,
            bands,
            description,
            axis_y,
        })
    }

    pub fn left(&self) -> String {
        fmt(LEFT)
    }

    pub fn plot_width(&self) -> String {
        fmt(WIDTH - LEFT - RIGHT)
    }

    pub fn baseline(&self) -> String {
        fmt(HEIGHT - BOTTOM)
    }

    pub fn date_y(&self) -> String {
        fmt(HEIGHT - 8.0)
    }

    /// Where the bands' names start, right of the plot.
    pub fn label_x(&self) -> String {
        fmt(WIDTH - RIGHT + 6.0)
    }

    /// The plot's right edge.
    pub fn right(&self) -> String {
        fmt(WIDTH - RIGHT)
    }

    /// Where the score axis' labels end, left of the plot.
    pub fn axis_x(&self) -> String {
        fmt(LEFT - 6.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clinical::Person;
    use chrono::TimeZone;

    fn score(total: i16, day: u32) -> AssessmentSummary {
        AssessmentSummary {
            id: crate::clinical::AssessmentId(uuid::Uuid::nil()),
            client_id: crate::clients::ClientId(uuid::Uuid::nil()),
            instrument: Instrument::Phq9,
            total,
            severity: "Moderate".to_owned(),
            self_harm_risk: false,
            administered_at: chrono::Utc.with_ymd_and_hms(2027, 3, day, 1, 0, 0).unwrap(),
            recorded_by: Person {
                id: crate::identity::UserId(uuid::Uuid::nil()),
                name: "x".to_owned(),
            },
        }
    }

    #[test]
    fn scores_map_onto_the_plot_and_are_described_in_words() {
        let trend = Trend::of(Instrument::Phq9, &[score(27, 1), score(0, 8)]).unwrap();
        assert_eq!(
            trend.polyline, "36.0,12.0 280.0,172.0",
            "max at the top, zero on the baseline"
        );
        assert_eq!(trend.bands.len(), 5);
        assert!(
            trend.description.contains("from 27 (Moderate) to 0 (Moderate)"),
            "{}",
            trend.description
        );
        assert!(Trend::of(Instrument::Gad7, &[score(3, 1)]).is_none());
    }
}
