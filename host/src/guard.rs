//! The per-store bounds on what a guest can make the host hold, where wasmtime-wasi has none
//! of its own: the WASI calls that create sockets and the drop of an output stream, defined
//! again over the standard ones (as `lookup` does for name lookups). The handle limit itself
//! is the resource table's ([`crate::Policy::max_handles`], set in `store`). The TLS
//! handshake's server name is bounded where the handshake is made (`tls::p2`).

use std::collections::HashSet;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use wasmtime::component::{Linker, Resource, ResourceType};
use wasmtime_wasi::TrappableError;
use wasmtime_wasi::p2::bindings::sockets::network::{ErrorCode, IpAddressFamily};
use wasmtime_wasi::p2::bindings::sockets::{tcp, tcp_create_socket, udp_create_socket};
use wasmtime_wasi::p2::{DynInputStream, DynOutputStream, TcpSocket, UdpSocket};
use wasmtime_wasi::p3::bindings::sockets::types::ErrorCode as P3Code;
use wasmtime_wasi::sockets::{WasiSocketsCtxView, WasiSocketsView};

use crate::store::State;

/// The versions wasmtime-wasi 48 links, which components importing any 0.2.x version are
/// linked against.
const TCP: &str = "wasi:sockets/tcp@0.2.12";
const UDP: &str = "wasi:sockets/udp@0.2.12";
const TCP_CREATE: &str = "wasi:sockets/tcp-create-socket@0.2.12";
const UDP_CREATE: &str = "wasi:sockets/udp-create-socket@0.2.12";
const STREAMS: &str = "wasi:io/streams@0.2.12";
/// WASI 0.3's sockets, which wasmtime-wasi 48 links at this version.
const TYPES_P3: &str = "wasi:sockets/types@0.3.0";

/// How long the bytes a guest handed an output stream may still take to go after it dropped
/// the stream. wasmtime-wasi waits for them inside the drop, so a peer that never reads
/// held the guest's call (and `serve`, and a call without a deadline) forever. Here the drop
/// returns at once and the bytes go on in the background for at most this long, as a closed
/// socket's do in the kernel: long enough for any live peer to take the last 64 KiB, short
/// enough that one that never reads soon frees its descriptor. Counted as a socket meanwhile.
pub const OUTPUT_LINGER: Duration = Duration::from_secs(30);

/// How many sockets a store holds, and may hold.
#[derive(Debug)]
pub(crate) struct Sockets {
    open: usize,
    /// The WASI 0.3 sockets counted in `open`, by their handle: only these give their count
    /// back when dropped (WASI 0.3's accepted sockets come from a stream the host fills, past
    /// these calls; the resource table bounds them, [`crate::Policy::max_handles`]). At most
    /// `max` entries.
    counted_p3: HashSet<u32>,
    /// Output streams dropped with bytes still going ([`OUTPUT_LINGER`]): each holds its socket's
    /// descriptor until they have gone, so each counts as a socket.
    lingering: Arc<AtomicUsize>,
    max: usize,
}

impl Sockets {
    pub(crate) fn new(max: usize) -> Self {
        Sockets {
            open: 0,
            counted_p3: HashSet::new(),
            lingering: Arc::default(),
            max,
        }
    }

    /// Count one more socket, or say why not.
    fn take(&mut self) -> Result<(), ErrorCode> {
        if self.open + self.lingering.load(Ordering::Relaxed) >= self.max {
            return Err(ErrorCode::NewSocketLimit);
        }
        self.open += 1;
        Ok(())
    }

    /// A socket was not made after all, or is gone.
    fn give_back(&mut self) {
        self.open = self.open.saturating_sub(1);
    }
}

type Answer<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

/// A wasmtime-wasi socket call's result as the linker returns it: a WASI error code to the
/// guest, a trap as a trap. A call that failed gives its socket back to the count.
fn answer<T>(sockets: &mut Sockets, result: Result<T, TrappableError<ErrorCode>>) -> Answer<T> {
    match result {
        Ok(value) => Ok((Ok(value),)),
        Err(e) => {
            sockets.give_back();
            Ok((Err(e.downcast()?),))
        }
    }
}

/// Make a socket with `make` (a wasmtime-wasi call) if the store may hold one more.
fn counted<T>(
    state: &mut State,
    make: impl FnOnce(&mut WasiSocketsCtxView<'_>) -> Result<T, TrappableError<ErrorCode>>,
) -> Answer<T> {
    if let Err(code) = state.sockets.take() {
        return Ok((Err(code),));
    }
    let made = make(&mut state.sockets());
    answer(&mut state.sockets, made)
}

/// Define the socket-creating calls and the sockets' destructors over the standard ones,
/// counting sockets against [`crate::Policy::max_sockets`].
pub(crate) fn add_sockets_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(TCP_CREATE)?.func_wrap(
        "create-tcp-socket",
        |mut store, (family,): (IpAddressFamily,)| -> Answer<Resource<TcpSocket>> {
            counted(store.data_mut(), |sockets| {
                tcp_create_socket::Host::create_tcp_socket(sockets, family)
            })
        },
    )?;
    linker.instance(UDP_CREATE)?.func_wrap_async(
        "create-udp-socket",
        |mut store, (family,): (IpAddressFamily,)| {
            Box::new(async move {
                let state = store.data_mut();
                if let Err(code) = state.sockets.take() {
                    return Ok((Err(code),));
                }
                let made =
                    udp_create_socket::Host::create_udp_socket(&mut state.sockets(), family).await;
                answer(&mut state.sockets, made)
            })
        },
    )?;
    type Accepted = (
        Resource<TcpSocket>,
        Resource<DynInputStream>,
        Resource<DynOutputStream>,
    );
    let mut tcp = linker.instance(TCP)?;
    tcp.func_wrap(
        "[method]tcp-socket.accept",
        |mut store, (listener,): (Resource<TcpSocket>,)| -> Answer<Accepted> {
            // Past the limit the peer stays in the backlog, to be accepted once a socket is
            // closed.
            let state = store.data_mut();
            let accepted = counted(state, |sockets| {
                tcp::HostTcpSocket::accept(sockets, listener)
            })?;
            if let (Ok((socket, input, _)),) = &accepted {
                let socket = Resource::new_borrow(socket.rep());
                remember_peer(state, socket, input);
            }
            Ok(accepted)
        },
    )?;
    type Streams = (Resource<DynInputStream>, Resource<DynOutputStream>);
    tcp.func_wrap(
        "[method]tcp-socket.finish-connect",
        |mut store, (socket,): (Resource<TcpSocket>,)| -> Answer<Streams> {
            let state = store.data_mut();
            let borrowed = Resource::new_borrow(socket.rep());
            let made = tcp::HostTcpSocket::finish_connect(&mut state.sockets(), socket);
            match made {
                Ok(streams) => {
                    remember_peer(state, borrowed, &streams.0);
                    Ok((Ok(streams),))
                }
                Err(e) => Ok((Err(e.downcast()?),)),
            }
        },
    )?;
    tcp.resource(
        "tcp-socket",
        ResourceType::host::<TcpSocket>(),
        drop_socket::<TcpSocket>,
    )?;
    linker.instance(UDP)?.resource(
        "udp-socket",
        ResourceType::host::<UdpSocket>(),
        drop_socket::<UdpSocket>,
    )?;
    Ok(())
}

/// What WASI 0.3 is told when a store has all the sockets its policy allows: 0.3.0's error
/// codes have no `new-socket-limit`, so it is `other`, with words the component reads as
/// `limit-exceeded` ("EMFILE", as the system says when a process has all its descriptors).
fn socket_limit_p3(max: usize) -> P3Code {
    P3Code::Other(Some(format!(
        "the host's policy allows {max} sockets at once, and they are open [EMFILE]"
    )))
}

type P3Answer<T> = wasmtime::Result<(Result<T, P3Code>,)>;

/// A WASI 0.3 socket made by `made` (a wasmtime-wasi call) counted under `rep`, or its
/// count given back if it failed.
fn counted_p3<T>(
    sockets: &mut Sockets,
    made: Result<Resource<T>, TrappableError<P3Code>>,
) -> P3Answer<Resource<T>> {
    match made {
        Ok(socket) => {
            sockets.counted_p3.insert(socket.rep());
            Ok((Ok(socket),))
        }
        Err(e) => {
            sockets.give_back();
            Ok((Err(e.downcast()?),))
        }
    }
}

/// Define WASI 0.3's socket-creating calls and the sockets' destructors over the standard
/// ones, counting the sockets they make against [`crate::Policy::max_sockets`], as
/// [`add_sockets_to_linker`] does for WASI 0.2's.
pub(crate) fn add_p3_sockets_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    use wasmtime_wasi::p3::bindings::sockets::types::{
        HostTcpSocket, HostUdpSocket, IpAddressFamily,
    };
    use wasmtime_wasi::sockets::{TcpSocket, UdpSocket};
    linker.allow_shadowing(true);
    let mut types = linker.instance(TYPES_P3)?;
    types.func_wrap(
        "[static]tcp-socket.create",
        |mut store, (family,): (IpAddressFamily,)| -> P3Answer<Resource<TcpSocket>> {
            let state = store.data_mut();
            if state.sockets.take().is_err() {
                return Ok((Err(socket_limit_p3(state.sockets.max)),));
            }
            let made = HostTcpSocket::create(&mut state.sockets(), family);
            counted_p3(&mut state.sockets, made)
        },
    )?;
    types.func_wrap_async(
        "[static]udp-socket.create",
        |mut store, (family,): (IpAddressFamily,)| {
            Box::new(async move {
                let state = store.data_mut();
                if state.sockets.take().is_err() {
                    return Ok((Err(socket_limit_p3(state.sockets.max)),));
                }
                let made = HostUdpSocket::create(&mut state.sockets(), family).await;
                counted_p3(&mut state.sockets, made)
            })
        },
    )?;
    types.resource(
        "tcp-socket",
        ResourceType::host::<TcpSocket>(),
        drop_p3_socket::<TcpSocket>,
    )?;
    types.resource(
        "udp-socket",
        ResourceType::host::<UdpSocket>(),
        drop_p3_socket::<UdpSocket>,
    )?;
    Ok(())
}

/// A WASI 0.3 socket's destructor: deleted from the table, its count given back if it was
/// counted.
fn drop_p3_socket<T: Send + 'static>(
    mut store: wasmtime::StoreContextMut<'_, State>,
    rep: u32,
) -> wasmtime::Result<()> {
    let state = store.data_mut();
    state.table.delete(Resource::<T>::new_own(rep))?;
    if state.sockets.counted_p3.remove(&rep) {
        state.sockets.give_back();
    }
    Ok(())
}

/// Remember the peer of `socket` as the peer of its `input` stream (a TLS handshake over that
/// stream is bound to it: `tls::p2`).
fn remember_peer(state: &mut State, socket: Resource<TcpSocket>, input: &Resource<DynInputStream>) {
    use wasmtime_wasi::p2::bindings::sockets::network::IpSocketAddress;
    let peer = match tcp::HostTcpSocket::remote_address(&mut state.sockets(), socket) {
        Ok(IpSocketAddress::Ipv4(v4)) => {
            let (a, b, c, d) = v4.address;
            SocketAddr::from(([a, b, c, d], v4.port))
        }
        Ok(IpSocketAddress::Ipv6(v6)) => {
            let (a, b, c, d, e, f, g, h) = v6.address;
            SocketAddr::from(([a, b, c, d, e, f, g, h], v6.port))
        }
        // A peer gone already: its handshake fails anyway.
        Err(_) => return,
    };
    state.stream_peers.insert(input.rep(), peer);
}

/// Define the drop of an output stream over wasmtime-wasi's, which waits for the bytes in
/// flight: here they go on in the background, for at most [`OUTPUT_LINGER`].
pub(crate) fn add_streams_to_linker(linker: &mut Linker<State>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    linker.instance(STREAMS)?.resource(
        "output-stream",
        ResourceType::host::<DynOutputStream>(),
        |mut store, rep| {
            let state = store.data_mut();
            let mut stream = state
                .table
                .delete(Resource::<DynOutputStream>::new_own(rep))?;
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            if std::pin::pin!(stream.ready()).poll(&mut cx).is_ready() {
                return Ok(()); // nothing in flight: gone now
            }
            let lingering = Arc::clone(&state.sockets.lingering);
            lingering.fetch_add(1, Ordering::Relaxed);
            tokio::spawn(async move {
                let _ = tokio::time::timeout(OUTPUT_LINGER, stream.cancel()).await;
                drop(stream);
                lingering.fetch_sub(1, Ordering::Relaxed);
            });
            Ok(())
        },
    )?;
    Ok(())
}

/// A socket's destructor, as wasmtime-wasi's (delete it from the table), counting it gone.
fn drop_socket<T: Send + 'static>(
    mut store: wasmtime::StoreContextMut<'_, State>,
    rep: u32,
) -> wasmtime::Result<()> {
    let state = store.data_mut();
    state.table.delete(Resource::<T>::new_own(rep))?;
    state.sockets.give_back();
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sockets_are_counted_up_to_the_limit_and_given_back() {
        let mut sockets = Sockets::new(2);
        assert_eq!(sockets.take(), Ok(()));
        assert_eq!(sockets.take(), Ok(()));
        assert_eq!(sockets.take(), Err(ErrorCode::NewSocketLimit));
        sockets.give_back();
        assert_eq!(sockets.take(), Ok(()));
        assert_eq!(sockets.take(), Err(ErrorCode::NewSocketLimit));
        let mut none = Sockets::new(0);
        none.give_back(); // never below zero
        assert_eq!(none.take(), Err(ErrorCode::NewSocketLimit));
    }
}
