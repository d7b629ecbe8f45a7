//! Shared pieces of the end-to-end tests: one compiled component per process, policies for
//! loopback, and real TCP servers on 127.0.0.1 ephemeral ports.

use std::io::{ErrorKind, Read};
use std::net::{Ipv4Addr, TcpListener, TcpStream};
use std::sync::OnceLock;
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use alore_socket_host::blocking::Instance;
use alore_socket_host::{Allow, Buffering, Edition, LookupTable, Policy, Runtime};

/// How long a test waits for bytes it expects before failing (not a speed assertion: only a
/// bound so a broken build fails instead of hanging).
pub const PATIENCE: Duration = Duration::from_secs(10);
/// How long a test watches the wire to see that bytes it expects to be held back stay held
/// back. The component hands bytes to the host before its call returns, so anything sent
/// would be there well within this.
pub const QUIET: Duration = Duration::from_millis(150);

/// Every buffering mode, for tests that must hold in each.
pub const MODES: [Buffering; 3] = [
    Buffering::Unbuffered,
    Buffering::LineBuffered,
    Buffering::Buffered,
];

/// Whether `a` and `b` are the same text, at compile time.
const fn same_text(a: &str, b: &str) -> bool {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// The edition the suite runs against: these files are compiled twice, as the test targets
/// `e2e` (every test, against the WASI 0.2 edition) and `e2e_wasi03` (the behaviour tests,
/// against the WASI 0.3 edition), one suite parameterised by the target's name.
pub const EDITION: Edition = if same_text(env!("CARGO_CRATE_NAME"), "e2e_wasi03") {
    Edition::Wasi03
} else {
    Edition::Wasi02
};

/// The kind a busy port is: its own kind in the WASI 0.3 edition's contract; `other` in the
/// 0.1.x contract, whose enum cannot take new cases (its message names EADDRINUSE in both).
pub const ADDRESS_IN_USE: alore_socket_host::IoErrorKind = match EDITION {
    Edition::Wasi03 => alore_socket_host::IoErrorKind::AddressInUse,
    _ => alore_socket_host::IoErrorKind::Other,
};

pub fn runtime() -> &'static Runtime {
    static RUNTIME: OnceLock<Runtime> = OnceLock::new();
    RUNTIME.get_or_init(|| Runtime::new().expect("the component loads"))
}

/// The names the tests' lookups know: the component's lookups are answered from this table,
/// never by this machine's resolver, so no test sends a DNS query off loopback. A name not in
/// it is unknown.
pub fn test_names() -> LookupTable {
    [
        ("localhost", Ipv4Addr::LOCALHOST.into()),
        ("loopback.test", Ipv4Addr::LOCALHOST.into()),
        ("v6-only.test", std::net::Ipv6Addr::LOCALHOST.into()),
    ]
    .into_iter()
    .collect()
}

/// Lookups allowed, and answered from [`test_names`].
pub fn with_test_names(policy: Policy) -> Policy {
    policy.allow_lookup(true).lookup_table(test_names())
}

/// An instance allowed to reach every port of 127.0.0.1 and to look names up.
pub fn loopback() -> Instance {
    instance(with_test_names(
        Policy::deny_all().allow(Allow::host(Ipv4Addr::LOCALHOST)),
    ))
}

/// [`loopback`], and listening on every port of 127.0.0.1 and of every interface (Alore's
/// default). Only loopback peers may connect to it: accepted peers are checked like outgoing
/// connections.
pub fn listening() -> Instance {
    instance(with_test_names(
        Policy::deny_all()
            .allow(Allow::host(Ipv4Addr::LOCALHOST))
            .allow_listen(Allow::host(Ipv4Addr::LOCALHOST))
            .allow_listen(Allow::host(Ipv4Addr::UNSPECIFIED)),
    ))
}

/// An instance of the edition under test.
pub fn instance(policy: Policy) -> Instance {
    Instance::of_edition(runtime(), EDITION, &policy).expect("the component instantiates")
}

/// A port where nobody listens, held for as long as the value lives: bound on every address
/// (without `SO_REUSEADDR`, so no other socket can bind it) and never listening, so a connect
/// to it is refused and no other test can take it meanwhile.
pub struct ClosedPort {
    _held: socket2::Socket,
    port: u16,
}

impl ClosedPort {
    pub fn port(&self) -> u16 {
        self.port
    }
}

pub fn closed_port() -> ClosedPort {
    use socket2::{Domain, Socket, Type};
    let held = Socket::new(Domain::IPV4, Type::STREAM, None).expect("a socket");
    held.bind(&std::net::SocketAddr::from((Ipv4Addr::UNSPECIFIED, 0)).into())
        .expect("bind an ephemeral port");
    let port = held
        .local_addr()
        .ok()
        .and_then(|a| a.as_socket())
        .expect("an IPv4 address")
        .port();
    ClosedPort { _held: held, port }
}

/// A port free right now, for a test that must bind it itself (bound, then released: another
/// process could take it in between, which would fail that test loudly, not pass it).
pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .expect("bind an ephemeral port")
        .port()
}

/// A server on 127.0.0.1 that accepts one connection and runs `script` on it.
pub struct Server<T> {
    pub port: u16,
    handle: JoinHandle<T>,
}

impl<T: Send + 'static> Server<T> {
    pub fn start(script: impl FnOnce(TcpStream) -> T + Send + 'static) -> Self {
        Self::start_on(Ipv4Addr::LOCALHOST.into(), script)
    }

    /// [`Server::start`] on `ip` (a loopback address: 127.0.0.0/8 or ::1).
    pub fn start_on(
        ip: std::net::IpAddr,
        script: impl FnOnce(TcpStream) -> T + Send + 'static,
    ) -> Self {
        assert!(ip.is_loopback(), "tests connect only to loopback");
        let listener = TcpListener::bind((ip, 0)).expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let handle = thread::spawn(move || {
            let (stream, _) = listener.accept().expect("accept");
            stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
            script(stream)
        });
        Server { port, handle }
    }

    /// The script's result; a failed script fails the test.
    pub fn join(self) -> T {
        self.handle.join().expect("the server script succeeds")
    }
}

/// A server that accepts one connection and keeps it open without writing until the returned
/// sender sends or is dropped; then it closes the connection.
pub fn silent_server() -> (Server<()>, std::sync::mpsc::Sender<()>) {
    let (release, wait) = std::sync::mpsc::channel::<()>();
    let server = Server::start(move |_s| {
        let _ = wait.recv();
    });
    (server, release)
}

/// A server that answers each line of one connection with `prefix`, the line and a line
/// feed, until the client closes.
pub fn line_echo_server(prefix: &'static str) -> Server<()> {
    use std::io::{BufRead, BufReader, Write};
    Server::start(move |s| {
        let mut writer = s.try_clone().expect("a second handle");
        for line in BufReader::new(s).lines() {
            let reply = format!("{prefix}{}\n", line.expect("a line"));
            writer
                .write_all(reply.as_bytes())
                .expect("the reply goes out");
        }
    })
}

/// Read exactly `n` bytes (or fail after [`PATIENCE`]).
pub fn read_n(stream: &mut TcpStream, n: usize) -> Vec<u8> {
    let mut buf = vec![0; n];
    stream
        .read_exact(&mut buf)
        .expect("the expected bytes arrive");
    buf
}

/// Everything that arrives within `window`, without waiting for more.
pub fn arrived_within(stream: &mut TcpStream, window: Duration) -> Vec<u8> {
    let deadline = Instant::now() + window;
    let mut got = Vec::new();
    let mut buf = [0; 65536];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            break;
        }
        stream.set_read_timeout(Some(left)).expect("timeout");
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => break,
            Err(e) => panic!("read failed: {e}"),
        }
    }
    stream.set_read_timeout(Some(PATIENCE)).expect("timeout");
    got
}

/// Everything until the peer closes.
pub fn read_to_end(stream: &mut TcpStream) -> Vec<u8> {
    let mut got = Vec::new();
    stream.read_to_end(&mut got).expect("read to the end");
    got
}

/// The `io-error` kind of a failed call (panics on success or another error).
pub fn io_kind<T: std::fmt::Debug>(
    result: Result<T, alore_socket_host::Error>,
) -> alore_socket_host::IoErrorKind {
    match result {
        Err(e) => e
            .io_kind()
            .unwrap_or_else(|| panic!("expected an io-error, got {e}")),
        Ok(v) => panic!("expected an io-error, got Ok({v:?})"),
    }
}

/// Write `pieces` with a pause between them, so that they arrive separately.
pub fn dribble(stream: &mut TcpStream, pieces: &[&[u8]]) {
    use std::io::Write;
    stream.set_nodelay(true).expect("nodelay");
    for piece in pieces {
        stream.write_all(piece).expect("write");
        thread::sleep(Duration::from_millis(30));
    }
}

/// Assert two byte strings are equal, printing at most their first bytes when they differ
/// (test payloads run to megabytes).
#[track_caller]
pub fn same(got: &[u8], want: &[u8]) {
    fn show(bytes: &[u8]) -> String {
        let head: String = bytes
            .iter()
            .take(32)
            .flat_map(|&b| std::ascii::escape_default(b))
            .map(char::from)
            .collect();
        format!(
            "{} bytes: b\"{head}\"{}",
            bytes.len(),
            if bytes.len() > 32 { "…" } else { "" }
        )
    }
    assert!(got == want, "got {}, want {}", show(got), show(want));
}

/// `len` bytes holding every byte value, CR and LF included, in an order set by `step`: a body
/// in which a lost, doubled or reordered byte shows (pick a length no buffer divides).
pub fn binary_body(len: u32, step: u32) -> Vec<u8> {
    (0..len)
        .map(|i| (i.wrapping_mul(step) % 256) as u8)
        .collect()
}

/// An HTTP/1.0 server for one request: reads its head, answers `200 OK` with `body`, closes.
pub fn http_server(body: Vec<u8>) -> Server<()> {
    Server::start(move |mut s| {
        let mut reader = std::io::BufReader::new(s.try_clone().unwrap());
        let mut line = String::new();
        while std::io::BufRead::read_line(&mut reader, &mut line).unwrap() > 2 {
            line.clear();
        }
        std::io::Write::write_all(&mut s, b"HTTP/1.0 200 OK\r\nServer: test\r\n\r\n").unwrap();
        std::io::Write::write_all(&mut s, &body).unwrap();
    })
}

/// Run `http-get URL`, composed in `app`, under `policy`, its output captured.
pub fn http_get(app: &[u8], policy: &Policy, url: &str) -> alore_socket_host::CommandOutput {
    let args = ["http-get".to_owned(), url.to_owned()];
    alore_socket_host::blocking::run_command(
        runtime(),
        app,
        policy,
        &args,
        alore_socket_host::Stdio::Capture { stdin: vec![] },
    )
    .unwrap()
}

/// http-get's output: success, the status line, then exactly `body`.
pub fn assert_fetched(stdout: &[u8], stderr: &[u8], ok: bool, body: &[u8]) {
    assert!(ok, "{}", String::from_utf8_lossy(stderr));
    let status = b"HTTP/1.0 200 OK\n";
    assert_eq!(
        &stdout[..status.len()],
        status,
        "{}",
        String::from_utf8_lossy(stderr)
    );
    same(&stdout[status.len()..], body);
}

/// Run the calling test's body in a process of its own, for what is the whole process's (the
/// open-files limit, peak memory) and would touch or be touched by the tests beside it. In
/// the test process this runs the test `name` again in a child with `env` set, asserts that
/// it passed, and returns false; in the child it returns true: run the body.
pub fn in_own_process(name: &str, env: &str) -> bool {
    if std::env::var_os(env).is_some() {
        return true;
    }
    let out = std::process::Command::new(std::env::current_exe().unwrap())
        .args(["--exact", name, "--nocapture", "--test-threads=1"])
        .env(env, "1")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout) + String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{text}");
    assert!(text.contains("1 passed"), "the child ran the test: {text}");
    false
}

/// `size` bytes that differ with `seed` and along the way, so that a lost, doubled or
/// reordered stretch shows.
pub fn seeded_bytes(size: usize, seed: u32) -> Vec<u8> {
    (0..size as u32)
        .map(|i| (i.wrapping_mul(seed) >> 3) as u8)
        .collect()
}

/// A TCP server on 127.0.0.1 that accepts every connection and keeps it open (the hostile
/// application's handshakes need streams to hold; other tests, peers that stay).
pub fn holding_server() -> u16 {
    holding_server_on(Ipv4Addr::LOCALHOST.into())
}

/// [`holding_server`] on `ip` (a loopback address).
pub fn holding_server_on(ip: std::net::IpAddr) -> u16 {
    assert!(ip.is_loopback(), "tests connect only to loopback");
    let listener = TcpListener::bind((ip, 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in listener.incoming().flatten() {
            held.push(stream);
        }
    });
    port
}
