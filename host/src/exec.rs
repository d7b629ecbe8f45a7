//! The host's own Tokio runtime, and [`block_on`], which drives calls into a store on it
//! under a deadline. Depends on nothing else of this crate.

use std::sync::LazyLock;
use std::time::Duration;

/// The Tokio runtime every instance's sockets live on: its worker threads drive the network
/// and the timers while the calling thread waits in [`block_on`]. The host's own, so that it
/// does not depend on whichever runtime a caller happens to be in.
static TOKIO: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .thread_name("alore-socket-io")
        .enable_io()
        .enable_time()
        .build()
        .expect("a Tokio runtime for the host")
});

/// Drive `call`, a future of calls into a store from [`crate::Runtime::new_store`] (e.g.
/// `call_async` of generated bindings), to completion on the host's Tokio runtime; no later
/// than `deadline` when there is one, and then `None`: the call was stopped and its instance
/// cannot be used again. It blocks the thread, so it panics inside an async runtime.
pub fn block_on<F: Future>(deadline: Option<Duration>, call: F) -> Option<F::Output> {
    let _context = TOKIO.enter();
    let mut call = std::pin::pin!(async move {
        match deadline {
            // Dropping the future on expiry unwinds the guest's stack: wasmtime resumes the
            // suspended fiber with an error, so nothing of the call runs after this returns.
            Some(deadline) => tokio::time::timeout(deadline, call).await.ok(),
            None => Some(call.await),
        }
    });
    // Most calls finish without waiting for the network: poll once before paying for a
    // blocking executor.
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    if let std::task::Poll::Ready(out) = call.as_mut().poll(&mut cx) {
        return out;
    }
    TOKIO.block_on(call)
}
