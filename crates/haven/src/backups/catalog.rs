//! The backups there are: files in the local folder and objects on the cloud target,
//! named `haven-<slug>-<time>.tar.age`.

use chrono::{DateTime, NaiveDateTime, Utc};

use super::BackupError;
use crate::compliance::storage::{Storage, Target};
use crate::config::Config;

/// One backup file.
#[derive(Debug, Clone)]
pub struct Listed {
    pub slug: String,
    pub made_at: DateTime<Utc>,
    pub target: Target,
    /// A path, or the cloud target's object key.
    pub location: String,
    pub bytes: u64,
}

/// The organisation and time a backup's name gives (`None`: not a backup's name).
pub fn parse_name(name: &str) -> Option<(String, DateTime<Utc>)> {
    let stem = name.strip_prefix("haven-")?.strip_suffix(".tar.age")?;
    let (slug, time) = stem.rsplit_once('-')?;
    let time = NaiveDateTime::parse_from_str(time, "%Y%m%dT%H%M%S%.3fZ").ok()?;
    Some((slug.to_owned(), time.and_utc()))
}

/// Every backup in the local folder and, when one is configured, on the cloud target;
/// newest first.
pub async fn list(config: &Config, storage: &Storage) -> Result<Vec<Listed>, BackupError> {
    let mut found = Vec::new();
    let dir = config.backup.dir_path(config);
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some((slug, made_at)) = parse_name(&name) else {
                continue;
            };
            found.push(Listed {
                slug,
                made_at,
                target: Target::Local,
                location: entry.path().display().to_string(),
                bytes: entry.metadata().map_or(0, |m| m.len()),
            });
        }
    }
    if storage.has_cloud() {
        for (key, bytes, _) in storage.list(Target::Cloud, "backups").await? {
            let Some((slug, made_at)) = key.rsplit('/').next().and_then(parse_name) else {
                continue;
            };
            found.push(Listed {
                slug,
                made_at,
                target: Target::Cloud,
                location: key,
                bytes,
            });
        }
    }
    found.sort_by(|a, b| b.made_at.cmp(&a.made_at).then_with(|| a.location.cmp(&b.location)));
    Ok(found)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_backups_name_gives_its_organisation_and_time() {
        let (slug, at) = parse_name("haven-north-side-20261202T153000.250Z.tar.age").unwrap();
        assert_eq!(slug, "north-side");
        assert_eq!(at.to_rfc3339(), "2026-12-02T15:30:00.250+00:00");
        assert!(parse_name("notes.txt").is_none());
        assert!(parse_name("haven-x-notatime.tar.age").is_none());
    }
}
