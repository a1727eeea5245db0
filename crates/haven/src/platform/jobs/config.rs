//! The `[jobs]` section of `haven.toml`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::config::{Config, Section};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    /// How often each worker looks for due jobs.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// How many jobs one Haven process runs at once.
    pub concurrency: usize,
    /// How long a claimed job stays a worker's without renewal (renewed every third of it).
    #[serde(with = "humantime_serde")]
    pub lease: Duration,
}

impl Default for JobsConfig {
    fn default() -> Self {
        Self {
            poll_interval: Duration::from_secs(1),
            concurrency: 4,
            lease: Duration::from_secs(60),
        }
    }
}

impl Section for JobsConfig {
    const NAME: &'static str = "jobs";
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "poll_interval",
            "jobs_poll_interval",
            "use a duration such as \"1s\" (10ms to 5m)",
        ),
        ("concurrency", "jobs_concurrency", "use a number from 1 to 256"),
        ("lease", "jobs_lease", "use a duration such as \"60s\" (at least 3s)"),
    ];

    fn validate(&self, _: &Config) -> Result<(), (&'static str, String)> {
        if self.poll_interval < Duration::from_millis(10) || self.poll_interval > Duration::from_secs(300) {
            return Err((
                "poll_interval",
                format!("{:?} is outside 10ms to 5m", self.poll_interval),
            ));
        }
        if !(1..=256).contains(&self.concurrency) {
            return Err(("concurrency", format!("{} is outside 1 to 256", self.concurrency)));
        }
        if self.lease < Duration::from_secs(3) {
            return Err(("lease", format!("{:?} is too short", self.lease)));
        }
        Ok(())
    }
}
