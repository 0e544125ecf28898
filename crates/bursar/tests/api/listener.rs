//! The listener's limits: a client that does not finish its headers in time is disconnected,
//! and past the connection limit new connections wait until one closes.

use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::*;

async fn server(max_connections: usize, header_timeout: Duration) -> TestApp {
    let mut settings = TestApp::settings();
    settings.http.max_connections = max_connections;
    settings.http.header_timeout = header_timeout;
    TestApp::spawn_with(Backend::Sqlite, settings).await
}

fn address(app: &TestApp) -> String {
    app.base_url.trim_start_matches("http://").to_owned()
}

/// Waits until the server closes `stream` (a read returns 0 bytes or fails), up to `limit`.
async fn closed_within(stream: &mut TcpStream, limit: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let read = tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(_) => continue,
            }
        }
    });
    read.await.is_ok()
}

/// Goal: a slow-header client (one header line every 200 ms, never finishing) is disconnected
/// once the header timeout passes, and a prompt request on another connection is answered.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_headers_are_cut_off() {
    let app = server(64, Duration::from_secs(1)).await;
    let mut slow = TcpStream::connect(address(&app)).await.unwrap();
    slow.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let dripping = async {
        for i in 0..50 {
            tokio::time::sleep(Duration::from_millis(200)).await;
            if slow
                .write_all(format!("X-Drip-{i}: 1\r\n").as_bytes())
                .await
                .is_err()
            {
                return;
            }
        }
    };
    dripping.await;
    assert!(
        closed_within(&mut slow, Duration::from_secs(5)).await,
        "the slow client is still connected"
    );
    let held = started.elapsed();
    assert!(held < Duration::from_secs(5), "held for {held:?}");
    assert_eq!(app.get("/healthz").await.status(), 200);
}

/// Goal: at most `max_connections` connections are served at once: with two idle connections
/// open, a third client waits, and is answered once the header timeout closes them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_limit_wait_for_a_free_one() {
    let app = server(2, Duration::from_secs(2)).await;
    let idle = [
        TcpStream::connect(address(&app)).await.unwrap(),
        TcpStream::connect(address(&app)).await.unwrap(),
    ];
    // Let the server accept both before the third arrives.
    tokio::time::sleep(Duration::from_millis(200)).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let started = Instant::now();
    let third = client.get(app.url("/healthz")).send();
    let answered = tokio::time::timeout(Duration::from_millis(800), third).await;
    assert!(
        answered.is_err(),
        "the third connection was served while two were open"
    );
    let third = client.get(app.url("/healthz")).send().await.unwrap();
    assert_eq!(third.status(), 200);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1_500),
        "answered after {waited:?}, before the idle ones were closed"
    );
    drop(idle);
}
