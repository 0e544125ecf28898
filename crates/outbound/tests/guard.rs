//! The guard at registration and at connection, with a stub resolver so that no packet leaves
//! this machine: names are "resolved" to whatever a test says, and the only listener is on
//! loopback.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bursar_outbound::{Guard, OutboundError, Policy, Resolver, Timeouts};
use futures::future::BoxFuture;

/// Resolves names from a table; unknown names fail.
struct Stub(HashMap<&'static str, Vec<&'static str>>);

impl Resolver for Stub {
    fn lookup(
        &self,
        host: &str,
        port: u16,
    ) -> BoxFuture<'static, std::io::Result<Vec<SocketAddr>>> {
        let found = self.0.get(host).map(|addresses| {
            addresses
                .iter()
                .map(|a| SocketAddr::new(a.parse().unwrap(), port))
                .collect()
        });
        Box::pin(async move {
            found.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such host"))
        })
    }
}

fn guard(allow_loopback: bool) -> Guard {
    let table = HashMap::from([
        ("hooks.example.com", vec!["93.184.216.34"]),
        ("metadata.example.com", vec!["169.254.169.254"]),
        ("intranet.example.com", vec!["10.0.0.7"]),
        ("mixed.example.com", vec!["93.184.216.34", "192.168.0.1"]),
        ("v6.example.com", vec!["fd00:ec2::254"]),
        ("rebind.example.com", vec!["127.0.0.1"]),
        ("localhost", vec!["127.0.0.1"]),
    ]);
    Guard::with_resolver(Policy { allow_loopback }, Arc::new(Stub(table)))
}

fn forbidden(result: Result<bursar_outbound::Url, OutboundError>) -> &'static str {
    match result {
        Err(OutboundError::Forbidden { class, .. }) => class,
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[tokio::test]
async fn registration_refuses_every_private_form() {
    let guard = guard(false);
    assert!(guard
        .check("https://hooks.example.com/bursar")
        .await
        .is_ok());
    for (url, class) in [
        ("http://127.0.0.1:8080/", "loopback"),
        ("http://[::1]/", "loopback"),
        ("http://localhost/", "loopback"),
        ("http://api.localhost/", "loopback"),
        ("http://2130706433/", "loopback"),
        ("http://0x7f.1/", "loopback"),
        (
            "http://169.254.169.254/latest/meta-data/",
            "link-local (cloud metadata)",
        ),
        (
            "http://[::ffff:169.254.169.254]/",
            "link-local (cloud metadata)",
        ),
        ("http://[::ffff:a9fe:a9fe]/", "link-local (cloud metadata)"),
        (
            "http://metadata.example.com/",
            "link-local (cloud metadata)",
        ),
        ("http://intranet.example.com/", "private"),
        ("http://mixed.example.com/", "private"),
        ("http://v6.example.com/", "unique-local (private)"),
        ("http://[fe80::1]/", "link-local"),
        ("http://0.0.0.0/", "unspecified (this network)"),
    ] {
        assert_eq!(forbidden(guard.check(url).await), class, "{url}");
    }
    // A string-prefix check would take this for localhost; its host is the metadata address,
    // and "localhost" is a user name, which is refused in any URL.
    assert_eq!(
        guard.check("http://localhost@169.254.169.254/").await,
        Err(OutboundError::Credentials)
    );
    assert_eq!(
        guard.check("http://user:pw@hooks.example.com/").await,
        Err(OutboundError::Credentials)
    );
    assert_eq!(
        guard.check("ftp://hooks.example.com/").await,
        Err(OutboundError::Scheme)
    );
    assert!(matches!(
        guard.check("https://nowhere.example.com/").await,
        Err(OutboundError::Unresolved(_))
    ));
}

#[tokio::test]
async fn loopback_only_under_the_explicit_flag() {
    assert!(guard(true).check("http://127.0.0.1:9/").await.is_ok());
    assert!(guard(true).check("http://localhost:9/").await.is_ok());
    assert_eq!(
        forbidden(guard(true).check("http://10.0.0.1/").await),
        "private"
    );
    assert_eq!(
        Policy::default(),
        Policy {
            allow_loopback: false
        }
    );
}

/// A loopback listener that counts the connections it accepts and answers each with a body
/// of `body_len` bytes.
async fn listener(body_len: usize) -> (u16, Arc<AtomicUsize>) {
    listener_answering("200 OK", body_len).await
}

async fn listener_answering(status: &'static str, body_len: usize) -> (u16, Arc<AtomicUsize>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 4096];
            let _ = socket.read(&mut buffer).await;
            let head = format!("HTTP/1.1 {status}\r\nlocation: http://127.0.0.1:9/elsewhere\r\ncontent-length: {body_len}\r\nconnection: close\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&vec![b'x'; body_len]).await;
        }
    });
    (port, accepted)
}

fn timeouts() -> Timeouts {
    Timeouts {
        connect: Duration::from_secs(2),
        total: Duration::from_secs(5),
    }
}

/// A name that passed registration and was later re-pointed at a refused address (DNS
/// rebinding) reaches nothing: the client checks at connection time.
#[tokio::test]
async fn connections_are_checked_again_so_rebinding_reaches_nothing() {
    let (port, accepted) = listener(10).await;
    let client = guard(false).client(timeouts(), "test").unwrap();
    let url = format!("http://rebind.example.com:{port}/");
    let error = client.get(&url).send().await.unwrap_err();
    assert!(
        error.is_connect() || error.to_string().contains("error"),
        "{error}"
    );
    assert_eq!(
        accepted.load(Ordering::SeqCst),
        0,
        "the listener received nothing"
    );
    // The same under the development flag connects.
    let client = guard(true).client(timeouts(), "test").unwrap();
    let response = client.get(&url).send().await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn answers_are_read_up_to_the_cap_and_redirects_are_not_followed() {
    let (port, _) = listener(200_000).await;
    let guard = guard(true);
    let client = guard.client(timeouts(), "test").unwrap();
    let response = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    let (body, truncated) = bursar_outbound::read_capped(response, 1024).await.unwrap();
    assert_eq!(body.len(), 1024);
    assert!(truncated);
    let (port, accepted) = listener_answering("302 Found", 0).await;
    let response = client
        .get(format!("http://127.0.0.1:{port}/"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        response.status(),
        302,
        "the redirect is the answer, not followed"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
    let target = guard.check_target(&"http://169.254.169.254/".parse().unwrap());
    assert!(matches!(target, Err(OutboundError::Forbidden { .. })));
}
