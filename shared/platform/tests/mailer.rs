//! The mailer adapters: SES v2 with the real SDK against a real moto server on loopback (the
//! sent message is read back from moto's `/moto-api/data.json`), the log mailer through a
//! captured subscriber, the folder mailer in a temporary directory.

use std::io::Write;
use std::sync::{Arc, Mutex};

use aws_sdk_sesv2::Client;
use entra_platform::mailer::{
    FolderMailer, LogMailer, MailError, Mailer, MailerConfig, MailerKind, MailerSetupError,
    OutgoingEmail, SesMailer,
};
use entra_platform::testing::{MotoServer, sdk_config_for};
use serde_json::Value;

const CODE: &str = "48151623";

fn email(to: &str) -> OutgoingEmail {
    OutgoingEmail {
        to: to.to_owned(),
        from: None,
        subject: "Your verification code".to_owned(),
        text_body: format!("Your code is {CODE}.\nIt expires soon."),
        html_body: None,
    }
}

async fn ses(server: &MotoServer) -> Client {
    Client::new(&server.sdk_config().await)
}

/// moto only sends from identities of the account: create (= verify, in moto) one.
async fn verify_identity(client: &Client, identity: &str) {
    client
        .create_email_identity()
        .email_identity(identity)
        .send()
        .await
        .unwrap();
}

/// The message moto recorded under `id`.
async fn sent_message(server: &MotoServer, id: &str) -> Value {
    let url = format!("{}/moto-api/data.json", server.endpoint_url());
    let data: Value = reqwest::get(url).await.unwrap().json().await.unwrap();
    let messages = data["ses"]["Message"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    messages
        .into_iter()
        .find(|message| message["id"] == id)
        .unwrap_or_else(|| panic!("moto has no message {id}"))
}

#[tokio::test]
async fn ses_sends_a_text_message_from_the_default_sender() {
    let server = MotoServer::shared().unwrap();
    let client = ses(server).await;
    verify_identity(&client, "otp-text@contoso.example").await;
    let mailer = SesMailer::new(client, "Contoso <otp-text@contoso.example>");

    let id = mailer.send(&email("someone@example.com")).await.unwrap();

    let sent = sent_message(server, id.as_str()).await;
    assert_eq!(sent["source"], "\"Contoso\" <otp-text@contoso.example>");
    assert_eq!(sent["subject"], "Your verification code");
    assert_eq!(
        sent["body"],
        format!("Your code is {CODE}.\nIt expires soon.")
    );
    assert_eq!(
        sent["destinations"]["ToAddresses"],
        serde_json::json!(["someone@example.com"])
    );
}

/// moto records the HTML body when there is one (SES sends both as alternatives).
#[tokio::test]
async fn ses_sends_html_and_a_per_message_sender() {
    let server = MotoServer::shared().unwrap();
    let client = ses(server).await;
    verify_identity(&client, "contoso-html.example").await;
    let mailer = SesMailer::new(client, "unused@elsewhere.example").with_configuration_set("otp");
    let mut message = email("someone@example.com");
    message.from = Some("Bücher <otp@contoso-html.example>".into());
    message.subject = "Ihr Bestätigungscode".into();
    message.html_body = Some(format!("<p>Your code is <b>{CODE}</b></p>"));

    let id = mailer.send(&message).await.unwrap();

    let sent = sent_message(server, id.as_str()).await;
    assert_eq!(
        sent["source"],
        "=?UTF-8?B?QsO8Y2hlcg==?= <otp@contoso-html.example>"
    );
    assert_eq!(sent["subject"], "Ihr Bestätigungscode");
    assert_eq!(sent["body"], format!("<p>Your code is <b>{CODE}</b></p>"));
}

#[tokio::test]
async fn ses_rejects_an_unverified_sender_permanently() {
    let server = MotoServer::shared().unwrap();
    let mailer = SesMailer::new(ses(server).await, "nobody@unverified.example");
    let err = mailer
        .send(&email("someone@example.com"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Rejected { .. }), "{err:?}");
    assert!(!err.is_transient());
    assert!(!err.to_string().contains(CODE), "{err}");
}

#[tokio::test]
async fn an_unreachable_ses_is_transient() {
    let dead = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        format!("http://{}", listener.local_addr().unwrap())
    };
    let mailer = SesMailer::new(
        Client::new(&sdk_config_for(&dead).await),
        "otp@contoso.example",
    );
    let err = mailer
        .send(&email("someone@example.com"))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err:?}");
}

#[tokio::test]
async fn invalid_messages_are_refused_before_sending() {
    let server = MotoServer::shared().unwrap();
    let mailer = SesMailer::new(ses(server).await, "otp@contoso.example");
    let err = mailer
        .send(&email("someone@example.com\r\nBcc: x@y.example"))
        .await
        .unwrap_err();
    assert!(matches!(err, MailError::Invalid { .. }), "{err:?}");
}

/// A `MakeWriter` collecting everything logged during a test.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

#[tokio::test]
async fn the_log_mailer_logs_domain_and_subject_but_never_the_code() {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let mut message = email("jane.doe@example.com");
    message.html_body = Some(format!("<b>{CODE}</b>"));
    let id = LogMailer::new().send(&message).await.unwrap();

    let logs = captured.text();
    assert!(logs.contains("\"to_domain\":\"example.com\""), "{logs}");
    assert!(logs.contains("Your verification code"), "{logs}");
    assert!(logs.contains(id.as_str()), "{logs}");
    assert!(!logs.contains(CODE), "{logs}");
    assert!(!logs.contains("jane.doe"), "{logs}");
}

#[tokio::test]
async fn the_folder_mailer_writes_one_eml_file_per_message() {
    let dir = tempfile::tempdir().unwrap();
    let inbox = dir.path().join("mail");
    let mailer = FolderMailer::new(&inbox)
        .unwrap()
        .with_default_from("Local <otp@localhost>");
    let first = mailer.send(&email("a@example.com")).await.unwrap();
    let mut second_message = email("b@example.com");
    second_message.html_body = Some(format!("<b>{CODE}</b>"));
    mailer.send(&second_message).await.unwrap();

    let mut files: Vec<_> = std::fs::read_dir(&inbox)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    files.sort();
    assert_eq!(files.len(), 2, "{files:?}");
    assert!(
        files.iter().all(|f| f.extension().unwrap() == "eml"),
        "{files:?}"
    );
    let first_file = std::fs::read_to_string(&files[0]).unwrap();
    assert!(
        first_file.contains(&format!("Message-ID: {first}\r\n")),
        "{first_file}"
    );
    assert!(first_file.contains("From: \"Local\" <otp@localhost>\r\n"));
    assert!(first_file.contains("To: a@example.com\r\n"));
    assert!(first_file.contains("Subject: Your verification code\r\n"));
    assert!(first_file.contains(&format!(
        "\r\n\r\nYour code is {CODE}.\r\nIt expires soon.\r\n"
    )));
    let second_file = std::fs::read_to_string(&files[1]).unwrap();
    assert!(second_file.contains("To: b@example.com\r\n"));
    assert!(second_file.contains("multipart/alternative"));
    assert!(second_file.contains(&format!("<b>{CODE}</b>")));
}

#[tokio::test]
async fn the_config_builds_the_local_mailers_and_needs_aws_for_ses() {
    let dir = tempfile::tempdir().unwrap();
    let folder = MailerConfig {
        kind: MailerKind::Folder,
        from: None,
        configuration_set: None,
        folder: Some(dir.path().join("inbox")),
    };
    assert!(!folder.needs_aws());
    let mailer = folder.build(None).unwrap();
    mailer.send(&email("a@example.com")).await.unwrap();
    assert_eq!(
        std::fs::read_dir(dir.path().join("inbox")).unwrap().count(),
        1
    );

    let ses = MailerConfig {
        kind: MailerKind::Ses,
        from: Some("otp@contoso.example".into()),
        configuration_set: None,
        folder: None,
    };
    assert!(ses.needs_aws());
    assert!(matches!(
        ses.build(None),
        Err(MailerSetupError::NoAwsConfig)
    ));
}
