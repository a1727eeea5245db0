//! Referrals over the API: validation, the workflow with who moved it and when, accepting
//! a new person as a client, and who sees which referral.

use haven::identity::Role;
use serde_json::{Value, json};

use crate::clients::Staff;
use crate::support::{TestApp, assert_envelope, field_names};

fn inbound_for_someone_new() -> Value {
    json!({
        "direction": "inbound",
        "person": { "given_name": "Mara", "family_name": "Okafor", "date_of_birth": "2010-06-01", "phone": "0400 111 222" },
        "source_kind": "professional",
        "source_name": "Dr Lee, Northside GP",
        "reason": "Low mood after a family separation",
        "urgency": "soon"
    })
}

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut db = app.superuser("default").await;
    sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
}

async fn transition(staff: &Staff, app: &TestApp, id: &str, body: Value) -> reqwest::Response {
    staff
        .post(app, &format!("/api/v1/referrals/{id}/transitions"), &body)
        .await
}

#[tokio::test]
async fn an_inbound_referral_is_triaged_accepted_and_becomes_a_client() {
    let app = TestApp::spawn().await;
    let intake = Staff::sign_in(&app, "intake@example.org", &[Role::CaseManager]).await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let response = intake.post(&app, "/api/v1/referrals", &inbound_for_someone_new()).await;
    assert_eq!(response.status(), 201);
    let created: Value = response.json().await.unwrap();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_eq!(created["status"], "received");
    assert_eq!(created["person_name"], "Mara Okafor");
    assert_eq!(created["next"], json!(["triaged"]));

    // Awaiting triage: it is in the queue for every clinician.
    let queue: Value = counsellor
        .get(&app, "/api/v1/referrals?status=received")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(queue["referrals"][0]["id"], id.as_str());

    // Accepting before triage is refused with where it can go.
    let response = transition(&intake, &app, &id, json!({ "to": "accepted" })).await;
    let envelope = assert_envelope(response, 409, "conflict").await;
    assert!(envelope["message"].as_str().unwrap().contains("triaged"), "{envelope}");

    let response = transition(
        &intake,
        &app,
        &id,
        json!({ "to": "triaged", "assigned_to": counsellor.id.to_string(), "urgency": "urgent", "note": "Call back today" }),
    )
    .await;
    assert_eq!(response.status(), 200);
    let triaged: Value = response.json().await.unwrap();
    assert_eq!(triaged["urgency"], "urgent");
    assert_eq!(triaged["assigned_to"], counsellor.id.to_string());

    let response = transition(&counsellor, &app, &id, json!({ "to": "accepted" })).await;
    assert_eq!(response.status(), 200);
    let accepted: Value = response.json().await.unwrap();
    let client_id = accepted["client_id"]
        .as_str()
        .expect("the person is now a client")
        .to_owned();
    assert!(accepted["client_record_number"].as_str().unwrap().starts_with("HV"));
    let history: Vec<(&str, &str)> = accepted["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["to_status"].as_str().unwrap(), t["by_name"].as_str().unwrap()))
        .collect();
    assert_eq!(
        history,
        [
            ("received", "Sam Tester"),
            ("triaged", "Sam Tester"),
            ("accepted", "Sam Tester")
        ]
    );
    assert_eq!(accepted["history"][1]["note"], "Call back today");

    // The new client is active, with the assignee as primary counsellor.
    let chart: Value = counsellor
        .get(&app, &format!("/api/v1/clients/{client_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(chart["legal_given_name"], "Mara");
    assert_eq!(chart["date_of_birth"], "2010-06-01");
    assert_eq!(chart["status"], "active");
    assert_eq!(chart["care_team"][0]["user_id"], counsellor.id.to_string());
    assert_eq!(chart["care_team"][0]["team_role"], "primary");

    let response = transition(&counsellor, &app, &id, json!({ "to": "closed" })).await;
    assert_eq!(response.status(), 200);
    let response = transition(&counsellor, &app, &id, json!({ "to": "triaged" })).await;
    assert_envelope(response, 409, "conflict").await;

    app.settle_audit().await;
    assert_eq!(
        count(
            &app,
            &format!("SELECT count(*) FROM audit_events WHERE action = 'referral.move' AND resource_id = '{id}'")
        )
        .await,
        3
    );
    assert_eq!(
        count(
            &app,
            &format!(
                "SELECT count(*) FROM audit_events WHERE action = 'client.create' AND resource_id = '{client_id}'"
            )
        )
        .await,
        1
    );
}

#[tokio::test]
async fn declining_needs_a_reason_and_bad_input_is_named() {
    let app = TestApp::spawn().await;
    let intake = Staff::sign_in(&app, "intake@example.org", &[Role::CaseManager]).await;
    let cases: Vec<(Value, Vec<&str>)> = vec![
        (json!({}), vec!["direction", "source_kind", "reason", "person"]),
        (
            json!({ "direction": "sideways", "source_kind": "friend", "reason": "x", "urgency": "whenever",
                    "person": { "given_name": "A", "family_name": "B" } }),
            vec!["direction", "source_kind", "urgency"],
        ),
        (
            json!({ "direction": "inbound", "source_kind": "organisation", "reason": "x",
                    "person": { "given_name": "", "family_name": "B", "date_of_birth": "2999-01-01", "email": "no" } }),
            vec![
                "source_name",
                "person.given_name",
                "person.date_of_birth",
                "person.email",
            ],
        ),
        (
            json!({ "direction": "outbound", "source_kind": "self", "reason": "x" }),
            vec!["person", "client_id"],
        ),
        (
            json!({ "direction": "inbound", "source_kind": "self", "reason": "x", "received_on": "2999-01-01",
                    "person": { "given_name": "A", "family_name": "B" } }),
            vec!["received_on"],
        ),
        (
            json!({ "direction": "inbound", "source_kind": "self", "reason": "x", "client_id": "not-an-id" }),
            vec!["client_id"],
        ),
    ];
    for (body, expected) in cases {
        let response = intake.post(&app, "/api/v1/referrals", &body).await;
        let envelope = assert_envelope(response, 422, "validation_failed").await;
        assert_eq!(field_names(&envelope), expected, "{body}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM referrals").await, 0);

    let created: Value = intake
        .post(&app, "/api/v1/referrals", &inbound_for_someone_new())
        .await
        .json()
        .await
        .unwrap();
    let id = created["id"].as_str().unwrap();
    transition(&intake, &app, id, json!({ "to": "triaged" })).await;
    let response = transition(&intake, &app, id, json!({ "to": "declined" })).await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["reason"]);
    let response = transition(&intake, &app, id, json!({ "to": "gone" })).await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["to"]);
    let response = transition(
        &intake,
        &app,
        id,
        json!({ "to": "declined", "reason": "Outside our catchment; referred to Eastside" }),
    )
    .await;
    let declined: Value = response.json().await.unwrap();
    assert_eq!(declined["status"], "declined");
    assert_eq!(
        declined["decline_reason"],
        "Outside our catchment; referred to Eastside"
    );
    assert_eq!(declined["client_id"], Value::Null, "no client for a declined referral");
    assert_eq!(count(&app, "SELECT count(*) FROM clients").await, 0);
}

#[tokio::test]
async fn referrals_about_a_client_follow_the_care_team() {
    let app = TestApp::spawn().await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let outsider = Staff::sign_in(&app, "o@example.org", &[Role::Clinician]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let chart = counsellor
        .register(
            &app,
            &json!({ "legal_given_name": "Kai", "legal_family_name": "Lumen" }),
        )
        .await;
    let client_id = chart["id"].as_str().unwrap();
    let outbound = json!({ "direction": "outbound", "client_id": client_id, "source_kind": "organisation",
                           "source_name": "Eastside Housing", "reason": "Needs housing support" });
    let response = counsellor.post(&app, "/api/v1/referrals", &outbound).await;
    assert_eq!(response.status(), 201);
    let referral: Value = response.json().await.unwrap();
    let path = format!("/api/v1/referrals/{}", referral["id"].as_str().unwrap());

    // The outsider may not refer a client they cannot reach, nor see this referral.
    assert_envelope(
        outsider.post(&app, "/api/v1/referrals", &outbound).await,
        403,
        "forbidden",
    )
    .await;
    assert_envelope(outsider.get(&app, &path).await, 403, "forbidden").await;
    let queue: Value = outsider.get(&app, "/api/v1/referrals").await.json().await.unwrap();
    assert_eq!(queue["referrals"], json!([]), "not even listed");
    // Front desk and admins see no referrals at all (clinical content).
    assert_envelope(desk.get(&app, "/api/v1/referrals").await, 403, "forbidden").await;
    assert_envelope(admin.get(&app, &path).await, 403, "forbidden").await;
    // A filter for the client's referrals.
    let mine: Value = counsellor
        .get(&app, &format!("/api/v1/referrals?client_id={client_id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(mine["referrals"].as_array().unwrap().len(), 1);
    let response = counsellor
        .get(&app, "/api/v1/referrals?status=lost&client_id=x&per_page=0")
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["status", "client_id", "per_page"]);
}

/// Emergency access never turns into lasting access, and a referral puts someone on a
/// client's care team only when the person accepting it may change the care team.
#[tokio::test]
async fn break_glass_and_referrals_never_change_who_is_on_the_care_team() {
    let app = TestApp::spawn().await;
    let counsellor = Staff::sign_in(&app, "c@example.org", &[Role::Clinician]).await;
    let casey = Staff::sign_in(&app, "casey@example.org", &[Role::CaseManager]).await;
    let glass = Staff::sign_in(&app, "glass@example.org", &[Role::Clinician]).await;
    let sup = Staff::sign_in(&app, "sup@example.org", &[Role::Supervisor]).await;
    let outsider = Staff::sign_in(&app, "o@example.org", &[Role::Clinician]).await;
    let chart = counsellor
        .register(
            &app,
            &json!({ "legal_given_name": "Noor", "legal_family_name": "Vale" }),
        )
        .await;
    let client_id = chart["id"].as_str().unwrap();
    crate::notes::add_to_team(&app, &chart, casey.id, "case_manager").await;
    let team = || async {
        count(
            &app,
            &format!("SELECT count(*) FROM care_team_members WHERE client_id = '{client_id}'"),
        )
        .await
    };
    assert_eq!(team().await, 2);
    glass.break_glass(&app, &chart).await;
    sup.break_glass(&app, &chart).await;

    // A supervisor with a grant may not put themselves on the team.
    let response = sup
        .send(
            &app,
            reqwest::Method::PUT,
            &format!("/api/v1/clients/{client_id}/care-team/{}", sup.id),
            &json!({ "team_role": "primary" }),
        )
        .await;
    assert_envelope(response, 403, "forbidden").await;

    // A clinician with a grant refers the client to themselves and accepts: refused.
    let inbound = json!({ "direction": "inbound", "client_id": client_id, "source_kind": "self",
                          "reason": "Asked to see someone", "assigned_to": glass.id.to_string() });
    let response = glass.post(&app, "/api/v1/referrals", &inbound).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let mine: Value = response.json().await.unwrap();
    let mine = mine["id"].as_str().unwrap();
    assert_eq!(
        transition(&glass, &app, mine, json!({ "to": "triaged" }))
            .await
            .status(),
        200
    );
    assert_envelope(
        transition(&glass, &app, mine, json!({ "to": "accepted" })).await,
        403,
        "forbidden",
    )
    .await;

    // A case manager on the team puts an outsider on it through a referral: refused.
    let theirs = json!({ "direction": "inbound", "client_id": client_id, "source_kind": "self",
                         "reason": "Asked to see someone", "assigned_to": outsider.id.to_string() });
    let response = casey.post(&app, "/api/v1/referrals", &theirs).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let theirs: Value = response.json().await.unwrap();
    let theirs = theirs["id"].as_str().unwrap();
    assert_eq!(
        transition(&casey, &app, theirs, json!({ "to": "triaged" }))
            .await
            .status(),
        200
    );
    assert_envelope(
        transition(&casey, &app, theirs, json!({ "to": "accepted" })).await,
        403,
        "forbidden",
    )
    .await;
    assert_eq!(team().await, 2, "nobody joined the care team");
    assert_eq!(
        count(&app, "SELECT count(*) FROM referrals WHERE status = 'accepted'").await,
        0
    );

    // Accepting for someone already on the team needs no such right.
    let own = json!({ "direction": "inbound", "client_id": client_id, "source_kind": "self",
                      "reason": "Asked to see someone", "assigned_to": counsellor.id.to_string() });
    let response = casey.post(&app, "/api/v1/referrals", &own).await;
    let own: Value = response.json().await.unwrap();
    let own = own["id"].as_str().unwrap();
    assert_eq!(
        transition(&casey, &app, own, json!({ "to": "triaged" })).await.status(),
        200
    );
    assert_eq!(
        transition(&casey, &app, own, json!({ "to": "accepted" }))
            .await
            .status(),
        200
    );
    assert_eq!(team().await, 2);
}
