//! Haven: a self-hostable care-practice platform.
//!
//! One folder per SPEC module (`platform`, `compliance`, `health`, ...) holds that
//! module's types, queries and handlers; `web` holds what every route shares (router,
//! edge middleware, errors, tenant resolution); `app` builds and runs the server; `cli`
//! is the `haven` command.

mod words;

pub mod actor;
pub mod app;
pub mod appointments;
pub mod backups;
pub mod bench;
pub mod cli;
pub mod clients;
pub mod clinical;
pub mod clock;
pub mod compliance;
pub mod config;
pub mod demo;
pub mod documents;
pub mod error;
pub mod health;
pub mod help;
pub mod home;
pub mod id;
pub mod identity;
pub mod mail;
pub mod metrics;
pub mod module;
pub mod modules;
pub mod organisation;
pub mod platform;
pub mod policy;
pub mod referrals;
pub mod state;
pub mod telemetry;
pub mod upload;
pub mod validate;
pub mod web;
