//! SPEC module 6, Compliance: the audit trail, the PHI wrapper that keeps protected
//! values out of logs, encryption at rest, storage policy with approved networks, and
//! the storage layer that enforces the policy.

pub mod audit;
pub mod networks;
pub mod phi;
pub mod rotation;
pub mod s3_config;
pub mod sealing;
pub mod storage;

pub use phi::Phi;
