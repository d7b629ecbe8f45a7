//! Where the benchmark's threads run. Left to the scheduler, a client and its server thread
//! sometimes shared a core (a round trip then cost a context switch, 6–10 µs) and sometimes
//! not (two wake-ups of another core, 65–90 µs on this project's VMs, idle or busy: a
//! cross-core wake-up is an interrupt the hypervisor delivers), run by run and contender by
//! contender: a round-trip row measured where the threads landed, not the contenders. Here
//! every contender (this process's main thread, in which the host's blocking API and the
//! workload components run, and the Python and Node processes it starts, which inherit its
//! CPU) runs on the first CPU this process may use. A workload server runs on the last on a
//! quiet machine (each round trip crosses between two cores, as between a client and a
//! server), and beside the contender in the loaded mode (where the scheduler put it in most
//! runs anyway: a wake-up there is a context switch over the spinning thread, and any hop
//! the contender makes to another thread pays the cross-core price). The loaded mode's
//! spinning threads get one CPU each, so every core stays busy.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicBool, Ordering};

/// Whether servers started from now on run beside the contenders (the loaded mode).
static BESIDE: AtomicBool = AtomicBool::new(false);

/// Start servers beside the contenders (`true`, the loaded mode), or on the last CPU.
pub(crate) fn servers_beside_contenders(beside: bool) {
    BESIDE.store(beside, Ordering::Relaxed);
}

/// The CPUs this process may run on, in order (empty if the system would not say).
static ALLOWED: LazyLock<Vec<usize>> = LazyLock::new(|| {
    // SAFETY: `cpu_set_t` is a plain bit array for which all zeros is a valid (empty) value.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `sched_getaffinity` writes at most `size_of::<cpu_set_t>()` bytes into `set`,
    // a live local of exactly that size; pid 0 is the calling thread.
    let got = unsafe { libc::sched_getaffinity(0, std::mem::size_of_val(&set), &mut set) };
    if got != 0 {
        return Vec::new();
    }
    (0..libc::CPU_SETSIZE as usize)
        // SAFETY: `cpu` is below `CPU_SETSIZE`, the number of bits `set` holds.
        .filter(|&cpu| unsafe { libc::CPU_ISSET(cpu, &set) })
        .collect()
});

/// How many CPUs this process may use (the main thread's count before it was pinned, which
/// `available_parallelism` would give afterwards as one).
pub(crate) fn cpus() -> usize {
    match ALLOWED.len() {
        0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
        allowed => allowed,
    }
}

/// Run the calling thread (and what it starts from now on) on the CPU at `index` among the
/// allowed ones, counted from the end if `from_end`. Nothing happens with fewer than two
/// CPUs, or if the system refuses: the figures are then the scheduler's again.
fn pin(index: usize, from_end: bool) {
    let allowed = &*ALLOWED;
    if allowed.len() < 2 {
        return;
    }
    let index = index % allowed.len();
    let cpu = if from_end {
        allowed[allowed.len() - 1 - index]
    } else {
        allowed[index]
    };
    // SAFETY: as in `ALLOWED`: an all-zero `cpu_set_t` is an empty set.
    let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
    // SAFETY: `cpu` came from `ALLOWED`, so it is below `CPU_SETSIZE`.
    unsafe { libc::CPU_SET(cpu, &mut set) };
    // SAFETY: `sched_setaffinity` reads `size_of::<cpu_set_t>()` bytes from `set`, a live
    // local of exactly that size; pid 0 is the calling thread.
    let _ = unsafe { libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) };
}

/// The contenders' CPU: the first.
pub(crate) fn contender() {
    pin(0, false);
}

/// A workload server's CPU: the last, or in the loaded mode the contenders'.
pub(crate) fn server() {
    pin(0, !BESIDE.load(Ordering::Relaxed));
}

/// The `index`th spinning thread's CPU of the loaded mode: one each.
pub(crate) fn spinner(index: usize) {
    pin(index, false);
}
