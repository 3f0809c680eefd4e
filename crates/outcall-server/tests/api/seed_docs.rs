//! A database written by the Node.js system the seed documents, read through the API:
//! the conformance fixtures (`outcall_store::conformance::seed_docs`) inserted raw on
//! each backend, then every list, detail, dashboard and analytics route answers 200
//! with the stored values (unknown ones as stored, `pending` as `active`, snake_case
//! turns as outcall's, unknown fields kept), and one unreadable document is skipped
//! and counted instead of failing a list or the daily rollups.

use chrono::TimeDelta;
use outcall_store::conformance::seed_docs::{
    self, CALLS, CAMPAIGN, CONTACTS, RECORDING, UNREADABLE_CALL,
};
use serde_json::json;

use crate::support::{Backend, TestServer, on_each_backend, with_query};

async fn loaded(backend: Backend) -> TestServer {
    let s = TestServer::start_on_backend(backend, &[]).await;
    seed_docs::load(&s.store, outcall_domain::time::now()).await;
    s
}

/// Asserts a 200 success answer and returns it.
async fn ok(s: &TestServer, path: &str) -> crate::support::Answer {
    let answer = s.get(path).await;
    assert_eq!(answer.status.as_u16(), 200, "GET {path}: {answer:?}");
    assert_eq!(
        answer.body["success"],
        json!(true),
        "GET {path}: {answer:?}"
    );
    answer
}

#[tokio::test]
async fn seed_calls_read_with_their_values() {
    on_each_backend(|backend| async move {
        let s = loaded(backend).await;
        let list = ok(&s, "/api/db/calls").await;
        assert_eq!(list.pagination().2, 3);
        assert_eq!(list.body["pagination"].get("skipped"), None);
        let mut by = list.column("terminatedBy");
        by.sort();
        assert_eq!(by, ["conversation_completed", "unknown", "user"]);
        let of_campaign = ok(
            &s,
            &with_query("/api/db/calls", &[("campaignId", CAMPAIGN)]),
        )
        .await;
        assert_eq!(of_campaign.pagination().2, 3, "{of_campaign:?}");
        let one = ok(&s, &format!("/api/db/calls/{}", CALLS[0])).await;
        let call = one.data();
        assert_eq!(call["terminatedBy"], json!("conversation_completed"));
        assert_eq!(call["campaignId"], json!(CAMPAIGN));
        assert_eq!(call["duration"], json!(42));
        assert_eq!(call["__v"], json!(0), "unknown fields are returned");
    })
    .await;
}

#[tokio::test]
async fn seed_contacts_read_pending_as_active_and_keep_the_rest() {
    on_each_backend(|backend| async move {
        let s = loaded(backend).await;
        let list = ok(
            &s,
            &with_query("/api/db/contacts", &[("sort", "createdAt")]),
        )
        .await;
        assert_eq!(list.pagination().2, 4);
        let mut statuses = list.column("status");
        statuses.sort();
        assert_eq!(statuses, ["active", "calling", "completed", "do-not-call"]);
        assert!(
            list.items()
                .iter()
                .all(|c| c["lastCallResult"] == json!("no-answer")),
            "{list:?}"
        );
        let active = ok(&s, &with_query("/api/db/contacts", &[("status", "active")])).await;
        assert_eq!(active.column("_id"), [CONTACTS[0]]);
        let one = ok(&s, &format!("/api/db/contacts/{}", CONTACTS[1])).await;
        assert_eq!(one.data()["status"], json!("completed"));
        assert!(one.data()["lastCallDate"].is_string(), "{one:?}");
        let by_phone = ok(&s, "/api/db/contacts/phone/+14155550200").await;
        assert_eq!(by_phone.data()["status"], json!("active"));
        let calls = ok(&s, &format!("/api/db/contacts/{}/calls", CONTACTS[0])).await;
        assert_eq!(calls.column("callSid"), [CALLS[0]]);
        let export = s.get("/api/db/contacts/export").await;
        assert_eq!(export.status.as_u16(), 200, "{export:?}");
        let csv = export.body.as_str().unwrap_or_default();
        assert!(csv.contains("+14155550202"), "{csv}");
        // A stored status is shown, never accepted as input.
        let refused = s
            .put(
                &format!("/api/db/contacts/{}", CONTACTS[0]),
                json!({"status": "calling"}),
            )
            .await;
        refused.assert_field_error("status");
    })
    .await;
}

#[tokio::test]
async fn seed_recordings_transcripts_and_events_keep_their_fields() {
    on_each_backend(|backend| async move {
        let s = loaded(backend).await;
        let list = ok(&s, "/api/db/recordings").await;
        assert_eq!(list.items()[0]["format"], json!("mp3"));
        let one = ok(&s, &format!("/api/db/recordings/{RECORDING}")).await;
        assert_eq!(
            one.data()["mp3Url"],
            json!("https://api.twilio.com/rec.mp3")
        );
        let of_call = ok(&s, &format!("/api/db/calls/{}/recordings", CALLS[0])).await;
        assert_eq!(of_call.column("recordingSid"), [RECORDING]);

        let t = ok(&s, &format!("/api/db/transcripts/{}", CALLS[1])).await;
        let t = t.data();
        assert_eq!(t["status"], json!("processing"));
        assert_eq!(t["agent_id"], json!("agent_seed"));
        assert_eq!(t["transcript"][1]["timeInCallSecs"], json!(2.5));
        assert_eq!(t["transcript"][1].get("time_in_call_secs"), None);
        assert_eq!(t["transcript"][2]["role"], json!("tool"));
        let failed = ok(&s, &format!("/api/db/transcripts/{}", CALLS[2])).await;
        assert_eq!(failed.data()["status"], json!("failed"));

        let events = ok(&s, &format!("/api/db/calls/{}/events", CALLS[0])).await;
        assert_eq!(events.column("eventType"), ["status_change"]);
        assert_eq!(events.items()[0]["source"], json!("twilio"));
    })
    .await;
}

#[tokio::test]
async fn seed_campaign_dashboard_and_analytics_answer() {
    on_each_backend(|backend| async move {
        let s = loaded(backend).await;
        let campaigns = ok(&s, "/api/db/campaigns").await;
        assert_eq!(campaigns.column("_id"), [CAMPAIGN]);
        ok(&s, &format!("/api/db/campaigns/{CAMPAIGN}")).await;
        ok(&s, &format!("/api/db/campaigns/{CAMPAIGN}/contacts")).await;
        ok(&s, &format!("/api/db/campaigns/{CAMPAIGN}/stats")).await;

        let details = ok(&s, &format!("/api/db/dashboard/call/{}", CALLS[0])).await;
        let d = details.data();
        assert_eq!(d["call"]["terminatedBy"], json!("conversation_completed"));
        assert_eq!(d["transcript"]["agent_id"], json!("agent_seed"));
        assert_eq!(d["recordings"][0]["format"], json!("mp3"));
        assert_eq!(d["events"][0]["source"], json!("twilio"));
        for sid in CALLS {
            ok(&s, &format!("/api/db/dashboard/call/{sid}")).await;
        }
        ok(&s, "/api/db/dashboard/overview").await;
        ok(&s, "/api/db/dashboard/realtime").await;
        let activity = ok(&s, "/api/db/dashboard/activity").await;
        assert_eq!(activity.items()[0]["eventType"], json!("status_change"));
        let of_campaign = ok(
            &s,
            &with_query("/api/db/dashboard/activity", &[("campaignId", CAMPAIGN)]),
        )
        .await;
        assert_eq!(of_campaign.items().len(), 1, "{of_campaign:?}");

        ok(&s, "/api/db/analytics/call-volume").await;
        ok(&s, "/api/db/analytics/call-duration").await;
        let outcomes = ok(&s, "/api/db/analytics/call-outcomes").await;
        assert!(
            outcomes.body.to_string().contains("no-answer"),
            "{outcomes:?}"
        );
        let sentiment = ok(&s, "/api/db/analytics/conversation-sentiment").await;
        assert_eq!(sentiment.body["success"], json!(true));
    })
    .await;
}

#[tokio::test]
async fn an_unreadable_document_is_skipped_and_counted() {
    on_each_backend(|backend| async move {
        let s = loaded(backend).await;
        let now = outcall_domain::time::now();
        s.store
            .insert_raw("calls", seed_docs::unreadable_call(now))
            .await
            .expect("insert");
        let list = ok(&s, "/api/db/calls").await;
        assert_eq!(list.pagination().2, 4, "the total counts it");
        assert_eq!(list.body["pagination"]["skipped"], json!(1));
        assert_eq!(list.items().len(), 3);
        assert!(
            !list
                .column("callSid")
                .contains(&UNREADABLE_CALL.to_string())
        );
        ok(&s, "/api/db/dashboard/overview").await;
        ok(&s, "/api/db/analytics/call-outcomes").await;

        // The daily rollups count the readable calls and do not fail on the other.
        let today = now.date_naive();
        let tomorrow = today + TimeDelta::days(1);
        outcall_server::archive::roll_up_recent_days(&s.store, tomorrow, 2)
            .await
            .expect("rollups over an unreadable call");
        let mut calls = 0;
        for day in [today, today - TimeDelta::days(1)] {
            if let Some(r) = s.store.get_daily_stats(day).await.expect("get") {
                calls += r.calls;
            }
        }
        assert_eq!(calls, 3);
    })
    .await;
}
