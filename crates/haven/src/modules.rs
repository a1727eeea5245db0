//! The application's modules, in one list: the only place that names them all. Adding a
//! module is its folder plus one line here (docs/architecture.md).

use crate::module::{Module, Modules};

/// The application, assembled from every module.
pub fn all() -> Modules {
    Modules::new(list())
}

/// Every module, in the order their routes, API document and jobs are assembled.
pub fn list() -> Vec<Module> {
    vec![
        crate::web::module(),
        crate::health::module(),
        crate::identity::module(),
        crate::compliance::audit::module(),
        crate::platform::module(),
        crate::home::module(),
        crate::clients::module(),
        crate::referrals::module(),
        crate::appointments::module(),
        crate::clinical::module(),
        crate::documents::module(),
        crate::help::module(),
        crate::backups::module(),
    ]
}
