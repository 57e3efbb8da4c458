//! Ask the control plane what to do with some recipients, the way a mail
//! server would at RCPT TO.
//!
//! ```sh
//! cargo run -p mailadmin-client --example check-recipients -- \
//!     http://127.0.0.1:50051 "$DELIVERY_TOKEN" alice@mailadmin.example nobody@mailadmin.example
//! ```
//! (A delivery token: `AdminService/CreateToken` with `"role": "ROLE_DELIVERY"`.)

use mailadmin_client::{DeliveryClient, Verdict};
use std::time::Duration;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let (Some(url), Some(token)) = (args.next(), args.next()) else {
        eprintln!("usage: check-recipients URL TOKEN ADDRESS...");
        std::process::exit(2);
    };
    let client = DeliveryClient::new(&url, &token, Duration::from_millis(500))?;
    for address in args {
        let verdict = client.check_recipient(&address).await;
        let (code, status, text) = verdict.smtp_reply();
        let routed = match &verdict {
            Verdict::Deliver {
                user_id,
                primary_address,
            } => format!(" -> account {user_id} ({primary_address})"),
            Verdict::TempFail { reason } | Verdict::RejectInvalid { reason } => {
                format!(" ({reason})")
            }
            _ => String::new(),
        };
        println!("{address}: {code} {status} {text}{routed}");
    }
    Ok(())
}
