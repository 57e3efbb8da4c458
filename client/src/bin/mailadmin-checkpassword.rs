//! `mailadmin-checkpassword`: Dovecot's checkpassword program, answered by
//! mailadmin's `Authenticate`. In Dovecot's configuration:
//!
//! ```text
//! passdb {
//!   driver = checkpassword
//!   args = /usr/local/bin/mailadmin-checkpassword --server http://10.0.0.5:50051 --token-file /etc/mailadmin/delivery.token
//! }
//! ```
//!
//! Dovecot appends the path of its `checkpassword-reply` helper as the last
//! argument; the fields it would write are written here directly (fd 4).
//! Exit 0 allowed, 1 refused, 111 temporary failure (see the library's
//! `bridge::checkpassword`).

use clap::Parser;
use mailadmin_client::DeliveryClient;
use mailadmin_client::bridge::checkpassword::{self, Request, exit};
use std::io::{Read, Write};
use std::os::fd::FromRawFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

#[derive(Parser, Debug)]
#[command(
    name = "mailadmin-checkpassword",
    version,
    about = "Dovecot checkpassword program: checks a login with mailadmin's Authenticate",
    after_help = "Exit status: 0 allowed, 1 refused (wrong password, unknown login, disabled \
                  account, throttled), 111 temporary failure (control plane unreachable or slow)."
)]
struct Args {
    /// The control plane's URL (http://host:port, or https://host:port for
    /// TLS); repeat or separate with commas to name several replicas, tried
    /// in turn when one cannot be connected to.
    #[arg(
        long,
        env = "MAILADMIN_BRIDGE_SERVER",
        default_value = "http://127.0.0.1:50051",
        value_delimiter = ','
    )]
    server: Vec<String>,

    /// A file holding a token of role `delivery`.
    #[arg(long, env = "MAILADMIN_BRIDGE_TOKEN_FILE")]
    token_file: PathBuf,

    /// How long Authenticate may take before the answer is a temporary
    /// failure, in milliseconds (Argon2 runs on the server: allow for it).
    #[arg(long, env = "MAILADMIN_BRIDGE_TIMEOUT_MS", default_value_t = 5000,
          value_parser = clap::value_parser!(u64).range(1..=60_000))]
    timeout_ms: u64,

    #[command(flatten)]
    tls: mailadmin_client::tls::TlsArgs,

    /// Dovecot's checkpassword-reply path (appended by Dovecot; not used:
    /// the reply fields are written to descriptor 4 directly).
    #[arg(hide = true)]
    reply_program: Option<String>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let code = match run(&args) {
        Ok(code) => code,
        Err(message) => {
            eprintln!("mailadmin-checkpassword: {message}");
            exit::TEMPORARY
        }
    };
    ExitCode::from(code)
}

fn run(args: &Args) -> Result<u8, String> {
    // SAFETY: Dovecot opens descriptor 3 (the request) for this process;
    // nothing else in it uses that descriptor.
    let mut input_fd = unsafe { std::fs::File::from_raw_fd(3) };
    let mut input = Vec::with_capacity(checkpassword::MAX_INPUT);
    (&mut input_fd)
        .take(checkpassword::MAX_INPUT as u64 + 1)
        .read_to_end(&mut input)
        .map_err(|e| format!("reading descriptor 3: {e}"))?;
    let request = match Request::parse(
        &input,
        std::env::var("AUTHORIZED").ok().as_deref(),
        std::env::var("TCPREMOTEIP").ok().as_deref(),
    ) {
        Ok(request) => request,
        Err(message) => {
            eprintln!("mailadmin-checkpassword: refused: {message}");
            return Ok(exit::REFUSED);
        }
    };
    let token = std::fs::read_to_string(&args.token_file).map_err(|e| {
        format!(
            "cannot read --token-file {}: {e}",
            args.token_file.display()
        )
    })?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("starting the runtime: {e}"))?;
    let answer = runtime.block_on(async {
        let client = args
            .server
            .iter()
            .fold(DeliveryClient::builder(token.trim()), |b, url| {
                b.replica(url)
            })
            .timeout(Duration::from_millis(args.timeout_ms))
            .tls(args.tls.client_tls().map_err(|e| e.to_string())?)
            .build()
            .map_err(|e| e.to_string())?;
        Ok::<_, String>(checkpassword::answer(&client, &request).await)
    })?;
    if let Some(log) = &answer.log {
        eprintln!("mailadmin-checkpassword: {log}");
    }
    if !answer.fields.is_empty() {
        // SAFETY: Dovecot opens descriptor 4 (the reply) for this process.
        let mut reply = unsafe { std::fs::File::from_raw_fd(4) };
        reply
            .write_all(answer.fields.as_bytes())
            .map_err(|e| format!("writing descriptor 4: {e}"))?;
    }
    Ok(answer.exit)
}
