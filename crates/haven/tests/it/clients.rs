//! Clients over the API: registration, validation, the chart, care teams, search within
//! reach, break-glass, and the audit trail of every read and write.

use haven::identity::{Role, UserId};
use serde_json::{Value, json};

use crate::support::{TestApp, assert_envelope, field_names};

pub const PASSWORD: &str = "lantern orbit velvet quarry";

/// A signed-in API client for one person.
pub struct Staff {
    pub id: UserId,
    pub client: reqwest::Client,
    pub csrf: String,
}

impl Staff {
    pub async fn sign_in(app: &TestApp, email: &str, roles: &[Role]) -> Self {
        let id = app.create_user(email, roles, Some(PASSWORD)).await;
        Self::sign_in_again(app, email, id).await
    }

    /// Opens emergency access to `client`, asserting it opened.
    pub async fn break_glass(&self, app: &TestApp, client: &Value) {
        let response = self
            .post(
                app,
                "/api/v1/break-glass",
                &json!({ "record_number": client["record_number"], "reason": "Client in crisis at the front desk" }),
            )
            .await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
    }

    /// A new session for someone who exists (after the clock passed their idle limit).
    pub async fn sign_in_again(app: &TestApp, email: &str, id: UserId) -> Self {
        let client = app.browser();
        let (status, body) = app.try_sign_in(&client, email, PASSWORD).await;
        assert_eq!(status, 200, "{body}");
        Self {
            id,
            client,
            csrf: body["csrf_token"].as_str().unwrap().to_owned(),
        }
    }

    pub async fn get(&self, app: &TestApp, path: &str) -> reqwest::Response {
        self.client
            .get(app.url(path))
            .header("accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    pub async fn send(&self, app: &TestApp, method: reqwest::Method, path: &str, body: &Value) -> reqwest::Response {
        self.client
            .request(method, app.url(path))
            .header("accept", "application/json")
            .header("x-csrf-token", &self.csrf)
            .json(body)
            .send()
            .await
            .unwrap()
    }

    pub async fn post(&self, app: &TestApp, path: &str, body: &Value) -> reqwest::Response {
        self.send(app, reqwest::Method::POST, path, body).await
    }

    /// Registers a client; returns its chart.
    pub async fn register(&self, app: &TestApp, body: &Value) -> Value {
        let response = self.post(app, "/api/v1/clients", body).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        response.json().await.unwrap()
    }

    pub async fn search(&self, app: &TestApp, q: &str) -> Vec<String> {
        let response = self
            .client
            .get(app.url("/api/v1/clients"))
            .query(&[("q", q)])
            .header("accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        body["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["display_name"].as_str().unwrap().to_owned())
            .collect()
    }
}

fn person(given: &str, family: &str) -> Value {
    json!({ "legal_given_name": given, "legal_family_name": family })
}

async fn supervisor_of(app: &TestApp, user: UserId) -> Option<uuid::Uuid> {
    let mut db = app.superuser("default").await;
    sqlx::query_scalar("SELECT supervisor_id FROM users WHERE id = $1")
        .bind(user.0)
        .fetch_one(&mut db)
        .await
        .unwrap()
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut db = app.superuser("default").await;
    sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
}

#[tokio::test]
async fn registering_a_client_stores_everything_and_audits_it() {
    let app = TestApp::spawn().await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let chart = desk
        .register(
            &app,
            &json!({
                "legal_given_name": "Robin",
                "legal_family_name": "Quill",
                "preferred_name": "Rob",
                "pronouns": "they/them",
                "date_of_birth": "2009-04-30",
                "status": "waitlisted",
                "phone": "+61 3 9999 0000",
                "ok_to_text": true,
                "safe_contact_times": "Weekdays after 3pm",
                "confidential_address": true,
                "identifiers": [{ "kind": "school_id", "value": "S-4411" }],
                "related_people": [
                    { "kind": "guardian", "name": "Alex Quill", "relationship": "Parent", "phone": "0400 000 000" },
                    { "kind": "emergency_contact", "name": "Jo Park" }
                ]
            }),
        )
        .await;
    let id = chart["id"].as_str().unwrap().to_owned();
    assert!(chart["record_number"].as_str().unwrap().starts_with("HV"), "{chart}");
    assert_eq!(
        chart["display_name"],
        Value::Null,
        "the chart carries names, not a display name"
    );
    assert_eq!(chart["preferred_name"], "Rob");
    assert_eq!(chart["status"], "waitlisted");
    assert_eq!(chart["ok_to_text"], true);
    assert_eq!(chart["ok_to_email"], false, "nothing is safe until said so");
    assert_eq!(chart["identifiers"][0]["value"], "S-4411");
    assert_eq!(chart["related_people"][0]["kind"], "guardian");
    assert_eq!(chart["related_people"][1]["name"], "Jo Park");
    assert_eq!(chart["care_team"], json!([]), "front desk does not join the care team");
    assert_eq!(chart["version"], 1);

    // The create and the read that answered it are both in the audit trail.
    app.settle_audit().await;
    let create = count(
        &app,
        &format!("SELECT count(*) FROM audit_events WHERE action = 'client.create' AND resource_id = '{id}'"),
    )
    .await;
    let read = count(
        &app,
        &format!("SELECT count(*) FROM audit_events WHERE action = 'client.read' AND resource_id = '{id}'"),
    )
    .await;
    assert_eq!((create, read), (1, 1));

    // A clinician who registers a client becomes its primary counsellor.
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let chart = counsellor.register(&app, &person("Kai", "Lumen")).await;
    assert_eq!(chart["care_team"][0]["team_role"], "primary");
    assert_eq!(chart["care_team"][0]["user_id"], counsellor.id.to_string());
}

/// Registers `bodies` at once while three earlier registrations (one per batch that may
/// be written at once) wait on a lock of the audit outbox, so that `bodies` queue up and
/// are written as one batch when the lock goes; returns each one's response.
async fn register_together(app: &TestApp, staff: &[&Staff], bodies: &[Value]) -> Vec<(u16, Value)> {
    let mut holder = app.superuser("default").await;
    sqlx::query("BEGIN").execute(&mut holder).await.unwrap();
    sqlx::query("LOCK TABLE audit_outbox IN EXCLUSIVE MODE")
        .execute(&mut holder)
        .await
        .unwrap();
    let send = |who: &Staff, body: &Value| {
        let request = who
            .client
            .post(app.url("/api/v1/clients"))
            .header("accept", "application/json")
            .header("x-csrf-token", &who.csrf)
            .json(body);
        tokio::spawn(async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        })
    };
    let mut waiting = Vec::new();
    // Names of their own: a registration that adds a word to the search dictionary makes
    // another adding the same word wait for it.
    for (n, (given, family)) in (1..).zip([("Ash", "Birch"), ("Cedar", "Dune"), ("Elm", "Fern")]) {
        waiting.push(send(staff[0], &person(given, family)));
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while count(
            app,
            "SELECT count(*) FROM pg_locks WHERE relation = 'audit_outbox'::regclass AND NOT granted",
        )
        .await
            < n
        {
            assert!(
                std::time::Instant::now() < deadline,
                "registration {n} never reached the outbox"
            );
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
    }
    let together: Vec<_> = bodies
        .iter()
        .enumerate()
        .map(|(i, body)| send(staff[i % staff.len()], body))
        .collect();
    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
    sqlx::query("COMMIT").execute(&mut holder).await.unwrap();
    for early in waiting {
        assert_eq!(early.await.unwrap().0, 201);
    }
    let mut answers = Vec::new();
    for one in together {
        answers.push(one.await.unwrap());
    }
    answers
}

#[tokio::test]
async fn registrations_that_arrive_together_are_written_together_and_each_answered_alone() {
    let app = TestApp::spawn().await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    desk.register(
        &app,
        &json!({ "legal_given_name": "Ari", "legal_family_name": "First",
                 "identifiers": [{ "kind": "school_id", "value": "S-1" }] }),
    )
    .await;

    // Six at once, from two people: one transaction for all six, each answered with its
    // own chart, and the counsellor's on its care team.
    let families = ["Oak", "Pine", "Reed", "Sage", "Teak", "Vale"];
    let bodies: Vec<Value> = families.iter().map(|family| person("Sam", family)).collect();
    let answers = register_together(&app, &[&desk, &counsellor], &bodies).await;
    for (n, (status, chart)) in answers.iter().enumerate() {
        assert_eq!(*status, 201, "{chart}");
        assert_eq!(chart["legal_family_name"], families[n]);
        let team = if n % 2 == 1 { "primary" } else { "none" };
        assert_eq!(
            chart["care_team"][0]["team_role"].as_str().unwrap_or("none"),
            team,
            "{chart}"
        );
    }
    let transactions = count(
        &app,
        "SELECT count(DISTINCT xmin::text) FROM clients WHERE legal_given_name = 'Sam'",
    )
    .await;
    assert!(transactions < 6, "written in {transactions} transactions");

    // One of them carries an identifier already recorded: it is refused alone and leaves
    // nothing behind; the others it was written with are each written and answered.
    let mut bodies: Vec<Value> = ["Ash", "Birch", "Cedar", "Dune"]
        .iter()
        .map(|family| person("Lee", family))
        .collect();
    bodies.insert(
        2,
        json!({ "legal_given_name": "Kim", "legal_family_name": "Taken",
                "identifiers": [{ "kind": "school_id", "value": "S-1" }] }),
    );
    let answers = register_together(&app, &[&desk], &bodies).await;
    let statuses: Vec<u16> = answers.iter().map(|(status, _)| *status).collect();
    assert_eq!(statuses, vec![201, 201, 409, 201, 201], "{answers:?}");
    assert_eq!(answers[2].1["error_code"], "conflict", "{:?}", answers[2].1);
    assert_eq!(answers[2].1["status"], "error");
    assert_eq!(answers[3].1["legal_family_name"], "Cedar");
    assert_eq!(
        count(&app, "SELECT count(*) FROM clients WHERE legal_family_name = 'Taken'").await,
        0
    );
    // Every client written has its create in the audit trail, and only those.
    app.settle_audit().await;
    let clients = count(&app, "SELECT count(*) FROM clients").await;
    let creates = count(&app, "SELECT count(*) FROM audit_events WHERE action = 'client.create'").await;
    assert_eq!((clients, creates), (1 + 3 + 6 + 3 + 4, 1 + 3 + 6 + 3 + 4));
}

#[tokio::test]
async fn every_bad_field_is_named_and_nothing_is_saved() {
    let app = TestApp::spawn().await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["legal_given_name", "legal_family_name"]),
        (
            json!({ "legal_given_name": "", "legal_family_name": "  " }),
            vec!["legal_given_name", "legal_family_name"],
        ),
        (
            json!({ "legal_given_name": "x".repeat(101), "legal_family_name": "Ok" }),
            vec!["legal_given_name"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B", "date_of_birth": "2999-01-01" }),
            vec!["date_of_birth"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B", "date_of_birth": "30/04/2009" }),
            vec!["date_of_birth"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B", "status": "archived" }),
            vec!["status"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B", "email": "nope", "phone": "call me" }),
            vec!["email", "phone"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B",
                    "related_people": [{ "kind": "neighbour", "name": "" }] }),
            vec!["related_people[0].kind", "related_people[0].name"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B",
                    "identifiers": [{ "kind": "School ID", "value": "" }] }),
            vec!["identifiers[0].kind", "identifiers[0].value"],
        ),
        // Wrong types and unknown fields are named too.
        (
            json!({ "legal_given_name": 7, "legal_family_name": "B" }),
            vec!["legal_given_name"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B", "ok_to_email": "yes" }),
            vec!["ok_to_email"],
        ),
        (
            json!({ "legal_given_name": "A", "legal_family_name": "B", "shoe_size": 9 }),
            vec!["shoe_size"],
        ),
    ];
    for (body, expected) in cases {
        let response = desk.post(&app, "/api/v1/clients", &body).await;
        let envelope = assert_envelope(response, 422, "validation_failed").await;
        assert_eq!(field_names(&envelope), expected, "{body}");
    }
    // Not JSON at all.
    let response = desk
        .client
        .post(app.url("/api/v1/clients"))
        .header("x-csrf-token", &desk.csrf)
        .header("content-type", "application/json")
        .body("{\"legal_given_name\": ")
        .send()
        .await
        .unwrap();
    assert_envelope(response, 400, "bad_request").await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM clients").await,
        0,
        "nothing half-saved"
    );
    assert_eq!(count(&app, "SELECT count(*) FROM client_related_people").await, 0);

    // A duplicate identifier is refused, and the second client is not saved either.
    let with_id = json!({ "legal_given_name": "A", "legal_family_name": "B",
                          "identifiers": [{ "kind": "medicare", "value": "2950 12345 1" }] });
    desk.register(&app, &with_id).await;
    let response = desk.post(&app, "/api/v1/clients", &with_id).await;
    assert_envelope(response, 409, "conflict").await;
    assert_eq!(count(&app, "SELECT count(*) FROM clients").await, 1);
}

#[tokio::test]
async fn updates_change_what_they_name_and_refuse_stale_versions() {
    let app = TestApp::spawn().await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let chart = counsellor.register(&app, &person("Kai", "Lumen")).await;
    let path = format!("/api/v1/clients/{}", chart["id"].as_str().unwrap());

    let response = counsellor
        .send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &json!({ "pronouns": "he/him", "version": 1 }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let updated: Value = response.json().await.unwrap();
    assert_eq!(updated["pronouns"], "he/him");
    assert_eq!(updated["legal_given_name"], "Kai");
    assert_eq!(updated["version"], 2);

    // Someone who read version 1 cannot overwrite version 2.
    let response = counsellor
        .send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &json!({ "pronouns": "she/her", "version": 1 }),
        )
        .await;
    assert_envelope(response, 409, "conflict").await;

    // A bad update is refused whole.
    let response = counsellor
        .send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &json!({ "pronouns": "they/them", "date_of_birth": "tomorrow" }),
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["date_of_birth"]);
    let now: Value = counsellor.get(&app, &path).await.json().await.unwrap();
    assert_eq!(now["pronouns"], "he/him");

    // A new name is found at once and the old one no longer is; the search dictionary
    // gains the new words with their holders at once, and the hourly recount brings the
    // counts of the others up to date.
    let response = counsellor
        .send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &json!({ "legal_family_name": "Marigold", "preferred_name": "Kit", "version": 2 }),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert!(counsellor.search(&app, "Kai Lumen").await.is_empty());
    assert_eq!(counsellor.search(&app, "kai marigodl").await, ["Kit Marigold"]);
    assert_eq!(counsellor.search(&app, "kit mari").await, ["Kit Marigold"]);
    // Two slips and a different sound: found by trigrams, as nothing is one slip away.
    assert_eq!(counsellor.search(&app, "kit marrigodl").await, ["Kit Marigold"]);
    let mut db = app.superuser("default").await;
    let holders = |lumen: i32| {
        [
            ("kai".to_owned(), 1),
            ("kit".to_owned(), 1),
            ("lumen".to_owned(), lumen),
            ("marigold".to_owned(), 1),
        ]
    };
    let dictionary =
        "SELECT word, clients FROM client_name_words WHERE word IN ('kai', 'lumen', 'marigold', 'kit') ORDER BY word";
    let before: Vec<(String, i32)> = sqlx::query_as(dictionary).fetch_all(&mut db).await.unwrap();
    assert_eq!(before, holders(1));
    assert_eq!(haven::clients::search::recount_name_words(&mut db).await.unwrap(), 1);
    let after: Vec<(String, i32)> = sqlx::query_as(dictionary).fetch_all(&mut db).await.unwrap();
    assert_eq!(after, holders(0));
    assert!(counsellor.search(&app, "Kai Lumen").await.is_empty());

    // Only admins set hipaa_exempt; a counsellor's attempt is refused and audited.
    let response = counsellor
        .send(&app, reqwest::Method::PATCH, &path, &json!({ "hipaa_exempt": true }))
        .await;
    assert_envelope(response, 403, "forbidden").await;
    assert_eq!(count(&app, "SELECT count(*) FROM clients WHERE hipaa_exempt").await, 0);
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let response = admin
        .send(&app, reqwest::Method::PATCH, &path, &json!({ "hipaa_exempt": true }))
        .await;
    assert_eq!(response.status(), 200);
    let seen_by_admin: Value = response.json().await.unwrap();
    assert_eq!(seen_by_admin["hipaa_exempt"], true);
    // The counsellor is not shown it; admins cannot edit demographics.
    let seen_by_counsellor: Value = counsellor.get(&app, &path).await.json().await.unwrap();
    assert_eq!(seen_by_counsellor["hipaa_exempt"], false);
    let response = admin
        .send(&app, reqwest::Method::PATCH, &path, &json!({ "pronouns": "xe/xem" }))
        .await;
    assert_envelope(response, 403, "forbidden").await;
    app.settle_audit().await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM audit_events WHERE action = 'client.hipaa_exempt_set' AND reason = 'hipaa_exempt set to true'").await,
        1
    );

    // Everyone's list runs by family name, then given name, case ignored, and a new name
    // moves the client at once; dates of birth are written as they were given.
    let mut zed = person("Zed", "Abbot");
    zed["date_of_birth"] = json!("1987-06-05");
    let zed = counsellor.register(&app, &zed).await;
    counsellor.register(&app, &person("ana", "marigold")).await;
    counsellor.register(&app, &person("Bea", "MARIGOLD")).await;
    let listed = || async {
        let list: Value = admin
            .get(&app, "/api/v1/clients?per_page=100")
            .await
            .json()
            .await
            .unwrap();
        list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["display_name"].as_str().unwrap().to_owned(),
                    c["date_of_birth"].clone(),
                )
            })
            .collect::<Vec<_>>()
    };
    let born = json!("1987-06-05");
    assert_eq!(
        listed().await,
        [
            ("Zed Abbot".to_owned(), born.clone()),
            ("ana marigold".to_owned(), Value::Null),
            ("Bea MARIGOLD".to_owned(), Value::Null),
            ("Kit Marigold".to_owned(), Value::Null),
        ]
    );
    let path = format!("/api/v1/clients/{}", zed["id"].as_str().unwrap());
    let response = counsellor
        .send(
            &app,
            reqwest::Method::PATCH,
            &path,
            &json!({ "legal_family_name": "zimmer", "version": 1 }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(listed().await.last(), Some(&("Zed zimmer".to_owned(), born)));

    // Pages of every size, first or later, filtered or not, hold what they ask for.
    let (admin, app) = (&admin, &app);
    let page = move |query: &'static str| async move {
        let list: Value = admin
            .get(app, &format!("/api/v1/clients?{query}"))
            .await
            .json()
            .await
            .unwrap();
        let names: Vec<String> = list["clients"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["display_name"].as_str().unwrap().to_owned())
            .collect();
        (names, list["has_more"].as_bool().unwrap())
    };
    let all = ["ana marigold", "Bea MARIGOLD", "Kit Marigold", "Zed zimmer"].map(str::to_owned);
    assert_eq!(page("per_page=2").await, (all[..2].to_vec(), true));
    assert_eq!(page("per_page=2&page=2").await, (all[2..].to_vec(), false));
    assert_eq!(page("per_page=3").await, (all[..3].to_vec(), true));
    assert_eq!(page("per_page=30").await, (all.to_vec(), false));
    assert_eq!(page("per_page=4").await, (all.to_vec(), false));
    assert_eq!(page("status=active&per_page=3").await, (all[..3].to_vec(), true));

    // One word's best matches rank first; the pages after them reach the lesser matches,
    // however many pages the best fill.
    for given in ["Cy", "Di", "Ed", "Flo", "Gia"] {
        counsellor.register(app, &person(given, "Marigold")).await;
    }
    counsellor.register(app, &person("Gus", "Marygold")).await;
    let mut db = app.superuser("default").await;
    haven::clients::search::recount_name_words(&mut db).await.unwrap();
    let (first, more) = page("q=marigold&per_page=1").await;
    assert!(more && first.len() == 1 && first[0] != "Gus Marygold", "{first:?}");
    assert_eq!(
        page("q=marigold&per_page=1&page=9").await,
        (vec!["Gus Marygold".to_owned()], false)
    );
    let (every, more) = page("q=marigold&per_page=100").await;
    assert_eq!(
        (every.len(), every.last().map(String::as_str), more),
        (9, Some("Gus Marygold"), false)
    );
}

#[tokio::test]
async fn search_forgives_typos_and_never_leaves_the_care_team() {
    let app = TestApp::spawn().await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let mine = Staff::sign_in(&app, "mine@example.org", &[Role::Clinician]).await;
    let other = Staff::sign_in(&app, "other@example.org", &[Role::Clinician]).await;
    let john = mine
        .register(
            &app,
            &json!({ "legal_given_name": "John", "legal_family_name": "Nguyen",
                                              "date_of_birth": "1990-02-03",
                                              "identifiers": [{ "kind": "medicare", "value": "MC-777" }] }),
        )
        .await;
    other
        .register(
            &app,
            &json!({ "legal_given_name": "Johan", "legal_family_name": "Nguyen" }),
        )
        .await;
    other.register(&app, &person("Catherine", "Smith")).await;
    desk.register(&app, &person("Priya", "Raman")).await;

    // Typos: transposed letters, a missing letter, a different spelling.
    for typo in ["Jhon Ngyuen", "john nguyn", "Nguyen", "jon nguyen"] {
        assert_eq!(mine.search(&app, typo).await, ["John Nguyen"], "{typo}");
    }
    // Front desk reaches everyone; the best match comes first.
    assert_eq!(desk.search(&app, "Jhon Ngyuen").await, ["John Nguyen"]);
    let found = desk.search(&app, "john nguyen").await;
    assert_eq!(found[0], "John Nguyen", "{found:?}");
    assert!(found.contains(&"Johan Nguyen".to_owned()), "{found:?}");
    assert_eq!(desk.search(&app, "Kathrine Smiht").await, ["Catherine Smith"]);
    // By record number, identifier and date of birth.
    let record = john["record_number"].as_str().unwrap();
    assert_eq!(desk.search(&app, record).await, ["John Nguyen"]);
    assert_eq!(
        desk.search(&app, &record.to_lowercase().replace("hv", "hv-")).await,
        ["John Nguyen"]
    );
    assert_eq!(desk.search(&app, "mc-777").await, ["John Nguyen"]);
    assert_eq!(desk.search(&app, "1990-02-03").await, ["John Nguyen"]);

    // A clinician never sees a client outside their care team, not even in a list.
    assert_eq!(other.search(&app, "John Nguyen").await, ["Johan Nguyen"]);
    assert!(other.search(&app, record).await.is_empty());
    assert!(other.search(&app, "1990-02-03").await.is_empty());
    assert_eq!(other.search(&app, "").await.len(), 2);
    assert_eq!(mine.search(&app, "").await, ["John Nguyen"]);

    // The list's filters are checked.
    let response = desk.get(&app, "/api/v1/clients?status=gone&page=0&per_page=1000").await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["status", "page", "per_page"]);

    // Each result set is recorded with the clients it showed, never the words typed.
    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let shown: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(subjects) FROM audit_events WHERE action = 'client.search' AND actor_id = $1 ORDER BY seq LIMIT 1",
    )
    .bind(mine.id.to_string())
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(shown, [john["id"].as_str().unwrap()]);
    let leaked: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM audit_events WHERE concat_ws(' ', reason, resource_id, user_agent) ILIKE '%ngy%'",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert_eq!(leaked, 0);
    let verified = app.haven(&["audit", "verify", "--tenant", "default"]).await;
    assert!(
        verified.status.success(),
        "{}",
        String::from_utf8_lossy(&verified.stderr)
    );
}

#[tokio::test]
async fn the_care_team_decides_who_opens_the_chart() {
    let app = TestApp::spawn().await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let outsider = Staff::sign_in(&app, "o@example.org", &[Role::Clinician]).await;
    let supervisor = Staff::sign_in(&app, "s@example.org", &[Role::Supervisor]).await;
    let other_supervisor = Staff::sign_in(&app, "s2@example.org", &[Role::Supervisor]).await;
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let auditor = Staff::sign_in(&app, "audit@example.org", &[Role::Auditor]).await;
    let chart = counsellor.register(&app, &person("Kai", "Lumen")).await;
    let id = chart["id"].as_str().unwrap().to_owned();
    let path = format!("/api/v1/clients/{id}");

    assert_eq!(counsellor.get(&app, &path).await.status(), 200);
    assert_envelope(outsider.get(&app, &path).await, 403, "forbidden").await;
    assert_envelope(supervisor.get(&app, &path).await, 403, "forbidden").await;
    assert_envelope(auditor.get(&app, &path).await, 403, "forbidden").await;
    assert_eq!(admin.get(&app, &path).await.status(), 200, "admins see demographics");

    // Once the admin makes the supervisor the counsellor's supervisor, they reach the client.
    let response = admin
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", counsellor.id),
            &json!({ "supervisor_id": supervisor.id.to_string() }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert_eq!(supervisor.get(&app, &path).await.status(), 200);
    assert_eq!(supervisor.search(&app, "Kai").await, ["Kai Lumen"]);
    assert_envelope(other_supervisor.get(&app, &path).await, 403, "forbidden").await;

    // The supervisor adds the outsider to the care team; then removes them.
    let member = format!("{path}/care-team/{}", outsider.id);
    let response = supervisor
        .send(
            &app,
            reqwest::Method::PUT,
            &member,
            &json!({ "team_role": "case_manager" }),
        )
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(outsider.get(&app, &path).await.status(), 200);
    let response = supervisor
        .send(&app, reqwest::Method::DELETE, &member, &json!({}))
        .await;
    assert_eq!(response.status(), 204);
    assert_envelope(outsider.get(&app, &path).await, 403, "forbidden").await;

    // A counsellor cannot change the care team; nobody adds an auditor to it.
    let response = counsellor
        .send(
            &app,
            reqwest::Method::PUT,
            &member,
            &json!({ "team_role": "clinician" }),
        )
        .await;
    assert_envelope(response, 403, "forbidden").await;
    let response = admin
        .send(
            &app,
            reqwest::Method::PUT,
            &format!("{path}/care-team/{}", auditor.id),
            &json!({ "team_role": "clinician" }),
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["user_id"]);
    let response = admin
        .send(&app, reqwest::Method::PUT, &member, &json!({ "team_role": "boss" }))
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["team_role"]);

    // Unknown clients are 404 for everyone.
    let missing = format!("/api/v1/clients/{}", uuid::Uuid::now_v7());
    assert_envelope(admin.get(&app, &missing).await, 404, "not_found").await;

    // Denials are audited.
    app.settle_audit().await;
    let denials = count(
        &app,
        &format!(
            "SELECT count(*) FROM audit_events WHERE action = 'access.denied' AND actor_id = '{}' AND reason = 'client.view'",
            outsider.id
        ),
    )
    .await;
    assert_eq!(denials, 2);
}

#[tokio::test]
async fn break_glass_needs_a_reason_expires_and_is_shown_to_reviewers() {
    let clock = std::sync::Arc::new(haven::clock::ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2026-11-22T09:00:00Z")
            .unwrap()
            .into(),
    ));
    let app = TestApp::spawn_with_clock(clock.clone()).await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let on_call = Staff::sign_in(&app, "oncall@example.org", &[Role::Clinician]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let chart = counsellor.register(&app, &person("Kai", "Lumen")).await;
    let record = chart["record_number"].as_str().unwrap();
    let path = format!("/api/v1/clients/{}", chart["id"].as_str().unwrap());
    assert_envelope(on_call.get(&app, &path).await, 403, "forbidden").await;

    // A reason is required, and a real record number.
    let response = on_call
        .post(
            &app,
            "/api/v1/break-glass",
            &json!({ "record_number": record, "reason": "urgent" }),
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["reason"]);
    let response = on_call
        .post(
            &app,
            "/api/v1/break-glass",
            &json!({ "record_number": "HV9999999", "reason": "Client in crisis on the phone", "minutes": 500 }),
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["minutes"]);
    let response = on_call
        .post(
            &app,
            "/api/v1/break-glass",
            &json!({ "record_number": "HV9999999", "reason": "Client in crisis on the phone" }),
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["record_number"]);
    // Front desk has no clinical access to open; the care team already has access.
    let reason = json!({ "record_number": record, "reason": "Client in crisis on the phone" });
    assert_envelope(desk.post(&app, "/api/v1/break-glass", &reason).await, 403, "forbidden").await;
    assert_envelope(
        counsellor.post(&app, "/api/v1/break-glass", &reason).await,
        403,
        "forbidden",
    )
    .await;

    let response = on_call.post(&app, "/api/v1/break-glass", &reason).await;
    assert_eq!(response.status(), 201);
    let opened: Value = response.json().await.unwrap();
    assert_eq!(opened["expires_at"], "2026-11-22T10:00:00Z", "60 minutes by default");
    let seen: Value = on_call.get(&app, &path).await.json().await.unwrap();
    assert_eq!(seen["break_glass_until"], "2026-11-22T10:00:00Z");
    assert_eq!(on_call.search(&app, "Kai").await, ["Kai Lumen"]);

    // Admins see it (with the reason); the clinician does not see the log.
    let log: Value = admin.get(&app, "/api/v1/break-glass").await.json().await.unwrap();
    assert_eq!(log["grants"][0]["reason"], "Client in crisis on the phone");
    assert_eq!(log["grants"][0]["record_number"], record);
    // So does the client's supervisor (who supervises the care team), and no other.
    let supervisor = Staff::sign_in(&app, "sup@example.org", &[Role::Supervisor]).await;
    let other_supervisor = Staff::sign_in(&app, "sup2@example.org", &[Role::Supervisor]).await;
    let response = admin
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/users/{}", counsellor.id),
            &json!({ "supervisor_id": supervisor.id.to_string() }),
        )
        .await;
    assert_eq!(response.status(), 200);
    let theirs: Value = supervisor.get(&app, "/api/v1/break-glass").await.json().await.unwrap();
    assert_eq!(theirs["grants"][0]["user_id"], on_call.id.to_string());
    let others: Value = other_supervisor
        .get(&app, "/api/v1/break-glass")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(others["grants"], json!([]));
    assert_envelope(on_call.get(&app, "/api/v1/break-glass").await, 403, "forbidden").await;

    // It ends on time.
    clock.advance(chrono::TimeDelta::minutes(61));
    // (Sessions idle out after 15 minutes; sign in again to see the grant has ended.)
    let on_call_again = app.browser();
    app.sign_in(&on_call_again, "oncall@example.org", PASSWORD).await;
    let response = on_call_again
        .get(app.url(&path))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "forbidden").await;

    // The audit trail flags the opening (with its reason) and each read through it.
    app.settle_audit().await;
    assert_eq!(
        count(&app, "SELECT count(*) FROM audit_events WHERE action = 'break_glass.open' AND reason = 'Client in crisis on the phone'").await,
        1
    );
    assert_eq!(
        count(&app, &format!("SELECT count(*) FROM audit_events WHERE action = 'client.read' AND reason = 'break-glass access' AND actor_id = '{}'", on_call.id)).await,
        1
    );
}

#[tokio::test]
async fn tokens_need_the_client_scopes() {
    let app = TestApp::spawn().await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    desk.register(&app, &person("Kai", "Lumen")).await;
    let response = desk
        .post(
            &app,
            "/api/v1/auth/tokens",
            &json!({ "name": "Reader", "scopes": ["account:read"], "expires_in_days": 1 }),
        )
        .await;
    let token: Value = response.json().await.unwrap();
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/clients"))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_envelope(response, 403, "forbidden").await;
    let response = desk
        .post(
            &app,
            "/api/v1/auth/tokens",
            &json!({ "name": "Reader", "scopes": ["clients:read"], "expires_in_days": 1 }),
        )
        .await;
    let token: Value = response.json().await.unwrap();
    let response = reqwest::Client::new()
        .get(app.url("/api/v1/clients"))
        .bearer_auth(token["token"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test]
async fn an_admin_sets_a_supervisor_from_the_staff_page() {
    let app = TestApp::spawn().await;
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let supervisor = Staff::sign_in(&app, "s@example.org", &[Role::Supervisor]).await;
    let page = admin
        .get(&app, &format!("/admin/users/{}", counsellor.id))
        .await
        .text()
        .await
        .unwrap();
    assert!(
        page.contains(&format!("value=\"{}\"", supervisor.id)),
        "supervisors are offered"
    );
    let post = |value: String| {
        admin
            .client
            .post(app.url(&format!("/admin/users/{}", counsellor.id)))
            .form(&[
                ("_csrf", admin.csrf.clone()),
                ("do", "supervisor".to_owned()),
                ("supervisor_id", value),
            ])
            .send()
    };
    let saved = post(supervisor.id.to_string()).await.unwrap().status();
    assert!(saved.is_redirection() || saved.is_success(), "{saved}");
    assert_eq!(supervisor_of(&app, counsellor.id).await, Some(supervisor.id.0));
    // Only a supervisor can supervise.
    let response = post(admin.id.to_string()).await.unwrap();
    assert_eq!(response.status(), 422);
    let cleared_status = post(String::new()).await.unwrap().status();
    assert!(cleared_status.is_redirection() || cleared_status.is_success());
    assert_eq!(supervisor_of(&app, counsellor.id).await, None);
    app.settle_audit().await;
    assert_eq!(
        count(
            &app,
            "SELECT count(*) FROM audit_events WHERE action = 'user.supervisor_set'"
        )
        .await,
        2
    );
}

/// The search dictionary's counts are brought up to date by an hourly job: a second
/// holder of a known word leaves its count alone until the top of the hour.
#[tokio::test]
async fn the_hourly_recount_brings_the_name_counts_up_to_date() {
    use chrono::TimeZone as _;
    let start = chrono::Utc.with_ymd_and_hms(2026, 3, 2, 9, 30, 0).unwrap();
    let clock = std::sync::Arc::new(haven::clock::ManualClock::new(start));
    let app = TestApp::spawn_full(
        |c| c.jobs.poll_interval = std::time::Duration::from_millis(50),
        clock.clone(),
    )
    .await;
    let mut db = app.superuser("default").await;
    for given in ["Ada", "Bo"] {
        sqlx::query(
            "INSERT INTO clients (id, legal_given_name, legal_family_name, status, created_at, updated_at)
             VALUES (gen_random_uuid(), $1, 'Okonkwo', 'active', now(), now())",
        )
        .bind(given)
        .execute(&mut db)
        .await
        .unwrap();
    }
    let holders = "SELECT clients FROM client_name_words WHERE word = 'okonkwo'";
    let job = "SELECT state FROM jobs WHERE kind = 'clients.recount_name_words' AND run_at = '2026-03-02 10:00:00+00'";
    assert_eq!(
        sqlx::query_scalar::<_, i32>(holders).fetch_one(&mut db).await.unwrap(),
        1
    );
    let mut state = String::new();
    for advanced in [false, true] {
        if advanced {
            clock.advance(chrono::TimeDelta::minutes(31));
        }
        let want = if advanced { "done" } else { "queued" };
        for _ in 0..200 {
            state = sqlx::query_scalar(job)
                .fetch_optional(&mut db)
                .await
                .unwrap()
                .unwrap_or_default();
            if state == want {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        assert_eq!(state, want);
    }
    assert_eq!(
        sqlx::query_scalar::<_, i32>(holders).fetch_one(&mut db).await.unwrap(),
        2
    );
}
