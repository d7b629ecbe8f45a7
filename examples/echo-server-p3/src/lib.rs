//! `echo-server-p3 [PORT] [CONNECTIONS]`: a WASI 0.3 command that listens on 127.0.0.1:PORT
//! (default 7000; 0: any free port) through `alore:socket@0.2.0` and sends every line back,
//! serving every connection at once in this one instance: a task per connection, each waiting
//! in its own `read-ln` while the others go on. With CONNECTIONS it exits once that many
//! connections have ended; without, it serves until killed.
//!
//! What the WASI 0.3 edition buys over 0.2, where an instance runs one call at a time and a
//! server serves one connection at a time. Plug the alore-socket component's WASI 0.3 edition
//! in with `wac plug` (or let `alore-socket run` do it).

use std::cell::Cell;
use std::rc::Rc;
use std::task::{Poll, Waker};

wit_bindgen::generate!({ path: "wit", world: "app", generate_all });

use alore::socket::server_socket::ServerSocket;
use alore::socket::socket::{Buffering, Error, IoErrorKind, Socket};

fn describe(error: &Error) -> String {
    match error {
        Error::NameError(message) => format!("NameError: {message}"),
        Error::ValueError(message) => format!("ValueError: {message}"),
        Error::IoError(e) => format!("IoError ({:?}): {}", e.kind, e.message),
    }
}

/// How many sessions have ended, and the task waiting for the last one.
#[derive(Default)]
struct Ended {
    count: Cell<usize>,
    waiting: Cell<Option<Waker>>,
}

impl Ended {
    fn one_more(&self) {
        self.count.set(self.count.get() + 1);
        if let Some(waker) = self.waiting.take() {
            waker.wake();
        }
    }

    /// Wait until `total` sessions have ended.
    async fn all(&self, total: usize) {
        std::future::poll_fn(|cx| {
            if self.count.get() >= total {
                return Poll::Ready(());
            }
            self.waiting.set(Some(cx.waker().clone()));
            Poll::Pending
        })
        .await
    }
}

/// Send every line back until the peer ends the stream; then close.
async fn echo(socket: Socket, ended: Rc<Ended>) {
    loop {
        match socket.read_ln().await {
            Ok(line) => {
                if let Err(e) = socket.write_ln(line).await {
                    eprintln!("echo-server-p3: a session failed: {}", describe(&e));
                    break;
                }
            }
            Err(Error::IoError(e)) if e.kind == IoErrorKind::EndOfStream => break,
            Err(e) => {
                eprintln!("echo-server-p3: a session failed: {}", describe(&e));
                break;
            }
        }
    }
    let _ = socket.close().await;
    ended.one_more();
}

struct App;

// The export names are valid only in a wasm component.
#[cfg(target_arch = "wasm32")]
export!(App);

impl exports::wasi::cli::run::Guest for App {
    async fn run() -> Result<(), ()> {
        let args = wasi::cli::environment::get_arguments();
        let port: u16 = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(7000);
        let limit: Option<usize> = args.get(2).and_then(|a| a.parse().ok());
        let server = ServerSocket::listen(port, Some("127.0.0.1")).map_err(|e| {
            eprintln!("echo-server-p3: cannot listen: {}", describe(&e));
        })?;
        let port = server
            .local_port()
            .map_err(|e| eprintln!("{}", describe(&e)))?;
        eprintln!("echo-server-p3: echoing lines on 127.0.0.1:{port}");
        let ended = Rc::new(Ended::default());
        let mut accepted = 0;
        while limit.is_none_or(|limit| accepted < limit) {
            match server.accept(Some(Buffering::Unbuffered)).await {
                Ok(socket) => {
                    accepted += 1;
                    wit_bindgen::spawn_local(echo(socket, Rc::clone(&ended)));
                }
                // A peer that went before it was accepted, or descriptors short for now.
                Err(Error::IoError(e))
                    if matches!(
                        e.kind,
                        IoErrorKind::ConnectionReset | IoErrorKind::LimitExceeded
                    ) =>
                {
                    eprintln!("echo-server-p3: {}", e.message);
                }
                Err(e) => {
                    eprintln!("echo-server-p3: the listener failed: {}", describe(&e));
                    return Err(());
                }
            }
        }
        ended.all(accepted).await;
        Ok(())
    }
}
