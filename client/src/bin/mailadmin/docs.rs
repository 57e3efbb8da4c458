//! Shell completions and the Markdown reference (docs/cli.md), both from
//! the clap definitions, so they cannot drift from the command line.

use crate::Cli;
use clap::CommandFactory;

pub fn completions(shell: clap_complete::Shell) {
    let mut command = Cli::command();
    clap_complete::generate(shell, &mut command, "mailadmin", &mut std::io::stdout());
}

const PREAMBLE: &str = r#"# `mailadmin` command reference

Generated from the command's own definitions: `cargo run -p mailadmin-client
--bin mailadmin -- markdown > docs/cli.md` (a test fails when this file is
not what it prints). The README's "Using the CLI"
shows a session; this page lists every command.

## Connection and credentials

`--server` (`MAILADMIN_URL`, default `http://127.0.0.1:50051`) names the
control plane. The token is, in this order: `--token` (`MAILADMIN_TOKEN`),
`--token-file` (`MAILADMIN_TOKEN_FILE`), or the session `mailadmin login`
stored for that server in `$XDG_CONFIG_HOME/mailadmin/session` (or
`~/.config/mailadmin/session`), an owner-only file; `mailadmin logout`
removes it. Passwords are never arguments: they are asked for on a
terminal, or read from standard input with `--password-stdin`.

## Output

A table by default (money with its currency, times in the local time zone).
`--output json` prints one JSON document (a list is an array) and
`--output jsonl` one object per line, both in the proto3 JSON mapping:
the field names are the proto's JSON names (`primaryAddress`), 64-bit
integers are strings, enums their names, times RFC 3339 in UTC — what
grpcurl prints. Lists fetch every page; `--limit N` stops after N items.

## Exit codes

| code | meaning |
|---|---|
| 0 | done |
| 1 | the server refused the request (its status, and each field violation naming the field, on stderr), or rows of an import failed |
| 2 | the command line or an input file is wrong |
| 3 | the server did not answer (connection refused, timeout, unavailable) |
| 130 | interrupted (Ctrl-C) during an import: run it again to finish |

## User import

`mailadmin user import FILE.csv` creates the accounts of a CSV file whose
first row names the columns (any order, case-insensitive):

| column | required | value |
|---|---|---|
| `username` | yes | 3–64 of `a-z 0-9 . _ -`, unique across the platform |
| `first_name`, `last_name` | yes | |
| `address` | yes | the primary address |
| `plan` | yes | `free`, `entry` or `pro` |
| `password` | yes | 10–128 characters, not the username nor the address |
| `aliases` | no | addresses separated by `;`, created with the account |

1. Rows are checked locally (plan names, a username or address twice in
   the file), then every row against the server's own rules with
   `CreateUser.validate_only`: nothing is written.
2. The cost of the new accounts (their first periods) is compared with the
   credit: when the credit cannot pay for all of them the import stops
   before its first write and says how much is missing.
3. The accounts are created, `--concurrency` (4) at a time, each with its
   aliases in one transaction, with a progress bar (rate, ETA) on a
   terminal and a line every 2 s otherwise.
4. Each row's idempotency key (`request_id`) is derived from the
   organization, the username and the address: running the same command
   again after a crash, a kill or Ctrl-C (which stops sending and lets the
   rows in flight finish) creates and charges nothing twice; those rows
   count as "already imported".
5. Rows that fail are written to `FILE.csv.report.csv` (or `--report`):
   `row,column,reason`, the row as a spreadsheet numbers it (the header is
   row 1). The other rows land. A summary (created, already imported,
   failed, charged, accounts/s) goes to stderr.

`--dry-run` does steps 1 and 2 and writes only the report. `mailadmin
alias import FILE.csv` takes the columns `username,alias` (one alias per
row; an alias the account already has counts as done); `mailadmin user
export` writes the import's columns (no password) for every account.

"#;

/// Every command with its usage, description and options.
pub fn markdown() -> String {
    let mut command = Cli::command();
    command.build();
    let mut out = String::from(PREAMBLE);
    section(&command, &mut Vec::new(), &mut out);
    out
}

fn section(command: &clap::Command, path: &mut Vec<String>, out: &mut String) {
    path.push(command.get_name().to_string());
    if command.is_hide_set() {
        path.pop();
        return;
    }
    let name = path.join(" ");
    let level = "#".repeat((path.len() + 1).min(4));
    out.push_str(&format!("{level} `{name}`\n\n"));
    if let Some(about) = command.get_long_about().or(command.get_about()) {
        out.push_str(&format!("{about}\n\n"));
    }
    let usage = command.clone().render_usage().to_string();
    let usage = usage.trim_start_matches("Usage: ");
    out.push_str(&format!("```\n{usage}\n```\n\n"));
    let args: Vec<&clap::Arg> = command
        .get_arguments()
        .filter(|a| !a.is_hide_set() && !a.is_global_set() || path.len() == 1)
        .filter(|a| !matches!(a.get_id().as_str(), "help" | "version"))
        .collect();
    if !args.is_empty() {
        for arg in args {
            let mut names = Vec::new();
            if let Some(long) = arg.get_long() {
                names.push(format!("--{long}"));
            }
            if let Some(short) = arg.get_short() {
                names.push(format!("-{short}"));
            }
            if names.is_empty() {
                names.push(format!("<{}>", arg.get_id().as_str().to_uppercase()));
            }
            let mut line = format!("- `{}`", names.join("`, `"));
            if let Some(help) = arg.get_help() {
                line.push_str(&format!(": {help}"));
            }
            let defaults: Vec<String> = arg
                .get_default_values()
                .iter()
                .map(|v| v.to_string_lossy().into_owned())
                .collect();
            if !defaults.is_empty() && arg.get_action().takes_values() {
                line.push_str(&format!(" (default `{}`)", defaults.join(",")));
            }
            if let Some(env) = arg.get_env() {
                line.push_str(&format!(" [`{}`]", env.to_string_lossy()));
            }
            let values: Vec<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            if !values.is_empty() && arg.get_id() != "shell" {
                line.push_str(&format!(" — one of `{}`", values.join("`, `")));
            }
            out.push_str(&line);
            out.push('\n');
        }
        out.push('\n');
    }
    for sub in command.get_subcommands() {
        if sub.get_name() != "help" {
            section(sub, path, out);
        }
    }
    path.pop();
}
