//! What an edition offers the core: the system calls that `connect` and `names` are written
//! over, once, for both editions. The WASI 0.2 edition's (`p2`) block inside each call; the
//! WASI 0.3 edition's (`p3`) await the host.

use std::net::{IpAddr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use crate::error::Error;
use crate::stream::Transport;

/// One edition's system calls. Every function is associated (no `self`): an edition is a
/// set of imports, not a value.
#[allow(
    async_fn_in_trait,
    reason = "crate-private: no caller needs a Send bound"
)]
pub(crate) trait Sys {
    /// A connected TCP socket.
    type Connection: Transport;
    /// A TCP connection attempt in flight ([`Sys::start`]); dropping it cancels it.
    type Attempt;
    /// A point in time after which a wait gives up.
    type Deadline: Copy;
    /// The deadline that never passes.
    const NEVER: Self::Deadline;

    /// `wait` from now.
    fn after(wait: Duration) -> Self::Deadline;

    /// The earlier of two deadlines.
    fn earlier(a: Self::Deadline, b: Self::Deadline) -> Self::Deadline;

    /// Whether `deadline` has passed.
    fn passed(deadline: Self::Deadline) -> bool;

    /// `wait` from now, or never for no wait.
    fn within(wait: Option<Duration>) -> Self::Deadline {
        wait.map_or(Self::NEVER, Self::after)
    }

    /// The addresses of `name` (not an address literal), in the resolver's order, by
    /// `deadline`; the resolver's failures as `name-error`s, a name it calls invalid as a
    /// `value-error`.
    async fn resolve(name: &str, deadline: Self::Deadline) -> Result<Vec<IpAddr>, Error>;

    /// A TCP connection to `remote`, by `deadline`.
    async fn connect(
        remote: SocketAddr,
        deadline: Self::Deadline,
    ) -> Result<Self::Connection, Error>;

    /// Start connecting to `remote`, without waiting: the attempt goes on while the caller
    /// starts others ([`Sys::settle`]).
    fn start(remote: SocketAddr) -> Result<Self::Attempt, Error>;

    /// Wait until one of `attempts` has connected or failed (`Some`: that attempt leaves the
    /// list, and the others go on) or `until` passes (`None`).
    async fn settle(
        attempts: &mut Vec<Self::Attempt>,
        until: Self::Deadline,
    ) -> Option<Result<Self::Connection, Error>>;

    /// Send `query` to `server` over UDP and return the first datagram from it that `accept`
    /// takes, or `None` if none came by `deadline`.
    async fn udp_exchange(
        server: SocketAddrV4,
        query: &[u8],
        deadline: Self::Deadline,
        accept: impl FnMut(&[u8]) -> bool,
    ) -> Result<Option<Vec<u8>>, Error>;

    /// The environment variable `name`, as the host gave it.
    fn env(name: &str) -> Option<String>;

    /// The text of the file at `path` (one of the host's `/etc` copies), if it can be read.
    async fn read_file(path: &str) -> Option<String>;

    /// 64 random bits, for DNS query IDs.
    fn random_u64() -> u64;
}
