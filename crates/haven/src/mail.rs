//! Sending email over SMTP (SES, SendGrid and Mailgun all accept it). Messages carry no
//! PHI; the log records that a message was sent or failed, never its body.

use std::time::Duration;

use lettre::message::Mailbox;
use lettre::message::header::ContentType;
use lettre::{AsyncSmtpTransport, AsyncTransport as _, Message, Tokio1Executor};

use crate::config::Config;

const TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail is not configured (set smtp_url)")]
    NotConfigured,
    #[error("invalid setting `{setting}`: {problem}")]
    Config { setting: &'static str, problem: String },
    #[error("invalid recipient address")]
    BadRecipient,
    /// A redacted summary: the SMTP code and whether it was final, never the server's
    /// text (which usually repeats the recipient's address).
    #[error("the mail server refused or failed: {0}")]
    Send(String),
}

/// What went wrong, without the server's words.
fn summary(err: &lettre::transport::smtp::Error) -> String {
    match err.status() {
        Some(code) if err.is_permanent() => format!("permanent rejection, SMTP code {code}"),
        Some(code) => format!("temporary failure, SMTP code {code}"),
        None if err.is_timeout() => "no answer in time".to_owned(),
        None => "could not reach or talk to the mail server".to_owned(),
    }
}

pub struct Mailer {
    transport: Option<AsyncSmtpTransport<Tokio1Executor>>,
    from: Mailbox,
}

/// `smtp://` must upgrade with STARTTLS, `smtps://` is TLS from the start, and
/// `smtp+plain://` sends in the clear (a relay on the same machine, or tests).
fn lettre_url(url: &str) -> String {
    if let Some(rest) = url.strip_prefix("smtp+plain://") {
        format!("smtp://{rest}")
    } else if url.starts_with("smtp://") && !url.contains("tls=") {
        let joiner = if url.contains('?') { '&' } else { '?' };
        format!("{url}{joiner}tls=required")
    } else {
        url.to_owned()
    }
}

impl Mailer {
    pub fn from_config(config: &Config) -> Result<Self, MailError> {
        let from: Mailbox = config
            .mail_from
            .parse()
            .map_err(|e: lettre::address::AddressError| MailError::Config {
                setting: "mail_from",
                problem: e.to_string(),
            })?;
        let transport = match &config.smtp_url {
            None => None,
            Some(url) => Some(
                AsyncSmtpTransport::<Tokio1Executor>::from_url(&lettre_url(url.expose()))
                    .map_err(|e| MailError::Config {
                        setting: "smtp_url",
                        problem: e.to_string(),
                    })?
                    .timeout(Some(TIMEOUT))
                    .build(),
            ),
        };
        Ok(Self { transport, from })
    }

    pub fn is_configured(&self) -> bool {
        self.transport.is_some()
    }

    /// Sends a plain-text message; returns the server's reply code.
    pub async fn send(&self, to: &str, subject: &str, body: String) -> Result<String, MailError> {
        let transport = self.transport.as_ref().ok_or(MailError::NotConfigured)?;
        let to: Mailbox = to.parse().map_err(|_| MailError::BadRecipient)?;
        let message = Message::builder()
            .from(self.from.clone())
            .to(to)
            .subject(subject)
            .header(ContentType::TEXT_PLAIN)
            .body(body)
            .map_err(|_| MailError::Send("the message could not be composed".to_owned()))?;
        let response = transport
            .send(message)
            .await
            .map_err(|e| MailError::Send(summary(&e)))?;
        Ok(response.code().to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::lettre_url;

    #[test]
    fn plain_smtp_means_starttls_and_the_insecure_form_is_explicit() {
        assert_eq!(lettre_url("smtp://u:p@mail:587"), "smtp://u:p@mail:587?tls=required");
        assert_eq!(lettre_url("smtps://u:p@mail:465"), "smtps://u:p@mail:465");
        assert_eq!(lettre_url("smtp+plain://127.0.0.1:2525"), "smtp://127.0.0.1:2525");
    }
}
