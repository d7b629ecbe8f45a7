//! `consumer-p3 COMMAND PORT [ARG]`: what the tests ask of the WASI 0.3 edition that no
//! example does. Every command connects to 127.0.0.1:PORT and prints one line of results.
//! - `receive`: read one line, then take the rest of the input as a stream (`receive`): how
//!   many bytes came before and after, their checksum, and how the stream ended.
//! - `send N`: write a line, then send N pattern bytes through a stream (`send`), then close.
//! - `two-reads`: two `read-ln`s at once on one socket; the lines in the order each call got
//!   them (calls on one socket take turns, first come first served).
//! - `duplex N`: write N pattern bytes (then shut the output down) while a `read` to the end
//!   is in flight on the same socket; how many bytes came back and their checksum.
//! - `sockets N`: connect until N sockets are open or a connect fails, then drop them all and
//!   connect once more: how many were made, what stopped it, and what the last connect got.
//! - `drop-then-wait`: write a line, drop the socket unclosed, then wait three seconds without
//!   another call to the socket component.
//! - `pings N`, `peeks N`: N round trips, or N calls that return at once.

use std::cell::RefCell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::Poll;

wit_bindgen::generate!({ path: "wit", world: "app", generate_all });

use alore::socket::socket::{ConnectOptions, Error, Socket};

/// The bytes `send N` sends: byte `i` is `i % 251`, so a lost, doubled or reordered byte
/// changes what the peer sees.
fn pattern(i: u64) -> u8 {
    (i % 251) as u8
}

/// FNV-1a over `bytes`, continuing from `hash`: what the test computes too.
fn fnv(mut hash: u64, bytes: &[u8]) -> u64 {
    for &byte in bytes {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

const FNV_START: u64 = 0xcbf2_9ce4_8422_2325;

fn describe(error: &Error) -> String {
    match error {
        Error::NameError(message) => format!("name-error: {message}"),
        Error::ValueError(message) => format!("value-error: {message}"),
        Error::IoError(e) => format!("io-error {:?}: {}", e.kind, e.message),
    }
}

/// Run two futures at once; both outputs.
async fn both<A: Future, B: Future>(a: A, b: B) -> (A::Output, B::Output) {
    let (mut a, mut b) = (pin!(a), pin!(b));
    let (mut a_out, mut b_out) = (None, None);
    std::future::poll_fn(|cx| {
        if a_out.is_none()
            && let Poll::Ready(out) = a.as_mut().poll(cx)
        {
            a_out = Some(out);
        }
        if b_out.is_none()
            && let Poll::Ready(out) = b.as_mut().poll(cx)
        {
            b_out = Some(out);
        }
        match (a_out.take(), b_out.take()) {
            (Some(a), Some(b)) => Poll::Ready((a, b)),
            (a, b) => {
                a_out = a;
                b_out = b;
                Poll::Pending
            }
        }
    })
    .await
}

async fn receive(socket: Socket) -> Result<String, Error> {
    let first = socket.read_ln().await?;
    let received = socket.receive().await?;
    let mut rest = received.rest;
    let mut hash = fnv(FNV_START, &received.buffered);
    let mut count = received.buffered.len() as u64;
    loop {
        let (_, chunk) = rest.read(Vec::with_capacity(64 * 1024)).await;
        if chunk.is_empty() {
            break;
        }
        hash = fnv(hash, &chunk);
        count += chunk.len() as u64;
    }
    let end = match received.end.await {
        Ok(()) => "ok".to_owned(),
        Err(e) => describe(&e),
    };
    let after = match socket.read_ln().await {
        Ok(_) => "a read after receive read something".to_owned(),
        Err(e) => describe(&e),
    };
    Ok(format!(
        "first {:?} buffered {} bytes {count} fnv {hash:016x} end {end}; then {after}",
        String::from_utf8_lossy(&first),
        received.buffered.len()
    ))
}

async fn send(socket: Socket, total: u64) -> Result<String, Error> {
    socket.write_ln(b"header".to_vec()).await?;
    let (mut writer, reader) = wit_stream::new::<u8>();
    let feeder = async move {
        let mut at = 0;
        while at < total {
            let n = (total - at).min(64 * 1024);
            let chunk: Vec<u8> = (at..at + n).map(pattern).collect();
            let left = writer.write_all(chunk).await;
            if !left.is_empty() {
                break;
            }
            at += n;
        }
        drop(writer);
    };
    let (sent, ()) = both(socket.send(reader), feeder).await;
    sent?;
    socket.write_ln(b"trailer".to_vec()).await?;
    socket.close().await?;
    Ok(format!("sent {total}"))
}

async fn two_reads(socket: Socket) -> Result<String, Error> {
    let order = Rc::new(RefCell::new(Vec::new()));
    let read = |which: &'static str| {
        let (socket, order) = (&socket, Rc::clone(&order));
        async move {
            let line = socket.read_ln().await;
            order.borrow_mut().push(match line {
                Ok(line) => format!("{which}={}", String::from_utf8_lossy(&line)),
                Err(e) => format!("{which} failed: {}", describe(&e)),
            });
        }
    };
    both(read("first"), read("second")).await;
    let order = order.borrow().join(" ");
    Ok(order)
}

async fn duplex(socket: Socket, total: u64) -> Result<String, Error> {
    // Polled first by `both`: the read is in flight before the first write starts.
    let reader = socket.read(None);
    let writer = async {
        let mut at = 0;
        while at < total {
            let n = (total - at).min(64 * 1024);
            socket.write((at..at + n).map(pattern).collect()).await?;
            at += n;
        }
        socket.shutdown_output().await
    };
    let (read, written) = both(reader, writer).await;
    written?;
    let echoed = read?;
    Ok(format!(
        "echoed {} fnv {:016x}",
        echoed.len(),
        fnv(FNV_START, &echoed)
    ))
}

struct App;

#[cfg(target_arch = "wasm32")]
export!(App);

impl exports::wasi::cli::run::Guest for App {
    async fn run() -> Result<(), ()> {
        let args = wasi::cli::environment::get_arguments();
        let arg = |i: usize| args.get(i).cloned().unwrap_or_default();
        let port: u16 = arg(2).parse().map_err(|_| eprintln!("not a port"))?;
        let options = || ConnectOptions {
            buffering: None,
            timeout_ms: Some(10_000),
        };
        let socket = Socket::connect("127.0.0.1".into(), port, options())
            .await
            .map_err(|e| eprintln!("connect: {}", describe(&e)))?;
        // `tls-COMMAND`: COMMAND over TLS, verifying "localhost".
        let command = arg(1);
        let command = match command.strip_prefix("tls-") {
            Some(command) => {
                socket
                    .start_tls(Some("localhost".into()))
                    .await
                    .map_err(|e| println!("failed: {}", describe(&e)))?;
                command
            }
            None => &command,
        };
        let outcome = match command {
            "receive" => receive(socket).await,
            "send" => send(socket, arg(3).parse().unwrap_or(0)).await,
            "two-reads" => two_reads(socket).await,
            "duplex" => duplex(socket, arg(3).parse().unwrap_or(0)).await,
            "sockets" => {
                let n: usize = arg(3).parse().unwrap_or(0);
                let mut held = vec![socket];
                let mut made = format!("made all {n}");
                while held.len() < n {
                    match Socket::connect("127.0.0.1".into(), port, options()).await {
                        Ok(socket) => held.push(socket),
                        Err(e) => {
                            made = format!("made {}, then: {}", held.len(), describe(&e));
                            break;
                        }
                    }
                }
                drop(held);
                let again = match Socket::connect("127.0.0.1".into(), port, options()).await {
                    Ok(_) => "connected".to_owned(),
                    Err(e) => describe(&e),
                };
                Ok(format!("{made}; after dropping them: {again}"))
            }
            "drop-then-wait" => {
                // Write a line, drop the socket without closing it, then wait three seconds
                // without calling the socket component again.
                socket.write_ln(b"bye".to_vec()).await.ok();
                drop(socket);
                wasi::clocks::monotonic_clock::wait_for(3_000_000_000).await;
                Ok("waited".to_owned())
            }
            "pings" => {
                let n: u32 = arg(3).parse().unwrap_or(0);
                let mut outcome = Ok(format!("{n} round trips"));
                for i in 0..n {
                    let trip = async {
                        socket.write_ln(b"ping".to_vec()).await?;
                        socket.read_ln().await
                    };
                    if let Err(e) = trip.await {
                        outcome = Ok(format!("round trip {i} failed: {}", describe(&e)));
                        break;
                    }
                }
                outcome
            }
            "peeks" => {
                let n: u32 = arg(3).parse().unwrap_or(0);
                let mut outcome = Ok(format!("peeked {n} times"));
                for i in 0..n {
                    if let Err(e) = socket.peek().await {
                        outcome = Ok(format!("peek {i} failed: {}", describe(&e)));
                        break;
                    }
                }
                outcome
            }
            other => {
                eprintln!("no such command: {other}");
                return Err(());
            }
        };
        match outcome {
            Ok(line) => {
                println!("{line}");
                Ok(())
            }
            Err(e) => {
                println!("failed: {}", describe(&e));
                Err(())
            }
        }
    }
}
