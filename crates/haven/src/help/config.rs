//! The `[help]` section of `haven.toml`.

use serde::{Deserialize, Serialize};

use crate::config::{Config, Section, is_identifier, is_web_origin, list};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HelpConfig {
    /// The help centre's database (on the same server as the control database).
    pub database: String,
    /// Editors see a search term only once this many searches have used it.
    pub term_threshold: u32,
    /// Web origins (scheme, host and port) whose pages may read the help API from the
    /// browser (CORS). Empty: the help centre's own pages only.
    #[serde(deserialize_with = "list")]
    pub cors_origins: Vec<String>,
    /// The organisation (its slug) whose help editors write this installation's help
    /// centre; help editors of every other organisation may not edit it.
    pub editing_organisation: String,
}

impl Default for HelpConfig {
    fn default() -> Self {
        Self {
            database: "haven_help".to_owned(),
            term_threshold: 5,
            cors_origins: Vec::new(),
            editing_organisation: "default".to_owned(),
        }
    }
}

impl Section for HelpConfig {
    const NAME: &'static str = "help";
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "database",
            "help_database",
            "use 1 to 63 lower-case letters, digits or underscores, starting with a letter",
        ),
        ("term_threshold", "help_term_threshold", "use a number from 2 to 1000"),
        (
            "cors_origins",
            "help_cors_origins",
            "use a comma-separated list of origins such as https://www.example.org, or leave it empty",
        ),
        (
            "editing_organisation",
            "help_editing_organisation",
            "use the slug of the organisation whose help editors write the help centre",
        ),
    ];

    fn validate(&self, config: &Config) -> Result<(), (&'static str, String)> {
        if !is_identifier(&self.database, 63) || self.database == config.control_database {
            return Err((
                "database",
                format!(
                    "`{}` is not a safe database name apart from the control database",
                    self.database
                ),
            ));
        }
        if !(2..=1000).contains(&self.term_threshold) {
            return Err(("term_threshold", format!("{} is out of range", self.term_threshold)));
        }
        if let Some(origin) = self.cors_origins.iter().find(|o| !is_web_origin(o)) {
            return Err((
                "cors_origins",
                format!("`{origin}` is not an origin (scheme://host[:port], nothing after)"),
            ));
        }
        Ok(())
    }
}
