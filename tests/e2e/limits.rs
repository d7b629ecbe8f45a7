//! The host keeps the guest in bounds: a guest over its memory limit gets an error and the
//! host goes on; within 64 MiB, one instance holds 1000 echoing sockets at once.

use std::io::{BufRead, BufReader, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::thread;

use alore_socket_host::{Allow, IoErrorKind, Policy};

use crate::common::*;

fn limited(bytes: usize) -> alore_socket_host::Instance {
    instance(
        Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST))
            .memory_limit(bytes),
    )
}

#[test]
fn a_guest_over_its_memory_limit_gets_an_error_and_the_host_goes_on() {
    const SENT: usize = 64 << 20;
    let server = Server::start(|mut s| {
        let chunk = vec![7u8; 1 << 20];
        for _ in 0..SENT >> 20 {
            if s.write_all(&chunk).is_err() {
                break; // the client gave up, as it should
            }
        }
    });
    let instance = limited(16 << 20);
    let socket = instance.connect("127.0.0.1", server.port, None).unwrap();
    let error = socket.read(None).unwrap_err();
    assert_eq!(error.io_kind(), Some(IoErrorKind::LimitExceeded), "{error}");
    drop(socket);
    server.join();
    // The same instance still answers, and so does a new one.
    assert_eq!(instance.get_host_by_name("10.0.0.1").unwrap(), "10.0.0.1");
    assert_eq!(
        limited(16 << 20).get_host_by_name("10.0.0.2").unwrap(),
        "10.0.0.2"
    );
}

#[test]
fn a_thousand_sockets_echo_at_once_within_64_mebibytes() {
    const SOCKETS: usize = 1000;
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = thread::spawn(move || {
        for stream in listener.incoming().take(SOCKETS) {
            let stream = stream.unwrap();
            thread::Builder::new()
                .stack_size(64 << 10)
                .spawn(move || {
                    let mut writer = stream.try_clone().unwrap();
                    for line in BufReader::new(stream).lines() {
                        let Ok(line) = line else { break };
                        if writer.write_all(format!("{line}\n").as_bytes()).is_err() {
                            break;
                        }
                    }
                })
                .unwrap();
        }
    });
    let instance = limited(64 << 20);
    let sockets: Vec<_> = (0..SOCKETS)
        .map(|_| instance.connect("127.0.0.1", port, None).unwrap())
        .collect();
    for (i, socket) in sockets.iter().enumerate() {
        socket.write_ln(format!("socket {i}").as_bytes()).unwrap();
    }
    for (i, socket) in sockets.iter().enumerate().rev() {
        assert_eq!(socket.read_ln().unwrap(), format!("socket {i}").as_bytes());
    }
    for socket in &sockets {
        socket.close().unwrap();
    }
    acceptor.join().unwrap();
}

#[test]
fn a_call_past_its_deadline_is_interrupted_and_the_host_goes_on() {
    use std::io::Read;
    use std::time::{Duration, Instant};
    // A peer that reads 64 KiB every 20 ms: a 64 MiB write would take 20 s.
    let server = Server::start(|mut s| {
        let mut buf = vec![0; 64 << 10];
        while let Ok(1..) = s.read(&mut buf) {
            thread::sleep(Duration::from_millis(20));
        }
    });
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST))
        .call_deadline(Some(Duration::from_millis(200)));
    let socket = instance(policy)
        .connect("127.0.0.1", server.port, None)
        .unwrap();
    let started = Instant::now();
    let error = socket.write(&vec![0; 64 << 20]).unwrap_err();
    assert!(
        matches!(error, alore_socket_host::Error::Deadline(_)),
        "{error}"
    );
    assert!(started.elapsed() < PATIENCE, "interrupted, not waited out");
    drop(socket); // the trapped instance goes, and its connection with it
    server.join();
    assert_eq!(
        limited(16 << 20).get_host_by_name("10.0.0.3").unwrap(),
        "10.0.0.3"
    );
}

#[test]
fn a_call_waiting_in_the_host_is_stopped_at_its_deadline() {
    use std::time::{Duration, Instant};
    const DEADLINE: Duration = Duration::from_millis(300);
    // A peer that accepts and never writes: with no `set-timeout`, `read-ln` waits in one
    // host call (`pollable.block`) for as long as the peer stays silent.
    let (server, release) = silent_server();
    let instance = instance(
        Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST))
            .call_deadline(Some(DEADLINE)),
    );
    let socket = instance.connect("127.0.0.1", server.port, None).unwrap();
    let started = Instant::now();
    let error = socket.read_ln().unwrap_err();
    let waited = started.elapsed();
    assert!(
        matches!(error, alore_socket_host::Error::Deadline(d) if d == DEADLINE),
        "{error}"
    );
    assert!(waited >= DEADLINE, "not before the deadline: {waited:?}");
    assert!(waited < PATIENCE, "stopped, not waited out: {waited:?}");
    // The stopped instance refuses further calls with an error, at once.
    let error = socket.read_ln().unwrap_err();
    assert!(
        matches!(error, alore_socket_host::Error::Wasm(_)),
        "{error}"
    );
    drop(socket);
    drop(release);
    server.join();
    assert_eq!(
        limited(16 << 20).get_host_by_name("10.0.0.4").unwrap(),
        "10.0.0.4"
    );
}
