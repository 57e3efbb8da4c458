//! `DnsResolver` against a real DNS server on loopback (`TestDns`): TXT and
//! MX answers, empty results for missing data, no caching, and a timeout
//! against a server that never answers. No database involved.

use std::time::{Duration, Instant};

use mailadmin_server::dns::{DnsError, DnsResolver};

use crate::dns_server::{SilentDns, TestDns};

fn resolver_for(dns: &TestDns) -> DnsResolver {
    DnsResolver::new(Some(dns.addr), Duration::from_secs(2)).expect("build resolver")
}

fn sorted<T: Ord>(mut values: Vec<T>) -> Vec<T> {
    values.sort();
    values
}

#[tokio::test]
async fn txt_records_are_found_with_character_strings_joined() {
    let dns = TestDns::start().await;
    // Over 255 bytes: served as two character-strings, read back as one.
    let long = format!("v=DKIM1; k=rsa; p={}", "A".repeat(300));
    dns.set_txt(
        "_mailadmin-challenge.example.com",
        &["mailadmin-verify=abc123", &long],
    );
    let resolver = resolver_for(&dns);

    let found = resolver
        .txt("_mailadmin-challenge.example.com")
        .await
        .expect("txt lookup");
    assert_eq!(
        sorted(found),
        sorted(vec!["mailadmin-verify=abc123".to_string(), long.clone()])
    );

    // Names match case-insensitively; a trailing dot is accepted too.
    let found = resolver
        .txt("_MailAdmin-Challenge.EXAMPLE.com.")
        .await
        .expect("txt lookup, other case");
    assert_eq!(found.len(), 2);
}

#[tokio::test]
async fn txt_absent_on_an_existing_name_is_empty() {
    let dns = TestDns::start().await;
    dns.set_mx("example.com", &[(10, "mx.example.com")]);
    let resolver = resolver_for(&dns);

    let found = resolver.txt("example.com").await.expect("txt lookup");
    assert_eq!(found, Vec::<String>::new());
}

#[tokio::test]
async fn unknown_name_is_empty() {
    let dns = TestDns::start().await;
    dns.set_txt("example.com", &["something"]);
    let resolver = resolver_for(&dns);

    assert_eq!(
        resolver
            .txt("nowhere.example.net")
            .await
            .expect("txt lookup"),
        Vec::<String>::new()
    );
    assert_eq!(
        resolver.mx("nowhere.example.net").await.expect("mx lookup"),
        Vec::<(u16, String)>::new()
    );
}

#[tokio::test]
async fn mx_records_are_found_and_normalized() {
    let dns = TestDns::start().await;
    dns.set_mx(
        "example.org",
        &[(20, "MX2.Example.ORG."), (10, "Mx1.EXAMPLE.org.")],
    );
    let resolver = resolver_for(&dns);

    let found = resolver.mx("example.org").await.expect("mx lookup");
    assert_eq!(
        sorted(found),
        vec![
            (10, "mx1.example.org".to_string()),
            (20, "mx2.example.org".to_string())
        ]
    );
}

#[tokio::test]
async fn changes_are_seen_at_once() {
    let dns = TestDns::start().await;
    let name = "_mailadmin-challenge.example.com";
    let resolver = resolver_for(&dns);

    // Negative answer first: it must not be remembered either.
    assert!(resolver.txt(name).await.expect("lookup 1").is_empty());
    dns.set_txt(name, &["token-1"]);
    assert_eq!(resolver.txt(name).await.expect("lookup 2"), ["token-1"]);
    dns.set_txt(name, &["token-2"]);
    assert_eq!(resolver.txt(name).await.expect("lookup 3"), ["token-2"]);
    dns.clear(name);
    assert!(resolver.txt(name).await.expect("lookup 4").is_empty());

    dns.set_mx("example.com", &[(10, "old.example.com")]);
    assert_eq!(
        resolver.mx("example.com").await.expect("mx lookup 1"),
        [(10, "old.example.com".to_string())]
    );
    dns.set_mx("example.com", &[(5, "new.example.com")]);
    assert_eq!(
        resolver.mx("example.com").await.expect("mx lookup 2"),
        [(5, "new.example.com".to_string())]
    );
}

#[tokio::test]
async fn a_silent_server_times_out() {
    let silent = SilentDns::start().await;
    let resolver =
        DnsResolver::new(Some(silent.addr), Duration::from_millis(500)).expect("build resolver");

    let started = Instant::now();
    let result = resolver.txt("_mailadmin-challenge.example.com").await;
    let elapsed = started.elapsed();
    assert!(
        matches!(result, Err(DnsError::Timeout(_))),
        "expected a timeout, got {result:?}"
    );
    assert!(elapsed < Duration::from_secs(3), "took {elapsed:?}");

    let result = resolver.mx("example.com").await;
    assert!(
        matches!(result, Err(DnsError::Timeout(_))),
        "expected a timeout, got {result:?}"
    );
}

#[tokio::test]
async fn a_large_answer_comes_over_tcp_after_truncation() {
    let dns = TestDns::start().await;
    // Six records of 400 bytes: more than the 1232-byte EDNS UDP limit, so the
    // UDP answer is truncated and the resolver asks again over TCP.
    let values: Vec<String> = (0..6).map(|i| format!("{i}-{}", "x".repeat(400))).collect();
    let refs: Vec<&str> = values.iter().map(String::as_str).collect();
    dns.set_txt("big.example.com", &refs);
    let resolver = resolver_for(&dns);

    let found = resolver.txt("big.example.com").await.expect("txt lookup");
    assert_eq!(sorted(found), sorted(values));
}

#[tokio::test]
async fn servfail_is_a_failure() {
    let dns = TestDns::start().await;
    dns.set_txt("broken.example.com", &["never served"]);
    dns.set_servfail("broken.example.com");
    let resolver = resolver_for(&dns);

    let result = resolver.txt("broken.example.com").await;
    assert!(
        matches!(result, Err(DnsError::Failed(_))),
        "expected a failure, got {result:?}"
    );
    let result = resolver.mx("broken.example.com").await;
    assert!(
        matches!(result, Err(DnsError::Failed(_))),
        "expected a failure, got {result:?}"
    );
}
