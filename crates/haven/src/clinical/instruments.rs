//! Standardised measures and their published scoring: the PHQ-9 (Kroenke, Spitzer and
//! Williams 2001) and the GAD-7 (Spitzer et al. 2006). Each item is answered 0 to 3 for
//! the last two weeks; the total is the sum; the bands are the instruments' own.

use crate::error::FieldError;

crate::word_enum!(
    Instrument {
        Phq9 => "phq9", "PHQ-9 (depression)",
        Gad7 => "gad7", "GAD-7 (anxiety)",
    }
);

/// The answers every item shares.
pub const ANSWERS: [(u8, &str); 4] = [
    (0, "Not at all"),
    (1, "Several days"),
    (2, "More than half the days"),
    (3, "Nearly every day"),
];

const PHQ9_ITEMS: [&str; 9] = [
    "Little interest or pleasure in doing things",
    "Feeling down, depressed, or hopeless",
    "Trouble falling or staying asleep, or sleeping too much",
    "Feeling tired or having little energy",
    "Poor appetite or overeating",
    "Feeling bad about yourself, or that you are a failure or have let yourself or your family down",
    "Trouble concentrating on things, such as reading the newspaper or watching television",
    "Moving or speaking so slowly that other people could have noticed, or the opposite: being so fidgety or restless that you have been moving around a lot more than usual",
    "Thoughts that you would be better off dead, or of hurting yourself in some way",
];

const GAD7_ITEMS: [&str; 7] = [
    "Feeling nervous, anxious, or on edge",
    "Not being able to stop or control worrying",
    "Worrying too much about different things",
    "Trouble relaxing",
    "Being so restless that it is hard to sit still",
    "Becoming easily annoyed or irritable",
    "Feeling afraid, as if something awful might happen",
];

/// (lowest total of the band, band)
const PHQ9_BANDS: [(u8, &str); 5] = [
    (0, "Minimal"),
    (5, "Mild"),
    (10, "Moderate"),
    (15, "Moderately severe"),
    (20, "Severe"),
];

const GAD7_BANDS: [(u8, &str); 4] = [(0, "Minimal"), (5, "Mild"), (10, "Moderate"), (15, "Severe")];

/// What a set of answers comes to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Score {
    pub total: u8,
    pub severity: &'static str,
    /// PHQ-9 item 9 answered above "Not at all".
    pub self_harm_risk: bool,
}

impl Instrument {
    pub fn items(self) -> &'static [&'static str] {
        match self {
            Self::Phq9 => &PHQ9_ITEMS,
            Self::Gad7 => &GAD7_ITEMS,
        }
    }

    pub fn max_total(self) -> u8 {
        u8::try_from(self.items().len() * 3).unwrap_or(u8::MAX)
    }

    fn bands(self) -> &'static [(u8, &'static str)] {
        match self {
            Self::Phq9 => &PHQ9_BANDS,
            Self::Gad7 => &GAD7_BANDS,
        }
    }

    /// The band's lower bounds, for drawing them on a trend.
    pub fn band_floors(self) -> impl Iterator<Item = (u8, &'static str)> {
        self.bands().iter().copied()
    }

    pub fn short_name(self) -> &'static str {
        match self {
            Self::Phq9 => "PHQ-9",
            Self::Gad7 => "GAD-7",
        }
    }

    /// Scores one complete set of answers (each 0 to 3, one per item).
    pub fn score(self, answers: &[u8]) -> Result<Score, Vec<FieldError>> {
        let mut problems = Vec::new();
        if answers.len() != self.items().len() {
            problems.push(FieldError::new(
                "answers",
                format!(
                    "the {} has {} items; answer each with 0 to 3",
                    self.short_name(),
                    self.items().len()
                ),
            ));
        }
        for (i, answer) in answers.iter().enumerate() {
            if *answer > 3 {
                problems.push(FieldError::new(format!("answers[{i}]"), "answer with 0 to 3"));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        let total: u8 = answers.iter().sum();
        let severity = self
            .bands()
            .iter()
            .rev()
            .find(|(floor, _)| total >= *floor)
            .map_or("Minimal", |(_, band)| *band);
        Ok(Score {
            total,
            severity,
            self_harm_risk: self == Self::Phq9 && answers.get(8).is_some_and(|a| *a > 0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Worked examples: answers that reach each band's lowest and highest total.
    #[test]
    fn phq9_totals_fall_in_the_published_bands() {
        let cases: [([u8; 9], u8, &str); 10] = [
            ([0, 0, 0, 0, 0, 0, 0, 0, 0], 0, "Minimal"),
            ([1, 1, 1, 1, 0, 0, 0, 0, 0], 4, "Minimal"),
            ([1, 1, 1, 1, 1, 0, 0, 0, 0], 5, "Mild"),
            ([2, 2, 2, 1, 1, 1, 0, 0, 0], 9, "Mild"),
            ([2, 2, 2, 2, 1, 1, 0, 0, 0], 10, "Moderate"),
            ([2, 2, 2, 2, 2, 2, 2, 0, 0], 14, "Moderate"),
            ([3, 3, 2, 2, 2, 2, 1, 0, 0], 15, "Moderately severe"),
            ([3, 3, 3, 3, 2, 2, 2, 1, 0], 19, "Moderately severe"),
            ([3, 3, 3, 3, 2, 2, 2, 2, 0], 20, "Severe"),
            ([3, 3, 3, 3, 3, 3, 3, 3, 3], 27, "Severe"),
        ];
        for (answers, total, band) in cases {
            let score = Instrument::Phq9.score(&answers).unwrap();
            assert_eq!((score.total, score.severity), (total, band), "{answers:?}");
        }
    }

    #[test]
    fn gad7_totals_fall_in_the_published_bands() {
        let cases: [([u8; 7], u8, &str); 8] = [
            ([0, 0, 0, 0, 0, 0, 0], 0, "Minimal"),
            ([1, 1, 1, 1, 0, 0, 0], 4, "Minimal"),
            ([1, 1, 1, 1, 1, 0, 0], 5, "Mild"),
            ([2, 2, 2, 1, 1, 1, 0], 9, "Mild"),
            ([2, 2, 2, 2, 1, 1, 0], 10, "Moderate"),
            ([2, 2, 2, 2, 2, 2, 2], 14, "Moderate"),
            ([3, 3, 3, 2, 2, 1, 1], 15, "Severe"),
            ([3, 3, 3, 3, 3, 3, 3], 21, "Severe"),
        ];
        for (answers, total, band) in cases {
            let score = Instrument::Gad7.score(&answers).unwrap();
            assert_eq!((score.total, score.severity), (total, band), "{answers:?}");
            assert!(!score.self_harm_risk);
        }
    }

    #[test]
    fn any_answer_above_zero_on_phq9_item_9_flags_self_harm_risk() {
        let mut answers = [0u8; 9];
        assert!(!Instrument::Phq9.score(&answers).unwrap().self_harm_risk);
        for value in 1..=3 {
            answers[8] = value;
            let score = Instrument::Phq9.score(&answers).unwrap();
            assert!(score.self_harm_risk, "item 9 = {value}");
            assert_eq!(score.severity, "Minimal", "the flag does not depend on the total");
        }
    }

    #[test]
    fn incomplete_or_out_of_range_answers_are_refused() {
        let problems = Instrument::Gad7.score(&[0, 1, 2]).unwrap_err();
        assert!(problems[0].message.contains("has 7 items"));
        let problems = Instrument::Phq9.score(&[0, 0, 0, 0, 4, 0, 0, 0, 0]).unwrap_err();
        assert_eq!(problems[0].field, "answers[4]");
    }
}
