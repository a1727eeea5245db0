//! The benchmarks behind `haven bench ...` (README "Benchmarks"): their load generators
//! and measurements, kept out of the modules they measure. They call the modules' public
//! functions as any other caller does.

pub mod audit;
pub mod backup;
pub mod help;
pub mod http;
pub mod identity;
pub mod search;

use std::time::Duration;

/// The `q` quantile (0 to 1) of latencies sorted in ascending order (zero for none).
pub fn quantile(sorted: &[Duration], q: f64) -> Duration {
    #[allow(
        clippy::cast_precision_loss,
        clippy::cast_possible_truncation,
        clippy::cast_sign_loss
    )]
    let index = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted.get(index).copied().unwrap_or_default()
}
