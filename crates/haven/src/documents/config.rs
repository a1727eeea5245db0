//! The `[documents]` section of `haven.toml`.

use std::path::PathBuf;

use bytesize::ByteSize;
use serde::{Deserialize, Serialize};

use crate::config::{Config, Section};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DocumentsConfig {
    /// The largest document an upload may carry.
    pub max_size: ByteSize,
    /// Local document storage (default `<data_dir>/documents`).
    pub dir: Option<PathBuf>,
}

impl Default for DocumentsConfig {
    fn default() -> Self {
        Self {
            max_size: ByteSize::mib(25),
            dir: None,
        }
    }
}

impl Section for DocumentsConfig {
    const NAME: &'static str = "documents";
    const SETTINGS: &'static [(&'static str, &'static str, &'static str)] = &[
        (
            "max_size",
            "document_max_size",
            "use a size such as \"25 MiB\" (1 KiB to 1 GiB)",
        ),
        (
            "dir",
            "documents_dir",
            "use a folder path (default <data_dir>/documents)",
        ),
    ];

    fn validate(&self, _: &Config) -> Result<(), (&'static str, String)> {
        if self.max_size < ByteSize::kib(1) || self.max_size > ByteSize::gib(1) {
            return Err(("max_size", format!("{} is outside 1 KiB to 1 GiB", self.max_size)));
        }
        Ok(())
    }
}

impl DocumentsConfig {
    /// Where documents are kept on local disk.
    pub fn path(&self, config: &Config) -> PathBuf {
        self.dir.clone().unwrap_or_else(|| config.data_dir.join("documents"))
    }
}
