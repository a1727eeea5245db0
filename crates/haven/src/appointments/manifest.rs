//! Appointments declare themselves: the schedule pages and API, calendar feeds, the
//! reminder settings and the reminder job.

use utoipa::OpenApi;

use super::{api, feeds, own_pages, pages, reminder_settings, reminders};
use crate::module::{ClientTable, Module};
use crate::policy::{Action, Scope};

#[derive(OpenApi)]
#[openapi(
    paths(
        api::list,
        api::create,
        api::get,
        api::update,
        api::status,
        api::rooms,
        api::create_room,
        api::availability,
        api::set_availability,
        reminder_settings::get_api,
        reminder_settings::put_api,
        feeds::status,
        feeds::create,
        feeds::revoke,
    ),
    tags((name = "appointments", description = "Appointments, series, rooms and clinicians' hours. Times are UTC; the organisation's time zone decides wall-clock times."))
)]
struct ApiDoc;

pub fn module() -> Module {
    Module::new("appointments")
        .demo(40, super::demo::seed)
        .chart_tab(10, "appointments", "Appointments", |_| Action::ViewSchedule)
        .routes(api::routes)
        .routes(feeds::routes)
        .routes(pages::routes)
        .routes(own_pages::routes)
        .routes(reminder_settings::routes)
        .openapi(ApiDoc::openapi)
        .jobs(|handlers| handlers.on(reminders::JOB_KIND, reminders::run))
        .nav(
            20,
            "/appointments",
            "Appointments",
            "appointments",
            Some(Action::ViewSchedule),
        )
        .nav(
            52,
            "/admin/reminders",
            "Reminders",
            "reminders",
            Some(Action::ViewUsers),
        )
        .scope(Scope::AppointmentsRead, "the schedule and appointments you may see")
        .scope(
            Scope::AppointmentsWrite,
            "book and change appointments, hours and rooms",
        )
        .client_table(ClientTable::Records("appointment_clients"))
        .client_table(ClientTable::Records("reminder_log"))
}
