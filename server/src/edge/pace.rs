//! Request bodies that must keep arriving.
//!
//! A total timeout alone lets a client that declares a body and sends a byte every few
//! seconds hold its connection (and, on an upload route, an upload slot) until the timeout,
//! and a per-read idle timeout lets it do so for ever. Every request body is therefore
//! paced: it may take [`BodyPace::grace`] to start, and must then have delivered, at any
//! moment it is waited on, at least `min_rate` bytes per second since the grace ended. The
//! deadline moves with each byte that arrives, so a fast client never sees it; a slow one's
//! next read fails with [`BodyTooSlow`], which handlers answer with 408 ([`too_slow`]).

use std::error::Error;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::body::Bytes;
use http_body::{Body, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

/// How fast a request body must arrive.
#[derive(Debug, Clone, Copy)]
pub struct BodyPace {
    /// Time the body may take before any rate applies.
    pub grace: Duration,
    /// Bytes per second it must average after the grace.
    pub min_rate: u64,
}

impl BodyPace {
    /// Latest moment by which a body that started at `started` and has delivered `received`
    /// bytes must deliver its next one.
    fn deadline(&self, started: Instant, received: u64) -> Instant {
        let earned = Duration::from_secs_f64(received as f64 / self.min_rate.max(1) as f64);
        // A deadline past any real body's length; far enough that adding it cannot overflow.
        let earned = earned.min(Duration::from_secs(86_400 * 365));
        started + self.grace + earned
    }
}

/// A request body that fails with [`BodyTooSlow`] when it falls behind its [`BodyPace`].
pub struct PacedBody<B> {
    inner: B,
    pace: BodyPace,
    started: Instant,
    received: u64,
    /// Made when the body is first waited on: a request without a body never sets a timer.
    timer: Option<Pin<Box<Sleep>>>,
    too_slow: bool,
}

impl<B> PacedBody<B> {
    /// Paces `inner` from now (the moment its request's headers were read).
    pub fn new(inner: B, pace: BodyPace) -> Self {
        Self {
            inner,
            pace,
            started: Instant::now(),
            received: 0,
            timer: None,
            too_slow: false,
        }
    }

    fn too_slow(&mut self) -> BodyTooSlow {
        self.too_slow = true;
        BodyTooSlow {
            received: self.received,
            grace_s: self.pace.grace.as_secs(),
            min_rate: self.pace.min_rate,
        }
    }
}

impl<B> Body for PacedBody<B>
where
    B: Body<Data = Bytes> + Unpin,
    B::Error: Into<Box<dyn Error + Send + Sync>>,
{
    type Data = Bytes;
    type Error = Box<dyn Error + Send + Sync>;

    fn poll_frame(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        let this = &mut *self;
        if this.too_slow {
            return Poll::Ready(Some(Err(this.too_slow().into())));
        }
        match Pin::new(&mut this.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                if let Some(data) = frame.data_ref() {
                    this.received = this.received.saturating_add(data.len() as u64);
                    if let Some(timer) = &mut this.timer {
                        timer.as_mut().reset(this.pace.deadline(this.started, this.received));
                    }
                }
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(error))) => Poll::Ready(Some(Err(error.into()))),
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => {
                let deadline = this.pace.deadline(this.started, this.received);
                let timer = this
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(deadline)));
                ready!(timer.as_mut().poll(cx));
                Poll::Ready(Some(Err(this.too_slow().into())))
            }
        }
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

/// A request body that fell behind its pace.
#[derive(Debug, thiserror::Error)]
#[error(
    "the request body arrived too slowly: {received} bytes, where at least {min_rate} bytes a second \
     are wanted after the first {grace_s} s"
)]
pub struct BodyTooSlow {
    pub received: u64,
    pub grace_s: u64,
    pub min_rate: u64,
}

/// The [`BodyTooSlow`] that `error` (a body read's error, or an extractor's rejection) comes
/// from, if it does: the client's fault, answered 408 rather than 400.
pub fn too_slow<'a>(error: &'a (dyn Error + 'static)) -> Option<&'a BodyTooSlow> {
    let mut cause = Some(error);
    while let Some(error) = cause {
        if let Some(slow) = error.downcast_ref::<BodyTooSlow>() {
            return Some(slow);
        }
        cause = error.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::{BodyExt, StreamBody};

    /// Real time (tokio's paused clock would need its `test-util` feature, and with it a
    /// second build of tokio and everything above it).
    fn pace() -> BodyPace {
        BodyPace {
            grace: Duration::from_millis(300),
            min_rate: 1000,
        }
    }

    fn trickle(
        first: Duration,
        every: Duration,
        chunk: usize,
        chunks: usize,
    ) -> impl Body<Data = Bytes, Error = std::io::Error> + Unpin {
        StreamBody::new(Box::pin(futures_util::stream::unfold(0, move |sent| async move {
            if sent == chunks {
                return None;
            }
            tokio::time::sleep(if sent == 0 { first } else { every }).await;
            Some((Ok(Frame::data(Bytes::from(vec![7u8; chunk]))), sent + 1))
        })))
    }

    #[tokio::test]
    async fn a_body_that_keeps_its_pace_arrives_whole() {
        // Starts just inside the grace, then 100 bytes every 50 ms: twice the pace.
        let body = trickle(Duration::from_millis(250), Duration::from_millis(50), 100, 10);
        let bytes = PacedBody::new(body, pace())
            .collect()
            .await
            .expect("in time")
            .to_bytes();
        assert_eq!(bytes.len(), 1000);
    }

    #[tokio::test]
    async fn a_trickle_is_cut_once_it_falls_behind() {
        // A byte every 100 ms: behind 1,000 bytes a second as soon as the grace ends.
        let body = trickle(Duration::from_millis(100), Duration::from_millis(100), 1, usize::MAX);
        let started = Instant::now();
        let error = PacedBody::new(body, pace()).collect().await.expect_err("too slow");
        assert!(too_slow(error.as_ref()).is_some(), "{error}");
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(900),
            "{elapsed:?}"
        );
    }

    #[tokio::test]
    async fn a_body_that_never_comes_is_cut_after_the_grace() {
        let never = StreamBody::new(futures_util::stream::pending::<Result<Frame<Bytes>, std::io::Error>>());
        let started = Instant::now();
        let error = PacedBody::new(never, pace()).collect().await.expect_err("never sent");
        assert!(too_slow(error.as_ref()).is_some());
        let elapsed = started.elapsed();
        assert!(
            elapsed >= Duration::from_millis(300) && elapsed < Duration::from_millis(900),
            "{elapsed:?}"
        );
    }
}
