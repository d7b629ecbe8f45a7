//! A DNS server on 127.0.0.1 for the reverse-lookup tests: UDP, and TCP on the same port for
//! truncated answers. It answers every PTR query the same way, chosen by the test.

use std::io::{Read, Write};
use std::net::{Ipv4Addr, SocketAddrV4, TcpListener, UdpSocket};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use simple_dns::rdata::{PTR, RData};
use simple_dns::{CLASS, Name, Packet, PacketFlag, Question, RCODE, ResourceRecord, TYPE};

/// How the server answers.
#[derive(Debug, Clone, Copy)]
pub enum Behaviour {
    /// A PTR record with this name.
    Answer(&'static str),
    /// NXDOMAIN.
    NoSuchName,
    /// NOERROR with no record.
    NoRecord,
    /// Never a word.
    Silent,
    /// First a reply with another ID, then the right one.
    WrongIdFirst(&'static str),
    /// First a reply to another question, then the right one.
    WrongQuestionFirst(&'static str),
    /// Over UDP only a truncated reply; the answer over TCP.
    Truncated(&'static str),
    /// A PTR record with this name, owned by another name than the question's.
    OtherOwner(&'static str),
    /// For the question `.0` a PTR record with the name `.1`; NXDOMAIN for any other.
    AnswerFor(&'static str, &'static str),
}

/// How often the server's threads look at the stop flag.
const TICK: Duration = Duration::from_millis(20);

pub struct DnsServer {
    pub address: SocketAddrV4,
    udp_queries: Arc<AtomicUsize>,
    tcp_queries: Arc<AtomicUsize>,
    /// When each UDP query came.
    udp_times: Arc<Mutex<Vec<Instant>>>,
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
}

impl DnsServer {
    pub fn start(behaviour: Behaviour) -> Self {
        // UDP and TCP on one port: take a free UDP port, and retry if TCP has it taken.
        let (udp, tcp) = (0..50)
            .find_map(|_| {
                let udp = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
                let tcp = TcpListener::bind(udp.local_addr().ok()?).ok()?;
                Some((udp, tcp))
            })
            .expect("a port free for both UDP and TCP");
        Self::serve(udp, tcp, behaviour)
    }

    /// A server on the DNS port of `ip`, a loopback address of the test's own (e.g.
    /// 127.53.0.1), as a `nameserver` line of `resolv.conf` names one. Port 53 needs root,
    /// as the tests have on this project's machines and in CI.
    pub fn start_on_port_53(ip: Ipv4Addr, behaviour: Behaviour) -> Self {
        assert!(ip.is_loopback(), "tests send DNS only to loopback");
        let at = SocketAddrV4::new(ip, 53);
        let udp = UdpSocket::bind(at).unwrap_or_else(|e| panic!("bind UDP {at} (root?): {e}"));
        let tcp = TcpListener::bind(at).unwrap_or_else(|e| panic!("bind TCP {at} (root?): {e}"));
        Self::serve(udp, tcp, behaviour)
    }

    fn serve(udp: UdpSocket, tcp: TcpListener, behaviour: Behaviour) -> Self {
        let address = match udp.local_addr().unwrap() {
            std::net::SocketAddr::V4(v4) => v4,
            other => panic!("an IPv4 server, not {other}"),
        };
        let stop = Arc::new(AtomicBool::new(false));
        let (udp_queries, tcp_queries) = (Arc::default(), Arc::default());
        let udp_times = Arc::default();
        let threads = vec![
            serve_udp(
                udp,
                behaviour,
                (Arc::clone(&udp_queries), Arc::clone(&udp_times)),
                Arc::clone(&stop),
            ),
            serve_tcp(tcp, behaviour, Arc::clone(&tcp_queries), Arc::clone(&stop)),
        ];
        DnsServer {
            address,
            udp_queries,
            tcp_queries,
            udp_times,
            stop,
            threads,
        }
    }

    pub fn udp_queries(&self) -> usize {
        self.udp_queries.load(Ordering::SeqCst)
    }

    /// When each UDP query arrived, in order.
    pub fn udp_query_times(&self) -> Vec<Instant> {
        self.udp_times.lock().unwrap().clone()
    }

    pub fn tcp_queries(&self) -> usize {
        self.tcp_queries.load(Ordering::SeqCst)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

fn serve_udp(
    socket: UdpSocket,
    behaviour: Behaviour,
    (queries, times): (Arc<AtomicUsize>, Arc<Mutex<Vec<Instant>>>),
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    socket.set_read_timeout(Some(TICK)).unwrap();
    thread::spawn(move || {
        let mut buf = [0; 4096];
        while !stop.load(Ordering::SeqCst) {
            let Ok((n, from)) = socket.recv_from(&mut buf) else {
                continue;
            };
            times.lock().unwrap().push(Instant::now());
            queries.fetch_add(1, Ordering::SeqCst);
            for reply in udp_replies(&buf[..n], behaviour) {
                socket.send_to(&reply, from).unwrap();
            }
        }
    })
}

fn serve_tcp(
    listener: TcpListener,
    behaviour: Behaviour,
    queries: Arc<AtomicUsize>,
    stop: Arc<AtomicBool>,
) -> JoinHandle<()> {
    listener.set_nonblocking(true).unwrap();
    thread::spawn(move || {
        while !stop.load(Ordering::SeqCst) {
            let Ok((mut stream, _)) = listener.accept() else {
                thread::sleep(TICK);
                continue;
            };
            stream.set_nonblocking(false).unwrap();
            stream
                .set_read_timeout(Some(Duration::from_secs(10)))
                .unwrap();
            let mut length = [0; 2];
            if stream.read_exact(&mut length).is_err() {
                continue;
            }
            let mut query = vec![0; usize::from(u16::from_be_bytes(length))];
            if stream.read_exact(&mut query).is_err() {
                continue;
            }
            queries.fetch_add(1, Ordering::SeqCst);
            let name = match behaviour {
                Behaviour::Truncated(name) => name,
                _ => continue,
            };
            let reply = reply(&query, Ok(name), |_| {});
            let mut framed = u16::try_from(reply.len()).unwrap().to_be_bytes().to_vec();
            framed.extend_from_slice(&reply);
            let _ = stream.write_all(&framed);
        }
    })
}

fn udp_replies(query: &[u8], behaviour: Behaviour) -> Vec<Vec<u8>> {
    match behaviour {
        Behaviour::Answer(name) => vec![reply(query, Ok(name), |_| {})],
        Behaviour::NoSuchName => vec![reply(query, Err(RCODE::NameError), |_| {})],
        Behaviour::NoRecord => vec![reply(query, Err(RCODE::NoError), |_| {})],
        Behaviour::Silent => vec![],
        Behaviour::WrongIdFirst(name) => vec![
            reply(query, Ok("forged.example"), |p| {
                p.set_id(p.id().wrapping_add(1))
            }),
            reply(query, Ok(name), |_| {}),
        ],
        Behaviour::WrongQuestionFirst(name) => vec![
            reply(query, Ok("forged.example"), |p| {
                p.questions[0].qname = Name::new_unchecked("9.9.9.9.in-addr.arpa");
            }),
            reply(query, Ok(name), |_| {}),
        ],
        Behaviour::Truncated(_) => vec![reply(query, Err(RCODE::NoError), |p| {
            p.set_flags(PacketFlag::TRUNCATION)
        })],
        Behaviour::AnswerFor(question, name) => {
            let asked = Packet::parse(query)
                .ok()
                .and_then(|p| Some(p.questions.first()?.qname.to_string()));
            if asked.as_deref() == Some(question) {
                vec![reply(query, Ok(name), |_| {})]
            } else {
                vec![reply(query, Err(RCODE::NameError), |_| {})]
            }
        }
        Behaviour::OtherOwner(name) => vec![reply(query, Ok(name), |p| {
            p.answers[0].name = Name::new_unchecked("9.9.9.9.in-addr.arpa");
        })],
    }
}

/// A reply to `query`: a PTR answer, or an empty reply with the given code; `tamper` may
/// change it before it is encoded.
fn reply(query: &[u8], answer: Result<&str, RCODE>, tamper: impl FnOnce(&mut Packet)) -> Vec<u8> {
    let query = Packet::parse(query).expect("the component sends well-formed queries");
    let question = &query.questions[0];
    let mut packet = Packet::new_reply(query.id());
    packet.questions.push(Question::new(
        question.qname.clone(),
        question.qtype,
        question.qclass,
        false,
    ));
    match answer {
        Ok(target) => {
            let rdata = RData::PTR(PTR(Name::new_unchecked(target)));
            packet.answers.push(ResourceRecord::new(
                question.qname.clone(),
                CLASS::IN,
                60,
                rdata,
            ));
        }
        Err(code) => *packet.rcode_mut() = code,
    }
    assert_eq!(
        question.qtype,
        TYPE::PTR.into(),
        "the component asks for PTR records"
    );
    tamper(&mut packet);
    packet.build_bytes_vec().unwrap()
}
