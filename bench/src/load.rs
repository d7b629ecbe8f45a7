//! The loaded mode's background load: one spinning thread per core at the lowest priority
//! (nice 19), so every core is busy and any thread that wakes must be scheduled over a
//! runner-up. A hop between threads that is cheap on an idle machine (the wake-up of an idle
//! core) costs what it costs on a loaded server.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::{self, JoinHandle};

/// The nice value of the load's threads: the lowest priority, so they take only what the
/// workloads leave.
const NICE: libc::c_int = 19;

/// The load, running until it is dropped.
pub(crate) struct Load {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl Load {
    /// One spinning thread per core.
    pub(crate) fn start() -> Self {
        let cores = crate::pin::cpus();
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..cores)
            .map(|index| {
                let stop = Arc::clone(&stop);
                thread::spawn(move || {
                    crate::pin::spinner(index);
                    lower_this_threads_priority();
                    while !stop.load(Ordering::Relaxed) {
                        std::hint::spin_loop();
                    }
                })
            })
            .collect();
        crate::pin::servers_beside_contenders(true);
        Load { stop, threads }
    }
}

impl Drop for Load {
    fn drop(&mut self) {
        crate::pin::servers_beside_contenders(false);
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Give the calling thread nice value [`NICE`] (on Linux a thread's own, by its id); if the
/// system refuses, the load runs at normal priority, which only makes it heavier.
fn lower_this_threads_priority() {
    // SAFETY: `gettid` takes no arguments and only returns the calling thread's id; the
    // `syscall` variadic call is given exactly the number it expects (none besides its own).
    let tid = unsafe { libc::syscall(libc::SYS_gettid) };
    let Ok(tid) = libc::id_t::try_from(tid) else {
        return;
    };
    // SAFETY: `setpriority` reads its three integer arguments and writes no memory of ours;
    // `tid` names this very thread, which lives for the whole call.
    let _ = unsafe { libc::setpriority(libc::PRIO_PROCESS, tid, NICE) };
}
