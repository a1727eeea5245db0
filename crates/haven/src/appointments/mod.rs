//! Appointments and calendar (SPEC module 3): sessions with one or more clients, a
//! clinician and perhaps a co-facilitator, in a room, by telehealth or elsewhere;
//! recurring series; conflicts; reminders; private calendar feeds. See
//! docs/appointments.md.

pub mod recurrence;
