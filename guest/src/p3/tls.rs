//! `start-tls` in the WASI 0.3 edition's TLS build (features `p3` and `tls`): TLS as one more
//! layer over a connection's two halves. The host's `wasi:tls@0.3.0-draft` connector sits
//! between the TCP streams and two cleartext streams, and the halves go on over those: the
//! core reads and writes cleartext exactly as it read and wrote TCP. Certificates, roots and
//! cryptography are the host's.
//!
//! Received ciphertext goes from the host's TCP stream straight into the connector. Sent
//! ciphertext comes out of the connector as a stream of its own, which a task of the instance
//! pumps into the TCP stream the connection already sends through (WASI 0.3's `send` takes one
//! stream per socket, and it was given when the socket connected).

use std::cell::RefCell;
use std::future::IntoFuture;
use std::rc::Rc;
use std::time::Duration;

use wit_bindgen::rt::async_support::{FutureReader, StreamReader, StreamWriter};

use super::net::{Deadline, End, TcpEnd, TcpInput, TcpOutput};
use super::wasi::tls::client::Connector;
use super::wasi::tls::types::Error as TlsError;
use super::wasi_error::from_code;
use super::wit_stream;
use crate::error::{Error, IoKind, from_host_text};

/// How long a failed TLS input waits for TCP to say how it ended. A reset that TLS saw as a
/// bare end of its ciphertext is known to TCP at the same moment, so it comes at once; a
/// failure of TLS's own (a bad record) leaves TCP open, and must not wait for the peer.
const TCP_END_GRACE: Duration = Duration::from_millis(50);

/// The most ciphertext the pump moves at a time: a TLS record is at most about 16 KiB, and
/// the host's TCP stream takes 64 KiB per write.
const PUMP_CHUNK: usize = 64 * 1024;

/// How one direction of a TLS connection ended: TLS's answer, and what TCP below it said.
pub(crate) struct TlsEnd {
    tls: FutureReader<Result<(), TlsError>>,
    tcp: Below,
}

/// What TCP said below a TLS direction.
enum Below {
    /// The input's TCP end, read once TLS has failed.
    Input(TcpEnd),
    /// How the pump's sending stopped, if it failed.
    Output(Rc<RefCell<PumpFailure>>),
}

impl TlsEnd {
    /// TLS's answer; when it failed because TCP did (a reset, a broken pipe), TCP's, so that
    /// a reset is `connection-reset` over TLS as over TCP.
    pub(crate) async fn outcome(self) -> Result<(), Error> {
        let failure = match self.tls.await {
            Ok(()) => return Ok(()),
            Err(e) => from_tls(&e),
        };
        let below = match self.tcp {
            Below::Input(end) => tcp_failure(end).await,
            Below::Output(failed) => {
                let failed = std::mem::replace(&mut *failed.borrow_mut(), PumpFailure::None);
                match failed {
                    PumpFailure::None => None,
                    PumpFailure::Known(e) => Some(e),
                    // TCP's own answer, which its send future gives once the stream failed.
                    PumpFailure::Tcp(end) => Some(end.await.err().map_or_else(
                        || Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]"),
                        from_code,
                    )),
                }
            }
        };
        Err(below.unwrap_or(failure))
    }
}

/// How TCP ended under a failed TLS input, if it failed: waited for [`TCP_END_GRACE`].
async fn tcp_failure(end: TcpEnd) -> Option<Error> {
    match Deadline::after(TCP_END_GRACE)
        .within_deadline(end.into_future())
        .await
    {
        Some(Err(code)) => Some(from_code(code)),
        _ => None,
    }
}

/// A TLS failure the host describes, in the component's terms.
fn from_tls(error: &TlsError) -> Error {
    from_host_text(&error.to_debug_string(), "TLS: ")
}

/// Run the client handshake for `server_name` over the connection's TCP streams by
/// `deadline`; on success both halves go on over the cleartext streams. On failure the TCP
/// streams are gone (the connector took them), and the caller closes the socket.
pub(crate) async fn start(
    input: &mut TcpInput,
    output: &mut TcpOutput,
    server_name: &str,
    deadline: Deadline,
) -> Result<(), Error> {
    input.can_start_tls()?;
    output.can_start_tls()?;
    let (tcp_in, tcp_in_end) = input.take_tcp()?;
    let (tcp_out, tcp_out_end) = output.take_tcp()?;
    let connector = Connector::new();
    let (clear_out, clear_out_reader) = wit_stream::new::<u8>();
    let (cipher_out, sent) = connector.send(clear_out_reader);
    let (clear_in, received) = connector.receive(tcp_in);
    let pump_failure = Rc::new(RefCell::new(PumpFailure::None));
    wit_bindgen::spawn_local(pump(
        cipher_out,
        tcp_out,
        tcp_out_end,
        Rc::clone(&pump_failure),
    ));
    match deadline
        .within_deadline(Connector::connect(connector, server_name.to_owned()))
        .await
    {
        None => Err(Error::io(
            IoKind::TimedOut,
            "TLS: the handshake timed out [ETIMEDOUT]",
        )),
        Some(Err(e)) => {
            // A handshake cut short by TCP (a reset) fails as TCP did, as over WASI 0.2.
            Err(match tcp_failure(tcp_in_end).await {
                Some(Error::Io { kind, message }) => Error::io(kind, format!("TLS: {message}")),
                _ => from_tls(&e),
            })
        }
        Some(Ok(())) => {
            let received = TlsEnd {
                tls: received,
                tcp: Below::Input(tcp_in_end),
            };
            let sent = TlsEnd {
                tls: sent,
                tcp: Below::Output(pump_failure),
            };
            input.over(clear_in, End::Tls(received));
            output.over(clear_out, End::Tls(sent));
            Ok(())
        }
    }
}

/// Why the pump stopped sending, if it failed.
pub(crate) enum PumpFailure {
    /// It has not failed.
    None,
    /// It failed for this reason.
    Known(Error),
    /// TCP failed: its send future says why.
    Tcp(TcpEnd),
}

/// Move the connector's ciphertext into the TCP stream until it ends (after close_notify, or
/// when TLS fails), then end the TCP stream (FIN). If TCP fails, drop the ciphertext at once
/// (the connector sees its reader go, so the next cleartext write fails) and leave TCP's send
/// future in `failure` to say why.
async fn pump(
    mut cipher: StreamReader<u8>,
    mut tcp: StreamWriter<u8>,
    tcp_end: Option<TcpEnd>,
    failure: Rc<RefCell<PumpFailure>>,
) {
    loop {
        let mut chunk = Vec::new();
        if chunk.try_reserve_exact(PUMP_CHUNK).is_err() {
            *failure.borrow_mut() = PumpFailure::Known(Error::out_of_memory());
            return;
        }
        let (_, chunk) = cipher.read(chunk).await;
        if chunk.is_empty() {
            break;
        }
        if !tcp.write_all(chunk).await.is_empty() {
            *failure.borrow_mut() = match tcp_end {
                Some(end) => PumpFailure::Tcp(end),
                None => {
                    PumpFailure::Known(Error::io(IoKind::ConnectionReset, "Broken pipe [EPIPE]"))
                }
            };
            return;
        }
    }
    drop(tcp);
    if let Some(end) = tcp_end {
        let _ = end.await;
    }
}
