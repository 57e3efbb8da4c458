//! A real, authoritative DNS server on loopback for the tests: it parses each
//! query with hickory-proto's wire format and answers TXT and MX from an
//! in-memory table that a test edits while the server runs. UDP and TCP on
//! the same port (a resolver retries a truncated UDP answer over TCP).

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use hickory_proto::op::{Edns, Message, MessageType, OpCode, ResponseCode};
use hickory_proto::rr::rdata::{MX, SOA, TXT};
use hickory_proto::rr::{Name, RData, Record, RecordType};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream, UdpSocket};
use tokio::task::JoinHandle;

/// A TTL and negative TTL (SOA minimum) a caching resolver would honour
/// for the length of any test: a resolver that sees a change at once
/// proves it does not cache.
const TTL: u32 = 60;
/// The most a UDP answer may carry when the query has no EDNS (RFC 1035).
const PLAIN_UDP_LIMIT: usize = 512;
/// The EDNS payload size this server advertises and honours at most.
const EDNS_UDP_LIMIT: u16 = 1232;

#[derive(Default)]
struct Records {
    txt: Vec<String>,
    mx: Vec<(u16, String)>,
    /// Answer SERVFAIL for this name, whatever it holds.
    servfail: bool,
}

/// Lower-cased name without trailing dot → the records at that name. A name
/// with an entry exists (NOERROR) even when it holds no record of the asked type.
type Zone = Arc<Mutex<HashMap<String, Records>>>;

fn key(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

pub struct TestDns {
    pub addr: SocketAddr,
    zone: Zone,
    tasks: Vec<JoinHandle<()>>,
}

impl TestDns {
    pub async fn start() -> TestDns {
        let (udp, tcp) = bind_udp_and_tcp().await;
        let addr = udp.local_addr().expect("udp local addr");
        let zone = Zone::default();
        let tasks = vec![
            tokio::spawn(serve_udp(udp, zone.clone())),
            tokio::spawn(serve_tcp(tcp, zone.clone())),
        ];
        TestDns { addr, zone, tasks }
    }

    /// Replaces the TXT records at `name`, one record per value. A value
    /// longer than 255 bytes is split into several character-strings, as
    /// zone tools do for DKIM keys.
    pub fn set_txt(&self, name: &str, values: &[&str]) {
        let mut zone = self.zone.lock().unwrap();
        zone.entry(key(name)).or_default().txt = values.iter().map(|v| v.to_string()).collect();
    }

    /// Replaces the MX records at `name`; exchanges are served as given
    /// (case kept), made absolute.
    pub fn set_mx(&self, name: &str, records: &[(u16, &str)]) {
        let mut zone = self.zone.lock().unwrap();
        zone.entry(key(name)).or_default().mx = records
            .iter()
            .map(|(preference, exchange)| (*preference, exchange.to_string()))
            .collect();
    }

    /// Makes every query for `name` fail with SERVFAIL, until `clear`.
    pub fn set_servfail(&self, name: &str) {
        let mut zone = self.zone.lock().unwrap();
        zone.entry(key(name)).or_default().servfail = true;
    }

    /// Removes all records at `name`: it answers NXDOMAIN afterwards.
    pub fn clear(&self, name: &str) {
        self.zone.lock().unwrap().remove(&key(name));
    }
}

impl Drop for TestDns {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// A UDP socket bound on loopback that reads queries and never replies (for timeout tests).
pub struct SilentDns {
    pub addr: SocketAddr,
    task: JoinHandle<()>,
}

impl SilentDns {
    pub async fn start() -> SilentDns {
        let socket = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = socket.local_addr().expect("udp local addr");
        // Reading (rather than letting the buffer fill) keeps the socket
        // alive and quiet: no ICMP unreachable, no reply.
        let task = tokio::spawn(async move {
            let mut buf = vec![0u8; 4096];
            while socket.recv_from(&mut buf).await.is_ok() {}
        });
        SilentDns { addr, task }
    }
}

impl Drop for SilentDns {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Binds UDP on an OS-chosen loopback port, then TCP on the same port; tries
/// again with another port in the rare case that TCP's is taken.
async fn bind_udp_and_tcp() -> (UdpSocket, TcpListener) {
    for _ in 0..20 {
        let udp = UdpSocket::bind("127.0.0.1:0").await.expect("bind udp");
        let addr = udp.local_addr().expect("udp local addr");
        if let Ok(tcp) = TcpListener::bind(addr).await {
            return (udp, tcp);
        }
    }
    panic!("no loopback port free for both udp and tcp");
}

async fn serve_udp(socket: UdpSocket, zone: Zone) {
    let mut buf = vec![0u8; 4096];
    loop {
        let Ok((len, peer)) = socket.recv_from(&mut buf).await else {
            continue;
        };
        let Some(response) = respond(&zone, &buf[..len]) else {
            continue;
        };
        let limit = match &response.edns {
            Some(edns) => usize::from(edns.max_payload()),
            None => PLAIN_UDP_LIMIT,
        };
        let mut bytes = response.to_vec().expect("encode dns response");
        if bytes.len() > limit {
            bytes = response
                .truncate()
                .to_vec()
                .expect("encode truncated dns response");
        }
        let _ = socket.send_to(&bytes, peer).await;
    }
}

async fn serve_tcp(listener: TcpListener, zone: Zone) {
    while let Ok((stream, _)) = listener.accept().await {
        tokio::spawn(serve_tcp_connection(stream, zone.clone()));
    }
}

/// RFC 1035 4.2.2: each message is preceded by its length in two bytes; a
/// connection may carry several queries.
async fn serve_tcp_connection(mut stream: TcpStream, zone: Zone) {
    loop {
        let Ok(len) = stream.read_u16().await else {
            return;
        };
        let mut query = vec![0u8; usize::from(len)];
        if stream.read_exact(&mut query).await.is_err() {
            return;
        }
        let Some(response) = respond(&zone, &query) else {
            continue;
        };
        let bytes = response.to_vec().expect("encode dns response");
        let Ok(len) = u16::try_from(bytes.len()) else {
            return;
        };
        if stream.write_u16(len).await.is_err() || stream.write_all(&bytes).await.is_err() {
            return;
        }
    }
}

/// The answer to one wire-format message, or None when it deserves no reply
/// (a response, or too short to carry an id).
fn respond(zone: &Zone, packet: &[u8]) -> Option<Message> {
    let request = match Message::from_vec(packet) {
        Ok(request) => request,
        Err(_) => {
            let id = u16::from_be_bytes([*packet.first()?, *packet.get(1)?]);
            return Some(Message::error_msg(id, OpCode::Query, ResponseCode::FormErr));
        }
    };
    if request.metadata.message_type != MessageType::Query {
        return None;
    }

    let mut response = Message::response(request.metadata.id, request.metadata.op_code);
    response.metadata.authoritative = true;
    response.metadata.recursion_desired = request.metadata.recursion_desired;
    response.add_queries(request.queries.iter().cloned());
    if let Some(edns) = &request.edns {
        let mut ours = Edns::new();
        ours.set_max_payload(edns.max_payload().clamp(512, EDNS_UDP_LIMIT));
        response.set_edns(ours);
    }

    if request.metadata.op_code != OpCode::Query {
        response.metadata.response_code = ResponseCode::NotImp;
        return Some(response);
    }
    let [query] = request.queries.as_slice() else {
        response.metadata.response_code = ResponseCode::FormErr;
        return Some(response);
    };

    let zone = zone.lock().unwrap();
    let Some(records) = zone.get(&key(&query.name.to_ascii())) else {
        response.metadata.response_code = ResponseCode::NXDomain;
        response.add_authority(soa());
        return Some(response);
    };
    if records.servfail {
        response.metadata.authoritative = false;
        response.metadata.response_code = ResponseCode::ServFail;
        return Some(response);
    }
    let answers: Vec<Record> = match query.query_type {
        RecordType::TXT => records
            .txt
            .iter()
            .map(|value| {
                let mut strings: Vec<&[u8]> = value.as_bytes().chunks(255).collect();
                if strings.is_empty() {
                    strings.push(b"");
                }
                Record::from_rdata(
                    query.name.clone(),
                    TTL,
                    RData::TXT(TXT::from_bytes(strings)),
                )
            })
            .collect(),
        RecordType::MX => records
            .mx
            .iter()
            .map(|(preference, exchange)| {
                let mut exchange = Name::from_ascii(exchange).expect("valid mx exchange");
                exchange.set_fqdn(true);
                Record::from_rdata(
                    query.name.clone(),
                    TTL,
                    RData::MX(MX::new(*preference, exchange)),
                )
            })
            .collect(),
        // The name exists, with nothing of this type: NOERROR, no answers.
        _ => Vec::new(),
    };
    if answers.is_empty() {
        response.add_authority(soa());
    }
    response.add_answers(answers);
    Some(response)
}

/// The SOA that makes a negative answer cacheable (RFC 2308): this server
/// speaks for the whole namespace, so it sits at the root.
fn soa() -> Record {
    let name = |s: &str| Name::from_ascii(s).expect("valid soa name");
    let soa = SOA::new(
        name("ns.test."),
        name("hostmaster.test."),
        1,
        3600,
        600,
        86400,
        TTL,
    );
    Record::from_rdata(Name::root(), TTL, RData::SOA(soa))
}
