//! The host keeps the guest in bounds: a guest over its memory limit gets an error and the
//! host goes on; within 64 MiB, one instance holds 1000 echoing sockets at once.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, TcpListener};
use std::thread;

use alore_socket_host::{Allow, IoErrorKind, Policy, Stdio};

use crate::common::*;

fn limited(bytes: usize) -> alore_socket_host::blocking::Instance {
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
    // Both ends of each connection live in this process, beside the other tests' sockets.
    const DESCRIPTORS: u64 = 2 * SOCKETS as u64 + 1024;
    let limit = rlimit::increase_nofile_limit(DESCRIPTORS).expect("raise RLIMIT_NOFILE");
    assert!(
        limit >= DESCRIPTORS,
        "RLIMIT_NOFILE stays at {limit}: the hard limit is too low"
    );
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

/// A peer that sends `pattern` over and over until the client goes away.
fn endless(pattern: &'static [u8]) -> Server<()> {
    Server::start(move |mut s| {
        let block = pattern.repeat((64 << 10) / pattern.len() + 1);
        while s.write_all(&block).is_ok() {}
    })
}

#[test]
fn endless_input_ends_in_limit_exceeded_never_a_trap() {
    const LIMIT: usize = 16 << 20;
    // Short lines for read-lines (the list of lines grows), one endless line for read-lines
    // and read-ln with the line limit lifted (the line grows), and a stream for read(n).
    let cases: [(&str, &'static [u8]); 4] = [
        ("read-lines, short lines", b"0123456789abcdef\n"),
        ("read-lines, one endless line", b"0123456789abcdef"),
        ("read-ln, one endless line", b"0123456789abcdef"),
        ("read(n), an endless stream", b"0123456789abcdef"),
    ];
    for (case, pattern) in cases {
        let server = endless(pattern);
        let instance = limited(LIMIT);
        let socket = instance.connect("127.0.0.1", server.port, None).unwrap();
        socket.set_max_line_length(u32::MAX).unwrap();
        let result = match case {
            c if c.starts_with("read-lines") => socket.read_lines().map(drop),
            c if c.starts_with("read-ln") => socket.read_ln().map(drop),
            _ => socket.read(Some(u32::MAX)).map(drop),
        };
        let error = result.unwrap_err();
        assert_eq!(
            error.io_kind(),
            Some(IoErrorKind::LimitExceeded),
            "{case}: {error}"
        );
        // What the Failure semantics table says: read-lines closes the socket whatever ended
        // it; the others leave it open.
        let after = socket.set_timeout(Some(1));
        if case.starts_with("read-lines") {
            assert_eq!(io_kind(after), IoErrorKind::Closed, "{case}");
        } else {
            after.unwrap_or_else(|e| panic!("{case}: open after: {e}"));
        }
        drop(socket);
        server.join();
        // The instance lives on and has its memory back.
        assert_eq!(
            instance.get_host_by_name("10.0.0.5").unwrap(),
            "10.0.0.5",
            "{case}"
        );
    }
}

#[test]
fn a_composed_read_lines_of_endless_lines_fails_with_limit_exceeded() {
    let server = Server::start(|mut s| {
        let block = b"short line\r\n".repeat(8192);
        while s.write_all(&block).is_ok() {}
    });
    let policy = Policy::deny_all()
        .allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port))
        .memory_limit(32 << 20);
    let port = server.port.to_string();
    let out = alore_socket_host::blocking::run_command(
        runtime(),
        &crate::compose::composed("test-consumer"),
        &policy,
        &crate::compose::args(&["test-consumer", "read-lines", &port]),
        Stdio::Capture { stdin: vec![] },
    )
    .expect("an error the application reports, not a trap");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.code, 1, "{stderr}");
    assert!(stderr.contains("LimitExceeded"), "{stderr}");
    server.join();
}

#[test]
fn a_composed_http_get_refuses_an_endless_head() {
    for (case, line) in [
        ("endless header lines", &b"X-A: b\r\n"[..]),
        ("one endless header", b"X"),
    ] {
        let server = Server::start(move |mut s| {
            let mut request = [0; 1024];
            let _ = s.read(&mut request);
            let _ = s.write_all(b"HTTP/1.0 200 OK\r\n");
            let block = line.repeat(64 << 10);
            while s.write_all(&block).is_ok() {}
        });
        let policy = Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port))
            .memory_limit(32 << 20);
        let url = format!("http://127.0.0.1:{}/", server.port);
        let out = alore_socket_host::blocking::run_command(
            runtime(),
            &crate::compose::composed("http-get"),
            &policy,
            &["http-get".to_owned(), url],
            Stdio::Capture { stdin: vec![] },
        )
        .expect("an error the application reports, not a trap");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.code, 1, "{case}: {stderr}");
        assert!(
            stderr.contains("more than 100 header lines") || stderr.contains("LimitExceeded"),
            "{case}: {stderr}"
        );
        server.join();
    }
}

#[test]
fn the_memory_limit_holds_for_a_whole_composition() {
    // The lines arrive for read-lines, which holds them in the component's memory, and the
    // list is then copied into the application's. 14 MiB twice is over a 24 MiB limit for the
    // two memories together, though under it for each one. (The consumer prints only a
    // count, so the only limit it can meet is the memory limit.)
    const LIMIT: usize = 24 << 20;
    let serve = |body_bytes: usize| {
        Server::start(move |mut s| {
            let line = [b'x'; 1023];
            for _ in 0..body_bytes / 1024 {
                if s.write_all(&line)
                    .and_then(|()| s.write_all(b"\n"))
                    .is_err()
                {
                    break;
                }
            }
        })
    };
    let run = |server: &Server<()>| {
        let policy = Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST).port(server.port))
            .memory_limit(LIMIT);
        let port = server.port.to_string();
        alore_socket_host::blocking::run_command(
            runtime(),
            &crate::compose::composed("test-consumer"),
            &policy,
            &crate::compose::args(&["test-consumer", "read-lines", &port]),
            Stdio::Capture { stdin: vec![] },
        )
    };
    let small = serve(4 << 20);
    let out = run(&small).unwrap();
    assert_eq!(out.code, 0, "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "4096 lines, 4190208 bytes\n",
        "every line came through"
    );
    small.join();
    let large = serve(14 << 20);
    let failed = match run(&large) {
        Ok(out) => out.code != 0,
        Err(_) => true, // the application trapped when its allocation failed: also the limit
    };
    assert!(failed, "14 MiB held twice fits the limit only per memory");
    large.join();
}

/// Set in the child process that [`running_out_of_descriptors_is_limit_exceeded`] runs its
/// body in: the open-files limit is the whole process's, and lowering it in this one would
/// starve the tests running beside it.
const CHILD_ENV: &str = "ALORE_SOCKET_TEST_DESCRIPTOR_CHILD";

#[test]
fn running_out_of_descriptors_is_limit_exceeded() {
    const NAME: &str = "limits::running_out_of_descriptors_is_limit_exceeded";
    if !in_own_process(NAME, CHILD_ENV) {
        return;
    }
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    let instance = listening();
    let server = instance.listen(0, Some("127.0.0.1")).unwrap();
    let server_port = server.local_port().unwrap();
    // A few descriptors over those open now: the component's sockets take the rest.
    let open = std::fs::read_dir("/proc/self/fd").unwrap().count() as u64;
    let (_, hard) = rlimit::getrlimit(rlimit::Resource::NOFILE).unwrap();
    rlimit::setrlimit(rlimit::Resource::NOFILE, open + 8, hard).unwrap();
    let mut sockets = Vec::new();
    let error = loop {
        match instance.connect("127.0.0.1", port, None) {
            Ok(socket) => sockets.push(socket),
            Err(e) => break e,
        }
        assert!(sockets.len() < 64, "the limit was never met");
    };
    assert_eq!(
        error.io_kind(),
        Some(IoErrorKind::LimitExceeded),
        "connect: {error}"
    );
    // A peer waits in the server socket's backlog; with no descriptor left, accept fails.
    drop(sockets.pop());
    let mut client = std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, server_port)).unwrap();
    let error = server.accept(None).map(drop).unwrap_err();
    assert_eq!(
        error.io_kind(),
        Some(IoErrorKind::LimitExceeded),
        "accept: {error}"
    );
    // With a descriptor free again, the same server socket accepts the waiting peer.
    drop(sockets.pop());
    let accepted = server.accept(None).unwrap();
    client.write_all(b"in at last\n").unwrap();
    assert_eq!(accepted.read_ln().unwrap(), b"in at last");
}

/// A `wasi:cli/command` whose `run` computes forever and never calls the host.
fn spinning_command() -> Vec<u8> {
    use wit_component::{ComponentEncoder, StringEncoding, embed_component_metadata};
    const WIT: &str = "package wasi:cli@0.2.12;\n\
                       interface run { run: func() -> result; }\n\
                       world spin { export run; }\n";
    const WAT: &str = r#"(module
        (func (export "wasi:cli/run@0.2.12#run") (result i32)
            (loop $forever (br $forever))
            unreachable))"#;
    let mut resolve = wit_parser::Resolve::default();
    let package = resolve.push_str("spin.wit", WIT).unwrap();
    let world = resolve.select_world(&[package], Some("spin")).unwrap();
    let mut module = wat::parse_str(WAT).unwrap();
    embed_component_metadata(&mut module, &resolve, world, StringEncoding::UTF8).unwrap();
    ComponentEncoder::default()
        .module(&module)
        .unwrap()
        .validate(true)
        .encode()
        .unwrap()
}

#[test]
fn a_deadline_stops_a_guest_that_computes_without_calling_the_host() {
    use std::time::{Duration, Instant};
    const DEADLINE: Duration = Duration::from_millis(300);
    let spin = spinning_command();
    runtime().compile(&spin).unwrap(); // compiled first, so the clock times only the run
    let policy = Policy::deny_all().call_deadline(Some(DEADLINE));
    let started = Instant::now();
    // On a thread, watched: a deadline that did not stop it would spin on forever.
    let (done, finished) = std::sync::mpsc::channel();
    thread::spawn(move || {
        let args = ["spin".to_owned()];
        let stdio = Stdio::Capture { stdin: vec![] };
        let _ = done.send(alore_socket_host::blocking::run_command(
            runtime(),
            &spin,
            &policy,
            &args,
            stdio,
        ));
    });
    let error = finished
        .recv_timeout(PATIENCE)
        .expect("the spinning guest was stopped")
        .unwrap_err();
    let took = started.elapsed();
    assert!(
        matches!(error, alore_socket_host::Error::Deadline(d) if d == DEADLINE),
        "{error}"
    );
    assert!(took >= DEADLINE && took < PATIENCE, "{took:?}");
}
