//! Personal data: updated by the user itself and by its admin, never by
//! another user; photos up to 1 MiB.

use crate::harness::*;
use mailadmin_client::pb;
use tonic::Code;

const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n";

fn png(len: usize) -> Vec<u8> {
    let mut data = PNG_MAGIC.to_vec();
    data.extend((0..len.saturating_sub(PNG_MAGIC.len())).map(|i| (i % 251) as u8));
    data.truncate(len);
    data
}

fn profile_of(user: &pb::User) -> pb::Profile {
    user.profile.clone().unwrap_or_default()
}

/// The user and its admin both update the profile; unset fields are kept;
/// GetUser returns the photo, ListUsers does not carry its bytes
/// (docs/rules.md, "Personal data").
async fn profile_updates(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let mut admin = org.admin.clone();
    let alice = s.create_user(&admin, org.id, "alice", Plan::Free).await;
    let bob = s.create_user(&admin, org.id, "bob", Plan::Free).await;
    let mut as_alice = s.user_client("alice").await;
    let photo = png(4096);

    let updated = ok(as_alice
        .update_user_profile(pb::UpdateUserProfileRequest {
            user_id: alice.id,
            external_email: Some("alice@example.net".into()),
            mobile_phone: Some("+32 470 12 34 56".into()),
            postal_address: Some(pb::PostalAddress {
                lines: vec!["Rue de la Loi 16".into()],
                postal_code: "1000".into(),
                city: "Brussels".into(),
                region: String::new(),
                country: "BE".into(),
            }),
            birth_date: Some("1990-02-28".into()),
            photo: Some(pb::Photo {
                content_type: "image/png".into(),
                data: photo.clone(),
            }),
            ..Default::default()
        })
        .await)
    .user
    .unwrap();
    let profile = profile_of(&updated);
    assert_eq!(profile.external_email, "alice@example.net");
    assert_eq!(profile.mobile_phone, "+32470123456", "E.164, compacted");
    assert_eq!(profile.birth_date, "1990-02-28");
    let postal = profile.postal_address.clone().expect("postal address");
    assert_eq!(postal.city, "Brussels");
    assert_eq!(postal.lines, vec!["Rue de la Loi 16".to_string()]);
    assert_eq!(postal.country, "BE");
    assert_eq!(
        updated.first_name, alice.first_name,
        "unset fields are kept"
    );

    let mine = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await)
    .user
    .unwrap();
    let got = profile_of(&mine).photo.expect("GetUser returns the photo");
    assert_eq!(got.content_type, "image/png");
    assert_eq!(got.data, photo);

    // The admin updates it too; what it leaves unset stays.
    let by_admin = ok(admin
        .update_user_profile(pb::UpdateUserProfileRequest {
            user_id: alice.id,
            first_name: Some("Alicia".into()),
            ..Default::default()
        })
        .await)
    .user
    .unwrap();
    assert_eq!(by_admin.first_name, "Alicia");
    assert_eq!(profile_of(&by_admin).mobile_phone, "+32470123456");
    assert_eq!(profile_of(&by_admin).external_email, "alice@example.net");
    let seen = ok(admin
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await)
    .user
    .unwrap();
    assert_eq!(seen.first_name, "Alicia");
    assert_eq!(
        profile_of(&seen).photo.map(|p| p.data),
        Some(photo.clone()),
        "the photo survives an update that does not touch it"
    );

    // ListUsers carries no photo bytes.
    let listed = s.list_users(&admin, org.id).await;
    let listed_alice = listed.iter().find(|u| u.id == alice.id).expect("listed");
    assert!(
        profile_of(listed_alice)
            .photo
            .is_none_or(|p| p.data.is_empty()),
        "ListUsers returns photo bytes"
    );

    // A "" clears a field.
    let cleared = ok(as_alice
        .update_user_profile(pb::UpdateUserProfileRequest {
            user_id: alice.id,
            mobile_phone: Some(String::new()),
            ..Default::default()
        })
        .await)
    .user
    .unwrap();
    assert_eq!(profile_of(&cleared).mobile_phone, "");
    assert_eq!(profile_of(&cleared).external_email, "alice@example.net");

    // A user cannot touch another user.
    let refused = as_alice
        .update_user_profile(pb::UpdateUserProfileRequest {
            user_id: bob.id,
            first_name: Some("Hacked".into()),
            ..Default::default()
        })
        .await;
    assert_code_in(refused, &[Code::PermissionDenied, Code::NotFound]);
    assert_code_in(
        as_alice
            .get_user(pb::GetUserRequest { user_id: bob.id })
            .await,
        &[Code::PermissionDenied, Code::NotFound],
    );
    let bob_now = ok(admin.get_user(pb::GetUserRequest { user_id: bob.id }).await)
        .user
        .unwrap();
    assert_eq!(bob_now.first_name, bob.first_name);
}

/// Photos: at most 1 MiB; bad personal data names its field
/// (docs/rules.md, "Personal data").
async fn profile_validation(s: &TestServer) {
    let org = s.create_org("Acme", Plan::Pro).await;
    let alice = s.create_user(&org.admin, org.id, "alice", Plan::Free).await;
    let mut as_alice = s.user_client("alice").await;
    let photo = |data: Vec<u8>| pb::UpdateUserProfileRequest {
        user_id: alice.id,
        photo: Some(pb::Photo {
            content_type: "image/png".into(),
            data,
        }),
        ..Default::default()
    };

    // Exactly 1 MiB is allowed.
    let limit = png(1024 * 1024);
    ok(as_alice.update_user_profile(photo(limit.clone())).await);
    // One byte more is not, and changes nothing.
    assert_invalid(
        as_alice
            .update_user_profile(photo(png(1024 * 1024 + 1)))
            .await,
        "photo.data",
    );
    let kept = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await)
    .user
    .unwrap();
    assert_eq!(
        profile_of(&kept).photo.map(|p| p.data.len()),
        Some(limit.len())
    );

    let bad = |edit: fn(&mut pb::UpdateUserProfileRequest)| {
        let mut request = pb::UpdateUserProfileRequest {
            user_id: alice.id,
            ..Default::default()
        };
        edit(&mut request);
        request
    };
    assert_invalid(
        as_alice
            .update_user_profile(bad(|r| r.mobile_phone = Some("0470123456".into())))
            .await,
        "mobile_phone",
    );
    assert_invalid(
        as_alice
            .update_user_profile(bad(|r| r.birth_date = Some("1990-02-30".into())))
            .await,
        "birth_date",
    );
    assert_invalid(
        as_alice
            .update_user_profile(bad(|r| r.birth_date = Some("2030-01-01".into())))
            .await,
        "birth_date",
    );
    assert_invalid(
        as_alice
            .update_user_profile(bad(|r| r.external_email = Some("not-an-email".into())))
            .await,
        "external_email",
    );
    assert_invalid(
        as_alice
            .update_user_profile(bad(|r| {
                r.photo = Some(pb::Photo {
                    content_type: "image/png".into(),
                    data: b"GIF89a not a png".to_vec(),
                })
            }))
            .await,
        "photo.data",
    );

    // An empty photo removes it.
    let removed = ok(as_alice.update_user_profile(photo(Vec::new())).await)
        .user
        .unwrap();
    assert!(profile_of(&removed).photo.is_none_or(|p| p.data.is_empty()));
    let after = ok(as_alice
        .get_user(pb::GetUserRequest { user_id: alice.id })
        .await)
    .user
    .unwrap();
    assert!(profile_of(&after).photo.is_none_or(|p| p.data.is_empty()));
}

backend_tests!(profile_updates, profile_validation);
