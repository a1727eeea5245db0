//! The demo's help centre: a few categories and articles about Haven itself, written
//! through the help store as an editor's would be, once.

use uuid::Uuid;

use crate::help::store::{self, ArticleFields};
use crate::help::{ArticleStatus, HelpState, markdown};

const CATEGORIES: &[(&str, &str, &str)] = &[
    (
        "getting-started",
        "Getting started",
        "Signing in, the home page and finding your way.",
    ),
    ("clients", "Clients", "Registering people, safe contact and the chart."),
    ("appointments", "Appointments", "The calendar, booking and reminders."),
    ("clinical-records", "Clinical records", "Notes, measures and documents."),
];

/// (category, slug, title, summary, tags, page keys, body)
type DemoArticle = (
    &'static str,
    &'static str,
    &'static str,
    &'static str,
    &'static [&'static str],
    &'static [&'static str],
    &'static str,
);

const ARTICLES: &[DemoArticle] = &[
    (
        "getting-started",
        "signing-in-with-a-second-factor",
        "Signing in with a second factor",
        "Set up an authenticator app once; then sign in with a six-digit code.",
        &["login", "totp", "authenticator"],
        &["account"],
        "After your password, Haven asks for the **six-digit code** from your authenticator app.\n\n\
         1. Open *My account* and choose **Set up a second factor**.\n\
         2. Scan the code with the app and type the number it shows.\n\
         3. Keep the recovery codes somewhere safe: each works once.\n\n\
         Lost your phone? Ask an organisation admin to reset your second factor.",
    ),
    (
        "clients",
        "searching-for-a-client",
        "Searching for a client",
        "Search by name, date of birth or identifier before registering anyone.",
        &["search", "find", "register"],
        &["clients.search", "clients"],
        "Type part of a name, a date of birth (`1990-04-12`) or an identifier. Small typing slips \
         still find the person.\n\n\
         **Search before you register**, so that nobody gets two records. You only see the clients \
         you may reach: your caseload, your team's if you supervise, or everyone if you work at the \
         front desk.",
    ),
    (
        "clients",
        "safe-contact-settings",
        "Safe contact settings",
        "Record only the ways of contact the client said are safe.",
        &["privacy", "reminders", "email", "phone"],
        &["clients.search", "clients"],
        "Ask the client how they may be contacted **safely**, and tick only those channels. \
         Reminders use nothing else, not even a calendar invitation.\n\n\
         | Setting | What it allows |\n|---|---|\n\
         | Email is safe | appointment reminders by email |\n\
         | Phone is safe | calls from the service |\n\n\
         If in doubt, leave it unticked: a missed reminder is better than an unsafe message.",
    ),
    (
        "appointments",
        "booking-an-appointment",
        "Booking an appointment",
        "Choose a free slot in the calendar, then the client and the room.",
        &["calendar", "schedule", "rooms"],
        &["appointments", "appointments.day"],
        "Open **Appointments**, go to the day, and choose **Book**. Pick the client (or clients, for a \
         group), the counsellor, the time and a room. Haven refuses a booking that would double-book \
         the counsellor, a client or the room, and says which.\n\n\
         Reminders go by email to clients whose email is marked safe.",
    ),
    (
        "clinical-records",
        "writing-and-signing-a-note",
        "Writing and signing a note",
        "Draft a note from a template, then sign it; signed notes are only ever amended.",
        &["notes", "soap", "dap", "sign"],
        &["notes.editor", "notes"],
        "Start a note from the client's **Notes** tab and choose a template (SOAP, DAP, BIRP or a \
         group note). Save drafts as often as you like.\n\n\
         **Sign the note** when it is complete: Haven checks that every required part is filled in. \
         A signed note cannot change; to correct it, **amend** it with a reason, and both versions are kept.",
    ),
    (
        "clinical-records",
        "triaging-referrals",
        "Triaging referrals",
        "Work the referral queue from new to accepted or declined.",
        &["referrals", "triage", "queue"],
        &["referrals.triage", "referrals"],
        "New referrals arrive in the **New** tab. Open one, set its priority, and assign it to a \
         counsellor or decline it with a reason. Urgent referrals sit at the top.",
    ),
];

/// Writes the demo's help content unless the help centre has some already.
pub fn seed(state: &crate::state::AppState) -> futures_util::future::BoxFuture<'_, anyhow::Result<()>> {
    Box::pin(articles(&state.help))
}

async fn articles(help: &HelpState) -> anyhow::Result<()> {
    if !store::all_articles(&help.pool).await?.is_empty() {
        return Ok(());
    }
    let now = help.clock.now();
    let mut tx = help.pool.begin().await?;
    let mut categories = Vec::new();
    for (position, (slug, name, description)) in (0..).zip(CATEGORIES) {
        let id = Uuid::now_v7();
        store::insert_category(&mut *tx, id, slug, name, description, position).await?;
        categories.push((*slug, id));
    }
    for (category, slug, title, summary, tags, page_keys, body) in ARTICLES {
        let fields = ArticleFields {
            slug: (*slug).to_owned(),
            title: (*title).to_owned(),
            summary: (*summary).to_owned(),
            body_markdown: (*body).to_owned(),
            category_id: categories.iter().find(|(s, _)| s == category).map(|(_, id)| *id),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            page_keys: page_keys.iter().map(|k| (*k).to_owned()).collect(),
        };
        store::insert_article(
            &mut tx,
            super::ArticleId::new(),
            &fields,
            &markdown::render(body),
            ArticleStatus::Published,
            now,
        )
        .await?;
    }
    tx.commit().await?;
    Ok(())
}
