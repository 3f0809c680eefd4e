//! The Twilio callback paths of the Node.js system the seed documents, accepted as
//! aliases of outcall's with the same signature check, against the alias's own URL.

use outcall_domain::call::{Call, CallStatus};
use outcall_twilio::signature::sign_form;

use super::{ACCOUNT, TOKEN, post_form, server, status_params, stored};

fn pairs(p: &[(&str, &str)]) -> Vec<(String, String)> {
    p.iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

#[tokio::test]
async fn seed_callback_paths_take_only_requests_signed_for_them() {
    let s = server().await;
    s.store
        .insert_call(Call::new("CAseedpath", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let ringing = status_params("CAseedpath", "ringing", 1);

    // Signed for outcall's path but sent to the alias: Twilio never does that.
    let ours = sign_form(
        &format!("{}/webhooks/twilio/status", s.base),
        &ringing,
        TOKEN,
    );
    assert_eq!(
        post_form(&s, "/call-status-callback", &ringing, Some(&ours)).await,
        401
    );
    let forged = sign_form(
        &format!("{}/call-status-callback", s.base),
        &ringing,
        "not-the-token",
    );
    assert_eq!(
        post_form(&s, "/call-status-callback", &ringing, Some(&forged)).await,
        401
    );
    assert_eq!(stored(&s, "CAseedpath").await.status, CallStatus::Initiated);

    // Signed for the alias's own URL: applied as on outcall's path.
    assert_eq!(
        post_form(&s, "/call-status-callback", &ringing, None).await,
        204
    );
    assert_eq!(stored(&s, "CAseedpath").await.status, CallStatus::Ringing);

    let amd = pairs(&[
        ("CallSid", "CAseedpath"),
        ("AccountSid", ACCOUNT),
        ("AnsweredBy", "human"),
    ]);
    assert_eq!(
        post_form(&s, "/amd-status-callback", &amd, Some("bad")).await,
        401
    );
    assert!(
        (200..300).contains(&post_form(&s, "/amd-status-callback", &amd, None).await),
        "AMD alias"
    );
    assert_eq!(
        stored(&s, "CAseedpath").await.amd_result.as_deref(),
        Some("human")
    );

    let rec = pairs(&[
        ("CallSid", "CAseedpath"),
        ("AccountSid", ACCOUNT),
        ("RecordingSid", "REseedpath"),
        ("RecordingStatus", "completed"),
        ("RecordingDuration", "12"),
    ]);
    assert_eq!(
        post_form(&s, "/recording-status-callback", &rec, Some("bad")).await,
        401
    );
    assert_eq!(s.total("/api/db/recordings").await, 0);
    assert_eq!(
        post_form(&s, "/recording-status-callback", &rec, None).await,
        204
    );
    assert_eq!(s.total("/api/db/recordings").await, 1);
}
