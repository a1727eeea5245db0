//! Haven's integration tests: one binary, one module per area, each test on its own
//! databases in the run's private PostgreSQL cluster, over real HTTP on 127.0.0.1.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::missing_panics_doc)]

mod support;

mod audit;
mod edge;
mod health;
mod logging;
mod private_cluster;
mod startup;
mod tenancy;
