//! Haven's integration tests: one binary, one module per area, each test on its own
//! databases in the run's private PostgreSQL cluster, over real HTTP on 127.0.0.1.

// A test reads best as one story from set-up to the last assertion, however long.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::missing_panics_doc,
    clippy::too_many_lines
)]

mod support;

mod access;
mod accounts;
mod appointments;
mod audit;
mod backups;
mod clients;
mod crash;
mod documents;
mod edge;
mod encryption;
mod health;
mod help;
mod help_service;
mod identity;
mod jobs;
mod logging;
mod modules;
mod notes;
mod openapi;
mod platform;
mod private_cluster;
mod referrals;
mod startup;
mod tenancy;
mod tokens;
