//! The same lookups through Postfix's own table clients: `postmap -q -`
//! reads keys on stdin and looks each up with the code `smtpd` and
//! `cleanup` use (`dict_sockmap`, `dict_pgsql`), one lookup at a time per
//! process. N processes at once stand for N Postfix processes.

use crate::load::Probe;
use crate::socketmap::key_and_answer;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

/// Whether Postfix's `postmap` and its `pgsql` table are installed.
pub fn available() -> Option<&'static str> {
    if !Path::new("/usr/sbin/postmap").exists() {
        return Some("postmap is not installed (apt-get install postfix)");
    }
    let maps = std::process::Command::new("/usr/sbin/postconf")
        .arg("-m")
        .output()
        .ok()?;
    if !String::from_utf8_lossy(&maps.stdout)
        .lines()
        .any(|l| l == "pgsql")
    {
        return Some("Postfix's pgsql table is not installed (apt-get install postfix-pgsql)");
    }
    None
}

/// What one table answered to `processes` postmaps at once.
pub struct Run {
    pub lookups: usize,
    pub elapsed: Duration,
    pub wrong: usize,
}

impl Run {
    pub fn per_second(&self) -> f64 {
        self.lookups as f64 / self.elapsed.as_secs_f64()
    }
}

/// Looks up `count` keys from probe number `first` on (unknown addresses
/// never asked before: [`key_and_answer`]) in `table`
/// (`socketmap:inet:…:mailboxes`, `pgsql:/path.cf`) with `processes`
/// postmaps splitting them, and checks every answer.
pub async fn run(
    table: &str,
    probes: &[Probe],
    first: usize,
    count: usize,
    processes: usize,
    dir: &Path,
) -> anyhow::Result<Run> {
    let asked: Vec<(String, String)> = (first..first + count)
        .map(|at| key_and_answer(probes, at))
        .collect();
    let shares: Vec<&[(String, String)]> = asked.chunks(count.div_ceil(processes)).collect();
    let mut inputs = Vec::with_capacity(shares.len());
    for (n, share) in shares.iter().enumerate() {
        let path = dir.join(format!("postmap-keys-{n}"));
        let keys: String = share.iter().map(|(key, _)| format!("{key}\n")).collect();
        std::fs::write(&path, keys)?;
        inputs.push(path);
    }
    let started = Instant::now();
    let mut children = Vec::with_capacity(inputs.len());
    for input in &inputs {
        children.push(
            tokio::process::Command::new("/usr/sbin/postmap")
                .args(["-q", "-", table])
                .stdin(std::fs::File::open(input)?)
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()?,
        );
    }
    let mut outputs = Vec::with_capacity(children.len());
    for child in children {
        outputs.push(child.wait_with_output().await?);
    }
    let elapsed = started.elapsed();
    let mut wrong = 0;
    for (share, output) in shares.iter().zip(&outputs) {
        anyhow::ensure!(
            output.stderr.is_empty(),
            "postmap {table}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        // postmap prints "key<TAB>value" for the keys found, nothing for the others.
        let found: std::collections::HashMap<&str, &str> = std::str::from_utf8(&output.stdout)?
            .lines()
            .filter_map(|line| line.split_once('\t'))
            .collect();
        for (key, expected) in share.iter() {
            let answer = match found.get(key.as_str()) {
                Some(value) => format!("OK {value}"),
                None => "NOTFOUND ".to_string(),
            };
            wrong += usize::from(&answer != expected);
        }
    }
    Ok(Run {
        lookups: count,
        elapsed,
        wrong,
    })
}
