//! Backups declare themselves: the daily backup job of each organisation.

use crate::module::Module;

pub fn module() -> Module {
    Module::new("backups").jobs(|handlers| {
        handlers
            .on(super::schedule::DAILY_JOB, super::schedule::run)
            .plan(super::schedule::plan)
    })
}
