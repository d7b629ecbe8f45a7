//! The benchmark's workloads on `alore:socket/socket@0.2.0`, imported: the WASI 0.3 edition,
//! composed as users run it. Bulk data moves through the streams `receive` and `send` take and
//! hand out (no list crosses between the components); the concurrency workload holds many
//! connections at once, a task each.

use std::cell::Cell;
use std::future::Future;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Poll, Waker};
use std::time::Instant;

wit_bindgen::generate!({ path: "../wit-p3", world: "alore-client-p3", generate_all });

use alore::socket::socket::{ConnectOptions, Error, Socket, get_host_by_name};
use exports::alore::socket_bench_p3::workloads::Guest;

/// Reads and writes move 64 KiB at a time, as for every contender.
const CHUNK: usize = 64 * 1024;

struct Workloads;

#[cfg(target_arch = "wasm32")]
export!(Workloads);

fn text(e: Error) -> String {
    format!("{e:?}")
}

fn nanos(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX)
}

async fn connect(port: u16) -> Result<Socket, String> {
    let options = ConnectOptions {
        buffering: None,
        timeout_ms: None,
    };
    Socket::connect("127.0.0.1".into(), port, options)
        .await
        .map_err(text)
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
        if a_out.is_some() && b_out.is_some() {
            Poll::Ready((a_out.take().unwrap(), b_out.take().unwrap()))
        } else {
            Poll::Pending
        }
    })
    .await
}

/// `count` times: write "ping" and a line feed, read the echoed line; each one's time.
async fn time_round_trips(socket: &Socket, count: u32) -> Result<Vec<u64>, String> {
    let mut times = Vec::with_capacity(count as usize);
    for _ in 0..count {
        let started = Instant::now();
        socket.write_ln(b"ping".to_vec()).await.map_err(text)?;
        socket.read_ln().await.map_err(text)?;
        times.push(nanos(started));
    }
    Ok(times)
}

/// Sessions still running, and the task waiting for the last.
#[derive(Default)]
struct Running {
    count: Cell<usize>,
    failure: Cell<Option<String>>,
    waiting: Cell<Option<Waker>>,
}

/// Read `bytes` bytes from the stream `socket.receive` hands out; the time it took.
async fn receive_from(socket: &Socket, bytes: u64) -> Result<u64, String> {
    let started = Instant::now();
    let received = socket.receive().await.map_err(text)?;
    let mut got = received.buffered.len() as u64;
    let mut rest = received.rest;
    let mut buffer = Vec::with_capacity(CHUNK);
    while got < bytes {
        buffer.clear();
        let (_, back) = rest.read(buffer).await;
        if back.is_empty() {
            return Err(format!("the stream ended after {got} bytes"));
        }
        got += back.len() as u64;
        buffer = back;
    }
    Ok(nanos(started))
}

/// A connection to 127.0.0.1:`port` with TLS started, verifying "localhost".
async fn connect_tls(port: u16) -> Result<Socket, String> {
    let socket = connect(port).await?;
    socket
        .start_tls(Some("localhost".into()))
        .await
        .map_err(text)?;
    Ok(socket)
}

impl Guest for Workloads {
    async fn receive(port: u16, bytes: u64) -> Result<u64, String> {
        receive_from(&connect(port).await?, bytes).await
    }

    // Over TLS the socket is closed, not dropped: `close` waits for close_notify to go, which
    // the component's records pump sends only while the instance runs (and the bench's call
    // ends with the workload).
    async fn tls_receive(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect_tls(port).await?;
        let received = receive_from(&socket, bytes).await;
        socket.close().await.map_err(text)?;
        received
    }

    async fn tls_round_trips(port: u16, count: u32) -> Result<Vec<u64>, String> {
        let socket = connect_tls(port).await?;
        let times = time_round_trips(&socket, count).await;
        socket.close().await.map_err(text)?;
        times
    }

    async fn send(port: u16, bytes: u64) -> Result<u64, String> {
        let socket = connect(port).await?;
        let started = Instant::now();
        let (mut writer, reader) = wit_stream::new::<u8>();
        let feeder = async move {
            let mut left = bytes;
            let mut chunk = vec![7u8; CHUNK];
            while left > 0 {
                let n = left.min(CHUNK as u64) as usize;
                chunk.resize(n, 7);
                let rest = writer.write_all(chunk).await;
                if !rest.is_empty() {
                    return;
                }
                chunk = vec![7u8; CHUNK];
                left -= n as u64;
            }
        };
        let (sent, ()) = both(socket.send(reader), feeder).await;
        sent.map_err(text)?;
        socket.read(Some(1)).await.map_err(text)?;
        Ok(nanos(started))
    }

    async fn lines(port: u16, count: u32) -> Result<u64, String> {
        let socket = connect(port).await?;
        let started = Instant::now();
        for _ in 0..count {
            socket.read_ln().await.map_err(text)?;
        }
        Ok(nanos(started))
    }

    async fn round_trips(port: u16, count: u32) -> Result<Vec<u64>, String> {
        let socket = connect(port).await?;
        time_round_trips(&socket, count).await
    }

    async fn connects(port: u16, count: u32) -> Result<u64, String> {
        let started = Instant::now();
        for _ in 0..count {
            connect(port).await?.close().await.map_err(text)?;
        }
        Ok(nanos(started))
    }

    async fn lookups(count: u32) -> Result<u64, String> {
        let started = Instant::now();
        for _ in 0..count {
            get_host_by_name("localhost".into()).await.map_err(text)?;
        }
        Ok(nanos(started))
    }

    async fn concurrent_round_trips(
        port: u16,
        connections: u32,
        trips: u32,
    ) -> Result<u64, String> {
        let mut sockets = Vec::with_capacity(connections as usize);
        for _ in 0..connections {
            sockets.push(connect(port).await?);
        }
        let running = Rc::new(Running::default());
        let started = Instant::now();
        for socket in sockets {
            running.count.set(running.count.get() + 1);
            let running = Rc::clone(&running);
            wit_bindgen::spawn_local(async move {
                if let Err(e) = time_round_trips(&socket, trips).await {
                    running.failure.set(Some(e));
                }
                let _ = socket.close().await;
                running.count.set(running.count.get() - 1);
                if let Some(waker) = running.waiting.take() {
                    waker.wake();
                }
            });
        }
        std::future::poll_fn(|cx| {
            if running.count.get() == 0 {
                return Poll::Ready(());
            }
            running.waiting.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await;
        let elapsed = nanos(started);
        match running.failure.take() {
            Some(failure) => Err(failure),
            None => Ok(elapsed),
        }
    }
}
