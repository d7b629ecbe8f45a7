//! The async API, driven on the caller's Tokio runtime: many instances at once from one
//! runtime, each with every byte checked; the policy's deadline; a dropped socket released.

use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

use alore_socket_host::{Allow, Error, Policy, Runtime};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

/// How many instances run at once: enough that a blocking call anywhere would serialize them
/// behind the two worker threads and stall the test.
const INSTANCES: usize = 64;
/// Lines each instance sends and reads back.
const LINES: usize = 20;
/// How long the test waits for what it expects before failing (a bound, not a speed check).
const PATIENCE: Duration = Duration::from_secs(60);

/// An echo server on the test's own runtime: every line back, to every client.
async fn echo_server() -> u16 {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let (read, mut write) = stream.into_split();
                let mut lines = BufReader::new(read).lines();
                while let Ok(Some(line)) = lines.next_line().await {
                    write.write_all(format!("{line}\n").as_bytes()).await?;
                }
                std::io::Result::Ok(())
            });
        }
    });
    port
}

async fn runtime() -> Arc<Runtime> {
    let made = tokio::task::spawn_blocking(Runtime::new).await.unwrap();
    Arc::new(made.expect("the component loads"))
}

fn loopback(port: u16) -> Policy {
    Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST).port(port))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_instances_run_at_once_on_one_runtime_with_every_byte_checked() {
    let runtime = runtime().await;
    let port = echo_server().await;
    let mut sessions = tokio::task::JoinSet::new();
    for session in 0..INSTANCES {
        let runtime = Arc::clone(&runtime);
        // `spawn` needs every future of the API to be `Send`.
        sessions.spawn(async move {
            let instance = runtime.instantiate(&loopback(port)).await?;
            let socket = instance.connect("127.0.0.1", port, None).await?;
            for line in 0..LINES {
                let sent = format!("session {session} line {line} {}", "x".repeat(line * 97));
                socket.write_ln(sent.as_bytes()).await?;
                assert_eq!(socket.read_ln().await?, sent.as_bytes());
            }
            socket.release().await?;
            Ok::<usize, Error>(session)
        });
    }
    let mut done = [false; INSTANCES];
    let all = async {
        while let Some(joined) = sessions.join_next().await {
            done[joined.unwrap().unwrap()] = true;
        }
    };
    tokio::time::timeout(PATIENCE, all)
        .await
        .expect("every session ends");
    assert!(done.iter().all(|&d| d), "every session ran to its end");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_call_deadline_stops_a_call_that_waits_too_long() {
    let runtime = runtime().await;
    // A server that accepts and never says a word.
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move { listener.accept().await });
    let deadline = Duration::from_millis(300);
    let policy = loopback(port).call_deadline(Some(deadline));
    let instance = runtime.instantiate(&policy).await.unwrap();
    let socket = instance.connect("127.0.0.1", port, None).await.unwrap();
    let error = socket.read_ln().await.unwrap_err();
    assert!(
        matches!(error, Error::Deadline(d) if d == deadline),
        "{error}"
    );
    drop(silent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_socket_is_flushed_and_closed_without_another_call() {
    let runtime = runtime().await;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let instance = runtime.instantiate(&loopback(port)).await.unwrap();
    let buffered = Some(alore_socket_host::Buffering::Buffered);
    let socket = instance.connect("127.0.0.1", port, buffered).await.unwrap();
    let (mut peer, _) = listener.accept().await.unwrap();
    socket.write(b"held in the buffer").await.unwrap();
    drop(socket); // no release, no further call on the instance
    let mut got = Vec::new();
    tokio::time::timeout(PATIENCE, peer.read_to_end(&mut got))
        .await
        .expect("the drop flushes and closes")
        .unwrap();
    assert_eq!(got, b"held in the buffer");
}
