//! The listener's bounds (`blindfold_server::edge`), with raw sockets from several loopback
//! addresses: slow request heads and idle connections are closed, a body that stops arriving
//! is answered 408 on a JSON route, one address holds at most its share of the connections,
//! and connections beyond the process's cap wait their turn instead of failing.
//! `scripts/slow-dos.sh` checks the same against Debian's `slowhttptest`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use blindfold_api::paths;
use blindfold_server::testing::TestApp;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// The server's address.
fn address(app: &TestApp) -> SocketAddr {
    app.base.trim_start_matches("http://").parse().unwrap()
}

/// A connection to the server from the loopback address `127.0.0.<host>`.
async fn connect_from(app: &TestApp, host: u8) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::from(([127, 0, 0, host], 0))).unwrap();
    socket.connect(address(app)).await.unwrap()
}

/// Everything the server sends until it closes the connection (or `within` passes: then
/// `None`).
async fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(within, async {
        let mut buffer = [0u8; 4096];
        loop {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    })
    .await;
    read.ok().map(|()| String::from_utf8_lossy(&answer).into_owned())
}

/// `GET /healthz` on its own connection from `127.0.0.<host>`: the status line.
async fn health_from(app: &TestApp, host: u8) -> String {
    let mut stream = connect_from(app, host).await;
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
        .await
        .unwrap();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("an answer");
    answer.lines().next().unwrap_or_default().to_owned()
}

#[tokio::test]
async fn slow_request_heads_and_idle_connections_are_closed() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.header_timeout_s = 1).await;

    // Slowloris: a head that never ends.
    let mut slow = connect_from(&app, 1).await;
    slow.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut slow, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "the connection is still open after 5 s");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );

    // A kept-alive connection is answered, then closed once idle for as long.
    let mut idle = connect_from(&app, 1).await;
    idle.write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\n\r\n")
        .await
        .unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut idle, Duration::from_secs(5))
        .await
        .expect("closed when idle");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "{:?}",
        started.elapsed()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_json_body_that_stops_arriving_is_answered_408() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.body_grace_s = 1).await;
    let mut stream = connect_from(&app, 1).await;
    let head = format!(
        "POST {} HTTP/1.1\r\nhost: test\r\ncontent-type: application/json\r\ncontent-length: 200\r\n\r\n",
        paths::LOGIN
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    stream.write_all(br#"{"username": "al"#).await.unwrap();
    let started = Instant::now();
    let answer = read_until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("an answer, and the connection closed");
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    assert!(answer.contains(r#""error":"timeout""#), "{answer}");
    assert!(answer.contains("too slowly"), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    app.stop().await;
}

#[tokio::test]
async fn one_address_holds_at_most_its_share_of_the_connections() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.max_connections_per_address = 4).await;
    let mut held = Vec::new();
    for _ in 0..4 {
        let mut stream = connect_from(&app, 1).await;
        stream.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
        held.push(stream);
    }
    // Time for the server to accept them all.
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A fifth from the same address is turned away at once; another address is served.
    let mut fifth = connect_from(&app, 1).await;
    let answer = read_until_closed(&mut fifth, Duration::from_secs(2))
        .await
        .expect("closed at once");
    assert!(answer.is_empty() || answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert_eq!(health_from(&app, 2).await, "HTTP/1.1 200 OK");
    // Its share comes back as its connections close.
    drop(held.pop());
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(health_from(&app, 1).await, "HTTP/1.1 200 OK");
    drop(held);
    app.stop().await;
}

#[tokio::test]
async fn connections_beyond_the_cap_wait_for_a_free_slot() {
    let dir = TempDir::new().unwrap();
    let app = TestApp::spawn_with(dir.path(), |s| s.max_connections = 2).await;
    let mut first = connect_from(&app, 3).await;
    first.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    let mut second = connect_from(&app, 4).await;
    second.write_all(b"GET /healthz HTTP/1.1\r\n").await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    // The third is connected by the kernel but not served while both slots are held.
    let waiting = tokio::spawn({
        let base = app.base.clone();
        async move {
            let address: SocketAddr = base.trim_start_matches("http://").parse().unwrap();
            let socket = TcpSocket::new_v4().unwrap();
            socket.bind(SocketAddr::from(([127, 0, 0, 5], 0))).unwrap();
            let mut stream = socket.connect(address).await.unwrap();
            stream
                .write_all(b"GET /healthz HTTP/1.1\r\nhost: test\r\nconnection: close\r\n\r\n")
                .await
                .unwrap();
            let started = Instant::now();
            let answer = read_until_closed(&mut stream, Duration::from_secs(10)).await;
            (answer, started.elapsed())
        }
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    assert!(!waiting.is_finished(), "served beyond the cap");
    drop(first);
    let (answer, waited) = waiting.await.unwrap();
    let answer = answer.expect("served once a slot is free");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(waited >= Duration::from_millis(600), "{waited:?}");
    drop(second);
    app.stop().await;
}
