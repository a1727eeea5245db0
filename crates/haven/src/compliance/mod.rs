//! SPEC module 6, Compliance. For now: the PHI wrapper that keeps protected values out
//! of logs. The audit trail and storage policy join it here.

pub mod phi;

pub use phi::Phi;
