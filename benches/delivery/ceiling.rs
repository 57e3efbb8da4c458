//! The ceiling: a bare tonic server speaking the same DeliveryService with
//! the same messages, that checks the same bearer token by plain string
//! comparison and answers from a plain `HashMap` of ready-made verdicts.
//! No normalization, no auth table, no snapshot lock: what gRPC alone
//! costs on this machine. It runs in its own process (this benchmark
//! binary started again with `--ceiling-server`), like the real server.

use mailadmin_client::Verdict;
use mailadmin_client::pb;
use mailadmin_server::grpc::DeliveryServiceServer;
use mailadmin_server::grpc::services::delivery_service_server::DeliveryService;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use tokio_stream::{Stream, StreamExt};
use tonic::{Request, Response, Status, Streaming};

/// Writes what the ceiling serves: `address<TAB>user_id<TAB>primary` lines.
pub fn write_directory(path: &Path, rows: &[(String, i64, String)]) -> std::io::Result<()> {
    use std::io::Write;
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for (address, user_id, primary) in rows {
        writeln!(out, "{address}\t{user_id}\t{primary}")?;
    }
    out.flush()
}

fn verdict(address: String, found: Option<&(i64, String)>) -> pb::RecipientVerdict {
    let (kind, user_id, primary_address, reply) = match found {
        Some((user_id, primary)) => (
            pb::Verdict::Deliver,
            *user_id,
            primary.clone(),
            Verdict::Deliver {
                user_id: *user_id,
                primary_address: String::new(),
            }
            .smtp_reply(),
        ),
        None => (
            pb::Verdict::RejectUnknown,
            0,
            String::new(),
            Verdict::RejectUnknown.smtp_reply(),
        ),
    };
    let (code, status, text) = reply;
    pb::RecipientVerdict {
        address,
        verdict: kind.into(),
        user_id,
        primary_address,
        smtp_code: code.into(),
        enhanced_status: status.to_string(),
        reply_text: text.to_string(),
    }
}

struct Ceiling {
    directory: Arc<HashMap<String, (i64, String)>>,
}

impl Ceiling {
    fn batch(
        directory: &HashMap<String, (i64, String)>,
        addresses: Vec<String>,
    ) -> pb::CheckRecipientsResponse {
        pb::CheckRecipientsResponse {
            results: addresses
                .into_iter()
                .map(|a| {
                    let found = directory.get(&a);
                    verdict(a, found)
                })
                .collect(),
        }
    }
}

const NOT_MEASURED: &str = "the ceiling server only answers recipient checks";

#[tonic::async_trait]
impl DeliveryService for Ceiling {
    async fn check_recipient(
        &self,
        request: Request<pb::CheckRecipientRequest>,
    ) -> Result<Response<pb::CheckRecipientResponse>, Status> {
        let address = request.into_inner().address;
        let found = self.directory.get(&address);
        Ok(Response::new(pb::CheckRecipientResponse {
            result: Some(verdict(address, found)),
        }))
    }

    async fn check_recipients(
        &self,
        request: Request<pb::CheckRecipientsRequest>,
    ) -> Result<Response<pb::CheckRecipientsResponse>, Status> {
        Ok(Response::new(Ceiling::batch(
            &self.directory,
            request.into_inner().addresses,
        )))
    }

    type StreamCheckRecipientsStream =
        Pin<Box<dyn Stream<Item = Result<pb::CheckRecipientsResponse, Status>> + Send + 'static>>;

    async fn stream_check_recipients(
        &self,
        request: Request<Streaming<pb::CheckRecipientsRequest>>,
    ) -> Result<Response<Self::StreamCheckRecipientsStream>, Status> {
        let directory = self.directory.clone();
        let answers = request
            .into_inner()
            .map(move |batch| Ok(Ceiling::batch(&directory, batch?.addresses)));
        Ok(Response::new(Box::pin(answers)))
    }

    async fn authenticate(
        &self,
        _: Request<pb::AuthenticateRequest>,
    ) -> Result<Response<pb::AuthenticateResponse>, Status> {
        Err(Status::unimplemented(NOT_MEASURED))
    }

    async fn allowed_senders(
        &self,
        _: Request<pb::AllowedSendersRequest>,
    ) -> Result<Response<pb::AllowedSendersResponse>, Status> {
        Err(Status::unimplemented(NOT_MEASURED))
    }

    type WatchDirectoryVersionStream =
        Pin<Box<dyn Stream<Item = Result<pb::DirectoryVersion, Status>> + Send + 'static>>;

    async fn watch_directory_version(
        &self,
        _: Request<pb::WatchDirectoryVersionRequest>,
    ) -> Result<Response<Self::WatchDirectoryVersionStream>, Status> {
        Err(Status::unimplemented(NOT_MEASURED))
    }

    type WatchAccountEventsStream =
        Pin<Box<dyn Stream<Item = Result<pb::AccountEvent, Status>> + Send + 'static>>;

    async fn watch_account_events(
        &self,
        _: Request<pb::WatchAccountEventsRequest>,
    ) -> Result<Response<Self::WatchAccountEventsStream>, Status> {
        Err(Status::unimplemented(NOT_MEASURED))
    }

    async fn get_signing_keys(
        &self,
        _: Request<pb::GetSigningKeysRequest>,
    ) -> Result<Response<pb::GetSigningKeysResponse>, Status> {
        Err(Status::unimplemented(NOT_MEASURED))
    }
}

/// The child process: serves `directory_file` on `listen` until killed.
pub async fn serve(listen: SocketAddr, token: &str, directory_file: &Path) -> anyhow::Result<()> {
    let mut directory = HashMap::new();
    for line in std::fs::read_to_string(directory_file)?.lines() {
        let mut fields = line.split('\t');
        let (Some(address), Some(user_id), Some(primary)) =
            (fields.next(), fields.next(), fields.next())
        else {
            anyhow::bail!("malformed directory line {line:?}");
        };
        directory.insert(address.to_string(), (user_id.parse()?, primary.to_string()));
    }
    let expected: tonic::metadata::MetadataValue<_> = format!("Bearer {token}").parse()?;
    let check_token = move |request: Request<()>| match request.metadata().get("authorization") {
        Some(value) if *value == expected => Ok(request),
        _ => Err(Status::unauthenticated("a valid bearer token is required")),
    };
    let service = DeliveryServiceServer::with_interceptor(
        Ceiling {
            directory: Arc::new(directory),
        },
        check_token,
    );
    let listener = tokio::net::TcpListener::bind(listen).await?;
    let incoming = tonic::transport::server::TcpIncoming::from(listener).with_nodelay(Some(true));
    tonic::transport::Server::builder()
        .add_service(service)
        .serve_with_incoming(incoming)
        .await?;
    Ok(())
}
