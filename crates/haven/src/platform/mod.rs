//! SPEC module 10, Platform: the database servers Haven talks to, migrations, and
//! multi-tenancy (one database per organisation, routed by host name).

pub mod batch;
pub mod database;
pub mod handlers;
pub mod jobs;
mod manifest;
pub mod service_accounts;
pub mod tenancy;

pub use manifest::module;
