//! The clinical pages: the chart's notes and measures tabs, writing, signing and amending
//! notes, recording a measure, the co-sign queue and notes owed.

use crate::web::routes::RouteTable;

pub fn routes(table: RouteTable) -> RouteTable {
    table
}
