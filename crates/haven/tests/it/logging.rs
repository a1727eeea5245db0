//! Logs: JSON lines with the request id, and no PHI.

use std::sync::{Arc, Mutex};

use haven::compliance::Phi;
use haven::config::LogFormat;
use haven::telemetry;

use crate::support::process::{HavenProcess, get, serve_on_fresh_databases};

#[derive(Clone, Default)]
struct Capture(Arc<Mutex<Vec<u8>>>);

impl std::io::Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn a_phi_value_logged_as_a_field_is_redacted() {
    let capture = Capture::default();
    let writer = capture.clone();
    let subscriber = telemetry::subscriber(LogFormat::Json, "info", move || writer.clone());
    let name = Phi::new("Jane Q. Marker".to_owned());
    tracing::subscriber::with_default(subscriber, || {
        tracing::info!(client_name = ?name, shown = %name, "client loaded");
    });
    let output = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
    assert!(output.contains("client loaded"), "{output}");
    assert!(output.contains("[PHI]"), "{output}");
    assert!(!output.contains("Marker"), "{output}");
}

#[test]
fn request_logs_are_json_lines_with_request_ids_and_no_phi() {
    let (mut command, _) = serve_on_fresh_databases();
    command.env("HAVEN_LOG_LEVEL", "debug");
    let mut process = HavenProcess::start(command);
    let marker = "MarkerSurnameZq";
    let (status, body) = get(&format!(
        "{}/clients/{marker}?name={marker}&dob=1990-01-01",
        process.url
    ));
    // Not signed in: sent on to the sign-in page.
    assert_eq!(status, 200);
    assert!(body.contains("Sign in"), "{body}");
    // An API query parameter the operation does not take is refused by name; neither
    // the refusal nor the log carries its value.
    let (status, body) = get(&format!("{}/api/v1/health/database?q={marker}", process.url));
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("\"q\"") && !body.contains(marker), "{body}");
    process.stop_cleanly();

    let stdout = process.stdout();
    assert!(!stdout.contains(marker), "PHI in the log:\n{stdout}");
    assert!(!stdout.contains("1990-01-01"), "PHI in the log:\n{stdout}");
    let lines: Vec<serde_json::Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|_| panic!("not a JSON line: {l}")))
        .collect();
    let finished: Vec<&serde_json::Value> = lines.iter().filter(|l| l["message"] == "request finished").collect();
    assert_eq!(
        finished.len(),
        3,
        "the redirect, the sign-in page, the health check: {stdout}"
    );
    for line in finished {
        assert!(
            line["span"]["request_id"].as_str().is_some_and(|id| !id.is_empty()),
            "{line}"
        );
        assert!(line["span"]["route"].is_string(), "{line}");
        assert!(line["status"].is_number(), "{line}");
    }
}

/// Every PHI field of a client carries a marker; the client is registered, opened,
/// searched, listed and edited through the API and the pages with debug logging on
/// (the service logs the chart it read at debug level), and no marker reaches the log.
#[test]
fn a_client_handled_through_every_path_with_debug_logging_leaves_no_phi_in_the_log() {
    let (mut command, _) = serve_on_fresh_databases();
    command.arg("--demo").env("HAVEN_LOG_LEVEL", "debug");
    let mut process = HavenProcess::start(command);
    let base = process.url.clone();
    let markers = [
        "Zyxgivenmark",
        "Zyxfamilymark",
        "Zyxpreferredmark",
        "zyx-pronoun-mark",
        "1987-06-05",
        "zyxmail@marker.example",
        "+61 3 5550 1987",
        "Zyx Street Marker",
        "Zyxlocality",
        "ZYX-ID-0042",
        "Zyxguardian Marker",
        "Zyx safe times marker",
        "Zyxeditedmark",
    ];
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let client = reqwest::Client::builder().cookie_store(true).build().unwrap();
        let signed_in: serde_json::Value = client
            .post(format!("{base}/api/v1/auth/sign-in"))
            .json(&serde_json::json!({ "email": "frontdesk@demo.haven.example", "password": "demo lantern orbit velvet" }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let csrf = signed_in["csrf_token"].as_str().expect("the front desk signs in").to_owned();
        let created = client
            .post(format!("{base}/api/v1/clients"))
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({
                "legal_given_name": markers[0],
                "legal_family_name": markers[1],
                "preferred_name": markers[2],
                "pronouns": markers[3],
                "date_of_birth": markers[4],
                "email": markers[5],
                "phone": markers[6],
                "address_line": markers[7],
                "locality": markers[8],
                "safe_contact_times": markers[11],
                "identifiers": [{ "kind": "school_id", "value": markers[9] }],
                "related_people": [{ "kind": "guardian", "name": markers[10] }],
            }))
            .send()
            .await
            .unwrap();
        assert_eq!(created.status(), 201, "registered");
        let created: serde_json::Value = created.json().await.unwrap();
        let id = created["id"].as_str().unwrap().to_owned();
        for path in [
            format!("/api/v1/clients/{id}"),
            format!("/api/v1/clients?q={}", markers[1]),
            format!("/api/v1/clients?q={}&per_page=100", markers[0]),
            format!("/clients/{id}"),
            format!("/clients?q={}", markers[0]),
            format!("/clients/{id}/edit"),
        ] {
            let response = client.get(format!("{base}{path}")).send().await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body = response.text().await.unwrap();
            assert!(body.contains(markers[1]), "{path} shows the client");
        }
        let edited = client
            .patch(format!("{base}/api/v1/clients/{id}"))
            .header("x-csrf-token", &csrf)
            .json(&serde_json::json!({ "preferred_name": markers[12] }))
            .send()
            .await
            .unwrap();
        assert_eq!(edited.status(), 200, "edited");
    });
    process.stop_cleanly();
    let stdout = process.stdout();
    assert!(
        stdout.contains("client chart read"),
        "the debug line that carries the client is on: {}",
        stdout.len()
    );
    for marker in markers {
        assert!(!stdout.contains(marker), "{marker} reached the log");
    }
}
