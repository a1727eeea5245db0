//! Obviously fictional clients, for the demo organisation and for benchmarks: ordinary
//! given names with invented family names ("Ashbrook", "Quillmere"), deterministic from
//! a seed so that runs compare.

use chrono::{DateTime, NaiveDate, TimeDelta, Utc};
use sqlx::PgConnection;
use uuid::Uuid;

const GIVEN: &[&str] = &[
    "Ada",
    "Aiden",
    "Alex",
    "Amara",
    "Anika",
    "Ari",
    "Asha",
    "Ben",
    "Bella",
    "Cai",
    "Carmen",
    "Chloe",
    "Dara",
    "Diego",
    "Eden",
    "Eli",
    "Elif",
    "Ember",
    "Ezra",
    "Farah",
    "Finn",
    "Gia",
    "Hana",
    "Harper",
    "Ibrahim",
    "Ines",
    "Isla",
    "Jack",
    "Jade",
    "Jai",
    "John",
    "Jonah",
    "Kai",
    "Keira",
    "Kian",
    "Lara",
    "Leo",
    "Lina",
    "Luca",
    "Maya",
    "Mei",
    "Mila",
    "Milo",
    "Mohammed",
    "Nadia",
    "Nia",
    "Noah",
    "Nora",
    "Omar",
    "Oscar",
    "Priya",
    "Quinn",
    "Rafael",
    "Reza",
    "Riley",
    "Rosa",
    "Ruby",
    "Sam",
    "Sana",
    "Sofia",
    "Tariq",
    "Tess",
    "Theo",
    "Uma",
    "Vera",
    "Wren",
    "Yara",
    "Yusuf",
    "Zara",
    "Zoe",
    "Catherine",
    "Daniel",
    "Elena",
    "Hugo",
    "Ivy",
    "Jasper",
    "Lena",
    "Mateo",
    "Olive",
    "Pia",
    "Remy",
    "Sienna",
    "Tomas",
    "Willa",
];
const FAMILY_START: &[&str] = &[
    "Ash", "Birch", "Bright", "Cinder", "Clover", "Copper", "Dawn", "Elder", "Fern", "Frost", "Glen", "Hazel",
    "Heather", "Holly", "Iron", "Juniper", "Kestrel", "Lark", "Linden", "Maple", "Marsh", "Moss", "North", "Oak",
    "Quill", "Raven", "Reed", "Rowan", "Sage", "Silver", "Sparrow", "Stone", "Thistle", "Willow", "Wren",
];
const FAMILY_END: &[&str] = &[
    "brook", "bury", "combe", "croft", "dale", "field", "ford", "gate", "grove", "hall", "haven", "hill", "holm",
    "hurst", "ley", "mere", "moor", "more", "ridge", "shaw", "stead", "thorpe", "ton", "vale", "well", "wick", "wood",
    "worth",
];
// Syllables for the long tail of rarer family names ("Tavrenor", "Kloumest"): a real
// register of a million people holds hundreds of thousands of distinct names.
const ONSET: &[&str] = &[
    "b", "d", "f", "g", "k", "l", "m", "n", "p", "r", "s", "t", "v", "z", "br", "dr", "kl", "st", "tr",
];
const VOWEL: &[&str] = &["a", "e", "i", "o", "u", "ai", "ei", "ou"];
const CODA: &[&str] = &["", "n", "r", "l", "s", "th", "nd"];
const PRONOUNS: &[&str] = &["she/her", "he/him", "they/them"];

/// A small deterministic generator (SplitMix64): reproducible, no dependency.
pub struct Dice(u64);

impl Dice {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn roll(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.roll() % (n.max(1) as u64)).unwrap_or(0)
    }

    pub fn pick<'a>(&mut self, from: &[&'a str]) -> &'a str {
        from[self.below(from.len())]
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

#[derive(Debug, Clone)]
pub struct FictionalPerson {
    pub given: String,
    pub family: String,
    pub preferred: Option<String>,
    pub pronouns: Option<String>,
    pub date_of_birth: Option<NaiveDate>,
    pub status: &'static str,
    pub phone: Option<String>,
}

pub fn person(dice: &mut Dice, today: NaiveDate) -> FictionalPerson {
    let given = dice.pick(GIVEN).to_owned();
    let family = if dice.chance(25) {
        rare_family_name(dice)
    } else {
        format!("{}{}", dice.pick(FAMILY_START), dice.pick(FAMILY_END))
    };
    let preferred = dice.chance(8).then(|| dice.pick(GIVEN).to_owned());
    let pronouns = dice.chance(60).then(|| dice.pick(PRONOUNS).to_owned());
    // Youth services and adults: 8 to 80 years old.
    let days = 8 * 365 + dice.below(72 * 365);
    let date_of_birth = dice
        .chance(92)
        .then(|| today - TimeDelta::days(i64::try_from(days).unwrap_or(0)));
    let status = match dice.below(10) {
        0..=5 => "active",
        6..=7 => "waitlisted",
        _ => "discharged",
    };
    // 555-01xx: numbers reserved for fiction.
    let phone = dice.chance(80).then(|| format!("555-01{:02}", dice.below(100)));
    FictionalPerson {
        given,
        family,
        preferred,
        pronouns,
        date_of_birth,
        status,
        phone,
    }
}

fn rare_family_name(dice: &mut Dice) -> String {
    let syllables = 2 + dice.below(2);
    let mut name = String::new();
    for _ in 0..syllables {
        name.push_str(dice.pick(ONSET));
        name.push_str(dice.pick(VOWEL));
        name.push_str(dice.pick(CODA));
    }
    let mut letters = name.chars();
    letters
        .next()
        .map(|first| first.to_uppercase().chain(letters).collect())
        .unwrap_or_default()
}

/// Inserts `people` as clients in one statement; returns their ids.
pub async fn insert_clients(
    conn: &mut PgConnection,
    people: &[FictionalPerson],
    now: DateTime<Utc>,
) -> Result<Vec<crate::clients::ClientId>, sqlx::Error> {
    let ids: Vec<Uuid> = people.iter().map(|_| Uuid::now_v7()).collect();
    let given: Vec<String> = people.iter().map(|p| p.given.clone()).collect();
    let family: Vec<String> = people.iter().map(|p| p.family.clone()).collect();
    let preferred: Vec<Option<String>> = people.iter().map(|p| p.preferred.clone()).collect();
    let pronouns: Vec<Option<String>> = people.iter().map(|p| p.pronouns.clone()).collect();
    let dob: Vec<Option<NaiveDate>> = people.iter().map(|p| p.date_of_birth).collect();
    let status: Vec<String> = people.iter().map(|p| p.status.to_owned()).collect();
    let phone: Vec<Option<String>> = people.iter().map(|p| p.phone.clone()).collect();
    sqlx::query!(
        r#"
        INSERT INTO clients (id, legal_given_name, legal_family_name, preferred_name, pronouns, date_of_birth,
                             status, phone, ok_to_phone, ok_to_text, created_at, updated_at)
        SELECT id, g, f, p, pr, d, s, ph, ph IS NOT NULL, ph IS NOT NULL, $9, $9
        FROM UNNEST($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[], $6::date[], $7::text[], $8::text[])
             AS u(id, g, f, p, pr, d, s, ph)
        "#,
        &ids,
        &given,
        &family,
        &preferred as &[Option<String>],
        &pronouns as &[Option<String>],
        &dob as &[Option<NaiveDate>],
        &status,
        &phone as &[Option<String>],
        now,
    )
    .execute(conn)
    .await?;
    Ok(ids.into_iter().map(crate::clients::ClientId).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_same_seed_gives_the_same_people() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 22).unwrap();
        let a = person(&mut Dice::new(7), today);
        let b = person(&mut Dice::new(7), today);
        assert_eq!((a.given, a.family), (b.given, b.family));
        let born = a.date_of_birth.unwrap_or(today);
        assert!(born <= today - TimeDelta::days(8 * 365));
    }
}
