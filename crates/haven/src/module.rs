//! What a module declares about itself, and the application assembled from those
//! declarations.
//!
//! Each SPEC module has one `module()` function returning its [`Module`]: its routes with
//! their access level, its part of the OpenAPI document, its job kinds, its navigation
//! entries (each gated by the policy action of the page it leads to), the API-token scopes
//! it offers, its sealed columns (for key rotation), and its client-record tables (for
//! the `hipaa_exempt` cascade, retention and export). `crate::modules` lists every
//! module once; nothing else names them all.

use crate::compliance::rotation::SealedColumn;
use crate::platform::jobs::Handlers;
use crate::policy::{Action, ClientFacts, Scope};
use crate::state::AppState;
use crate::web::page::NavItem;
use crate::web::routes::RouteTable;

type RoutesFn = Box<dyn Fn(RouteTable, &AppState) -> RouteTable + Send + Sync>;
type JobsFn = fn(Handlers<AppState>) -> Handlers<AppState>;
/// Routes served on the operators' listener (`admin_listen`) as well.
type OperatorFn = fn() -> axum::Router<AppState>;
/// Writes a module's demo data (`haven serve --demo`) into every organisation that has
/// none of it yet.
pub type DemoFn = for<'a> fn(&'a AppState) -> futures_util::future::BoxFuture<'a, anyhow::Result<()>>;

/// A link in the navigation, shown to those the policy lets open the page.
#[derive(Debug, Clone)]
pub struct NavEntry {
    /// Where it sits: lower first (Home is 0, the account and kit pages come last).
    pub position: u16,
    pub href: &'static str,
    pub label: &'static str,
    /// The section the page marks as current (`Chrome::at`).
    pub section: &'static str,
    /// The page's own policy action; `None` for pages everyone signed in may open.
    pub gate: Option<Action>,
}

/// A tab of a client's chart (`/clients/{id}/{path}`), supplied by the module whose
/// records it shows, and shown to those the policy lets take `gate` on that client.
#[derive(Debug, Clone)]
pub struct ChartTab {
    /// Where it sits: lower first (the overview is 0).
    pub position: u16,
    /// The path under the client (`""` for the overview); also the tab's key.
    pub path: &'static str,
    pub label: &'static str,
    pub gate: fn(ClientFacts) -> Action,
}

/// A table whose rows belong to one client (a `client_id` column). Every such table is
/// declared by the module that owns it (a test holds the database to that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientTable {
    /// The client's records, each carrying its own `hipaa_exempt`, kept equal to the
    /// client's when that changes.
    Flagged(&'static str),
    /// The client's records that take `hipaa_exempt` from the client row.
    Records(&'static str),
    /// Not a record of the client's care (who may reach the client, emergency-access
    /// grants), with the reason.
    NotRecords(&'static str, &'static str),
}

impl ClientTable {
    pub fn table(self) -> &'static str {
        match self {
            Self::Flagged(table) | Self::Records(table) | Self::NotRecords(table, _) => table,
        }
    }
}

/// One module's declaration.
pub struct Module {
    pub name: &'static str,
    routes: Vec<RoutesFn>,
    openapi: Vec<fn() -> utoipa::openapi::OpenApi>,
    jobs: Vec<JobsFn>,
    operator: Vec<OperatorFn>,
    nav: Vec<NavEntry>,
    scopes: Vec<(Scope, &'static str)>,
    sealed: Vec<SealedColumn>,
    client_tables: Vec<ClientTable>,
    chart_tabs: Vec<ChartTab>,
    demo: Vec<(u16, DemoFn)>,
}

impl Module {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            routes: Vec::new(),
            openapi: Vec::new(),
            jobs: Vec::new(),
            operator: Vec::new(),
            nav: Vec::new(),
            scopes: Vec::new(),
            sealed: Vec::new(),
            client_tables: Vec::new(),
            chart_tabs: Vec::new(),
            demo: Vec::new(),
        }
    }

    /// Routes, added to the table with their access level.
    #[must_use]
    pub fn routes(mut self, routes: fn(RouteTable) -> RouteTable) -> Self {
        self.routes.push(Box::new(move |table, _| routes(table)));
        self
    }

    /// Routes that depend on configuration (e.g. CORS origins).
    #[must_use]
    pub fn routes_with(mut self, routes: fn(RouteTable, &AppState) -> RouteTable) -> Self {
        self.routes.push(Box::new(routes));
        self
    }

    /// The module's part of the OpenAPI document (its paths, schemas and tags).
    #[must_use]
    pub fn openapi(mut self, document: fn() -> utoipa::openapi::OpenApi) -> Self {
        self.openapi.push(document);
        self
    }

    /// Job kinds the module queues, with what runs them.
    #[must_use]
    pub fn operator_routes(mut self, routes: OperatorFn) -> Self {
        self.operator.push(routes);
        self
    }

    #[must_use]
    pub fn jobs(mut self, jobs: JobsFn) -> Self {
        self.jobs.push(jobs);
        self
    }

    /// A navigation entry, shown when the policy allows `gate` (always, for `None`).
    #[must_use]
    pub fn nav(
        mut self,
        position: u16,
        href: &'static str,
        label: &'static str,
        section: &'static str,
        gate: Option<Action>,
    ) -> Self {
        self.nav.push(NavEntry {
            position,
            href,
            label,
            section,
            gate,
        });
        self
    }

    /// An API-token scope the module's actions need, with what it lets a token do.
    #[must_use]
    pub fn scope(mut self, scope: Scope, description: &'static str) -> Self {
        self.scopes.push((scope, description));
        self
    }

    /// A sealed column, re-sealed by `haven keys rotate`.
    #[must_use]
    pub fn sealed(mut self, column: SealedColumn) -> Self {
        self.sealed.push(column);
        self
    }

    /// A tab of the client chart, shown when the policy allows `gate` on the client.
    #[must_use]
    pub fn chart_tab(
        mut self,
        position: u16,
        path: &'static str,
        label: &'static str,
        gate: fn(ClientFacts) -> Action,
    ) -> Self {
        self.chart_tabs.push(ChartTab {
            position,
            path,
            label,
            gate,
        });
        self
    }

    /// The module's demo data, written in position order after the modules before it
    /// (staff first, then clients, then what is about clients).
    #[must_use]
    pub fn demo(mut self, position: u16, seed: DemoFn) -> Self {
        self.demo.push((position, seed));
        self
    }

    /// A table with a `client_id` column, and whether its rows are client records.
    #[must_use]
    pub fn client_table(mut self, table: ClientTable) -> Self {
        self.client_tables.push(table);
        self
    }
}

/// The application: every module's declarations, assembled once at start.
pub struct Modules {
    list: Vec<Module>,
    nav: Vec<NavEntry>,
    chart_tabs: Vec<ChartTab>,
    openapi: utoipa::openapi::OpenApi,
    openapi_json: bytes::Bytes,
    query_names: crate::web::query::QueryNames,
}

impl Modules {
    pub fn new(modules: Vec<Module>) -> Self {
        let mut nav: Vec<NavEntry> = modules.iter().flat_map(|m| m.nav.iter().cloned()).collect();
        nav.sort_by_key(|entry| entry.position);
        let mut chart_tabs: Vec<ChartTab> = modules.iter().flat_map(|m| m.chart_tabs.iter().cloned()).collect();
        chart_tabs.sort_by_key(|tab| tab.position);
        let openapi =
            crate::web::openapi::document(modules.iter().flat_map(|m| m.openapi.iter().map(|document| document())));
        let openapi_json = serde_json::to_vec(&openapi).unwrap_or_default().into();
        let query_names = crate::web::query::QueryNames::of(&openapi);
        Self {
            list: modules,
            nav,
            chart_tabs,
            openapi,
            openapi_json,
            query_names,
        }
    }

    /// The OpenAPI document of every module's API.
    pub fn openapi(&self) -> &utoipa::openapi::OpenApi {
        &self.openapi
    }

    /// The same, serialised once.
    pub fn openapi_json(&self) -> bytes::Bytes {
        self.openapi_json.clone()
    }

    /// The query parameters each API operation takes (from the document).
    pub fn query_names(&self) -> &crate::web::query::QueryNames {
        &self.query_names
    }

    pub fn names(&self) -> impl Iterator<Item = &'static str> + '_ {
        self.list.iter().map(|m| m.name)
    }

    /// Every route of the application, with who may call it.
    pub fn route_table(&self, state: &AppState) -> RouteTable {
        self.list
            .iter()
            .flat_map(|m| m.routes.iter())
            .fold(RouteTable::new(), |table, routes| routes(table, state))
    }

    /// What each kind of background job does.
    /// The routes every module serves on the operators' listener too.
    pub fn operator_router(&self) -> axum::Router<AppState> {
        self.list
            .iter()
            .flat_map(|m| m.operator.iter())
            .fold(axum::Router::new(), |router, routes| router.merge(routes()))
    }

    pub fn job_handlers(&self) -> Handlers<AppState> {
        self.list
            .iter()
            .flat_map(|m| m.jobs.iter())
            .fold(Handlers::default(), |handlers, jobs| jobs(handlers))
    }

    /// The navigation entries, in order.
    pub fn nav(&self) -> &[NavEntry] {
        &self.nav
    }

    /// The navigation for someone: the entries whose page the policy lets them open.
    pub fn nav_for(&self, allowed: impl Fn(&Action) -> bool) -> Vec<NavItem> {
        self.nav
            .iter()
            .filter(|entry| entry.gate.as_ref().is_none_or(&allowed))
            .map(|entry| NavItem {
                href: entry.href,
                label: entry.label,
                section: entry.section,
                current: false,
            })
            .collect()
    }

    /// Every tab of the client chart, in order.
    pub fn chart_tabs(&self) -> &[ChartTab] {
        &self.chart_tabs
    }

    /// The chart's tabs someone may open on a client, in order.
    pub fn chart_tabs_for(&self, facts: ClientFacts, allowed: impl Fn(&Action) -> bool) -> Vec<&ChartTab> {
        self.chart_tabs
            .iter()
            .filter(|tab| allowed(&(tab.gate)(facts)))
            .collect()
    }

    /// Every module's demo seeding, in order.
    pub fn demo_seeders(&self) -> Vec<DemoFn> {
        let mut seeders: Vec<(u16, DemoFn)> = self.list.iter().flat_map(|m| m.demo.iter().copied()).collect();
        seeders.sort_by_key(|(position, _)| *position);
        seeders.into_iter().map(|(_, seed)| seed).collect()
    }

    /// Every API-token scope, with what it allows.
    pub fn scopes(&self) -> impl Iterator<Item = (Scope, &'static str)> + '_ {
        self.list.iter().flat_map(|m| m.scopes.iter().copied())
    }

    /// Every sealed column.
    pub fn sealed(&self) -> Vec<SealedColumn> {
        self.list.iter().flat_map(|m| m.sealed.iter().copied()).collect()
    }

    /// Every table with a `client_id` column that a module declared.
    pub fn client_tables(&self) -> impl Iterator<Item = ClientTable> + '_ {
        self.list.iter().flat_map(|m| m.client_tables.iter().copied())
    }

    /// The tables of client records with their own `hipaa_exempt`, which follows the
    /// client's.
    pub fn flagged_client_tables(&self) -> Vec<&'static str> {
        self.client_tables()
            .filter_map(|t| match t {
                ClientTable::Flagged(table) => Some(table),
                ClientTable::Records(_) | ClientTable::NotRecords(..) => None,
            })
            .collect()
    }
}
