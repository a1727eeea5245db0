//! The benchmarks behind `haven bench ...` (README "Benchmarks"): their load generators
//! and measurements, kept out of the modules they measure. They call the modules' public
//! functions as any other caller does.

pub mod audit;
pub mod backup;
pub mod help;
pub mod http;
pub mod identity;
pub mod search;
