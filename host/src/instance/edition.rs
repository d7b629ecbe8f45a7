//! Each edition's calls into its contract, behind one set of functions: the WASI 0.2
//! edition's exports are called one at a time with `&mut Store`; the WASI 0.3 edition's are
//! async functions, called inside `Store::run_concurrent`. Both answer in the host's types.

use wasmtime::component::ResourceAny;

use super::Inner;
use crate::Error;
use crate::bindings::{self, p3};
use crate::runtime::Edition;
use crate::types::{Buffering, ConnectOptions, SocketError};

/// The bindings of an instance of either edition.
pub(crate) enum Bindings {
    Wasi02(bindings::Provider),
    Wasi03(p3::Provider),
}

impl Bindings {
    pub(crate) fn edition(&self) -> Edition {
        match self {
            Bindings::Wasi02(_) => Edition::Wasi02,
            Bindings::Wasi03(_) => Edition::Wasi03,
        }
    }
}

/// A call's result in the host's terms: a trap is [`Error::Wasm`], the contract's error is
/// [`Error::Socket`].
fn done<T, G>(result: wasmtime::Result<Result<T, G>>) -> Result<T, Error>
where
    SocketError: From<G>,
{
    match result {
        Err(e) => Err(Error::wasm(e)),
        Ok(Err(e)) => Err(Error::Socket(e.into())),
        Ok(Ok(value)) => Ok(value),
    }
}

/// An argument as the WASI 0.3 edition's concurrent calls take it: owned.
trait Owned {
    type Owned;
    fn owned(self) -> Self::Owned;
}

impl Owned for &[u8] {
    type Owned = Vec<u8>;
    fn owned(self) -> Vec<u8> {
        self.to_vec()
    }
}

impl Owned for &str {
    type Owned = String;
    fn owned(self) -> String {
        self.to_owned()
    }
}

impl Owned for Option<&str> {
    type Owned = Option<String>;
    fn owned(self) -> Option<String> {
        self.map(str::to_owned)
    }
}

impl Owned for Option<u32> {
    type Owned = Option<u32>;
    fn owned(self) -> Option<u32> {
        self
    }
}

impl Owned for u32 {
    type Owned = u32;
    fn owned(self) -> u32 {
        self
    }
}

impl Owned for u16 {
    type Owned = u16;
    fn owned(self) -> u16 {
        self
    }
}

/// Call a function of either edition: `$p2` with the WASI 0.2 edition's interface and the
/// store, `$p3` with the WASI 0.3 edition's and an accessor inside `run_concurrent`.
macro_rules! call {
    ($inner:expr, $interface:ident, |$api:ident, $store:ident| $p2:expr, |$api3:ident, $accessor:ident| $p3:expr) => {{
        let Inner { store, bindings } = $inner;
        match bindings {
            Bindings::Wasi02(provider) => {
                let $api = provider.$interface();
                let $store = &mut *store;
                done($p2.await)
            }
            Bindings::Wasi03(provider) => {
                let $api3 = provider.$interface();
                let ran = store.run_concurrent(async |$accessor| $p3.await).await;
                done(ran.and_then(|result| result))
            }
        }
    }};
}

pub(crate) async fn connect(
    inner: &mut Inner,
    destination: &str,
    port: u16,
    buffering: Option<Buffering>,
) -> Result<ResourceAny, Error> {
    let options = ConnectOptions {
        buffering,
        timeout_ms: None,
    };
    call!(
        inner,
        alore_socket_socket,
        |api, store| api.socket().call_constructor(
            store,
            destination,
            port,
            buffering.map(Into::into)
        ),
        // The WASI 0.3 edition has no constructors: `connect` is the entry point.
        |api, accessor| api.socket().call_connect(
            accessor,
            destination.owned(),
            port,
            options.into()
        )
    )
}

pub(crate) async fn connect_with(
    inner: &mut Inner,
    destination: &str,
    port: u16,
    options: ConnectOptions,
) -> Result<ResourceAny, Error> {
    call!(
        inner,
        alore_socket_socket,
        |api, store| api
            .socket()
            .call_connect(store, destination, port, options.into()),
        |api, accessor| api.socket().call_connect(
            accessor,
            destination.owned(),
            port,
            options.into()
        )
    )
}

pub(crate) async fn listen(
    inner: &mut Inner,
    port: u16,
    address: Option<&str>,
) -> Result<ResourceAny, Error> {
    call!(
        inner,
        alore_socket_server_socket,
        |api, store| api.server_socket().call_listen(store, port, address),
        |api, accessor| api
            .server_socket()
            .call_listen(accessor, port, address.owned())
    )
}

pub(crate) async fn server_socket(
    inner: &mut Inner,
    port: u16,
    address: Option<&str>,
) -> Result<ResourceAny, Error> {
    call!(
        inner,
        alore_socket_server_socket,
        |api, store| api.server_socket().call_constructor(store, port, address),
        |api, accessor| api
            .server_socket()
            .call_listen(accessor, port, address.owned())
    )
}

pub(crate) async fn get_host_by_name(inner: &mut Inner, name: &str) -> Result<String, Error> {
    call!(
        inner,
        alore_socket_socket,
        |api, store| api.call_get_host_by_name(store, name),
        |api, accessor| api.call_get_host_by_name(accessor, name.owned())
    )
}

pub(crate) async fn get_host_addresses(
    inner: &mut Inner,
    name: &str,
) -> Result<Vec<String>, Error> {
    call!(
        inner,
        alore_socket_socket,
        |api, store| api.call_get_host_addresses(store, name),
        |api, accessor| api.call_get_host_addresses(accessor, name.owned())
    )
}

pub(crate) async fn get_host_by_address(inner: &mut Inner, address: &str) -> Result<String, Error> {
    call!(
        inner,
        alore_socket_socket,
        |api, store| api.call_get_host_by_address(store, address),
        |api, accessor| api.call_get_host_by_address(accessor, address.owned())
    )
}

pub(crate) async fn get_host_name(inner: &mut Inner) -> Result<String, Error> {
    call!(
        inner,
        alore_socket_socket,
        |api, store| api.call_get_host_name(store),
        |api, accessor| api.call_get_host_name(accessor)
    )
}

/// Release a socket or server socket: its destructor runs (a socket flushes). The WASI 0.3
/// edition's destructor cannot wait for a flush, so a socket's `close` runs first there.
pub(crate) async fn release(
    inner: &mut Inner,
    handle: ResourceAny,
    socket: bool,
) -> Result<(), Error> {
    if let (true, Bindings::Wasi03(provider)) = (socket, &inner.bindings) {
        let api = provider.alore_socket_socket();
        // Its errors are the socket's to lose, as in a destructor.
        let _ = inner
            .store
            .run_concurrent(async |accessor| api.socket().call_close(accessor, handle).await)
            .await;
    }
    handle
        .resource_drop_async(&mut inner.store)
        .await
        .map_err(Error::wasm)
}

/// One resource method of either edition: `$interface` is the bindings' interface getter,
/// `$resource` its resource getter. Written once for the socket's and the server socket's
/// methods (the lists `socket_methods!` and `server_socket_methods!`).
macro_rules! resource_method {
    ($interface:ident, $resource:ident,
     $(#[$doc:meta])* $name:ident => $call:ident($($arg:ident: $ty:ty),*) -> $out:ty) => {
        pub(crate) async fn $name(
            inner: &mut Inner,
            handle: ResourceAny
            $(, $arg: $ty)*
        ) -> Result<$out, Error> {
            call!(
                inner,
                $interface,
                |api, store| api.$resource().$call(store, handle $(, $arg)*),
                |api, accessor| api.$resource().$call(accessor, handle $(, $arg.owned())*)
            )
        }
    };
}

/// The socket resource's methods.
pub(crate) mod socket {
    use super::*;

    macro_rules! method {
        ($($method:tt)*) => {
            resource_method!(alore_socket_socket, socket, $($method)*);
        };
    }

    crate::instance::socket_methods!(method);
}

/// The server socket resource's methods.
pub(crate) mod server {
    use super::*;

    macro_rules! method {
        ($($method:tt)*) => {
            resource_method!(alore_socket_server_socket, server_socket, $($method)*);
        };
    }

    crate::instance::server_socket_methods!(method);

    pub(crate) async fn accept(
        inner: &mut Inner,
        handle: ResourceAny,
        buffering: Option<Buffering>,
    ) -> Result<ResourceAny, Error> {
        call!(
            inner,
            alore_socket_server_socket,
            |api, store| api
                .server_socket()
                .call_accept(store, handle, buffering.map(Into::into)),
            |api, accessor| api.server_socket().call_accept(
                accessor,
                handle,
                buffering.map(Into::into)
            )
        )
    }
}
