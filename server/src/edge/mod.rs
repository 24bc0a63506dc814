//! The HTTP edge: the listener's accept loop, with every connection bounded in number and in
//! time, and every request body paced.
//!
//! `axum::serve` accepts without limit and waits for ever for a request's headers, so a few
//! thousand sockets that send their headers a byte at a time (slowloris), or declare a body
//! and never send it, hold the process's file descriptors until accepting fails and so do the
//! server's own file writes. [`serve`] instead:
//!
//! - takes one of [`ConnectionLimits::max_connections`] slots before it accepts: beyond, new
//!   connections wait in the kernel's backlog, which costs the process no descriptor. The
//!   slots never exceed the open-file limit less [`RESERVED_DESCRIPTORS`], kept for the
//!   database, the data directory's files and the metrics listener ([`open_file_limit`]
//!   raises the soft limit to the hard one first, as Go's runtime does);
//! - closes at once a connection from an address that already holds
//!   [`ConnectionLimits::per_address`] (IPv6 counted by /64, as the registration limit does),
//!   so one client cannot take the slots from every other; `--trusted-proxy` peers are exempt,
//!   their connections being many clients';
//! - serves HTTP/1.1 with hyper's header read timeout, which runs from a connection's start
//!   and again from each answer: a connection that sends no complete request head within it,
//!   new or idle between requests, is closed;
//! - paces every request body ([`pace`]), so that a body that stops arriving is cut with 408
//!   on every route, JSON bodies included;
//! - backs off when accepting fails for want of resources (`EMFILE`, `ENFILE`, `ENOBUFS`,
//!   `ENOMEM`) instead of spinning, and never stops for it.
//!
//! HTTP/2 is not served: browsers speak it only over TLS, which a reverse proxy terminates,
//! and the proxy speaks HTTP/1.1 to the server.

pub mod pace;

use std::io;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::Request;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tower::ServiceExt;

use crate::edge::pace::{BodyPace, PacedBody};
use crate::settings::Settings;
use crate::shares::{Share, Shares};
use crate::telemetry;

/// File descriptors kept out of the connection slots: the database's (a SQLite pool holds
/// three per connection: the database, its log and its shared memory), the key, row and result
/// files being read or written, the metrics listener and the runtime's own.
pub const RESERVED_DESCRIPTORS: u64 = 256;

/// First and longest pause after a failed accept.
const ACCEPT_BACKOFF: (Duration, Duration) = (Duration::from_millis(10), Duration::from_secs(1));

/// What one process's connections may hold.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections one client address (IPv6: one /64) may hold at once.
    pub per_address: usize,
    /// Addresses exempt from `per_address`: the trusted reverse proxies.
    pub exempt: Vec<IpAddr>,
    /// Longest wait for a request's head, on a new connection or an idle one.
    pub header_timeout: Duration,
    /// How fast every request body must arrive.
    pub pace: BodyPace,
}

impl ConnectionLimits {
    /// The settings' limits, with the connections capped by `open_files` (the process's
    /// open-file limit) less [`RESERVED_DESCRIPTORS`].
    pub fn new(settings: &Settings, open_files: u64) -> Self {
        let by_descriptors = usize::try_from(open_files.saturating_sub(RESERVED_DESCRIPTORS)).unwrap_or(usize::MAX);
        let max_connections = settings.max_connections.min(by_descriptors).max(1);
        if max_connections < settings.max_connections {
            tracing::warn!(
                open_files,
                max_connections,
                "the open-file limit leaves room for fewer connections than --max-connections"
            );
        }
        Self {
            max_connections,
            per_address: settings.max_connections_per_address.max(1),
            exempt: settings.trusted_proxy.iter().map(|ip| ip.to_canonical()).collect(),
            header_timeout: settings.header_timeout(),
            pace: BodyPace {
                grace: settings.body_grace(),
                min_rate: settings.body_min_rate(),
            },
        }
    }
}

/// Raises the process's soft open-file limit to its hard limit, and answers the soft limit
/// then in force (`u64::MAX` where the platform has none).
pub fn open_file_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "reading the open-file limit");
            rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
        }
    }
}

/// Where connections come from: a TCP listener (and, in tests, one that fails as a process
/// out of descriptors does).
pub trait Accept: Send + 'static {
    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send;
}

impl Accept for TcpListener {
    fn accept(&self) -> impl Future<Output = io::Result<(TcpStream, SocketAddr)>> + Send {
        TcpListener::accept(self)
    }
}

/// Serves `router` on `listener` within `limits` until `shutdown` completes; then stops
/// accepting, lets the open requests finish (idle connections close at once) and returns.
pub async fn serve(
    listener: impl Accept,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let addresses = AddressCounts::default();
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout);
    let mut backoff = ACCEPT_BACKOFF.0;
    tokio::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => slot.expect("the slots are never closed"),
            () = &mut shutdown => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        let (stream, peer) = match accepted {
            Ok(accepted) => {
                backoff = ACCEPT_BACKOFF.0;
                accepted
            }
            // The client gave up before its connection was accepted: nothing is wrong here.
            Err(error) if is_connection_error(&error) => continue,
            Err(error) => {
                metrics::counter!(telemetry::HTTP_ACCEPT_ERRORS).increment(1);
                tracing::error!(%error, backoff_ms = backoff.as_millis() as u64, "accepting a connection failed; pausing");
                tokio::select! {
                    () = tokio::time::sleep(backoff) => {}
                    () = &mut shutdown => break,
                }
                backoff = (backoff * 2).min(ACCEPT_BACKOFF.1);
                continue;
            }
        };
        let ip = peer.ip().to_canonical();
        let address = if limits.exempt.contains(&ip) {
            None
        } else {
            match addresses.take(ip, limits.per_address) {
                Some(address) => Some(address),
                None => {
                    metrics::counter!(telemetry::HTTP_CONNECTIONS_REFUSED, "reason" => "per_address").increment(1);
                    tracing::debug!(%peer, "too many connections from this address; closing");
                    refuse(stream);
                    continue;
                }
            }
        };
        let service = ConnectionService {
            router: router.clone(),
            peer,
            pace: limits.pace,
        };
        let connection = http.serve_connection(TokioIo::new(stream), service);
        let connection = graceful.watch(connection);
        tokio::spawn(async move {
            let open = metrics::gauge!(telemetry::HTTP_CONNECTIONS);
            open.increment(1.0);
            if let Err(error) = connection.await {
                // Timeouts, resets and malformed requests: the client's doing, not an error here.
                tracing::debug!(%peer, %error, "connection ended");
            }
            open.decrement(1.0);
            drop((slot, address));
        });
    }
    drop(listener);
    graceful.shutdown().await;
}

/// The router for one connection's requests: each carries the peer's address (the abuse
/// limits' [`ConnectInfo`]) and a paced body.
#[derive(Clone)]
struct ConnectionService {
    router: Router,
    peer: SocketAddr,
    pace: BodyPace,
}

impl hyper::service::Service<Request<Incoming>> for ConnectionService {
    type Response = axum::response::Response;
    type Error = std::convert::Infallible;
    type Future = tower::util::Oneshot<Router, Request<Body>>;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        request.extensions_mut().insert(ConnectInfo(self.peer));
        let pace = self.pace;
        let request = request.map(|body| Body::new(PacedBody::new(body, pace)));
        self.router.clone().oneshot(request)
    }
}

/// Answers a connection over its address's limit with a 503 if its socket takes the bytes at
/// once, and closes it.
fn refuse(stream: TcpStream) {
    const BUSY: &[u8] =
        b"HTTP/1.1 503 Service Unavailable\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: 0\r\n\r\n";
    let _ = stream.try_write(BUSY);
}

/// Whether an accept error is one connection's (the client reset it while it waited), after
/// which the next accept works at once.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

/// Open connections by client address (IPv4 address, IPv6 /64).
#[derive(Clone, Default)]
struct AddressCounts(Shares<IpAddr>);

impl AddressCounts {
    /// A place for one more connection from `ip`, unless it holds `limit` already.
    fn take(&self, ip: IpAddr, limit: usize) -> Option<Share<IpAddr>> {
        self.0.take(address_key(ip), limit).ok()
    }

    #[cfg(test)]
    fn held(&self, ip: IpAddr) -> usize {
        self.0.held(&address_key(ip))
    }
}

/// The unit one client holds: an IPv4 address, or an IPv6 address's /64 (one host's usual
/// allocation; a client can pick any address inside it).
fn address_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => IpAddr::V6(Ipv6Addr::from(v6.to_bits() & !((1u128 << 64) - 1))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn an_address_holds_at_most_its_share_and_gets_it_back() {
        let counts = AddressCounts::default();
        let held: Vec<_> = (0..3)
            .map(|_| counts.take(ip("192.0.2.1"), 3).expect("a place"))
            .collect();
        assert!(counts.take(ip("192.0.2.1"), 3).is_none());
        // Another address is unaffected, and an IPv4-mapped peer is the same IPv4 client.
        assert!(counts.take(ip("192.0.2.2"), 3).is_some());
        assert!(counts.take(ip("::ffff:192.0.2.1"), 3).is_none());
        drop(held);
        assert_eq!(counts.held(ip("192.0.2.1")), 0);
        assert_eq!(counts.0.holders(), 0, "no entry outlives its connections");
    }

    /// A listener that fails every accept as a process out of descriptors does (`EMFILE`)
    /// until `failing_until`, counting the attempts.
    struct OutOfDescriptors {
        listener: TcpListener,
        failing_until: std::time::Instant,
        attempts: Arc<std::sync::atomic::AtomicUsize>,
    }

    impl Accept for OutOfDescriptors {
        async fn accept(&self) -> io::Result<(TcpStream, SocketAddr)> {
            if std::time::Instant::now() < self.failing_until {
                self.attempts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                return Err(io::Error::from_raw_os_error(24)); // EMFILE
            }
            self.listener.accept().await
        }
    }

    #[tokio::test]
    async fn failed_accepts_pause_doubling_and_serving_resumes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let attempts = Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let failing = Duration::from_millis(700);
        let started = std::time::Instant::now();
        let listener = OutOfDescriptors {
            listener,
            failing_until: started + failing,
            attempts: attempts.clone(),
        };
        let limits = ConnectionLimits {
            max_connections: 4,
            per_address: 4,
            exempt: Vec::new(),
            header_timeout: Duration::from_secs(5),
            pace: BodyPace {
                grace: Duration::from_secs(5),
                min_rate: 1,
            },
        };
        let router = Router::new().route("/", axum::routing::get(|| async { "up" }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, router, limits, async move {
            let _ = stopped.await;
        }));
        // A client waiting meanwhile is served once accepting works again.
        let mut client = TcpStream::connect(address).await.unwrap();
        tokio::io::AsyncWriteExt::write_all(&mut client, b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
            .await
            .unwrap();
        let mut answer = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut client, &mut answer)
            .await
            .unwrap();
        assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
        assert!(answer.ends_with("up"), "{answer}");
        assert!(started.elapsed() >= failing);
        // 10, 20, 40, 80, 160, 320 ms: a handful of attempts in 0.7 s, not a spin.
        let tried = attempts.load(std::sync::atomic::Ordering::Relaxed);
        assert!((5..=8).contains(&tried), "{tried} accepts in {failing:?}");
        stop.send(()).unwrap();
        server.await.unwrap();
    }

    #[test]
    fn ipv6_clients_are_counted_by_slash_64() {
        let counts = AddressCounts::default();
        let _a = counts.take(ip("2001:db8:1:2::1"), 2).unwrap();
        let _b = counts.take(ip("2001:db8:1:2:ffff::9"), 2).unwrap();
        assert!(counts.take(ip("2001:db8:1:2::77"), 2).is_none());
        assert!(counts.take(ip("2001:db8:1:3::1"), 2).is_some());
    }

    #[test]
    fn connections_leave_descriptors_in_reserve() {
        let settings = Settings::defaults();
        assert_eq!(ConnectionLimits::new(&settings, 1024).max_connections, 1024 - 256);
        assert_eq!(
            ConnectionLimits::new(&settings, 1 << 20).max_connections,
            settings.max_connections
        );
        assert_eq!(ConnectionLimits::new(&settings, 10).max_connections, 1);
    }
}
