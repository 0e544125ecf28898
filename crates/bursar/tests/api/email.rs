//! Notification emails: kept in the mailbox without SMTP; sent through a real SMTP server
//! (Python's aiosmtpd, started by the test) with both parts and the right headers, once.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bursar::email::{EmailSubscriber, MailConfig};
use bursar::relay::{Relay, RelayConfig};

use crate::both_backends;
use crate::helpers::*;

async fn wait_for_emails(app: &TestApp, count: usize) -> Vec<Value> {
    let started = Instant::now();
    loop {
        let list = json_body(app.get("/v1/emails").await).await;
        let data = list["data"].as_array().unwrap().clone();
        if data.len() >= count {
            return data;
        }
        assert!(
            started.elapsed() < Duration::from_secs(15),
            "waited for {count} emails: {list}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

both_backends! {
    /// Goal: with no SMTP server configured, notification emails are rendered (text and HTML)
    /// and kept in the mailbox the API lists; a customer without an address gets none.
    async fn emails_are_kept_in_the_mailbox_without_smtp(app: TestApp) {
        let nobody = json_body(app.post("/v1/customers", json!({"name": "No Address"})).await).await["id"].as_str().unwrap().to_owned();
        let ada = json_body(app.post("/v1/customers", json!({"name": "Ada", "email": "ada@example.com"})).await).await["id"].as_str().unwrap().to_owned();
        for party in [&nobody, &ada] {
            let funded = app.post(&format!("/v1/parties/{party}/wallet/fund"), json!({"id": format!("fund-{party}"), "amount": 12_345, "currency": "USD"})).await;
            assert_eq!(funded.status(), 200);
        }
        wait_for_emails(&app, 1).await;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let emails = json_body(app.get("/v1/emails").await).await["data"].as_array().unwrap().clone();
        assert_eq!(emails.len(), 1, "a party without an address gets none: {emails:?}");
        let email = &emails[0];
        assert_eq!(email["status"], "kept");
        assert_eq!(email["template"], "funded");
        assert_eq!(email["to"], "ada@example.com");
        assert_eq!(email["subject"], "We received 123.45 USD");
        assert!(email["text"].as_str().unwrap().contains("Hello Ada,"));
        assert!(email["text"].as_str().unwrap().contains(&format!("fund-{ada}")));
        assert!(email["html"].as_str().unwrap().contains("<strong>123.45 USD</strong>"));
        let id = email["id"].as_str().unwrap();
        assert_eq!(json_body(app.get(&format!("/v1/emails/{id}")).await).await["id"], id);
    }
}

/// An SMTP server (aiosmtpd) writing what it receives into a maildir.
pub(crate) struct SmtpServer {
    child: Child,
    pub(crate) port: u16,
    maildir: tempfile::TempDir,
}

impl SmtpServer {
    pub(crate) async fn start() -> SmtpServer {
        Self::start_on(crate::cli::free_port()).await
    }

    /// On a given port (one a mail configuration already names).
    pub(crate) async fn start_on(port: u16) -> SmtpServer {
        let maildir = tempfile::tempdir().unwrap();
        let child = Command::new("python3")
            .env("PYTHONPATH", python_path("aiosmtpd", "aiosmtpd==1.4.6"))
            .args([
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Mailbox",
            ])
            .arg(maildir.path().join("mail"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_err()
        {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        SmtpServer {
            child,
            port,
            maildir,
        }
    }

    pub(crate) fn messages(&self) -> Vec<String> {
        let dir = self.maildir.path().join("mail").join("new");
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        entries
            .map(|e| std::fs::read_to_string(e.unwrap().path()).unwrap())
            .collect()
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

both_backends! {
    /// Goal: with SMTP configured, a notification arrives at a real SMTP server with the right
    /// headers and both parts, and a redelivered event does not send it twice.
    async fn emails_are_sent_over_smtp_once(app: TestApp = crate::helpers::TestApp::spawn_without_relay) {
        let smtp = SmtpServer::start().await;
        let config = MailConfig { smtp_url: Some(format!("smtp://127.0.0.1:{}", smtp.port)), from: "Payments <billing@example.com>".into(), ..MailConfig::default() };
        let subscriber = EmailSubscriber::new(app.db().clone(), &config).unwrap();
        let relay = Relay::new(app.db().clone(), vec![subscriber.clone()], RelayConfig::default());
        let grace = json_body(app.post("/v1/customers", json!({"name": "Grace", "email": "grace@example.com"})).await).await["id"].as_str().unwrap().to_owned();
        app.post(&format!("/v1/parties/{grace}/wallet/fund"), json!({"id": "fund-g", "amount": 5_000, "currency": "EUR"})).await;
        let paid = app.post(&format!("/v1/parties/{grace}/wallet/cash_out"), json!({"id": "payout-g", "amount": 2_500, "currency": "EUR"})).await;
        assert_eq!(paid.status(), 200);
        let started = Instant::now();
        while smtp.messages().len() < 2 {
            relay.tick().await.unwrap();
            assert!(started.elapsed() < Duration::from_secs(15), "mail did not arrive: {:?}", smtp.messages());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let messages = smtp.messages();
        assert_eq!(messages.len(), 2);
        let mail = messages.iter().find(|m| m.contains("Subject: Your payout")).expect("the payout notice");
        assert!(mail.contains("From: Payments <billing@example.com>"), "{mail}");
        assert!(mail.contains("To: grace@example.com"), "{mail}");
        assert!(mail.contains("Subject: Your payout of 25.00 EUR is on its way"), "{mail}");
        assert!(mail.contains("multipart/alternative"), "{mail}");
        assert!(mail.contains("Content-Type: text/plain; charset=utf-8"), "{mail}");
        assert!(mail.contains("Content-Type: text/html; charset=utf-8"), "{mail}");
        assert!(mail.contains("Hello Grace,"), "{mail}");
        // Bodies are quoted-printable: undo its soft line breaks before reading them.
        let unfolded = mail.replace("=\n", "").replace("=\r\n", "");
        assert!(unfolded.contains("Reference: payout-g"), "{mail}");
        assert!(unfolded.contains("<strong>25.00 EUR</strong>"), "{mail}");
        let email = &json_body(app.get("/v1/emails").await).await["data"][0];
        assert_eq!(email["status"], "sent");
        assert_eq!(email["attempts"], 1);
        assert!(email["sent_at"].is_string());

        // The same event delivered again (as after a crash) sends nothing more.
        let (ws, event_id) = (app.workspace_id.clone(), email["event_id"].as_str().unwrap().to_owned());
        let event = app.db().read(move |tx: &mut bursar_store::Tx| Box::pin(async move {
            bursar_store::events::get(tx, &ws, &event_id).await
        })).await.unwrap().unwrap();
        use bursar::relay::Subscriber;
        subscriber.deliver(&app.workspace_id, &event).await.unwrap();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert_eq!(smtp.messages().len(), 2, "sent once");
        assert_eq!(json_body(app.get("/v1/emails").await).await["data"].as_array().unwrap().len(), 2);
    }
}
