//! Twilio webhooks: signed or refused, idempotent, and order-independent.

use std::collections::HashMap;

use outcall_domain::call::Call;
use outcall_twilio::signature::sign_form;
use rand::SeedableRng;
use rand::seq::SliceRandom;
use reqwest::Method;
use serde_json::Value;

use crate::support::TestServer;

mod elevenlabs;
mod order;
mod seed_paths;

const TOKEN: &str = "webhook-test-token";
const ACCOUNT: &str = "AC00000000000000000000000000000001";

async fn server() -> TestServer {
    TestServer::start_with(&[
        &format!("--twilio-account-sid={ACCOUNT}"),
        &format!("--twilio-auth-token={TOKEN}"),
        "--twilio-from-number=+15005550006",
        "--twilio-api-base=http://127.0.0.1:9",
    ])
    .await
}

fn status_params(sid: &str, status: &str, seq: u64) -> Vec<(String, String)> {
    let mut p: Vec<(String, String)> = [
        ("CallSid", sid),
        ("AccountSid", ACCOUNT),
        ("From", "+15005550006"),
        ("To", "+14155552671"),
        ("CallStatus", status),
        ("ApiVersion", "2010-04-01"),
        ("Direction", "outbound-api"),
        ("CallbackSource", "call-progress-events"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    p.push(("SequenceNumber".into(), seq.to_string()));
    if status == "completed" {
        p.push(("CallDuration".into(), "17".into()));
    }
    p
}

fn form_body(params: &[(String, String)]) -> String {
    let mut s = form_urlencoded::Serializer::new(String::new());
    for (k, v) in params {
        s.append_pair(k, v);
    }
    s.finish()
}

/// POSTs `params` to `path`, signed for exactly that URL unless `signature` is given.
async fn post_form(
    s: &TestServer,
    path: &str,
    params: &[(String, String)],
    signature: Option<&str>,
) -> u16 {
    let url = format!("{}{path}", s.base);
    let sig = signature
        .map(str::to_string)
        .unwrap_or_else(|| sign_form(&url, params, TOKEN));
    let res = s
        .client
        .request(Method::POST, &url)
        .header("content-type", "application/x-www-form-urlencoded")
        .header("x-twilio-signature", sig)
        .body(form_body(params))
        .send()
        .await
        .expect("request");
    res.status().as_u16()
}

async fn stored(s: &TestServer, sid: &str) -> Call {
    s.store
        .get_call(sid)
        .await
        .expect("get_call")
        .expect("call stored")
}

#[tokio::test]
async fn unsigned_or_forged_callbacks_are_refused_and_change_nothing() {
    let s = server().await;
    s.store
        .insert_call(Call::new("CAsig", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let before = stored(&s, "CAsig").await;
    let params = status_params("CAsig", "completed", 3);
    let url = format!("{}/webhooks/twilio/status", s.base);

    // No signature at all.
    let res = s
        .client
        .post(&url)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(form_body(&params))
        .send()
        .await
        .expect("request");
    assert_eq!(res.status().as_u16(), 401);
    // Signed with another token.
    let forged = sign_form(&url, &params, "not-the-token");
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &params, Some(&forged)).await,
        401
    );
    // Signed, then the body changed on the way.
    let good = sign_form(&url, &params, TOKEN);
    let mut tampered = params.clone();
    tampered[4].1 = "busy".into();
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &tampered, Some(&good)).await,
        401
    );
    // Signed for another URL.
    let elsewhere = sign_form(&format!("{}/webhooks/twilio/amd", s.base), &params, TOKEN);
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &params, Some(&elsewhere)).await,
        401
    );
    // AMD and recording callbacks are checked the same way.
    let amd = vec![
        ("CallSid".to_string(), "CAsig".to_string()),
        ("AccountSid".to_string(), ACCOUNT.to_string()),
        ("AnsweredBy".to_string(), "machine_start".to_string()),
    ];
    assert_eq!(
        post_form(&s, "/webhooks/twilio/amd", &amd, Some("bad")).await,
        401
    );
    let rec = vec![
        ("CallSid".to_string(), "CAsig".to_string()),
        ("AccountSid".to_string(), ACCOUNT.to_string()),
        ("RecordingSid".to_string(), "RE1".to_string()),
        ("RecordingStatus".to_string(), "completed".to_string()),
    ];
    assert_eq!(
        post_form(&s, "/webhooks/twilio/recording", &rec, Some("bad")).await,
        401
    );

    assert_eq!(stored(&s, "CAsig").await, before, "nothing changed");
    assert_eq!(s.total("/api/db/recordings").await, 0);
    assert_eq!(s.total("/api/db/calls/CAsig/events").await, 0);

    // The genuine callback applies.
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &params, None).await,
        204
    );
    assert_eq!(stored(&s, "CAsig").await.status.as_str(), "completed");
}

#[tokio::test]
async fn duplicates_are_acknowledged_and_change_nothing() {
    let s = server().await;
    s.store
        .insert_call(Call::new("CAdup", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let params = status_params("CAdup", "ringing", 1);
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &params, None).await,
        204
    );
    let once = stored(&s, "CAdup").await;
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &params, None).await,
        204
    );
    assert_eq!(stored(&s, "CAdup").await, once);
    assert_eq!(
        s.total("/api/db/calls/CAdup/events").await,
        1,
        "one event for one change"
    );

    let rec = vec![
        ("CallSid".to_string(), "CAdup".to_string()),
        ("AccountSid".to_string(), ACCOUNT.to_string()),
        ("RecordingSid".to_string(), "REdup".to_string()),
        ("RecordingStatus".to_string(), "completed".to_string()),
        ("RecordingDuration".to_string(), "12".to_string()),
    ];
    for _ in 0..2 {
        assert_eq!(
            post_form(&s, "/webhooks/twilio/recording", &rec, None).await,
            204
        );
    }
    assert_eq!(s.total("/api/db/recordings").await, 1);
    assert_eq!(
        s.total("/api/db/calls/CAdup/events?eventType=recording")
            .await,
        1
    );
}

#[tokio::test]
async fn malformed_signed_callbacks_are_400() {
    let s = server().await;
    let params = vec![("CallSid".to_string(), "CAx".to_string())];
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &params, None).await,
        400
    );
    let mut bad = status_params("CAx", "exploded", 1);
    bad.truncate(8);
    assert_eq!(
        post_form(&s, "/webhooks/twilio/status", &bad, None).await,
        400
    );
}

/// What a call's stored state means to a user, without ids and write times.
fn essence(call: &Call) -> Value {
    let mut v = serde_json::to_value(call).expect("json");
    let map = v.as_object_mut().expect("object");
    for volatile in [
        "_id",
        "createdAt",
        "updatedAt",
        "startTime",
        "answerTime",
        "endTime",
    ] {
        map.remove(volatile);
    }
    v
}

/// The callbacks of 1,000 calls, shuffled and each sent twice, leave exactly the state
/// that delivering them in order leaves.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shuffled_duplicated_callbacks_end_in_the_in_order_state() {
    const CALLS: usize = 1000;
    let lives: [&[&str]; 5] = [
        &["initiated", "ringing", "in-progress", "completed"],
        &["initiated", "ringing", "busy"],
        &["initiated", "ringing", "no-answer"],
        &["initiated", "failed"],
        &["initiated", "ringing", "in-progress"],
    ];
    let mut callbacks = Vec::new();
    for n in 0..CALLS {
        let sid = format!("CA{n:032}");
        for (seq, status) in lives[n % lives.len()].iter().enumerate() {
            callbacks.push(status_params(&sid, status, seq as u64));
        }
    }
    let in_order = server().await;
    let shuffled = server().await;
    for s in [&in_order, &shuffled] {
        for n in 0..CALLS {
            s.store
                .insert_call(Call::new(
                    format!("CA{n:032}"),
                    "+15005550006",
                    "+14155552671",
                ))
                .await
                .expect("insert");
        }
    }
    for cb in &callbacks {
        assert_eq!(
            post_form(&in_order, "/webhooks/twilio/status", cb, None).await,
            204
        );
    }
    let mut mixed: Vec<_> = callbacks.iter().chain(callbacks.iter()).cloned().collect();
    mixed.shuffle(&mut rand::rngs::StdRng::seed_from_u64(42));
    // Sixteen at a time, as Twilio's independent requests would overlap.
    for chunk in mixed.chunks(16) {
        let sends = chunk
            .iter()
            .map(|cb| post_form(&shuffled, "/webhooks/twilio/status", cb, None));
        for code in futures::future::join_all(sends).await {
            assert_eq!(code, 204);
        }
    }
    let mut differences = HashMap::new();
    for n in 0..CALLS {
        let sid = format!("CA{n:032}");
        let (a, b) = (
            essence(&stored(&in_order, &sid).await),
            essence(&stored(&shuffled, &sid).await),
        );
        if a != b {
            differences.insert(sid, (a, b));
        }
    }
    assert!(
        differences.is_empty(),
        "{} calls differ, e.g. {:?}",
        differences.len(),
        differences.iter().next()
    );
    assert_eq!(
        in_order.total("/api/db/calls?status=completed").await,
        (CALLS / lives.len()) as u64
    );
}

const EL_SECRET: &str = "wsec_test";

fn transcription_body(call_sid: &str) -> String {
    serde_json::json!({
        "type": "post_call_transcription",
        "event_timestamp": chrono::Utc::now().timestamp(),
        "data": {
            "agent_id": "agent_1",
            "conversation_id": "conv_abc",
            "status": "done",
            "transcript": [
                {"role": "agent", "message": "Hi, this is Ada from Acme.", "time_in_call_secs": 0},
                {"role": "user", "message": "Hello! Yes, I have a minute.", "time_in_call_secs": 3},
                {"role": "agent", "message": null, "time_in_call_secs": 5, "tool_calls": [{"name": "lookup"}]}
            ],
            "metadata": {"start_time_unix_secs": 1764000000, "call_duration_secs": 42, "termination_reason": "end_call"},
            "analysis": {
                "call_successful": "success",
                "transcript_summary": "The callee agreed to a demo.",
                "call_summary_title": "Demo booked",
                "evaluation_criteria_results": {},
                "data_collection_results": {"demo_day": {"value": "Tuesday"}}
            },
            "conversation_initiation_client_data": {"dynamic_variables": {"call_sid": call_sid, "name": "Ada"}}
        }
    })
    .to_string()
}

async fn post_elevenlabs(s: &TestServer, body: &str, signature: Option<String>) -> u16 {
    let mut req = s
        .client
        .post(format!("{}/webhooks/elevenlabs", s.base))
        .header("content-type", "application/json")
        .body(body.to_string());
    if let Some(sig) = signature {
        req = req.header("elevenlabs-signature", sig);
    }
    req.send().await.expect("request").status().as_u16()
}

fn el_sign(body: &str, t: i64) -> String {
    outcall_elevenlabs::signature::sign(body.as_bytes(), EL_SECRET, t)
}

#[tokio::test]
async fn elevenlabs_transcripts_are_signed_stored_once_and_linked_to_the_call() {
    let s = TestServer::start_with(&[&format!("--elevenlabs-webhook-secret={EL_SECRET}")]).await;
    s.store
        .insert_call(Call::new("CAel", "+15005550006", "+14155552671"))
        .await
        .expect("insert");
    let body = transcription_body("CAel");
    let now = chrono::Utc::now().timestamp();

    assert_eq!(post_elevenlabs(&s, &body, None).await, 401, "unsigned");
    assert_eq!(
        post_elevenlabs(
            &s,
            &body,
            Some(outcall_elevenlabs::signature::sign(
                body.as_bytes(),
                "wrong",
                now
            ))
        )
        .await,
        401,
        "wrong secret"
    );
    assert_eq!(
        post_elevenlabs(&s, &body, Some(el_sign(&body, now - 31 * 60))).await,
        401,
        "stale"
    );
    let tampered = body.replace("agreed to a demo", "declined");
    assert_eq!(
        post_elevenlabs(&s, &tampered, Some(el_sign(&body, now))).await,
        401,
        "modified body"
    );
    assert!(
        s.store.get_transcript("CAel").await.expect("get").is_none(),
        "nothing stored yet"
    );

    assert_eq!(
        post_elevenlabs(&s, &body, Some(el_sign(&body, now))).await,
        200
    );
    let t = s.get("/api/db/transcripts/CAel").await;
    let t = t.data();
    assert_eq!(t["conversationId"], "conv_abc");
    assert_eq!(t["summary"], "The callee agreed to a demo.");
    assert_eq!(t["status"], "done");
    assert_eq!(
        t["analysis"]["data_collection_results"]["demo_day"]["value"],
        "Tuesday"
    );
    let turns = t["transcript"].as_array().expect("turns");
    assert_eq!(turns.len(), 2, "the tool-only turn carries no words");
    assert_eq!(
        (
            turns[1]["role"].as_str(),
            turns[1]["timeInCallSecs"].as_f64()
        ),
        (Some("user"), Some(3.0))
    );
    let call = stored(&s, "CAel").await;
    assert_eq!(call.conversation_id.as_deref(), Some("conv_abc"));

    // A second delivery changes nothing.
    let before = s.store.get_transcript("CAel").await.expect("get");
    assert_eq!(
        post_elevenlabs(&s, &body, Some(el_sign(&body, now))).await,
        200
    );
    assert_eq!(s.store.get_transcript("CAel").await.expect("get"), before);
    assert_eq!(
        s.total("/api/db/calls/CAel/events?eventType=conversation-completed")
            .await,
        1
    );

    assert_eq!(
        post_elevenlabs(&s, "{not json", Some(el_sign("{not json", now))).await,
        400
    );
}

#[tokio::test]
async fn elevenlabs_webhook_is_refused_without_a_configured_secret() {
    let s = server().await;
    let body = transcription_body("CAx");
    assert_eq!(
        post_elevenlabs(
            &s,
            &body,
            Some(el_sign(&body, chrono::Utc::now().timestamp()))
        )
        .await,
        503
    );
}
