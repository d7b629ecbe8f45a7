//! Where the host's futures run, and the deadline beside each call: [`within`] bounds a call
//! on whatever runtime polls it (the caller's, for the async API); [`block_on`] drives one on
//! the host's own runtime, for the blocking API. Depends on nothing else of this crate but
//! the error type.

use std::sync::LazyLock;
use std::time::Duration;

use crate::Error;

/// The Tokio runtime the blocking API's instances live on: its worker threads drive the
/// network and the timers while the calling thread waits in [`block_on`].
static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("alore-socket-io")
        .enable_io()
        .enable_time()
        .build()
        .expect("a Tokio runtime for the host")
});

/// Run `call` to completion, or stop it at `deadline` with [`Error::Deadline`]. Dropping
/// the future on expiry unwinds the guest's stack: wasmtime resumes the suspended fiber with
/// an error, so nothing of the call runs after this returns. Needs a Tokio runtime with time
/// enabled (the caller's, or the one [`block_on`] enters).
pub(crate) async fn within<F: Future>(
    deadline: Option<Duration>,
    call: F,
) -> Result<F::Output, Error> {
    match deadline {
        Some(deadline) => tokio::time::timeout(deadline, call)
            .await
            .map_err(|_| Error::Deadline(deadline)),
        None => Ok(call.await),
    }
}

/// Drive `future` to completion on the host's own Tokio runtime, blocking the thread. It
/// panics inside an async runtime: code there uses the async API.
pub(crate) fn block_on<F: Future>(future: F) -> F::Output {
    let _context = TOKIO.enter();
    let mut future = std::pin::pin!(future);
    // Most calls finish without waiting for the network: poll once before paying for a
    // blocking executor.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
        return out;
    }
    TOKIO.block_on(future)
}
