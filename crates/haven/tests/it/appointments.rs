//! Appointments over the API: booking one or a series, clashes for clinician, room and
//! client with the override path and its audit event, status moves, validation, and who
//! sees what.

use haven::identity::Role;
use serde_json::{Value, json};

use crate::clients::Staff;
use crate::support::{TestApp, assert_envelope, field_names};

async fn count(app: &TestApp, sql: &str) -> i64 {
    let mut db = app.superuser("default").await;
    sqlx::query_scalar(sql).fetch_one(&mut db).await.unwrap()
}

async fn set_zone(app: &TestApp, zone: &str) {
    let mut db = app.superuser("default").await;
    sqlx::query("UPDATE organisation_settings SET time_zone = $1")
        .bind(zone)
        .execute(&mut db)
        .await
        .unwrap();
    // Set behind the app's back: the cached copy is forgotten as a settings page would.
    app.tenant("default").settings.forget();
}

struct Practice {
    desk: Staff,
    alex: Staff,
    blair: Staff,
    alex_client: Value,
    blair_client: Value,
    room: Value,
}

/// Front desk, two clinicians each with a client of their own, and a room.
async fn practice(app: &TestApp) -> Practice {
    set_zone(app, "Australia/Melbourne").await;
    let admin = Staff::sign_in(app, "admin@example.org", &[Role::OrgAdmin]).await;
    let desk = Staff::sign_in(app, "desk@example.org", &[Role::FrontDesk]).await;
    let alex = Staff::sign_in(app, "alex@example.org", &[Role::Clinician]).await;
    let blair = Staff::sign_in(app, "blair@example.org", &[Role::Clinician]).await;
    let alex_client = alex
        .register(
            app,
            &json!({ "legal_given_name": "Robin", "legal_family_name": "Ashbrook" }),
        )
        .await;
    let blair_client = blair
        .register(
            app,
            &json!({ "legal_given_name": "Sky", "legal_family_name": "Fernwood" }),
        )
        .await;
    let response = admin
        .post(app, "/api/v1/rooms", &json!({ "name": "Harbour Room" }))
        .await;
    assert_eq!(response.status(), 201);
    let room: Value = response.json().await.unwrap();
    assert_envelope(
        admin
            .post(app, "/api/v1/rooms", &json!({ "name": "Harbour Room" }))
            .await,
        409,
        "conflict",
    )
    .await;
    assert_envelope(
        desk.post(app, "/api/v1/rooms", &json!({ "name": "Desk's Room" })).await,
        403,
        "forbidden",
    )
    .await;
    Practice {
        desk,
        alex,
        blair,
        alex_client,
        blair_client,
        room,
    }
}

fn booking(client: &Value, clinician: &Staff, starts_at: &str) -> Value {
    json!({
        "client_ids": [client["id"]],
        "clinician_id": clinician.id.0,
        "place": "telehealth",
        "telehealth_url": "https://video.example.org/room/42",
        "service_type": "Counselling",
        "starts_at": starts_at,
        "duration_minutes": 50,
    })
}

#[tokio::test]
async fn clashes_are_named_and_an_override_is_audited() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;

    // A weekly series of three in the Harbour Room, Tuesdays 10:00 Melbourne time.
    let mut weekly = booking(&p.alex_client, &p.alex, "2027-03-23T10:00");
    weekly["place"] = json!("room");
    weekly["room_id"] = p.room["id"].clone();
    weekly.as_object_mut().unwrap().remove("telehealth_url");
    weekly["recurrence"] = json!({ "repeat": "weekly", "count": 3 });
    let response = p.desk.post(&app, "/api/v1/appointments", &weekly).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let booked: Value = response.json().await.unwrap();
    let series = booked["appointments"].as_array().unwrap();
    assert_eq!(series.len(), 3);
    assert!(booked["series_id"].is_string());
    let starts: Vec<&str> = series.iter().map(|a| a["starts_at"].as_str().unwrap()).collect();
    // Daylight saving ends in Melbourne on 4 April 2027: same wall-clock time, an hour later in UTC.
    assert_eq!(
        starts,
        ["2027-03-22T23:00:00Z", "2027-03-29T23:00:00Z", "2027-04-06T00:00:00Z"]
    );
    let before = count(&app, "SELECT count(*) FROM appointments").await;

    // The clinician is busy.
    let clash = booking(&p.blair_client, &p.alex, "2027-03-30T10:30");
    let envelope = assert_envelope(p.desk.post(&app, "/api/v1/appointments", &clash).await, 409, "conflict").await;
    let message = envelope["message"].as_str().unwrap();
    assert!(
        message.contains("alex@example.org") || message.contains("already has an appointment"),
        "{message}"
    );
    assert!(message.contains("Tue 30 Mar 2027 10:00–10:50"), "{message}");

    // The room is taken.
    let mut room_clash = booking(&p.blair_client, &p.blair, "2027-04-06T09:30");
    room_clash["place"] = json!("room");
    room_clash["room_id"] = p.room["id"].clone();
    room_clash.as_object_mut().unwrap().remove("telehealth_url");
    let envelope = assert_envelope(
        p.desk.post(&app, "/api/v1/appointments", &room_clash).await,
        409,
        "conflict",
    )
    .await;
    assert!(
        envelope["message"]
            .as_str()
            .unwrap()
            .contains("Harbour Room is booked Tue 6 Apr 2027 10:00–10:50")
    );

    // The client is busy with someone else.
    let client_clash = booking(&p.alex_client, &p.blair, "2027-03-23T10:20");
    let envelope = assert_envelope(
        p.desk.post(&app, "/api/v1/appointments", &client_clash).await,
        409,
        "conflict",
    )
    .await;
    let record = p.alex_client["record_number"].as_str().unwrap();
    assert!(
        envelope["message"]
            .as_str()
            .unwrap()
            .contains(&format!("client {record} already has an appointment")),
        "{envelope}"
    );
    assert_eq!(
        count(&app, "SELECT count(*) FROM appointments").await,
        before,
        "nothing booked"
    );

    // Booked anyway, with a reason, which the audit trail keeps.
    let mut overridden = client_clash.clone();
    overridden["override_reason"] = json!("Family session straight after; agreed with both clinicians");
    let response = p.desk.post(&app, "/api/v1/appointments", &overridden).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let booked: Value = response.json().await.unwrap();
    assert_eq!(
        booked["appointments"][0]["override_reason"],
        "Family session straight after; agreed with both clinicians"
    );
    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let reason: String = sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE action = 'appointment.conflict_override' ORDER BY seq DESC LIMIT 1",
    )
    .fetch_one(&mut db)
    .await
    .unwrap();
    assert!(reason.starts_with("Family session straight after"), "{reason}");
    assert!(reason.contains(&format!("client {record}")), "{reason}");

    // Outside the clinician's hours is a clash too.
    let hours = json!({ "hours": [{ "weekday": 2, "starts": "09:00", "ends": "17:00" }] });
    let response = p
        .blair
        .send(
            &app,
            reqwest::Method::PUT,
            &format!("/api/v1/users/{}/availability", p.blair.id.0),
            &hours,
        )
        .await;
    assert_eq!(response.status(), 200);
    let evening = booking(&p.blair_client, &p.blair, "2027-05-04T18:00");
    let envelope = assert_envelope(
        p.desk.post(&app, "/api/v1/appointments", &evening).await,
        409,
        "conflict",
    )
    .await;
    assert!(
        envelope["message"]
            .as_str()
            .unwrap()
            .contains("outside the clinician's hours")
    );
    let response = p
        .blair
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.blair_client, &p.blair, "2027-05-04T11:00"),
        )
        .await;
    assert_eq!(response.status(), 201);
    // Someone else's hours are not a clinician's to set; bad hours are named.
    let response = p
        .alex
        .send(
            &app,
            reqwest::Method::PUT,
            &format!("/api/v1/users/{}/availability", p.blair.id.0),
            &hours,
        )
        .await;
    assert_envelope(response, 403, "forbidden").await;
    let bad = json!({ "hours": [{ "weekday": 8, "starts": "9am", "ends": "17:00" }, { "weekday": 1, "starts": "12:00", "ends": "11:00" }] });
    let response = p
        .blair
        .send(
            &app,
            reqwest::Method::PUT,
            &format!("/api/v1/users/{}/availability", p.blair.id.0),
            &bad,
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(
        field_names(&envelope),
        ["hours[0].weekday", "hours[0].starts", "hours[1].ends"]
    );
}

#[tokio::test]
async fn check_in_complete_cancel_and_no_show() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let today = app.state.clock.now();
    let soon = (today + chrono::TimeDelta::hours(3)).to_rfc3339();
    let later = (today + chrono::TimeDelta::days(10)).to_rfc3339();
    let book = |starts: String| {
        let body = booking(&p.alex_client, &p.alex, &starts);
        let desk = &p.desk;
        let app = &app;
        async move {
            let response = desk.post(app, "/api/v1/appointments", &body).await;
            assert_eq!(response.status(), 201, "{:?}", response.text().await);
            let booked: Value = response.json().await.unwrap();
            booked["appointments"][0]["id"].as_str().unwrap().to_owned()
        }
    };
    let first = book(soon).await;
    let second = book(later).await;
    let status = |id: &str, body: Value| {
        let path = format!("/api/v1/appointments/{id}/status");
        let desk = &p.desk;
        let app = &app;
        async move { desk.post(app, &path, &body).await }
    };

    let response = status(&first, json!({ "to": "arrived" })).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Value>().await.unwrap()["status"], "arrived");
    let response = status(&first, json!({ "to": "completed" })).await;
    assert_eq!(response.json::<Value>().await.unwrap()["sequence"], 2);
    let envelope = assert_envelope(status(&first, json!({ "to": "no_show" })).await, 409, "conflict").await;
    assert!(envelope["message"].as_str().unwrap().contains("completed"));

    // A cancellation needs who and why; the client's own, ten days ahead, is not late.
    let envelope = assert_envelope(
        status(&second, json!({ "to": "cancelled" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&envelope), ["cancelled_by", "reason"]);
    let envelope = assert_envelope(
        status(&second, json!({ "to": "gone", "colour": "red" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&envelope), ["colour"]);
    let response = status(
        &second,
        json!({ "to": "cancelled", "cancelled_by": "client", "reason": "Unwell" }),
    )
    .await;
    let cancelled: Value = response.json().await.unwrap();
    assert_eq!(
        (cancelled["status"].as_str(), cancelled["late_cancel"].as_bool()),
        (Some("cancelled"), Some(false))
    );

    // Three hours ahead is late; a no-show can be undone.
    let third = book((today + chrono::TimeDelta::hours(5)).to_rfc3339()).await;
    let response = status(
        &third,
        json!({ "to": "cancelled", "cancelled_by": "client", "reason": "Car trouble" }),
    )
    .await;
    assert_eq!(response.json::<Value>().await.unwrap()["late_cancel"], true);
    let fourth = book((today + chrono::TimeDelta::days(3)).to_rfc3339()).await;
    assert_eq!(status(&fourth, json!({ "to": "no_show" })).await.status(), 200);
    assert_eq!(status(&fourth, json!({ "to": "scheduled" })).await.status(), 200);

    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let moves: Vec<String> = sqlx::query_scalar(
        "SELECT reason FROM audit_events WHERE action = 'appointment.status' AND resource_id = $1 ORDER BY seq",
    )
    .bind(&third)
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(moves, ["scheduled -> cancelled (late)"]);
}

#[tokio::test]
async fn bad_bookings_name_each_field_and_save_nothing() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let cases = [
        (
            json!({}),
            vec!["client_ids", "clinician_id", "place", "service_type", "starts_at"],
        ),
        (json!({ "client_ids": ["not-a-uuid"] }), vec!["client_ids[0]"]),
        (
            {
                let mut b = booking(&p.alex_client, &p.alex, "2027-03-23T10:00");
                b["place"] = json!("moon");
                b["duration_minutes"] = json!(0);
                b["service_type"] = json!("");
                b
            },
            vec!["place", "service_type", "duration_minutes"],
        ),
        (
            {
                let mut b = booking(&p.alex_client, &p.alex, "2027-03-23T10:00");
                b["recurrence"] = json!({ "repeat": "weekly", "count": 500 });
                b
            },
            vec!["recurrence.count"],
        ),
        (
            {
                let mut b = booking(&p.alex_client, &p.alex, "2027-03-23T10:00");
                b["recurrence"] = json!({ "repeat": "daily", "count": 5 });
                b
            },
            vec!["recurrence.repeat"],
        ),
        (
            {
                let mut b = booking(&p.alex_client, &p.alex, "2027-03-23T10:00");
                b["client_ids"] = json!([uuid::Uuid::now_v7()]);
                b
            },
            vec!["client_ids"],
        ),
        (
            {
                let mut b = booking(&p.alex_client, &p.desk, "2027-03-23T10:00");
                b["place"] = json!("room");
                b["room_id"] = json!(uuid::Uuid::now_v7());
                b.as_object_mut().unwrap().remove("telehealth_url");
                b
            },
            vec!["clinician_id", "room_id"],
        ),
    ];
    for (body, fields) in cases {
        let response = p.desk.post(&app, "/api/v1/appointments", &body).await;
        let envelope = assert_envelope(response, 422, "validation_failed").await;
        assert_eq!(field_names(&envelope), fields, "{body}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM appointments").await, 0);
    assert_eq!(count(&app, "SELECT count(*) FROM appointment_series").await, 0);
    let response = p
        .desk
        .get(&app, "/api/v1/appointments?from=yesterday&status=late")
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["from", "status"]);
}

#[tokio::test]
async fn clinicians_see_their_own_and_their_clients_appointments_only() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let response = p
        .alex
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.alex_client, &p.alex, "2027-03-23T10:00"),
        )
        .await;
    assert_eq!(response.status(), 201);
    let alex_appointment = response.json::<Value>().await.unwrap()["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // Blair may not book Alex's client, nor see Alex's appointment.
    let response = p
        .blair
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.alex_client, &p.blair, "2027-03-24T10:00"),
        )
        .await;
    assert_envelope(response, 403, "forbidden").await;
    let response = p
        .blair
        .get(&app, &format!("/api/v1/appointments/{alex_appointment}"))
        .await;
    assert_envelope(response, 403, "forbidden").await;
    let response = p
        .blair
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.blair_client, &p.blair, "2027-03-24T10:00"),
        )
        .await;
    assert_eq!(response.status(), 201);

    let ids = |list: Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|a| a["clients"][0]["record_number"].as_str().unwrap().to_owned())
            .collect()
    };
    let alex_record = p.alex_client["record_number"].as_str().unwrap().to_owned();
    let blair_record = p.blair_client["record_number"].as_str().unwrap().to_owned();
    let mine: Value = p.blair.get(&app, "/api/v1/appointments").await.json().await.unwrap();
    assert_eq!(ids(mine), std::slice::from_ref(&blair_record));
    let all: Value = p.desk.get(&app, "/api/v1/appointments").await.json().await.unwrap();
    assert_eq!(ids(all), [alex_record, blair_record]);
    let response = p
        .desk
        .get(&app, &format!("/api/v1/appointments/{alex_appointment}"))
        .await;
    assert_eq!(response.status(), 200);

    // Every read is in the audit trail with the clients it showed.
    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let shown: Vec<String> = sqlx::query_scalar(
        "SELECT unnest(subjects) FROM audit_events WHERE action = 'appointment.list' AND actor_id = $1",
    )
    .bind(p.blair.id.to_string())
    .fetch_all(&mut db)
    .await
    .unwrap();
    assert_eq!(shown, [p.blair_client["id"].as_str().unwrap()]);
}

/// Parses an iCalendar text with Python's `icalendar` package (an implementation
/// independent of Haven's) and returns each event's fields.
async fn parse_ical(text: &str) -> Vec<Value> {
    const SCRIPT: &str = r#"
import json, sys
from icalendar import Calendar
cal = Calendar.from_ical(sys.stdin.buffer.read())
events = []
for e in cal.walk("VEVENT"):
    events.append({
        "uid": str(e["UID"]),
        "summary": str(e["SUMMARY"]),
        "start": e.decoded("DTSTART").isoformat(),
        "end": e.decoded("DTEND").isoformat(),
        "location": str(e.get("LOCATION", "")),
        "status": str(e.get("STATUS", "")),
        "sequence": int(e.get("SEQUENCE", 0)),
        "keys": sorted(e.keys()),
    })
print(json.dumps({"version": str(cal["VERSION"]), "events": events}))
"#;
    use tokio::io::AsyncWriteExt as _;
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", SCRIPT])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("python3 with icalendar (.ci/run installs it)");
    child.stdin.take().unwrap().write_all(text.as_bytes()).await.unwrap();
    let output = child.wait_with_output().await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let parsed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(parsed["version"], "2.0");
    parsed["events"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_private_calendar_feed_carries_no_phi_and_can_be_rotated_and_revoked() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let mut client = p.alex_client.clone();
    // Details that must never reach a calendar.
    let response = p
        .alex
        .send(
            &app,
            reqwest::Method::PATCH,
            &format!("/api/v1/clients/{}", client["id"].as_str().unwrap()),
            &json!({ "date_of_birth": "1990-02-03" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    client = response.json().await.unwrap();
    let now = app.state.clock.now();
    let at = |days: i64| (now + chrono::TimeDelta::days(days)).to_rfc3339();
    let mut in_room = booking(&client, &p.alex, &at(2));
    in_room["place"] = json!("room");
    in_room["room_id"] = p.room["id"].clone();
    in_room["service_type"] = json!("Trauma-focused therapy");
    in_room["scheduling_note"] = json!("Prefers the side entrance");
    in_room.as_object_mut().unwrap().remove("telehealth_url");
    let mut telehealth = booking(&client, &p.alex, &at(3));
    telehealth["service_type"] = json!("Trauma-focused therapy");
    let mut home_visit = booking(&client, &p.alex, &at(4));
    home_visit["place"] = json!("elsewhere");
    home_visit["location_note"] = json!("12 Quillmere Lane");
    home_visit.as_object_mut().unwrap().remove("telehealth_url");
    let mut ids = Vec::new();
    for body in [&in_room, &telehealth, &home_visit] {
        let response = p.alex.post(&app, "/api/v1/appointments", body).await;
        assert_eq!(response.status(), 201, "{:?}", response.text().await);
        let booked: Value = response.json().await.unwrap();
        ids.push(booked["appointments"][0]["id"].as_str().unwrap().to_owned());
    }
    let response = p
        .alex
        .post(
            &app,
            &format!("/api/v1/appointments/{}/status", ids[1]),
            &json!({ "to": "cancelled", "cancelled_by": "staff", "reason": "Clinician unwell" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    // Blair's own appointment must not appear in Alex's feed.
    let response = p
        .blair
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.blair_client, &p.blair, &at(2)),
        )
        .await;
    assert_eq!(response.status(), 201);

    let status: Value = p.alex.get(&app, "/api/v1/calendar-feed").await.json().await.unwrap();
    assert_eq!(status["active"], false);
    let response = p.alex.post(&app, "/api/v1/calendar-feed", &json!({})).await;
    assert_eq!(response.status(), 201);
    let url = response.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = url
        .split_once("/calendar/")
        .map(|(_, rest)| format!("/calendar/{rest}"))
        .unwrap();
    assert!(
        std::path::Path::new(&path).extension().is_some_and(|e| e == "ics") && path.len() > 50,
        "{path}"
    );

    // A calendar app fetches it without any cookie.
    let anonymous = reqwest::Client::new();
    let response = anonymous.get(app.url(&path)).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["content-type"], "text/calendar; charset=utf-8");
    assert!(response.headers().get("set-cookie").is_none());
    let text = response.text().await.unwrap();
    assert!(text.contains("\r\n"), "lines end in CRLF");
    assert!(text.lines().all(|line| line.len() <= 75), "lines are folded");

    let events = parse_ical(&text).await;
    assert_eq!(events.len(), 3, "{text}");
    let by_uid = |id: &str| {
        events
            .iter()
            .find(|e| e["uid"] == format!("{id}@haven"))
            .unwrap()
            .clone()
    };
    let room = by_uid(&ids[0]);
    assert_eq!(room["summary"], "Client appointment");
    assert_eq!(room["location"], "Harbour Room");
    assert_eq!(room["status"], "CONFIRMED");
    assert_eq!(room["sequence"], 0);
    let cancelled = by_uid(&ids[1]);
    assert_eq!(cancelled["location"], "Telehealth");
    assert_eq!(cancelled["status"], "CANCELLED");
    assert_eq!(cancelled["sequence"], 1);
    assert_eq!(by_uid(&ids[2])["location"], "Off site");
    assert!(room["start"].as_str().unwrap().ends_with("+00:00"));
    for event in &events {
        let keys: Vec<&str> = event["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k.as_str().unwrap())
            .collect();
        assert!(
            !keys.contains(&"DESCRIPTION") && !keys.contains(&"ATTENDEE"),
            "{keys:?}"
        );
    }
    let given = client["legal_given_name"].as_str().unwrap();
    let family = client["legal_family_name"].as_str().unwrap();
    let record = client["record_number"].as_str().unwrap();
    for secret in [
        given,
        family,
        record,
        "1990",
        "Trauma",
        "Counselling",
        "side entrance",
        "Quillmere",
        "video.example.org",
        "Clinician unwell",
        "Fernwood",
    ] {
        assert!(
            !text.to_lowercase().contains(&secret.to_lowercase()),
            "the feed holds {secret:?}"
        );
    }

    // Rotating replaces the address; revoking ends it.
    let response = p.alex.post(&app, "/api/v1/calendar-feed", &json!({})).await;
    let new_url = response.json::<Value>().await.unwrap()["url"]
        .as_str()
        .unwrap()
        .to_owned();
    let new_path = new_url
        .split_once("/calendar/")
        .map(|(_, rest)| format!("/calendar/{rest}"))
        .unwrap();
    assert_ne!(new_path, path);
    assert_eq!(anonymous.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(anonymous.get(app.url(&new_path)).send().await.unwrap().status(), 200);
    let status: Value = p.alex.get(&app, "/api/v1/calendar-feed").await.json().await.unwrap();
    assert_eq!(status["active"], true);
    let response = p
        .alex
        .send(&app, reqwest::Method::DELETE, "/api/v1/calendar-feed", &json!({}))
        .await;
    assert_eq!(response.status(), 204);
    assert_eq!(anonymous.get(app.url(&new_path)).send().await.unwrap().status(), 404);
    let response = p
        .alex
        .send(&app, reqwest::Method::DELETE, "/api/v1/calendar-feed", &json!({}))
        .await;
    assert_envelope(response, 404, "not_found").await;
    assert_eq!(
        anonymous
            .get(app.url("/calendar/nonsense.ics"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let actions: Vec<String> =
        sqlx::query_scalar("SELECT action FROM audit_events WHERE action LIKE 'calendar_feed.%' ORDER BY seq")
            .fetch_all(&mut db)
            .await
            .unwrap();
    assert_eq!(
        actions,
        ["calendar_feed.create", "calendar_feed.rotate", "calendar_feed.revoke"]
    );
}

#[tokio::test]
async fn reminders_reach_safe_addresses_only_and_carry_no_phi() {
    // Staff accounts made for the test are announced to admins too; only reminders count here.
    const REMINDER: &str = "Appointment reminder";
    let smtp = crate::support::smtp::SmtpServer::start();
    let smtp_url = smtp.url();
    let clock = std::sync::Arc::new(haven::clock::ManualClock::new(
        chrono::DateTime::parse_from_rfc3339("2027-03-01T09:00:00Z")
            .unwrap()
            .into(),
    ));
    let app = TestApp::spawn_full(
        |c| {
            c.smtp_url = Some(haven::config::Secret::new(smtp_url));
            c.jobs.poll_interval = std::time::Duration::from_millis(20);
        },
        clock.clone(),
    )
    .await;
    let p = practice(&app).await;
    // Robin may be emailed; Sky gave an address that is not safe to use.
    for (client, email, safe) in [
        (&p.alex_client, "robin@example.net", true),
        (&p.blair_client, "sky@example.net", false),
    ] {
        let response = p
            .desk
            .send(
                &app,
                reqwest::Method::PATCH,
                &format!("/api/v1/clients/{}", client["id"].as_str().unwrap()),
                &json!({ "email": email, "ok_to_email": safe, "date_of_birth": "1990-02-03" }),
            )
            .await;
        assert_eq!(response.status(), 200);
    }
    // A family session for both, three days ahead, in the Harbour Room.
    let mut family = booking(&p.alex_client, &p.alex, "2027-03-04T10:00");
    family["client_ids"] = json!([p.alex_client["id"], p.blair_client["id"]]);
    family["place"] = json!("room");
    family["room_id"] = p.room["id"].clone();
    family["service_type"] = json!("Family violence counselling");
    family.as_object_mut().unwrap().remove("telehealth_url");
    let response = p.desk.post(&app, "/api/v1/appointments", &family).await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    let booked: Value = response.json().await.unwrap();
    let id = booked["appointments"][0]["id"].as_str().unwrap().to_owned();
    let outcomes = || async {
        let mut db = app.superuser("default").await;
        let rows: Vec<(Option<uuid::Uuid>, i32, String, Option<String>)> = sqlx::query_as(
            "SELECT client_id, offset_minutes, outcome, detail FROM reminder_log WHERE appointment_id = $1::uuid ORDER BY at, id",
        )
        .bind(&id)
        .fetch_all(&mut db)
        .await
        .unwrap();
        rows
    };
    let queued = outcomes().await;
    assert_eq!(
        queued.iter().map(|r| (r.1, r.2.as_str())).collect::<Vec<_>>(),
        [(2880, "queued"), (120, "queued")]
    );

    // Nothing before it is due; 48 hours before, Robin gets one and Sky's is skipped.
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert!(smtp.about(REMINDER).is_empty());
    clock.advance(chrono::TimeDelta::hours(24) + chrono::TimeDelta::minutes(1));
    let message = smtp.wait_for_about(REMINDER, 1).await;
    assert!(message.contains("To: robin@example.net"), "{message}");
    assert!(
        message.contains("Thursday 4 March 2027, 10:00 to 10:50 (Australia/Melbourne)"),
        "{message}"
    );
    assert!(message.contains("Harbour Room"), "{message}");
    for secret in [
        "Robin",
        "Ashbrook",
        "Sky",
        "Fernwood",
        "Family violence",
        "1990",
        "Sam Tester",
        "HV000",
    ] {
        assert!(!message.contains(secret), "the reminder holds {secret:?}:\n{message}");
    }
    let mut log = Vec::new();
    for _ in 0..100 {
        log = outcomes().await;
        if log.len() >= 4 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let robin: uuid::Uuid = p.alex_client["id"].as_str().unwrap().parse().unwrap();
    let sky: uuid::Uuid = p.blair_client["id"].as_str().unwrap().parse().unwrap();
    let sent = log.iter().find(|r| r.0 == Some(robin)).unwrap();
    assert_eq!((sent.1, sent.2.as_str()), (2880, "sent"));
    assert!(sent.3.as_deref().unwrap().starts_with("email: 250"), "{sent:?}");
    let skipped = log.iter().find(|r| r.0 == Some(sky)).unwrap();
    assert_eq!(skipped.2, "skipped");
    assert_eq!(
        skipped.3.as_deref(),
        Some("email: email is not marked safe for this client")
    );
    assert_eq!(smtp.about(REMINDER).len(), 1, "never to an unsafe address");

    // The appointment's page shows the log.
    let desk = Staff::sign_in_again(&app, "desk@example.org", p.desk.id).await;
    let page = desk
        .client
        .get(app.url(&format!("/appointments/{id}")))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("id=\"reminder-log\"") && page.contains("email is not marked safe"),
        "{page}"
    );

    // An admin lets reminders name the clinician and service; bad settings are named.
    let admin = Staff::sign_in(&app, "admin2@example.org", &[Role::OrgAdmin]).await;
    let settings: Value = admin
        .get(&app, "/api/v1/organisation/reminders")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(settings["offsets_minutes"], json!([2880, 120]));
    assert_eq!(settings["show_clinician"], false);
    let response = admin
        .send(
            &app,
            reqwest::Method::PUT,
            "/api/v1/organisation/reminders",
            &json!({ "offsets_minutes": [0, 30000], "show_clinician": true, "show_service": true,
                     "show_client_name": false, "late_cancel_hours": 500 }),
        )
        .await;
    let envelope = assert_envelope(response, 422, "validation_failed").await;
    assert_eq!(field_names(&envelope), ["offsets_minutes", "late_cancel_hours"]);
    let response = desk
        .send(&app, reqwest::Method::PUT, "/api/v1/organisation/reminders", &settings)
        .await;
    assert_envelope(response, 403, "forbidden").await;
    let response = admin
        .send(
            &app,
            reqwest::Method::PUT,
            "/api/v1/organisation/reminders",
            &json!({ "offsets_minutes": [120, 2880], "show_clinician": true, "show_service": true,
                     "show_client_name": false, "late_cancel_hours": 24 }),
        )
        .await;
    assert_eq!(response.status(), 200);
    // A cancelled appointment sends nothing more.
    let response = desk
        .post(
            &app,
            &format!("/api/v1/appointments/{id}/status"),
            &json!({ "to": "cancelled", "cancelled_by": "client", "reason": "Moving away" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    clock.advance(chrono::TimeDelta::hours(46));
    let mut last = Vec::new();
    for _ in 0..100 {
        last = outcomes().await;
        if last.iter().any(|r| r.1 == 120 && r.2 == "skipped") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
    let cancelled = last
        .iter()
        .find(|r| r.1 == 120 && r.2 == "skipped")
        .expect("the 2-hour reminder ran");
    assert_eq!(cancelled.3.as_deref(), Some("the appointment is no longer scheduled"));
    assert_eq!(smtp.about(REMINDER).len(), 1);

    // With the fields turned on, a new booking's reminder names the clinician and service.
    let desk = Staff::sign_in_again(&app, "desk@example.org", p.desk.id).await;
    let response = desk
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.alex_client, &p.alex, "2027-03-08T10:00"),
        )
        .await;
    assert_eq!(response.status(), 201, "{:?}", response.text().await);
    clock.advance(chrono::TimeDelta::hours(40));
    let message = smtp.wait_for_about(REMINDER, 2).await;
    assert!(message.contains("With:  Sam Tester"), "{message}");
    assert!(message.contains("For:   Counselling"), "{message}");
    assert!(
        message.contains("https://video.example.org/room/42"),
        "the telehealth link is the place"
    );
    assert!(
        !message.contains("Robin"),
        "the client's name stays off unless turned on"
    );
}

#[tokio::test]
async fn edit_one_following_or_all_across_daylight_saving() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    // Tuesdays 10:00 in Melbourne, over the end of daylight saving on 4 April 2027.
    let mut weekly = booking(&p.alex_client, &p.alex, "2027-03-23T10:00");
    weekly["recurrence"] = json!({ "repeat": "weekly", "count": 4 });
    let response = p.desk.post(&app, "/api/v1/appointments", &weekly).await;
    assert_eq!(response.status(), 201);
    let booked: Value = response.json().await.unwrap();
    let series = booked["series_id"].as_str().unwrap().to_owned();
    let ids: Vec<String> = booked["appointments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap().to_owned())
        .collect();
    let get = |id: String| {
        let desk = &p.desk;
        let app = &app;
        async move {
            desk.get(app, &format!("/api/v1/appointments/{id}"))
                .await
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let patch = |id: String, body: Value| {
        let desk = &p.desk;
        let app = &app;
        async move {
            desk.send(
                app,
                reqwest::Method::PATCH,
                &format!("/api/v1/appointments/{id}"),
                &body,
            )
            .await
        }
    };

    // One: the second moves to 11:00 and is detached; the others stay.
    let response = patch(ids[1].clone(), json!({ "starts_at": "2027-03-30T11:00" })).await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let second = get(ids[1].clone()).await;
    assert_eq!(second["starts_at"], "2027-03-30T00:00:00Z");
    assert_eq!(
        (second["detached"].as_bool(), second["sequence"].as_i64()),
        (Some(true), Some(1))
    );
    assert_eq!(get(ids[0].clone()).await["starts_at"], "2027-03-22T23:00:00Z");

    // All: 09:00 and a new service for every occurrence not edited on its own; each stays
    // at 09:00 local, so the UTC time moves by an hour across the change.
    let response = patch(
        ids[0].clone(),
        json!({ "scope": "all", "starts_at": "2027-03-23T09:00", "service_type": "Family therapy" }),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let changed: Value = response.json().await.unwrap();
    assert_eq!(changed["appointments"].as_array().unwrap().len(), 3);
    let starts = |v: Vec<Value>| {
        v.iter()
            .map(|a| a["starts_at"].as_str().unwrap().to_owned())
            .collect::<Vec<_>>()
    };
    let mut now_all = Vec::new();
    for id in &ids {
        now_all.push(get(id.clone()).await);
    }
    assert_eq!(
        starts(now_all.clone()),
        [
            "2027-03-22T22:00:00Z",
            "2027-03-30T00:00:00Z",
            "2027-04-05T23:00:00Z",
            "2027-04-12T23:00:00Z"
        ]
    );
    let services: Vec<&str> = now_all.iter().map(|a| a["service_type"].as_str().unwrap()).collect();
    assert_eq!(
        services,
        ["Family therapy", "Counselling", "Family therapy", "Family therapy"]
    );

    // This and following: from the third on, in the Harbour Room at 14:00, as a series of its own.
    let response = patch(
        ids[2].clone(),
        json!({ "scope": "following", "starts_at": "2027-04-06T14:00", "place": "room", "room_id": p.room["id"] }),
    )
    .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    let third = get(ids[2].clone()).await;
    let fourth = get(ids[3].clone()).await;
    assert_eq!(third["starts_at"], "2027-04-06T04:00:00Z");
    assert_eq!(fourth["starts_at"], "2027-04-13T04:00:00Z");
    assert_eq!(fourth["room"]["name"], "Harbour Room");
    assert_ne!(third["series_id"].as_str().unwrap(), series);
    assert_eq!(third["series_id"], fourth["series_id"]);
    let first = get(ids[0].clone()).await;
    assert_eq!(
        (first["starts_at"].as_str(), first["place"].as_str()),
        (Some("2027-03-22T22:00:00Z"), Some("telehealth"))
    );
    {
        let mut db = app.superuser("default").await;
        let rules: Vec<String> = sqlx::query_scalar("SELECT rule FROM appointment_series ORDER BY id")
            .fetch_all(&mut db)
            .await
            .unwrap();
        assert_eq!(rules.len(), 2);
        assert!(rules[0].contains("UNTIL="), "the first series now ends: {}", rules[0]);
        assert!(rules[1].contains("COUNT=2"), "{}", rules[1]);
    }

    // A move onto another appointment's time clashes; a scope needs a series.
    let response = p
        .desk
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.blair_client, &p.alex, "2027-05-04T10:00"),
        )
        .await;
    assert_eq!(response.status(), 201);
    let other = response.json::<Value>().await.unwrap()["appointments"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let envelope = assert_envelope(
        patch(ids[0].clone(), json!({ "starts_at": "2027-05-04T10:30" })).await,
        409,
        "conflict",
    )
    .await;
    assert!(
        envelope["message"]
            .as_str()
            .unwrap()
            .contains("already has an appointment")
    );
    let envelope = assert_envelope(
        patch(other.clone(), json!({ "scope": "all", "service_type": "X" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&envelope), ["scope"]);
    let envelope = assert_envelope(
        patch(other, json!({ "duration_minutes": 2, "room": "x" })).await,
        422,
        "validation_failed",
    )
    .await;
    assert_eq!(field_names(&envelope), ["room"]);

    // Cancelling this and the following ones takes the rest of the new series.
    let response = p
        .desk
        .post(
            &app,
            &format!("/api/v1/appointments/{}/status", ids[2]),
            &json!({ "to": "cancelled", "cancelled_by": "staff", "reason": "Clinician on leave", "scope": "following" }),
        )
        .await;
    assert_eq!(response.status(), 200, "{:?}", response.text().await);
    assert_eq!(get(ids[3].clone()).await["status"], "cancelled");
    assert_eq!(get(ids[0].clone()).await["status"], "scheduled");
    // A cancelled appointment cannot be edited.
    assert_envelope(
        patch(ids[3].clone(), json!({ "service_type": "X" })).await,
        409,
        "conflict",
    )
    .await;
}

#[tokio::test]
async fn the_day_page_lists_the_day_and_front_desk_checks_clients_in() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    for (client, clinician, at) in [
        (&p.alex_client, &p.alex, "2027-03-23T10:00"),
        (&p.blair_client, &p.blair, "2027-03-23T11:00"),
        (&p.blair_client, &p.blair, "2027-03-24T11:00"),
    ] {
        let response = p
            .desk
            .post(&app, "/api/v1/appointments", &booking(client, clinician, at))
            .await;
        assert_eq!(response.status(), 201);
    }
    let page = |staff: &Staff, path: &str| {
        let client = staff.client.clone();
        let url = app.url(path);
        async move { client.get(url).send().await.unwrap() }
    };
    let desk_day = page(&p.desk, "/appointments?date=2027-03-23").await;
    assert_eq!(desk_day.status(), 200);
    let html = desk_day.text().await.unwrap();
    assert!(
        html.contains("Robin Ashbrook") && html.contains("Sky Fernwood"),
        "both of the day's"
    );
    assert!(html.contains("10:00–10:50") && html.contains("11:00–11:50"));
    assert_eq!(html.matches("value=\"arrived\"").count(), 2);
    let alex_day = page(&p.alex, "/appointments?date=2027-03-23")
        .await
        .text()
        .await
        .unwrap();
    assert!(alex_day.contains("Robin Ashbrook") && !alex_day.contains("Sky Fernwood"));
    assert!(!alex_day.contains("value=\"arrived\""));
    assert_eq!(page(&p.desk, "/appointments?date=23/03/2027").await.status(), 400);

    // Check-in from the list returns to it, the client now arrived.
    let id = {
        let list: Value = p
            .desk
            .get(
                &app,
                "/api/v1/appointments?from=2027-03-22T00:00:00Z&to=2027-03-23T12:00:00Z",
            )
            .await
            .json()
            .await
            .unwrap();
        list[0]["id"].as_str().unwrap().to_owned()
    };
    let csrf = crate::support::hidden_csrf(&html);
    let response = p
        .desk
        .client
        .post(app.url(&format!("/appointments/{id}/status")))
        .form(&[
            ("_csrf", csrf.as_str()),
            ("to", "arrived"),
            ("back", "/appointments?date=2027-03-23"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()["location"], "/appointments?date=2027-03-23");
    let html = page(&p.desk, "/appointments?date=2027-03-23")
        .await
        .text()
        .await
        .unwrap();
    assert!(html.contains("Arrived"));
    assert_eq!(html.matches("value=\"arrived\"").count(), 1);

    // Not cancelled once arrived, whatever the form says.
    let response = p
        .desk
        .client
        .post(app.url(&format!("/appointments/{id}/status")))
        .form(&[("_csrf", csrf.as_str()), ("to", "cancelled")])
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        409,
        "an arrived client's appointment is not cancelled"
    );
    // Once arrived, the next steps are completion or undoing the check-in.
    let detail = page(&p.desk, &format!("/appointments/{id}")).await;
    assert_eq!(detail.status(), 200);
    let detail = detail.text().await.unwrap();
    assert!(detail.contains("Completed") && detail.contains("Undo") && !detail.contains("Cancel the appointment"));

    // The chart's appointments tab lists the client's, upcoming first.
    let chart = page(
        &p.desk,
        &format!("/clients/{}/appointments", p.blair_client["id"].as_str().unwrap()),
    )
    .await;
    assert_eq!(chart.status(), 200);
    let chart = chart.text().await.unwrap();
    let first = chart.find("Tue 23 Mar 2027").expect("the 23rd");
    let second = chart.find("Wed 24 Mar 2027").expect("the 24th");
    assert!(first < second, "in order");
    assert!(!chart.contains("Robin Ashbrook"));

    // A clinician's week, Monday to Sunday, each appointment under its day.
    let week = page(
        &p.desk,
        &format!("/appointments/week?staff={}&date=2027-03-24", p.blair.id.0),
    )
    .await;
    assert_eq!(week.status(), 200);
    let week = week.text().await.unwrap();
    assert!(week.contains("week of 22 March 2027"), "starts on Monday");
    let tuesday = week.find("Tuesday 23 March").unwrap();
    let wednesday = week.find("Wednesday 24 March").unwrap();
    let thursday = week.find("Thursday 25 March").unwrap();
    let sky: Vec<usize> = week.match_indices("Sky Fernwood").map(|(i, _)| i).collect();
    assert_eq!(sky.len(), 2);
    assert!(tuesday < sky[0] && sky[0] < wednesday && wednesday < sky[1] && sky[1] < thursday);
    assert!(!week.contains("Robin Ashbrook"), "only Blair's");
    assert_eq!(page(&p.desk, "/appointments/week?room=nonsense").await.status(), 400);

    // Home shows today's (an appointment under way now overlaps today whatever the hour).
    let started = (app.state.clock.now() - chrono::TimeDelta::minutes(5)).to_rfc3339();
    let response = p
        .desk
        .post(
            &app,
            "/api/v1/appointments",
            &booking(&p.alex_client, &p.alex, &started),
        )
        .await;
    assert_eq!(response.status(), 201);
    let home = page(&p.alex, "/").await.text().await.unwrap();
    assert!(
        home.contains("Today's appointments") && home.contains("Robin Ashbrook"),
        "{home}"
    );
    let blair_home = page(&p.blair, "/").await.text().await.unwrap();
    assert!(blair_home.contains("No appointments today."));
}

#[tokio::test]
async fn the_booking_and_change_forms_name_problems_and_clashes() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let record = p.alex_client["record_number"].as_str().unwrap().to_owned();
    let new_page = p
        .desk
        .client
        .get(app.url("/appointments/new"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let csrf = crate::support::hidden_csrf(&new_page);
    let post = |path: &str, form: Vec<(&str, String)>| {
        let client = p.desk.client.clone();
        let url = app.url(path);
        let mut form: Vec<(String, String)> = form.into_iter().map(|(k, v)| (k.to_owned(), v)).collect();
        form.push(("_csrf".to_owned(), csrf.clone()));
        async move { client.post(url).form(&form).send().await.unwrap() }
    };
    let alex = p.alex.id.0.to_string();
    let good = |time: &str| {
        vec![
            ("clients", record.clone()),
            ("clinician_id", alex.clone()),
            ("service_type", "Counselling".to_owned()),
            ("date", "2027-03-23".to_owned()),
            ("time", time.to_owned()),
            ("duration_minutes", "50".to_owned()),
            ("place", "telehealth".to_owned()),
            ("telehealth_url", "https://video.example.org/r/1".to_owned()),
            ("repeat", "weekly".to_owned()),
            ("interval", "1".to_owned()),
            ("count", "3".to_owned()),
        ]
    };

    // Every problem is named next to its field; nothing is booked.
    let response = post(
        "/appointments/new",
        vec![
            ("clients", "HV9999999".to_owned()),
            ("duration_minutes", "ten".to_owned()),
            ("count", "x".to_owned()),
        ],
    )
    .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    for id in ["f-clients-error", "f-duration_minutes-error", "f-count-error"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    let many = (0..13).map(|n| format!("HV{n:07}")).collect::<Vec<_>>().join(", ");
    let response = post("/appointments/new", vec![("clients", many)]).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("at most 12 clients"));
    let response = post("/appointments/new", vec![("clients", record.clone())]).await;
    let html = response.text().await.unwrap();
    for id in ["f-clinician_id-error", "f-service_type-error", "f-date-error"] {
        assert!(html.contains(&format!("id=\"{id}\"")), "{id}");
    }
    assert_eq!(count(&app, "SELECT count(*) FROM appointments").await, 0);

    // Booked; the same again clashes, and the page offers to book with a reason.
    let response = post("/appointments/new", good("10:00")).await;
    assert_eq!(response.status(), 303);
    let location = response.headers()["location"].to_str().unwrap().to_owned();
    assert_eq!(count(&app, "SELECT count(*) FROM appointments").await, 3);
    let response = post("/appointments/new", good("10:30")).await;
    assert_eq!(response.status(), 409);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"clash\"") && html.contains("already has an appointment"));
    assert!(html.contains("id=\"f-override_reason\""));
    let mut anyway = good("10:30");
    anyway.push(("override_reason", "Two-part intake, agreed".to_owned()));
    assert_eq!(post("/appointments/new", anyway).await.status(), 303);
    assert_eq!(count(&app, "SELECT count(*) FROM appointments").await, 6);

    // The change form moves one occurrence and refuses a bad time with the field named.
    let id = location
        .trim_start_matches("/appointments/")
        .trim_end_matches("?done=1")
        .to_owned();
    let change = |fields: Vec<(&str, String)>| post(&format!("/appointments/{id}/change"), fields);
    let response = change(vec![
        ("date", "2027-03-23".to_owned()),
        ("time", "25:99".to_owned()),
        ("scope", "one".to_owned()),
    ])
    .await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("id=\"f-date-error\""));
    let response = change(vec![
        ("date", "2027-03-23".to_owned()),
        ("time", "08:00".to_owned()),
        ("duration_minutes", "50".to_owned()),
        ("scope", "one".to_owned()),
    ])
    .await;
    assert_eq!(response.status(), 303);
    let moved: Value = p
        .desk
        .get(&app, &format!("/api/v1/appointments/{id}"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(moved["starts_at"], "2027-03-22T21:00:00Z");
    assert_eq!(moved["detached"], true);
}

#[tokio::test]
async fn the_calendar_page_makes_shows_once_and_stops_a_feed() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let page = p
        .alex
        .client
        .get(app.url("/appointments/calendar"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("No feed yet"));
    let csrf = crate::support::hidden_csrf(&page);
    let post = |what: &'static str| {
        let client = p.alex.client.clone();
        let url = app.url("/appointments/calendar");
        let csrf = csrf.clone();
        async move {
            client
                .post(url)
                .form(&[("_csrf", csrf.as_str()), ("do", what)])
                .send()
                .await
                .unwrap()
        }
    };
    let response = post("issue").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let page = response.text().await.unwrap();
    let url = page
        .split("id=\"feed-url\" type=\"text\" readonly value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .unwrap()
        .to_owned();
    let path = url
        .split_once("/calendar/")
        .map(|(_, rest)| format!("/calendar/{rest}"))
        .unwrap();
    let anonymous = reqwest::Client::new();
    assert_eq!(anonymous.get(app.url(&path)).send().await.unwrap().status(), 200);
    // Shown once: the page afterwards says it exists but not where.
    let again = p
        .alex
        .client
        .get(app.url("/appointments/calendar"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(again.contains("Active since") && !again.contains(&path));
    assert_eq!(post("revoke").await.status(), 303);
    assert_eq!(anonymous.get(app.url(&path)).send().await.unwrap().status(), 404);
    assert_eq!(post("nonsense").await.status(), 400);
    // Auditors have no schedule, so no feed.
    let auditor = Staff::sign_in(&app, "auditor@example.org", &[Role::Auditor]).await;
    let response = auditor
        .client
        .get(app.url("/appointments/calendar"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 403);
}

#[tokio::test]
async fn admins_set_reminders_on_their_page() {
    let app = TestApp::spawn().await;
    let admin = Staff::sign_in(&app, "admin@example.org", &[Role::OrgAdmin]).await;
    let desk = Staff::sign_in(&app, "desk@example.org", &[Role::FrontDesk]).await;
    let page = admin
        .client
        .get(app.url("/admin/reminders"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("value=\"48, 2\""), "hours, not minutes");
    let csrf = crate::support::hidden_csrf(&page);
    let post = |form: Vec<(&'static str, &'static str)>| {
        let client = admin.client.clone();
        let url = app.url("/admin/reminders");
        let csrf = csrf.clone();
        async move {
            let mut form: Vec<(&str, String)> = form.into_iter().map(|(k, v)| (k, v.to_owned())).collect();
            form.push(("_csrf", csrf));
            client.post(url).form(&form).send().await.unwrap()
        }
    };
    let response = post(vec![("offsets_hours", "soon, 2"), ("late_cancel_hours", "24")]).await;
    assert_eq!(response.status(), 422);
    assert!(response.text().await.unwrap().contains("id=\"f-offsets_hours-error\""));
    let response = post(vec![
        ("offsets_hours", "24, 1.5"),
        ("late_cancel_hours", "12"),
        ("show_service", "on"),
    ])
    .await;
    assert_eq!(response.status(), 303);
    let settings: Value = admin
        .get(&app, "/api/v1/organisation/reminders")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        settings,
        json!({ "offsets_minutes": [1440, 90], "show_clinician": false, "show_service": true,
                "show_client_name": false, "late_cancel_hours": 12 })
    );
    assert_eq!(
        desk.client
            .get(app.url("/admin/reminders"))
            .send()
            .await
            .unwrap()
            .status(),
        403
    );
    app.settle_audit().await;
    let mut db = app.superuser("default").await;
    let n: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_events WHERE action = 'organisation.reminders_set'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(n, 1);
}

#[tokio::test]
async fn clinicians_set_their_hours_on_a_page() {
    let app = TestApp::spawn().await;
    let p = practice(&app).await;
    let page = p
        .blair
        .client
        .get(app.url("/appointments/hours"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        crate::support::hidden_csrf(&page),
        p.blair.csrf,
        "the page carries the session's token"
    );
    let post = |staff: &Staff, form: Vec<(&'static str, String)>| {
        let client = staff.client.clone();
        let url = app.url("/appointments/hours");
        let csrf = staff.csrf.clone();
        async move {
            let mut form = form;
            form.push(("_csrf", csrf));
            client.post(url).form(&form).send().await.unwrap()
        }
    };
    let blair = p.blair.id.0.to_string();
    let response = post(
        &p.blair,
        vec![
            ("staff", blair.clone()),
            ("from_1", "09:00".into()),
            ("to_1", String::new()),
            ("from_2", "17:00".into()),
            ("to_2", "09:00".into()),
        ],
    )
    .await;
    assert_eq!(response.status(), 422);
    let html = response.text().await.unwrap();
    assert!(html.contains("id=\"f-to_1-error\"") && html.contains("id=\"f-to_2-error\""));
    let response = post(
        &p.blair,
        vec![
            ("staff", blair.clone()),
            ("from_2", "09:00".into()),
            ("to_2", "17:00".into()),
        ],
    )
    .await;
    assert_eq!(response.status(), 303);
    let hours: Value = p
        .blair
        .get(&app, &format!("/api/v1/users/{blair}/availability"))
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(
        hours,
        json!({ "hours": [{ "weekday": 2, "starts": "09:00", "ends": "17:00" }] })
    );
    // Another clinician may not set Blair's hours; front desk may.
    let response = post(&p.alex, vec![("staff", blair.clone())]).await;
    assert_eq!(response.status(), 403);
    assert_eq!(post(&p.desk, vec![("staff", blair)]).await.status(), 303);
    // Hours belong to people who take appointments.
    let admin = Staff::sign_in(&app, "admin2@example.org", &[Role::OrgAdmin]).await;
    assert_eq!(
        post(&p.desk, vec![("staff", admin.id.0.to_string())]).await.status(),
        404
    );
}
