//! SPEC module 6, Compliance: the audit trail, and the PHI wrapper that keeps protected
//! values out of logs. Storage policy joins them here.

pub mod audit;
pub mod phi;
pub mod sealing;

pub use phi::Phi;
