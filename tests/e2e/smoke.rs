use std::io::Write;

use crate::common::*;

#[test]
fn echo_one_line() {
    let server = Server::start(|mut s| {
        let got = read_n(&mut s, 6);
        s.write_all(b"world\n").unwrap();
        got
    });
    let socket = loopback().connect("127.0.0.1", server.port, None).unwrap();
    socket.write_ln(b"hello").unwrap();
    assert_eq!(socket.read_ln().unwrap(), b"world");
    assert_eq!(server.join(), b"hello\n");
}
