//! Placing calls through the real Twilio client against the Twilio simulator, which
//! calls our signed webhooks back over HTTP, as Twilio does.

use std::time::Duration;

use outcall_domain::contact::{Contact, ContactStatus};
use outcall_sim::twilio::{Scenario, ScenarioBook, Timings, TwilioSim, TwilioSimConfig};
use serde_json::{Value, json};

use crate::support::TestServer;

const FROM: &str = "+15005550006";

fn fast() -> Timings {
    Timings {
        dial: Duration::from_millis(5),
        ring: Duration::from_millis(20),
        talk: Duration::from_millis(120),
        amd: Duration::from_millis(10),
    }
}

async fn start(book: ScenarioBook, calls_per_second: Option<u32>) -> (TestServer, TwilioSim) {
    start_with(book, calls_per_second, &[]).await
}

async fn start_with(
    book: ScenarioBook,
    calls_per_second: Option<u32>,
    extra: &[&str],
) -> (TestServer, TwilioSim) {
    let sim = TwilioSim::start(TwilioSimConfig {
        timings: fast(),
        scenarios: book,
        calls_per_second,
        ..Default::default()
    })
    .await
    .expect("start the Twilio simulator");
    let flags = [
        format!("--twilio-account-sid={}", sim.account_sid()),
        format!("--twilio-auth-token={}", sim.auth_token()),
        format!("--twilio-from-number={FROM}"),
        format!("--twilio-api-base={}", sim.base_url()),
    ];
    let mut flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    flags.extend_from_slice(extra);
    (TestServer::start_with(&flags).await, sim)
}

async fn place(s: &TestServer, to: &str) -> String {
    let answer = s
        .post(
            "/api/outbound-call",
            json!({"to": to, "prompt": "Be brief."}),
        )
        .await;
    assert_eq!(answer.status.as_u16(), 201, "{answer:?}");
    answer.data()["callSid"]
        .as_str()
        .expect("callSid")
        .to_string()
}

/// Polls the stored call until `done` holds (5 s at most).
async fn wait_for(s: &TestServer, sid: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let call = s.get(&format!("/api/db/calls/{sid}")).await;
        if call.status.is_success() && done(call.data()) {
            return call.data().clone();
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}: {call:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn is_terminal(call: &Value) -> bool {
    matches!(
        call["status"].as_str(),
        Some("completed" | "busy" | "no-answer" | "failed" | "canceled")
    )
}

async fn event_statuses(s: &TestServer, sid: &str) -> Vec<String> {
    let events = s
        .get(&format!(
            "/api/db/calls/{sid}/events?eventType=status-change&limit=100"
        ))
        .await;
    events
        .items()
        .iter()
        .map(|e| e["data"]["status"].as_str().unwrap_or("?").to_string())
        .collect()
}

#[tokio::test]
async fn unanswered_calls_end_with_their_status_and_outcome() {
    let book = ScenarioBook::all(Scenario::Human)
        .with("+14155550101", Scenario::Busy)
        .with("+14155550102", Scenario::NoAnswer)
        .with("+14155550103", Scenario::Failed);
    let (s, _sim) = start(book, None).await;
    for (to, status, events) in [
        ("+14155550101", "busy", vec!["initiated", "ringing", "busy"]),
        (
            "+14155550102",
            "no-answer",
            vec!["initiated", "ringing", "no-answer"],
        ),
        ("+14155550103", "failed", vec!["initiated", "failed"]),
    ] {
        let sid = place(&s, to).await;
        let call = wait_for(&s, &sid, status, is_terminal).await;
        assert_eq!(call["status"], status, "{to}");
        assert_eq!(
            call["outcome"], status,
            "{to}: the outcome follows the telephony status"
        );
        assert_eq!(
            call["prompt"], "Be brief.",
            "the request's details are kept"
        );
        assert!(call.get("answerTime").is_none(), "{to} was never answered");
        assert_eq!(event_statuses(&s, &sid).await, events, "{to}: the timeline");
    }
}

#[tokio::test]
async fn an_answered_call_runs_until_hung_up_through_the_api() {
    let (s, sim) = start(ScenarioBook::all(Scenario::Human), None).await;
    let sid = place(&s, "+14155552671").await;
    assert!(
        sim.call(&sid).is_some(),
        "the simulator placed the call we stored"
    );
    let live = wait_for(&s, &sid, "the answer", |c| c["status"] == "in-progress").await;
    assert!(live.get("answerTime").is_some());
    let amd = wait_for(&s, &sid, "AMD", |c| c.get("amdResult").is_some()).await;
    assert_eq!(amd["answeredBy"], "human");

    let hung = s.post(&format!("/api/calls/{sid}/hangup"), json!({})).await;
    assert_eq!(hung.status.as_u16(), 200, "{hung:?}");
    assert_eq!(hung.data()["terminatedBy"], "system");
    let call = wait_for(&s, &sid, "the end", is_terminal).await;
    assert_eq!(call["status"], "completed");
    assert_eq!(call["outcome"], "held");
    assert_eq!(
        event_statuses(&s, &sid).await,
        vec!["initiated", "ringing", "in-progress", "completed"]
    );
    // Recording is on by default; its callback follows the end of the call.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while s.total(&format!("/api/db/calls/{sid}/recordings")).await == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "no recording stored"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let recs = s.get(&format!("/api/db/calls/{sid}/recordings")).await;
    assert_eq!(recs.items()[0]["status"], "completed");

    let again = s.post(&format!("/api/calls/{sid}/hangup"), json!({})).await;
    again.assert_error(409, "conflict");
}

#[tokio::test]
async fn a_machine_answer_is_hung_up_and_recorded_as_voicemail() {
    let (s, _sim) = start(ScenarioBook::all(Scenario::Voicemail), None).await;
    let sid = place(&s, "+14155552671").await;
    // VOICEMAIL_ACTION defaults to hangup: the call ends without anyone asking.
    let call = wait_for(&s, &sid, "the end", is_terminal).await;
    assert_eq!(call["amdResult"], "machine_end_beep");
    assert_eq!(call["answeredBy"], "machine");
    assert_eq!(call["outcome"], "voicemail");
    assert_eq!(
        call["status"], "completed",
        "the telephony status is not replaced"
    );
    assert_eq!(call["terminatedBy"], "system");
    let events = s
        .get(&format!(
            "/api/db/calls/{sid}/events?eventType=machine-detection"
        ))
        .await;
    assert_eq!(events.items().len(), 1);
}

#[tokio::test]
async fn with_voicemail_action_agent_a_machine_answer_stays_connected() {
    let (s, _sim) = start_with(
        ScenarioBook::all(Scenario::Voicemail),
        None,
        &["--voicemail-action=agent"],
    )
    .await;
    let sid = place(&s, "+14155552671").await;
    let call = wait_for(&s, &sid, "AMD", |c| c.get("amdResult").is_some()).await;
    assert_eq!(call["status"], "in-progress", "still connected after AMD");
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        s.get(&format!("/api/db/calls/{sid}")).await.data()["status"],
        "in-progress"
    );
    assert_eq!(
        s.post(&format!("/api/calls/{sid}/hangup"), json!({}))
            .await
            .status
            .as_u16(),
        200
    );
    let call = wait_for(&s, &sid, "the end", is_terminal).await;
    assert_eq!(call["outcome"], "voicemail");
}

#[tokio::test]
async fn a_callee_who_hangs_up_ends_the_call() {
    let (s, _sim) = start(ScenarioBook::all(Scenario::CalleeHangsUp), None).await;
    let sid = place(&s, "+14155552671").await;
    let call = wait_for(&s, &sid, "the end", is_terminal).await;
    assert_eq!(call["status"], "completed");
    assert_eq!(call["outcome"], "held");
    assert!(call["duration"].is_number());
    assert!(call.get("endTime").is_some());
}

#[tokio::test]
async fn do_not_call_numbers_are_refused_before_dialling() {
    let (s, sim) = start(ScenarioBook::all(Scenario::Human), None).await;
    let mut contact = Contact::new("+14155550199");
    contact.status = ContactStatus::DoNotCall;
    s.store
        .insert_contact(contact)
        .await
        .expect("insert contact");
    let answer = s
        .post("/api/outbound-call", json!({"to": "(415) 555-0199"}))
        .await;
    answer.assert_error(409, "conflict");
    assert_eq!(sim.calls_placed(), 0, "nothing was dialled");
    assert_eq!(s.total("/api/db/calls").await, 0, "nothing was stored");
}

#[tokio::test]
async fn rate_limited_calls_are_retried_after_twilio_says_so() {
    let (s, sim) = start(ScenarioBook::all(Scenario::Busy), Some(1)).await;
    place(&s, "+14155550111").await;
    // The simulator allows one call a second: this one gets 429, Retry-After: 1, then goes.
    place(&s, "+14155550112").await;
    assert_eq!(sim.calls_placed(), 2);
    assert_eq!(
        sim.calls_rate_limited(),
        1,
        "the second call was refused once, then retried"
    );
}

#[tokio::test]
async fn bad_requests_never_reach_twilio() {
    let (s, sim) = start(ScenarioBook::all(Scenario::Human), None).await;
    s.post("/api/outbound-call", json!({"to": "12"}))
        .await
        .assert_field_error("to");
    s.post(
        "/api/outbound-call",
        json!({"to": "+14155552671", "callerId": "nope"}),
    )
    .await
    .assert_field_error("callerId");
    s.post(
        "/api/outbound-call",
        json!({"to": "+14155552671", "dynamicVariables": {"a": [1]}}),
    )
    .await
    .assert_error(400, "validation_error");
    s.post(
        "/api/outbound-call",
        json!({"to": "+14155552671", "colour": "red"}),
    )
    .await
    .assert_error(400, "validation_error");
    assert_eq!(sim.calls_placed(), 0);
    s.post("/api/calls/CAnope/hangup", json!({}))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn calling_is_off_without_twilio_settings() {
    let s = TestServer::start().await;
    let answer = s
        .post("/api/outbound-call", json!({"to": "+14155552671"}))
        .await;
    answer.assert_error(503, "unavailable");
    let message = answer.body["error"]["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("TWILIO_ACCOUNT_SID"),
        "names the setting: {message}"
    );
}

#[tokio::test]
async fn with_amd_off_no_machine_detection_is_asked_for() {
    let (s, sim) = start_with(
        ScenarioBook::all(Scenario::Voicemail),
        None,
        &["--amd-mode=off"],
    )
    .await;
    let sid = place(&s, "+14155552671").await;
    wait_for(&s, &sid, "the answer", |c| c["status"] == "in-progress").await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let call = s.get(&format!("/api/db/calls/{sid}")).await;
    assert!(call.data().get("amdResult").is_none(), "{call:?}");
    assert!(
        sim.call(&sid)
            .expect("sim call")
            .request()
            .machine_detection
            .is_none()
    );
    assert_eq!(
        s.post(&format!("/api/calls/{sid}/hangup"), json!({}))
            .await
            .status
            .as_u16(),
        200
    );
}

#[tokio::test]
async fn amd_thresholds_out_of_twilio_range_are_refused_at_start() {
    let parsed = outcall_server_config(&["--amd-speech-end-threshold-ms=100"]);
    assert!(parsed.is_err(), "500-5000 ms only");
    assert!(outcall_server_config(&["--amd-silence-timeout-ms=3000"]).is_ok());
}

/// Parses `outcall serve` flags as the binary does.
fn outcall_server_config(
    flags: &[&str],
) -> Result<outcall_server::config::ServerConfig, clap::Error> {
    use clap::Parser;
    #[derive(Parser)]
    struct Flags {
        #[command(flatten)]
        config: outcall_server::config::ServerConfig,
    }
    let mut argv = vec!["outcall"];
    argv.extend_from_slice(flags);
    Flags::try_parse_from(argv).map(|f| f.config)
}

#[tokio::test]
async fn leave_message_says_the_configured_words_to_a_machine_then_hangs_up() {
    let (s, sim) = start_with(
        ScenarioBook::all(Scenario::Voicemail),
        None,
        &[
            "--voicemail-action=leave-message",
            "--voicemail-message=Hi, it's Acme <& Co>. Please call us back!",
        ],
    )
    .await;
    let sid = place(&s, "+14155552671").await;
    let call = wait_for(&s, &sid, "the end", is_terminal).await;
    assert_eq!(call["status"], "completed");
    assert_eq!(call["outcome"], "voicemail");
    assert_eq!(call["terminatedBy"], "system");
    assert!(
        call["terminationReason"]
            .as_str()
            .is_some_and(|r| r.contains("left the message")),
        "{call}"
    );
    let twiml = sim
        .call(&sid)
        .expect("sim call")
        .twiml()
        .expect("the TwiML the call ran last");
    assert!(
        twiml.contains("<Say>Hi, it&apos;s Acme &lt;&amp; Co&gt;. Please call us back!</Say>"),
        "{twiml}"
    );
    assert!(twiml.contains("<Hangup/>"), "{twiml}");
}

#[tokio::test]
async fn leave_message_without_words_is_refused_at_start() {
    let config = outcall_server_config(&[
        "--twilio-account-sid=AC00000000000000000000000000000000",
        "--twilio-auth-token=t",
        "--twilio-from-number=+15005550006",
        "--voicemail-action=leave-message",
    ])
    .expect("the flags parse; the refusal is about their combination");
    let err =
        outcall_server::telephony::Telephony::from_settings(&config.twilio, Default::default())
            .expect_err("leave-message without words is refused");
    assert!(err.to_string().contains("VOICEMAIL_MESSAGE"), "{err}");
    let with_words = outcall_server_config(&[
        "--twilio-account-sid=AC00000000000000000000000000000000",
        "--twilio-auth-token=t",
        "--twilio-from-number=+15005550006",
        "--voicemail-action=leave-message",
        "--voicemail-message=Call us back.",
    ])
    .expect("flags");
    assert!(
        outcall_server::telephony::Telephony::from_settings(&with_words.twilio, Default::default())
            .is_ok()
    );
}

/// Every call carries a `TimeLimit`, so Twilio ends a call nobody ends (an agent that
/// went quiet, a callee who never hangs up): an hour unless `MAX_CALL_SECS` says.
#[tokio::test]
async fn every_call_is_placed_with_a_time_limit() {
    for (flags, limit) in [(&[][..], 3600), (&["--max-call-secs=90"][..], 90)] {
        let (s, sim) = start_with(ScenarioBook::all(Scenario::Human), None, flags).await;
        let sid = place(&s, "+14155552671").await;
        let call = sim.call(&sid).expect("sim call");
        assert_eq!(call.request().time_limit_secs, Some(limit), "{flags:?}");
        s.post(&format!("/api/calls/{sid}/hangup"), json!({})).await;
    }
    assert!(
        outcall_server_config(&["--max-call-secs=30"]).is_err(),
        "60 s at least"
    );
}
