//! The executor sends only where its guard allows: a connection's `api_base` is a tenant's
//! choice, so a refused address is never contacted, and an answer is read up to a cap.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bursar_outbound::{Guard, Policy};
use bursar_payments::executor::{
    ExecutorConfig, HttpExecutor, Method, ProviderRequest, ANSWER_CAP_BYTES,
};

/// A loopback listener answering every connection with a 200 of `body_len` bytes, counting
/// the connections it accepts.
async fn listener(body_len: usize) -> (String, Arc<AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let accepted = Arc::new(AtomicUsize::new(0));
    let counter = accepted.clone();
    tokio::spawn(async move {
        while let Ok((mut socket, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
            let mut buffer = [0u8; 8192];
            let _ = socket.read(&mut buffer).await;
            let head = format!("HTTP/1.1 200 OK\r\ncontent-length: {body_len}\r\n\r\n");
            let _ = socket.write_all(head.as_bytes()).await;
            let _ = socket.write_all(&vec![b' '; body_len]).await;
        }
    });
    (base, accepted)
}

fn executor(allow_loopback: bool) -> HttpExecutor {
    let config = ExecutorConfig {
        timeout: Duration::from_secs(5),
        max_attempts: 2,
        base_backoff: Duration::from_millis(1),
    };
    HttpExecutor::new(config, Guard::new(Policy { allow_loopback })).unwrap()
}

fn request(url: String) -> ProviderRequest {
    ProviderRequest {
        operation: "charge.retrieve",
        method: Method::GET,
        url,
        headers: vec![],
        form: None,
        json: None,
        idempotency_key: None,
    }
}

#[tokio::test]
async fn a_refused_address_is_never_contacted() {
    let (base, accepted) = listener(2).await;
    let error = executor(false)
        .execute("stripe", &request(format!("{base}/v1/charges/ch_1")))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("loopback"), "{error}");
    let metadata = executor(false)
        .execute("stripe", &request("http://169.254.169.254/latest".into()))
        .await
        .unwrap_err();
    assert!(
        metadata.to_string().contains("cloud metadata"),
        "{metadata}"
    );
    assert_eq!(accepted.load(Ordering::SeqCst), 0, "nothing was sent");
    let allowed = executor(true)
        .execute("stripe", &request(format!("{base}/v1/charges/ch_1")))
        .await
        .unwrap();
    assert_eq!(allowed.status, 200);
    assert_eq!(accepted.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn an_answer_over_the_cap_is_refused() {
    let (base, _) = listener(ANSWER_CAP_BYTES + 1).await;
    let error = executor(true)
        .execute("stripe", &request(format!("{base}/v1/charges/ch_1")))
        .await
        .unwrap_err();
    assert!(error.to_string().contains("longer than"), "{error}");
}
