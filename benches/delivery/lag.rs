//! Cross-replica lag: an account is disabled (then enabled again) through
//! one server process; another process over the same PostgreSQL is asked
//! about its address in a tight loop until its verdict changes. The lag is
//! the time from the first RPC returning to the second server answering
//! the new verdict.

use crate::load::Stats;
use mailadmin_client::pb::admin_service_client::AdminServiceClient;
use mailadmin_client::{DeliveryClient, Verdict, pb};
use std::time::{Duration, Instant};
use tonic::Request;

/// `accounts`: (user id, address) pairs; each is disabled and re-enabled
/// through `writer`, and watched through `reader`.
pub async fn measure(
    writer_url: &str,
    reader_url: &str,
    operator_token: &str,
    accounts: &[(i64, String)],
) -> anyhow::Result<Stats> {
    let bearer: tonic::metadata::MetadataValue<_> = format!("Bearer {operator_token}").parse()?;
    let channel = tonic::transport::Endpoint::from_shared(writer_url.to_string())?
        .tcp_nodelay(true)
        .connect()
        .await?;
    let mut admin =
        AdminServiceClient::with_interceptor(channel, move |mut request: Request<()>| {
            request
                .metadata_mut()
                .insert("authorization", bearer.clone());
            Ok(request)
        });
    let reader = DeliveryClient::new(reader_url, operator_token, Duration::from_secs(5))?;
    let mut samples = Vec::with_capacity(accounts.len() * 2);
    for (user_id, address) in accounts {
        admin
            .disable_user(pb::DisableUserRequest { user_id: *user_id })
            .await?;
        samples.push(
            wait_for(&reader, address, |v| {
                matches!(v, Verdict::RejectDisabled { .. })
            })
            .await?,
        );
        admin
            .enable_user(pb::EnableUserRequest { user_id: *user_id })
            .await?;
        samples.push(wait_for(&reader, address, |v| matches!(v, Verdict::Deliver { .. })).await?);
    }
    Ok(Stats::from_samples(&samples))
}

async fn wait_for(
    reader: &DeliveryClient,
    address: &str,
    changed: impl Fn(&Verdict) -> bool,
) -> anyhow::Result<Duration> {
    let since = Instant::now();
    loop {
        let verdict = reader.check_recipient(address).await;
        if changed(&verdict) {
            return Ok(since.elapsed());
        }
        anyhow::ensure!(
            since.elapsed() < Duration::from_secs(10),
            "{address}: the other replica still answers {verdict:?} after 10 s"
        );
    }
}
