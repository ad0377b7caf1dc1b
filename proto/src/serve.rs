//! Serving a listener someone else bound.

use tokio::net::{TcpListener, TcpStream};
use tokio_stream::{Stream, StreamExt};

/// The largest HTTP/2 DATA frame our servers accept (256 KiB, against the
/// protocol's default of 16 KiB): a sender writes one frame per syscall,
/// so a batch of a few hundred KiB goes out in a few writes, not dozens.
pub const MAX_FRAME_SIZE: u32 = 256 << 10;

/// The connections of `listener`, each with TCP_NODELAY set. tonic's own
/// `tcp_nodelay` covers only listeners it binds; on a listener handed to it,
/// replies would otherwise wait for delayed ACKs, 40 ms at a time.
pub fn incoming_nodelay(
    listener: TcpListener,
) -> impl Stream<Item = std::io::Result<TcpStream>> + Send + 'static {
    tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
        conn.inspect(|s| {
            // Best effort: a socket without it still works, only slower.
            let _ = s.set_nodelay(true);
        })
    })
}
