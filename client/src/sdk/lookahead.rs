//! Request bodies that say they have ended with their last frame, so that
//! hyper marks that DATA frame END_STREAM instead of sending an empty one
//! after it.
//!
//! hyper asks a body `is_end_stream()` right after each frame. tonic's body
//! for a unary call only knows it has ended when polled once more, so every
//! call ended with a 9-byte DATA frame of its own, sent one poll later than
//! the message: a second `write` and a second wake-up of the broker per call
//! (see [`super::cork`]). [`Lookahead`] polls the next frame as soon as it
//! hands one out; a body that is not ready yet is left alone.

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use tonic::body::Body as TonicBody;
use tonic::codegen::http::Request;
use tonic::codegen::Service;

type Polled<B> = Option<Result<Frame<Bytes>, <B as Body>::Error>>;

/// `B`, polled one frame ahead.
pub(crate) struct Lookahead<B: Body<Data = Bytes>> {
    inner: B,
    /// The frame (or end, or error) polled ahead, not handed out yet.
    next: Option<Polled<B>>,
}

// Never pinned structurally: `inner` is `Unpin` and `next` only moves.
impl<B: Body<Data = Bytes> + Unpin> Unpin for Lookahead<B> {}

impl<B: Body<Data = Bytes> + Unpin> Lookahead<B> {
    pub fn new(inner: B) -> Self {
        Self { inner, next: None }
    }
}

impl<B: Body<Data = Bytes> + Unpin> Body for Lookahead<B> {
    type Data = Bytes;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, B::Error>>> {
        let this = self.get_mut();
        let polled = match this.next.take() {
            Some(polled) => polled,
            None => match Pin::new(&mut this.inner).poll_frame(cx) {
                Poll::Ready(polled) => polled,
                Poll::Pending => return Poll::Pending,
            },
        };
        // Ahead only of a frame: not past the end, nor past an error.
        if matches!(polled, Some(Ok(_))) {
            if let Poll::Ready(ahead) = Pin::new(&mut this.inner).poll_frame(cx) {
                this.next = Some(ahead);
            }
        }
        Poll::Ready(polled)
    }

    fn is_end_stream(&self) -> bool {
        match &self.next {
            Some(None) => true,
            Some(Some(_)) => false,
            None => self.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match &self.next {
            Some(Some(Ok(frame))) => {
                let ahead = frame.data_ref().map_or(0, |d| d.len() as u64);
                let rest = self.inner.size_hint();
                let mut hint = SizeHint::new();
                hint.set_lower(rest.lower().saturating_add(ahead));
                if let Some(upper) = rest.upper() {
                    hint.set_upper(upper.saturating_add(ahead));
                }
                hint
            }
            Some(_) => SizeHint::with_exact(0),
            None => self.inner.size_hint(),
        }
    }
}

/// A gRPC service whose request bodies are polled one frame ahead.
#[derive(Debug, Clone)]
pub(crate) struct LookaheadBodies<S>(pub S);

impl<S> Service<Request<TonicBody>> for LookaheadBodies<S>
where
    S: Service<Request<TonicBody>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, request: Request<TonicBody>) -> Self::Future {
        self.0
            .call(request.map(|body| TonicBody::new(Lookahead::new(body))))
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;
    use std::task::Waker;

    use super::*;

    /// A body that answers from a script: `None` is `Pending`.
    struct Scripted(VecDeque<Option<Option<&'static [u8]>>>);

    impl Body for Scripted {
        type Data = Bytes;
        type Error = std::convert::Infallible;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
            match self.0.pop_front() {
                Some(None) => Poll::Pending,
                Some(Some(Some(d))) => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(d))))),
                Some(Some(None)) | None => Poll::Ready(None),
            }
        }
    }

    fn frame(b: &mut Lookahead<Scripted>) -> Poll<Option<Bytes>> {
        let mut cx = Context::from_waker(Waker::noop());
        Pin::new(b)
            .poll_frame(&mut cx)
            .map(|f| f.map(|f| f.expect("frame").into_data().expect("data")))
    }

    #[test]
    fn the_last_frame_comes_with_the_end() {
        let mut b = Lookahead::new(Scripted(
            [Some(Some(&b"msg"[..])), Some(None)].into_iter().collect(),
        ));
        assert!(!b.is_end_stream());
        assert_eq!(frame(&mut b), Poll::Ready(Some(Bytes::from_static(b"msg"))));
        assert!(b.is_end_stream(), "known as soon as the data is out");
        assert_eq!(b.size_hint().exact(), Some(0));
        assert_eq!(frame(&mut b), Poll::Ready(None));
    }

    #[test]
    fn an_error_is_handed_out_and_the_body_not_polled_past_it() {
        struct Failing(u32);
        impl Body for Failing {
            type Data = Bytes;
            type Error = &'static str;
            fn poll_frame(
                mut self: Pin<&mut Self>,
                _: &mut Context<'_>,
            ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
                self.0 += 1;
                match self.0 {
                    1 => Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"a"))))),
                    2 => Poll::Ready(Some(Err("broken"))),
                    _ => panic!("polled past its error"),
                }
            }
        }
        let mut b = Lookahead::new(Failing(0));
        let mut cx = Context::from_waker(Waker::noop());
        let first = Pin::new(&mut b).poll_frame(&mut cx);
        assert!(matches!(first, Poll::Ready(Some(Ok(_)))));
        assert!(!b.is_end_stream());
        let second = Pin::new(&mut b).poll_frame(&mut cx);
        assert!(matches!(second, Poll::Ready(Some(Err("broken")))));
    }

    #[test]
    fn frames_keep_their_order_through_a_pending_body() {
        let mut b = Lookahead::new(Scripted(
            [
                Some(Some(&b"a"[..])),
                Some(Some(&b"bc"[..])),
                None,
                Some(Some(&b"d"[..])),
                Some(None),
            ]
            .into_iter()
            .collect(),
        ));
        assert_eq!(frame(&mut b), Poll::Ready(Some(Bytes::from_static(b"a"))));
        assert!(!b.is_end_stream());
        assert_eq!(b.size_hint().lower(), 2, "the frame polled ahead counts");
        assert_eq!(frame(&mut b), Poll::Ready(Some(Bytes::from_static(b"bc"))));
        // The look ahead met `Pending`: nothing is known of the end yet.
        assert!(!b.is_end_stream());
        assert_eq!(frame(&mut b), Poll::Ready(Some(Bytes::from_static(b"d"))));
        assert!(b.is_end_stream());
        assert_eq!(frame(&mut b), Poll::Ready(None));
    }
}
