//! Contender 1: native `std::net` in this process, the limit.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{IpAddr, Ipv4Addr, TcpStream, ToSocketAddrs};
use std::time::Instant;

use anyhow::{Context, Result};

use crate::workload::{CHUNK, Sizes, Workload, in_chunks};

/// Seconds for one run of a rate workload.
pub(crate) fn seconds(workload: Workload, sizes: &Sizes) -> Result<f64> {
    seconds_on(Ipv4Addr::LOCALHOST.into(), workload, sizes)
}

/// [`seconds`] with a server on `ip`.
pub(crate) fn seconds_on(ip: IpAddr, workload: Workload, sizes: &Sizes) -> Result<f64> {
    let count = workload.count(sizes);
    let server = workload.server_on(ip, sizes)?;
    let port = server.port;
    let connect = || TcpStream::connect((ip, port));
    let elapsed = match workload {
        Workload::Receive => {
            let mut s = bulk_receiver(ip, port)?;
            let mut buf = vec![0u8; CHUNK];
            let started = Instant::now();
            let mut got = 0;
            while got < count {
                got += s.read(&mut buf)?;
            }
            started.elapsed()
        }
        Workload::Send => {
            let mut s = connect()?;
            let started = Instant::now();
            in_chunks(count, |chunk| Ok(s.write_all(chunk)?))?;
            s.read_exact(&mut [0u8; 1])?;
            started.elapsed()
        }
        Workload::Lines => {
            let mut reader = BufReader::new(connect()?);
            let mut line = String::new();
            let started = Instant::now();
            for _ in 0..count {
                line.clear();
                reader.read_line(&mut line)?;
            }
            started.elapsed()
        }
        Workload::Connects => {
            let started = Instant::now();
            for _ in 0..count {
                drop(connect()?);
            }
            started.elapsed()
        }
        Workload::Lookups => {
            let started = Instant::now();
            for _ in 0..count {
                let first = ("localhost", 0).to_socket_addrs()?.find(|a| a.is_ipv4());
                first.context("localhost has no IPv4 address")?;
            }
            started.elapsed()
        }
        Workload::ReceiveDetached | Workload::SendDetached => {
            unreachable!("no detach: the plain workload runs instead")
        }
        Workload::RoundTrips | Workload::Instantiation => unreachable!("not a rate"),
    };
    server.finish()?;
    Ok(elapsed.as_secs_f64())
}

/// The native TLS client's receive buffer in the bulk row, fixed before it connects. Left to
/// Linux's autotuning, the native TLS bulk receive was bimodal from one connection to the next
/// (the rustls server's encryption and the client's decryption overlapping on their two cores,
/// or taking turns): 1,186–2,204 MiB/s in a probe of twelve connections against 3,068–3,350
/// (one 2,554) with it, and 1,276–3,369 in the bench's three runs against 2,653–3,258
/// (2026-12-02). Not for plain TCP: with [`bulk_receiver`]'s `SO_RCVLOWAT` it was stable
/// already, and with this buffer too it fell under load below Python (1,864 against 2,039).
/// Linux caps it at `net.core.rmem_max` (4 MiB on this project's machines).
const TLS_RECEIVE_BUFFER: usize = 4 << 20;

/// A connection to `ip`:`port` with a receive buffer of [`TLS_RECEIVE_BUFFER`] (set before it
/// connects, so the window it offers reflects it).
pub(crate) fn with_tls_receive_buffer(ip: IpAddr, port: u16) -> Result<TcpStream> {
    use socket2::{Domain, Socket, Type};
    let address = std::net::SocketAddr::new(ip, port);
    let socket = Socket::new(Domain::for_address(address), Type::STREAM, None)?;
    socket.set_recv_buffer_size(TLS_RECEIVE_BUFFER)?;
    socket.connect(&address.into())?;
    Ok(socket.into())
}

/// A connection to `ip`:`port` whose blocking reads wake only when a whole [`CHUNK`] is
/// there or the stream has ended (`SO_RCVLOWAT`), as native code that receives in bulk would
/// ask. Without it a 64 KiB reader woken at each segment's arrival took 1,374–1,544 MiB/s on
/// this machine against 1,995–2,063 with it (three runs each, 2026-12-02), below Python and the
/// wasm peer: the anchor was not the limit. (Not for TLS: a read waits for as much as it asks,
/// up to 64 KiB, and a handshake's messages are fewer bytes than rustls asks for.)
fn bulk_receiver(ip: IpAddr, port: u16) -> Result<TcpStream> {
    let s = TcpStream::connect((ip, port))?;
    wake_for_whole_chunks(&s)?;
    Ok(s)
}

/// `SO_RCVLOWAT` of [`CHUNK`] on `s`.
fn wake_for_whole_chunks(s: &TcpStream) -> Result<()> {
    use std::os::fd::AsRawFd;
    let chunk = libc::c_int::try_from(CHUNK)?;
    let size = libc::socklen_t::try_from(std::mem::size_of::<libc::c_int>())?;
    // SAFETY: `s` owns an open socket for the whole call; `setsockopt` reads exactly `size`
    // bytes from `&chunk`, a live `c_int` of that size, and keeps no pointer to it.
    let done = unsafe {
        libc::setsockopt(
            s.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVLOWAT,
            (&raw const chunk).cast(),
            size,
        )
    };
    if done != 0 {
        return Err(std::io::Error::last_os_error()).context("SO_RCVLOWAT");
    }
    Ok(())
}

/// Each round trip's time, in microseconds.
pub(crate) fn round_trips(sizes: &Sizes) -> Result<Vec<f64>> {
    round_trips_on(Ipv4Addr::LOCALHOST.into(), sizes)
}

/// [`round_trips`] to a server on `ip`.
pub(crate) fn round_trips_on(ip: IpAddr, sizes: &Sizes) -> Result<Vec<f64>> {
    let server = Workload::RoundTrips.server_on(ip, sizes)?;
    let s = TcpStream::connect((ip, server.port))?;
    s.set_nodelay(true)?;
    let mut writer = s.try_clone()?;
    let mut reader = BufReader::new(s);
    let mut line = String::new();
    let mut times = Vec::with_capacity(sizes.round_trips);
    for _ in 0..sizes.round_trips {
        let started = Instant::now();
        writer.write_all(b"ping\n")?;
        line.clear();
        reader.read_line(&mut line)?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    drop((writer, reader));
    server.finish()?;
    Ok(times)
}
