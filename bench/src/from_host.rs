//! Contender 2: the alore-socket component, called from this host.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use alore_socket_host::Buffering;
use alore_socket_host::blocking::{Instance, Socket};
use anyhow::Result;

use crate::workload::{CHUNK, Sizes, Workload, in_chunks};

/// Seconds for one run of a rate workload.
pub(crate) fn seconds(instance: &Instance, workload: Workload, sizes: &Sizes) -> Result<f64> {
    seconds_on(instance, Ipv4Addr::LOCALHOST.into(), workload, sizes)
}

/// [`seconds`] with a server on `ip`.
pub(crate) fn seconds_on(
    instance: &Instance,
    ip: IpAddr,
    workload: Workload,
    sizes: &Sizes,
) -> Result<f64> {
    let count = workload.count(sizes);
    let server = workload.server_on(ip, sizes)?;
    let port = server.port;
    let address = ip.to_string();
    let address = address.as_str();
    let elapsed = match workload {
        Workload::Receive => {
            let socket = instance.connect(address, port, None)?;
            let started = Instant::now();
            let mut got = 0;
            while got < count {
                got += socket.read(Some(CHUNK as u32))?.len();
            }
            let elapsed = started.elapsed();
            socket.close()?;
            elapsed
        }
        Workload::Send => {
            let socket = instance.connect(address, port, None)?;
            let started = Instant::now();
            in_chunks(count, |chunk| Ok(socket.write(chunk)?))?;
            socket.read(Some(1))?;
            let elapsed = started.elapsed();
            socket.close()?;
            elapsed
        }
        Workload::Lines => {
            // Buffered: 8 KiB refills, as BufReader's 8 KiB buffer.
            let socket = instance.connect(address, port, Some(Buffering::Buffered))?;
            let started = Instant::now();
            for _ in 0..count {
                socket.read_ln()?;
            }
            let elapsed = started.elapsed();
            socket.close()?;
            elapsed
        }
        Workload::Connects => {
            let started = Instant::now();
            for _ in 0..count {
                instance.connect(address, port, None)?.close()?;
            }
            started.elapsed()
        }
        Workload::Lookups => {
            let started = Instant::now();
            for _ in 0..count {
                instance.get_host_by_name("localhost")?;
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

/// Each round trip's time, in microseconds.
pub(crate) fn round_trips(instance: &Instance, sizes: &Sizes) -> Result<Vec<f64>> {
    round_trips_on(instance, Ipv4Addr::LOCALHOST.into(), sizes)
}

/// [`round_trips`] to a server on `ip`.
pub(crate) fn round_trips_on(instance: &Instance, ip: IpAddr, sizes: &Sizes) -> Result<Vec<f64>> {
    let server = Workload::RoundTrips.server_on(ip, sizes)?;
    let socket = instance.connect(&ip.to_string(), server.port, None)?;
    let times = time_round_trips(&socket, sizes)?;
    socket.close()?;
    server.finish()?;
    Ok(times)
}

/// Each round trip's time over `socket`, in microseconds: write "ping" and a line feed, read
/// the echoed line.
pub(crate) fn time_round_trips(socket: &Socket, sizes: &Sizes) -> Result<Vec<f64>> {
    let mut times = Vec::with_capacity(sizes.round_trips);
    for _ in 0..sizes.round_trips {
        let started = Instant::now();
        socket.write_ln(b"ping")?;
        socket.read_ln()?;
        times.push(started.elapsed().as_secs_f64() * 1e6);
    }
    Ok(times)
}
