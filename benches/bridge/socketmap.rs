//! The socketmap side of the benchmark: a load worker that asks a map the
//! way Postfix's `dict_sockmap` does (one netstring request, wait for the
//! reply, next request, on one connection), and the ceiling: a socketmap
//! server answering from a `HashMap` in its own process.

use crate::load::{Outcome, Probe, Worker};
use mailadmin_client::bridge::maps::mailbox_location;
use mailadmin_client::bridge::{ListenAddr, Listener, netstring};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use tokio::io::BufReader;
use tokio::net::TcpStream;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

/// The unknown address for probe number `at`: a different one for every
/// probe number, however often the workload wraps around.
fn unknown_address(at: usize) -> String {
    format!("nobody-{at}@{}", mailadmin_server::store::SEED_DOMAIN)
}

/// The key asked for probe number `at`: the probe's address when it
/// exists, else an unknown address never asked before (so that no cache
/// can answer it), and the answer right for it in the `mailboxes` map.
pub fn key_and_answer(probes: &[Probe], at: usize) -> (String, String) {
    let probe = &probes[at % probes.len()];
    if probe.exists {
        let answer = format!("OK {}", mailbox_location(&probe.address));
        (probe.address.clone(), answer)
    } else {
        (unknown_address(at), "NOTFOUND ".to_string())
    }
}

/// One connection asking the `mailboxes` map, one request at a time.
pub struct Socketmap {
    reader: BufReader<OwnedReadHalf>,
    writer: OwnedWriteHalf,
    probes: Arc<Vec<Probe>>,
    request: Vec<u8>,
}

impl Socketmap {
    pub async fn connect(addr: SocketAddr, probes: Arc<Vec<Probe>>) -> anyhow::Result<Socketmap> {
        let stream = TcpStream::connect(addr).await?;
        stream.set_nodelay(true)?;
        let (reader, writer) = stream.into_split();
        Ok(Socketmap {
            reader: BufReader::new(reader),
            writer,
            probes,
            request: Vec::with_capacity(128),
        })
    }
}

impl Worker for Socketmap {
    async fn call(&mut self, at: usize) -> Outcome {
        let (key, answer) = key_and_answer(&self.probes, at);
        self.request.clear();
        self.request.extend_from_slice(b"mailboxes ");
        self.request.extend_from_slice(key.as_bytes());
        let reply = match netstring::write(&mut self.writer, &self.request).await {
            Ok(()) => netstring::read(&mut self.reader).await.ok().flatten(),
            Err(_) => None,
        };
        let right = reply.is_some_and(|reply| reply == answer.as_bytes());
        Outcome {
            checked: 1,
            wrong: u64::from(!right),
        }
    }
}

/// Writes the `mailboxes` map (address, tab, value) for the ceiling server.
pub fn write_map(path: &Path, addresses: &[String]) -> anyhow::Result<()> {
    let mut text = String::with_capacity(addresses.len() * 64);
    for address in addresses {
        text.push_str(address);
        text.push('\t');
        text.push_str(&mailbox_location(address));
        text.push('\n');
    }
    std::fs::write(path, text)?;
    Ok(())
}

/// The ceiling: the bridge's own socketmap framing and listener, answering
/// the `mailboxes` map from a `HashMap` loaded from `map_file`. What the
/// bridge costs over it is the gRPC call to the control plane.
pub async fn serve_ceiling(addr: SocketAddr, map_file: &Path) -> anyhow::Result<()> {
    let map: HashMap<String, String> = std::fs::read_to_string(map_file)?
        .lines()
        .filter_map(|line| line.split_once('\t'))
        .map(|(key, value)| (key.to_string(), format!("OK {value}")))
        .collect();
    let map = Arc::new(map);
    let listener = Listener::bind(&ListenAddr::Inet(addr)).await?;
    listener
        .serve("socketmap", move |connection| {
            let map = map.clone();
            async move {
                let (reader, mut writer) = tokio::io::split(connection);
                let mut reader = BufReader::new(reader);
                while let Some(request) = netstring::read(&mut reader).await? {
                    let key = request
                        .strip_prefix(b"mailboxes ")
                        .and_then(|key| std::str::from_utf8(key).ok());
                    let reply = match key.and_then(|key| map.get(key)) {
                        Some(found) => found.as_str(),
                        None => "NOTFOUND ",
                    };
                    netstring::write(&mut writer, reply.as_bytes()).await?;
                }
                Ok::<(), netstring::NetstringError>(())
            }
        })
        .await;
    Ok(())
}
