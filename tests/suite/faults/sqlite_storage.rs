//! The SQLite database's file system fills up under a running server
//! (docs/rules.md, "Status mapping"): every write then answers
//! `UNAVAILABLE` saying the database cannot be written — not `INTERNAL`,
//! and without SQLite's own text — while reads (balance, ledger, accounts)
//! and the delivery path keep answering. Nothing is corrupted: once space
//! is freed, the same server writes again without a restart, every
//! payment retried with its key is credited exactly once, the balance is
//! the sum of the ledger and `PRAGMA integrity_check` says `ok`.
//!
//! The mechanism is a real full file system: the database lives on a
//! small tmpfs mounted for the test, filled up by a filler file and freed by
//! deleting it. Tests run as root, so file modes would not stop a write,
//! and a read-only remount is refused while the server holds the database
//! open for writing; a full tmpfs makes SQLite's own writes fail with
//! `ENOSPC` (`SQLITE_FULL`), as a full disk does. Mounting needs
//! `CAP_SYS_ADMIN`: without it the test is skipped, except under CI.

use super::*;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use tonic::Code;

/// The tmpfs: the database after set-up takes well under 1 MiB.
const TMPFS_SIZE: &str = "8m";
/// Top-ups tried while the file system is full: the first may still fit
/// in the last, partly used page of the write-ahead log.
const FULL_ATTEMPTS: usize = 6;

/// A tmpfs mounted on a directory, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    /// `Err`: mounting is not permitted here.
    fn mount(path: &Path, size: &str) -> Result<Tmpfs, String> {
        std::fs::create_dir_all(path).expect("creating the mount point");
        let output = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .output()
            .map_err(|e| format!("running mount: {e}"))?;
        if !output.status.success() {
            return Err(format!(
                "mount -t tmpfs: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Writes a filler file until the file system has no byte left;
    /// returns its path.
    fn fill(&self) -> PathBuf {
        let path = self.path.join("filler");
        let mut file = std::fs::File::create(&path).expect("creating the filler");
        let chunk = vec![0xa5u8; 64 * 1024];
        // 8 MiB in 64 KiB chunks, then down to single bytes: bounded.
        for size in [chunk.len(), 4096, 512, 1] {
            for _ in 0..1024 {
                match file.write(&chunk[..size]) {
                    Ok(0) => break,
                    Ok(_) => {}
                    Err(e) if e.raw_os_error() == Some(libc::ENOSPC) => break,
                    Err(e) => panic!("filling the tmpfs: {e}"),
                }
            }
        }
        let _ = file.sync_all();
        let probe = file.write(&[0]);
        assert!(
            matches!(&probe, Err(e) if e.raw_os_error() == Some(libc::ENOSPC)),
            "the tmpfs is not full: {probe:?}"
        );
        path
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// An operator token's clients on the server, once it answers.
async fn connect(server: &mut ServerProcess, token_file: &Path) -> (String, Clients) {
    let token = read_token_file(server, token_file).await;
    let channel = server.channel().await;
    (token.clone(), Clients::new(&channel, &token))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_file_system_refuses_writes_and_recovers() {
    let dir = tempfile::tempdir().expect("tempdir");
    let tmpfs = match Tmpfs::mount(&dir.path().join("fs"), TMPFS_SIZE) {
        Ok(tmpfs) => tmpfs,
        Err(why) if std::env::var_os("CI").is_some_and(|v| !v.is_empty()) => {
            panic!("CI must run the full-disk test, but a tmpfs cannot be mounted: {why}")
        }
        Err(why) => {
            eprintln!("skipping: a tmpfs cannot be mounted here ({why})");
            return;
        }
    };
    let db_path = tmpfs.path.join("mailadmin.db");
    let url = format!("sqlite://{}?mode=rwc", db_path.display());
    let token_file = dir.path().join("operator.token");
    let mut server = ServerProcess::start(&url, dir.path(), &token_file, "storage", &[]);
    let (_token, mut c) = connect(&mut server, &token_file).await;

    // An organization, a delivery token, a first payment: on a disk with room.
    let created = create_organization(&mut c.admin, "Storage", "storage").await;
    let org = created.organization.expect("organization").id;
    let master = created.master.expect("master");
    let delivery = Clients::new(
        &server.channel().await,
        &create_delivery_token(&mut c.admin).await,
    );
    let mut paid: HashMap<String, i64> = HashMap::new();
    let timeout = Duration::from_secs(15);
    ok(c.billing
        .top_up(top_up_request(org, 5000, "before", timeout))
        .await);
    paid.insert("before".into(), 5000);

    // The file system fills up.
    let filler = tmpfs.fill();
    let mut answers = Vec::new();
    for i in 0..FULL_ATTEMPTS {
        let key = format!("full-{i}");
        let answer = c
            .billing
            .top_up(top_up_request(org, 100 + i as i64, &key, timeout))
            .await;
        paid.insert(key.clone(), 100 + i as i64);
        answers.push((key, answer.map(|r| r.into_inner())));
    }
    let refused: Vec<&tonic::Status> = answers
        .iter()
        .filter_map(|(_, answer)| answer.as_ref().err())
        .collect();
    for (key, answer) in &answers {
        if let Err(status) = answer {
            assert_eq!(
                status.code(),
                Code::Unavailable,
                "{key} on a full disk: {status:?}\n{}",
                server.log_tail()
            );
            assert!(
                status
                    .message()
                    .starts_with("the database cannot be written")
                    && status.message().contains("request id"),
                "{key}: {}",
                status.message()
            );
            assert!(
                !status.message().contains("disk is full") && !status.message().contains("SQL"),
                "the driver's text stays in the log: {}",
                status.message()
            );
        }
    }
    assert!(
        answers[2..].iter().all(|(_, answer)| answer.is_err()),
        "once the log's last page is used, every write is refused: {answers:?}"
    );
    eprintln!(
        "full disk: {} of {FULL_ATTEMPTS} top-ups refused",
        refused.len()
    );
    let refused_create = c
        .admin
        .create_user(pb::CreateUserRequest {
            organization_id: org,
            account: Some(new_account("while-full", Plan::Entry)),
            request_id: "while-full".into(),
            ..Default::default()
        })
        .await;
    let status = assert_code(refused_create, Code::Unavailable);
    assert!(
        status
            .message()
            .starts_with("the database cannot be written"),
        "{status:?}"
    );

    // Reads answer from what is stored; the delivery path from memory.
    let balance = ok(c
        .billing
        .get_balance(pb::GetBalanceRequest {
            organization_id: org,
        })
        .await);
    let credited: i64 = answers
        .iter()
        .filter(|(_, answer)| answer.is_ok())
        .map(|(key, _)| paid[key])
        .sum();
    assert_eq!(cents(&amount(&balance.balance)), 5000 + credited);
    assert_ledger_balances(&c.billing, org).await;
    ok(c.admin
        .get_user(pb::GetUserRequest { user_id: master.id })
        .await);
    assert_eq!(
        verdict(&delivery.delivery, &master.primary_address, timeout).await,
        Ok(pb::Verdict::Deliver),
        "the delivery path answers from its snapshot"
    );

    // Space again: the same server writes, every refused key retried once.
    std::fs::remove_file(&filler).expect("freeing the tmpfs");
    for (key, answer) in &answers {
        if answer.is_err() {
            ok(c.billing
                .top_up(top_up_request(org, paid[key], key, timeout))
                .await);
        }
    }
    for (key, _) in &answers {
        // A replay of an acknowledged key credits nothing.
        ok(c.billing
            .top_up(top_up_request(org, paid[key], key, timeout))
            .await);
    }
    let user = ok(c
        .admin
        .create_user(pb::CreateUserRequest {
            organization_id: org,
            account: Some(new_account("after-full", Plan::Entry)),
            request_id: "after-full".into(),
            ..Default::default()
        })
        .await)
    .user
    .expect("user");
    assert_eq!(
        verdict(&delivery.delivery, &user.primary_address, timeout).await,
        Ok(pb::Verdict::Deliver)
    );

    // Nothing lost, nothing doubled, nothing corrupted.
    let ledger = assert_ledger_balances(&c.billing, org).await;
    let db = sea_orm::Database::connect(url.as_str())
        .await
        .expect("a second connection to the database");
    assert_each_key_once(&db, org, &paid).await;
    let topped_up: i64 = paid.values().sum();
    let balance = ok(c
        .billing
        .get_balance(pb::GetBalanceRequest {
            organization_id: org,
        })
        .await);
    assert_eq!(
        cents(&amount(&balance.balance)),
        topped_up - 250,
        "every payment once, less the new Entry account's first period; ledger: {ledger:?}"
    );
    let integrity = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "PRAGMA integrity_check",
        ))
        .await
        .expect("PRAGMA integrity_check")
        .expect("a row");
    assert_eq!(
        integrity.try_get_by_index::<String>(0).expect("its text"),
        "ok"
    );
    let _ = db.close().await;
    server.kill().await;
    drop(tmpfs);
}
