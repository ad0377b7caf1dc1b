//! A socket corked for one turn of the scheduler: what the HTTP/2 layer
//! writes and flushes in one turn goes to the kernel in one `write`.
//!
//! hyper sends a unary gRPC call as three flushes from two tasks: the
//! connection task writes HEADERS, the body task then hands over DATA and,
//! on a later poll, the empty DATA frame that ends the stream. Each flush
//! was a `writev` on loopback, and each woke the broker to read a part of
//! the request it could do nothing with yet (measured with strace: 57, 1.3
//! K and 9 bytes per call at one message in flight).
//!
//! Here a flush with bytes waiting first yields once: the task is woken
//! at once and the flush returns `Pending`, so the tasks already runnable
//! (the body task) add their frames before the bytes leave on the next
//! poll. The cost is one extra poll of the connection task per flush; no
//! timer is involved, so a lone request waits for nothing but the tasks
//! that were ready anyway.
//!
//! ```text
//! poll_write(HEADERS)  -> buffered            flush -> Pending, woken
//! (body task runs: DATA, end of stream)
//! poll_write(DATA ...) -> buffered            flush -> one write(HEADERS DATA ...)
//! ```
//!
//! At most [`CORK_LIMIT`] bytes wait; a write that would pass it first
//! sends what waits, and a write as large as the limit goes straight out.

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The most bytes held back for the next flush.
pub(crate) const CORK_LIMIT: usize = 64 << 10;

/// `S` with its writes held until the flush after next (see the module).
#[derive(Debug)]
pub(crate) struct Corked<S> {
    inner: S,
    /// Bytes accepted and not yet written; `buf[sent..]` is what is left.
    buf: Vec<u8>,
    sent: usize,
    /// Whether the last flush yielded with these bytes waiting.
    yielded: bool,
}

impl<S> Corked<S> {
    pub fn new(inner: S) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            sent: 0,
            yielded: false,
        }
    }
}

impl<S: AsyncWrite + Unpin> Corked<S> {
    /// Writes out what waits.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.sent < self.buf.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.sent..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.sent += n;
        }
        self.buf.clear();
        self.sent = 0;
        self.yielded = false;
        Poll::Ready(Ok(()))
    }

    /// Makes room for `len` more bytes: `Ready(true)` when they are to be
    /// buffered, `Ready(false)` when they are to go straight out.
    fn poll_room(&mut self, cx: &mut Context<'_>, len: usize) -> Poll<io::Result<bool>> {
        if self.buf.len() + len > CORK_LIMIT {
            ready!(self.poll_drain(cx))?;
        }
        Poll::Ready(Ok(len < CORK_LIMIT))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Corked<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if !ready!(this.poll_room(cx, data.len()))? {
            return Pin::new(&mut this.inner).poll_write(cx, data);
        }
        this.buf.extend_from_slice(data);
        Poll::Ready(Ok(data.len()))
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        slices: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let len = slices.iter().map(|s| s.len()).sum();
        if !ready!(this.poll_room(cx, len))? {
            return Pin::new(&mut this.inner).poll_write_vectored(cx, slices);
        }
        for s in slices {
            this.buf.extend_from_slice(s);
        }
        Poll::Ready(Ok(len))
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.sent < this.buf.len() {
            if !this.yielded {
                this.yielded = true;
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            ready!(this.poll_drain(cx))?;
        }
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Corked<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;
    use std::task::{Wake, Waker};

    use super::*;

    /// An inner stream that records each write it takes, and can refuse
    /// (`Pending`) or take only part of the next ones.
    #[derive(Default)]
    struct Recorder {
        writes: Vec<Vec<u8>>,
        /// Answers to the next writes: `None` is `Pending`, `Some(n)` takes at most n bytes.
        script: Vec<Option<usize>>,
        flushes: usize,
    }

    impl AsyncWrite for Recorder {
        fn poll_write(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
            data: &[u8],
        ) -> Poll<io::Result<usize>> {
            let take = if self.script.is_empty() {
                data.len()
            } else {
                match self.script.remove(0) {
                    None => return Poll::Pending,
                    Some(n) => n.min(data.len()),
                }
            };
            self.writes.push(data[..take].to_vec());
            Poll::Ready(Ok(take))
        }

        fn poll_flush(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            self.flushes += 1;
            Poll::Ready(Ok(()))
        }

        fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }
    }

    #[derive(Default)]
    struct Wakes(AtomicUsize);

    impl Wake for Wakes {
        fn wake(self: Arc<Self>) {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }

    fn waker() -> (Arc<Wakes>, Waker) {
        let wakes = Arc::new(Wakes::default());
        (Arc::clone(&wakes), Waker::from(wakes))
    }

    fn write(s: &mut Corked<Recorder>, cx: &mut Context<'_>, data: &[u8]) -> Poll<usize> {
        Pin::new(s).poll_write(cx, data).map(|r| r.expect("write"))
    }

    fn flush(s: &mut Corked<Recorder>, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(s).poll_flush(cx).map(|r| r.expect("flush"))
    }

    #[test]
    fn what_is_written_before_the_second_flush_leaves_in_one_write() {
        let (wakes, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = Corked::new(Recorder::default());
        assert_eq!(write(&mut s, &mut cx, b"HEADERS"), Poll::Ready(7));
        assert_eq!(flush(&mut s, &mut cx), Poll::Pending);
        assert_eq!(
            wakes.0.load(Ordering::SeqCst),
            1,
            "the flush wakes its task"
        );
        assert!(s.inner.writes.is_empty());
        let slices = [IoSlice::new(b"DATA"), IoSlice::new(b"+END")];
        let n = Pin::new(&mut s).poll_write_vectored(&mut cx, &slices);
        assert!(matches!(n, Poll::Ready(Ok(8))));
        assert_eq!(flush(&mut s, &mut cx), Poll::Ready(()));
        assert_eq!(s.inner.writes, vec![b"HEADERSDATA+END".to_vec()]);
        assert_eq!(s.inner.flushes, 1);
        // The next round yields again, and only once.
        assert_eq!(write(&mut s, &mut cx, b"PING"), Poll::Ready(4));
        assert_eq!(flush(&mut s, &mut cx), Poll::Pending);
        assert_eq!(flush(&mut s, &mut cx), Poll::Ready(()));
        assert_eq!(s.inner.writes.len(), 2);
        assert_eq!(wakes.0.load(Ordering::SeqCst), 2);
    }

    #[test]
    fn a_flush_with_nothing_waiting_goes_straight_through() {
        let (wakes, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = Corked::new(Recorder::default());
        assert_eq!(flush(&mut s, &mut cx), Poll::Ready(()));
        assert_eq!(wakes.0.load(Ordering::SeqCst), 0);
        assert_eq!(s.inner.flushes, 1);
    }

    #[test]
    fn a_large_write_sends_what_waits_first_and_keeps_the_order() {
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = Corked::new(Recorder::default());
        assert_eq!(write(&mut s, &mut cx, b"small"), Poll::Ready(5));
        let big = vec![7u8; CORK_LIMIT];
        assert_eq!(write(&mut s, &mut cx, &big), Poll::Ready(CORK_LIMIT));
        assert_eq!(s.inner.writes.len(), 2);
        assert_eq!(s.inner.writes[0], b"small");
        assert_eq!(s.inner.writes[1], big);
        // Nothing waits: the flush does not yield.
        assert_eq!(flush(&mut s, &mut cx), Poll::Ready(()));
    }

    #[test]
    fn a_slow_socket_gets_every_byte_once_in_order() {
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = Corked::new(Recorder {
            script: vec![Some(3), None, Some(2)],
            ..Recorder::default()
        });
        assert_eq!(write(&mut s, &mut cx, b"abcdefgh"), Poll::Ready(8));
        assert_eq!(flush(&mut s, &mut cx), Poll::Pending, "the yield");
        assert_eq!(flush(&mut s, &mut cx), Poll::Pending, "the socket is full");
        assert_eq!(write(&mut s, &mut cx, b"ij"), Poll::Ready(2));
        assert_eq!(flush(&mut s, &mut cx), Poll::Ready(()));
        let sent: Vec<u8> = s.inner.writes.concat();
        assert_eq!(sent, b"abcdefghij");
        assert_eq!(s.inner.writes[0], b"abc");
    }

    #[test]
    fn shutdown_sends_what_waits() {
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = Corked::new(Recorder::default());
        assert_eq!(write(&mut s, &mut cx, b"GOAWAY"), Poll::Ready(6));
        let r = Pin::new(&mut s).poll_shutdown(&mut cx);
        assert!(matches!(r, Poll::Ready(Ok(()))));
        assert_eq!(s.inner.writes, vec![b"GOAWAY".to_vec()]);
    }

    #[test]
    fn a_socket_that_takes_nothing_is_an_error() {
        let (_, w) = waker();
        let mut cx = Context::from_waker(&w);
        let mut s = Corked::new(Recorder {
            script: vec![Some(0)],
            ..Recorder::default()
        });
        assert_eq!(write(&mut s, &mut cx, b"x"), Poll::Ready(1));
        assert_eq!(flush(&mut s, &mut cx), Poll::Pending);
        let r = Pin::new(&mut s).poll_flush(&mut cx);
        assert!(matches!(r, Poll::Ready(Err(e)) if e.kind() == io::ErrorKind::WriteZero));
    }
}
