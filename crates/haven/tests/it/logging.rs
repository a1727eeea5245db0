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
    let (status, _) = get(&format!("{}/api/v1/health/database?q={marker}", process.url));
    assert_eq!(status, 200);
    assert!(process.terminate().success());

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
