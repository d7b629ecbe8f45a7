//! Where the host's futures run, and the deadline beside each call: [`within`] bounds a call
//! on whatever runtime polls it (the caller's, for the async API); an [`Executor`] drives the
//! blocking API's calls in the thread that makes them. Depends on nothing else of this crate
//! but the error type and [`OUTPUT_LINGER`].

use std::sync::Arc;
use std::time::Duration;

use crate::{Error, OUTPUT_LINGER};

/// Threads one [`Executor`] may start for blocking work (the system's resolver behind a name
/// lookup, a file read): a store's lookups beyond a handful at once would only queue in the
/// system's resolver, and each instance of the blocking API has an executor of its own.
const MAX_BLOCKING_THREADS: usize = 4;

/// Run `call` to completion, or stop it at `deadline` with [`Error::Deadline`]. Dropping
/// the future on expiry unwinds the guest's stack: wasmtime resumes the suspended fiber with
/// an error, so nothing of the call runs after this returns. Needs a Tokio runtime with time
/// enabled (the caller's, or an [`Executor`]'s).
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

/// A current-thread Tokio runtime for one instance of the blocking API and everything it
/// hands out (their sockets are registered with its reactor). The thread that waits in a
/// call is the thread that polls the network, as native blocking code reads in the thread
/// that waits: no worker thread to wake, and to be woken by, at every readiness, a hop that
/// costs little on an idle machine and a scheduler's time slice on a busy one.
///
/// Between calls nothing drives it: bytes a write left with the host because the kernel's
/// buffer was full go on at the instance's next call. When the last holder lets go, what is
/// still running (an output stream's linger) goes on in a thread of its own, for at most
/// [`OUTPUT_LINGER`].
#[derive(Debug)]
pub(crate) struct Executor {
    runtime: InBackground,
}

impl Executor {
    /// A new executor, to share.
    pub(crate) fn new() -> Result<Arc<Self>, Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .thread_name("alore-socket-blocking")
            .max_blocking_threads(MAX_BLOCKING_THREADS)
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| Error::setup(format_args!("cannot start an executor: {e}")))?;
        Ok(Arc::new(Executor {
            runtime: InBackground(Some(runtime)),
        }))
    }

    /// Drive `future` to completion in this thread. It panics inside an async runtime: code
    /// there uses the async API.
    pub(crate) fn block_on<F: Future>(&self, future: F) -> F::Output {
        let runtime = self.runtime.get();
        let _context = runtime.enter();
        let mut future = std::pin::pin!(future);
        // Most calls finish without waiting for the network: poll once before taking the
        // runtime's driver.
        let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
        if let std::task::Poll::Ready(out) = future.as_mut().poll(&mut cx) {
            return out;
        }
        runtime.block_on(future)
    }
}

impl Drop for Executor {
    fn drop(&mut self) {
        if self.runtime.get().metrics().num_alive_tasks() == 0 {
            return;
        }
        // Lingering output: let it finish where nobody waits for it. Without a thread the
        // bytes go with the runtime, as a process that cannot start one loses what it had
        // not sent.
        let runtime = InBackground(self.runtime.0.take());
        let _ = std::thread::Builder::new()
            .name("alore-socket-linger".into())
            .spawn(move || {
                let runtime = runtime.get();
                let tasks = runtime.metrics();
                runtime.block_on(async {
                    let _ = tokio::time::timeout(OUTPUT_LINGER, async {
                        while tasks.num_alive_tasks() > 0 {
                            tokio::time::sleep(LINGER_POLL).await;
                        }
                    })
                    .await;
                });
            });
    }
}

/// How often a lingering executor looks whether its last tasks have ended: often enough
/// that its thread ends soon after them, rarely enough to cost nothing.
const LINGER_POLL: Duration = Duration::from_millis(50);

/// A runtime that shuts down in the background when dropped: dropping one the usual way
/// panics inside another runtime, and waits for its blocking threads. Always `Some` until
/// dropped or moved out.
#[derive(Debug)]
struct InBackground(Option<tokio::runtime::Runtime>);

impl InBackground {
    fn get(&self) -> &tokio::runtime::Runtime {
        self.0.as_ref().expect("present until dropped")
    }
}

impl Drop for InBackground {
    fn drop(&mut self) {
        if let Some(runtime) = self.0.take() {
            runtime.shutdown_background();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::mpsc;

    #[test]
    fn what_still_runs_when_the_last_holder_lets_go_runs_to_its_end() {
        let exec = Executor::new().expect("an executor");
        let (done, finished) = mpsc::channel();
        exec.block_on(async {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let _ = done.send(());
            });
        });
        drop(exec);
        assert_eq!(finished.recv_timeout(Duration::from_secs(10)), Ok(()));
    }

    #[test]
    fn calls_are_driven_in_the_calling_thread() {
        let exec = Executor::new().expect("an executor");
        let caller = std::thread::current().id();
        // What a call spawns (wasmtime-wasi's background writes), and the reactor that wakes
        // it, run in the caller's thread too: there is no worker thread to hop to.
        let polled_in = exec.block_on(async {
            tokio::spawn(async {
                tokio::time::sleep(Duration::from_millis(10)).await;
                std::thread::current().id()
            })
            .await
        });
        assert_eq!(polled_in.expect("the task ran"), caller);
    }

    #[test]
    fn an_executor_dropped_inside_another_runtime_does_not_panic() {
        let idle = Executor::new().expect("an executor");
        let busy = Executor::new().expect("an executor");
        busy.block_on(async {
            tokio::spawn(tokio::time::sleep(Duration::from_millis(50)));
        });
        let other = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("a runtime");
        other.block_on(async move {
            drop(idle);
            drop(busy);
        });
    }
}
