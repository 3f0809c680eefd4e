//! The analytics and dashboard API over HTTP: parameter validation, and each route's
//! answer on a small data set written through the API. Exact store-level numbers are
//! in the conformance suite; local-time bucketing in `outcall_domain::analytics`.

use chrono::{DateTime, Utc};
use outcall_domain::Call;
use serde_json::{Value, json};

use crate::support::{TestServer, call_sid, recording_sid, with_query};

const ROUTES: [&str; 4] = [
    "/api/db/analytics/call-volume",
    "/api/db/analytics/call-duration",
    "/api/db/analytics/call-outcomes",
    "/api/db/analytics/conversation-sentiment",
];

#[tokio::test]
async fn bad_analytics_parameters_are_400_naming_the_field() {
    let s = TestServer::start().await;
    for route in ROUTES {
        for (pairs, field) in [
            (vec![("groupBy", "month")], "groupBy"),
            (vec![("tz", "Mars/Olympus_Mons")], "tz"),
            (
                vec![("startDate", "2026-03-10"), ("endDate", "2026-03-01")],
                "endDate",
            ),
            (vec![("startDate", "yesterday")], "startDate"),
            (vec![("campaignId", "nope")], "campaignId"),
            (vec![("agentId", "a b")], "agentId"),
        ] {
            s.get(&with_query(route, &pairs))
                .await
                .assert_field_error(field);
        }
        let unknown = s.get(&with_query(route, &[("stauts", "completed")])).await;
        unknown.assert_error(400, "validation_error");
        assert!(unknown.message().contains("stauts"), "{unknown:?}");
    }
    // Too many buckets: six years of hours.
    s.get(&with_query(
        ROUTES[0],
        &[
            ("startDate", "2020-01-01"),
            ("endDate", "2026-01-01"),
            ("groupBy", "hour"),
        ],
    ))
    .await
    .assert_field_error("groupBy");
    for route in [
        "/api/db/dashboard/overview",
        "/api/db/dashboard/realtime",
        "/api/db/dashboard/activity",
    ] {
        s.get(&with_query(route, &[("since", "1h")]))
            .await
            .assert_error(400, "validation_error");
    }
    s.get("/api/db/dashboard/overview?tz=Nowhere")
        .await
        .assert_field_error("tz");
    s.get("/api/db/dashboard/activity?limit=500")
        .await
        .assert_field_error("limit");
    s.get(&format!("/api/db/dashboard/call/{}", call_sid(404)))
        .await
        .assert_error(404, "not_found");
}

/// Six calls of today: four answered (durations 20, 40, 90, 700), a busy one and a
/// ringing one; two agents.
async fn seed(s: &TestServer) {
    for (n, status, duration, agent) in [
        (1, "completed", Some(20), "agent_a"),
        (2, "completed", Some(40), "agent_a"),
        (3, "completed", Some(90), "agent_b"),
        (4, "completed", Some(700), "agent_a"),
        (5, "busy", None, "agent_b"),
        (6, "ringing", None, "agent_a"),
    ] {
        let mut extra = json!({"status": status, "agentId": agent, "answeredBy": "human"});
        if let Some(d) = duration {
            extra["duration"] = json!(d);
        }
        if status == "busy" {
            extra.as_object_mut().map(|o| o.remove("answeredBy"));
        }
        s.create_call(&call_sid(n), extra).await;
    }
}

fn today() -> String {
    Utc::now().format("%Y-%m-%d").to_string()
}

fn n(v: &Value) -> u64 {
    v.as_u64().unwrap_or_else(|| panic!("not a count: {v}"))
}

#[tokio::test]
async fn call_volume_has_every_bucket_of_the_range_in_the_time_zone() {
    let s = TestServer::start().await;
    seed(&s).await;
    let tomorrow = (Utc::now() + chrono::Duration::days(1))
        .format("%Y-%m-%d")
        .to_string();
    let a = s
        .get(&with_query(
            ROUTES[0],
            &[
                // New York's midnight (a bare date would be UTC midnight, 19:00 the day before there).
                ("startDate", "2026-03-01T05:00:00Z"),
                ("endDate", &tomorrow),
                ("tz", "America/New_York"),
            ],
        ))
        .await;
    let d = a.data();
    assert_eq!(
        (d["groupBy"].as_str(), d["tz"].as_str()),
        (Some("day"), Some("America/New_York"))
    );
    let buckets = d["buckets"].as_array().expect("buckets");
    // Local midnights: 05:00Z in winter, 04:00Z in summer; none missing.
    assert_eq!(buckets[0]["start"], "2026-03-01T05:00:00Z");
    assert_eq!(buckets[7]["start"], "2026-03-08T05:00:00Z");
    assert_eq!(buckets[8]["start"], "2026-03-09T04:00:00Z");
    let starts: Vec<DateTime<Utc>> = buckets
        .iter()
        .map(|b| crate::support::time(&b["start"]))
        .collect();
    assert!(
        starts
            .windows(2)
            .all(|w| (w[1] - w[0]).num_hours() >= 23 && (w[1] - w[0]).num_hours() <= 25)
    );
    let total: u64 = buckets.iter().map(|b| n(&b["total"])).sum();
    let sum = |k: &str| buckets.iter().map(|b| n(&b[k])).sum::<u64>();
    assert_eq!(
        (
            total,
            sum("completed"),
            sum("answered"),
            sum("busy"),
            sum("failed"),
            sum("noAnswer"),
            sum("canceled")
        ),
        (6, 4, 4, 1, 0, 0, 0)
    );
    assert_eq!(
        buckets.iter().filter(|b| n(&b["total"]) > 0).count(),
        1,
        "all today"
    );

    let weekly = s
        .get(&with_query(
            ROUTES[0],
            &[("groupBy", "week"), ("agentId", "agent_b")],
        ))
        .await;
    let weeks = weekly.data()["buckets"]
        .as_array()
        .expect("buckets")
        .clone();
    assert_eq!(weeks.len(), 13, "12 weeks back from now, Monday-aligned");
    assert_eq!(weeks.iter().map(|b| n(&b["total"])).sum::<u64>(), 2);
    let monday = crate::support::time(&weeks[0]["start"]);
    assert_eq!(chrono::Datelike::weekday(&monday), chrono::Weekday::Mon);
}

#[tokio::test]
async fn duration_outcomes_and_sentiment_answer_in_their_shapes() {
    let s = TestServer::start().await;
    seed(&s).await;
    let d = s.get(ROUTES[1]).await;
    let d = d.data();
    assert_eq!(
        (
            n(&d["count"]),
            d["total"].as_i64(),
            d["mean"].as_f64(),
            d["median"].as_i64(),
            d["p90"].as_i64()
        ),
        (4, Some(850), Some(212.5), Some(40), Some(700))
    );
    assert_eq!(
        (d["min"].as_i64(), d["max"].as_i64()),
        (Some(20), Some(700))
    );
    let buckets: Vec<(String, u64)> = d["buckets"]
        .as_array()
        .expect("buckets")
        .iter()
        .map(|b| {
            (
                b["label"].as_str().unwrap_or("").to_string(),
                n(&b["count"]),
            )
        })
        .collect();
    assert_eq!(
        buckets,
        [
            ("0-30s", 1),
            ("30-60s", 1),
            ("1-2m", 1),
            ("2-5m", 0),
            ("5-10m", 0),
            ("10m+", 1)
        ]
        .map(|(l, c)| (l.to_string(), c))
    );
    assert_eq!(d["buckets"][5]["maxSecs"], Value::Null);
    assert_eq!(
        (
            d["buckets"][2]["minSecs"].as_i64(),
            d["buckets"][2]["maxSecs"].as_i64()
        ),
        (Some(60), Some(120))
    );

    let o = s
        .get(&with_query(ROUTES[2], &[("startDate", &today())]))
        .await;
    let o = o.data();
    assert_eq!(n(&o["total"]), 6);
    assert_eq!(
        o["byStatus"],
        json!({"busy": 1, "completed": 4, "ringing": 1})
    );
    assert_eq!(o["byAnsweredBy"], json!({"human": 5}));

    for (sid, label, score) in [
        (1, "positive", 0.6),
        (2, "negative", -0.4),
        (3, "positive", 0.2),
    ] {
        let created = s
            .post(
                "/api/db/transcripts",
                json!({"callSid": call_sid(sid), "sentiment": {"label": label, "score": score}}),
            )
            .await;
        assert_eq!(created.status.as_u16(), 201, "{created:?}");
    }
    let t = s
        .get(&with_query(
            ROUTES[3],
            &[("groupBy", "hour"), ("tz", "Asia/Kolkata")],
        ))
        .await;
    let t = t.data();
    assert_eq!(n(&t["total"]), 3);
    assert!(
        (t["averageScore"].as_f64().unwrap_or(9.0) - 0.4 / 3.0).abs() < 1e-9,
        "{t}"
    );
    assert_eq!(
        t["distribution"],
        json!({"positive": 2, "neutral": 0, "negative": 1})
    );
    let trend = t["trend"].as_array().expect("trend");
    assert!(trend.len() >= 24 && trend.len() <= 25, "{}", trend.len());
    let busy: Vec<&Value> = trend.iter().filter(|b| n(&b["count"]) > 0).collect();
    assert_eq!(busy.len(), 1);
    assert_eq!((n(&busy[0]["positive"]), n(&busy[0]["negative"])), (2, 1));
    // Kolkata hours start at :30 UTC.
    assert!(
        trend[0]["start"]
            .as_str()
            .is_some_and(|s| s.ends_with(":30:00Z")),
        "{}",
        trend[0]
    );
}

#[tokio::test]
async fn dashboard_overview_activity_details_and_realtime() {
    let s = TestServer::start().await;
    seed(&s).await;
    let o = s.get("/api/db/dashboard/overview?tz=Europe/Paris").await;
    let o = o.data();
    assert_eq!(
        o["totals"],
        json!({"calls": 6, "completed": 4, "answered": 4, "failed": 0})
    );
    assert_eq!(o["answerRate"].as_f64(), Some(4.0 / 6.0));
    assert_eq!(o["averageDuration"].as_f64(), Some(212.5));
    assert_eq!((n(&o["activeCalls"]), n(&o["activeCampaigns"])), (1, 0));
    // Paris midnight may lie before or after UTC midnight: the calls are today there
    // unless this runs in the hour or two around it.
    let (today, yesterday) = (&o["today"], &o["yesterday"]);
    assert_eq!(n(&today["calls"]) + n(&yesterday["calls"]), 6);
    for key in [
        "calls",
        "answered",
        "completed",
        "failed",
        "averageDuration",
    ] {
        assert!(
            today.get(key).is_some() && yesterday.get(key).is_some(),
            "{key}"
        );
    }
    let agent = s.get("/api/db/dashboard/overview?agentId=agent_b").await;
    assert_eq!(agent.data()["totals"]["calls"], 2);

    let first = call_sid(1);
    for (kind, at) in [
        ("initiated", "2026-03-01T10:00:00Z"),
        ("completed", "2026-03-01T10:05:00Z"),
    ] {
        let e = s
            .post(
                "/api/db/events",
                json!({"callSid": first, "eventType": kind, "timestamp": at, "data": {"n": 1}}),
            )
            .await;
        assert_eq!(e.status.as_u16(), 201, "{e:?}");
    }
    s.create_recording(&recording_sid(1), &first, json!({"duration": 20}))
        .await;
    s.post("/api/db/transcripts", json!({"callSid": first, "transcript": [{"role": "user", "message": "Hi", "timeInCallSecs": 1.0}]}))
        .await;

    let feed = s.get("/api/db/dashboard/activity?limit=1").await;
    assert_eq!(feed.pagination(), (1, 1, 2, 2));
    let item = &feed.items()[0];
    assert_eq!(
        (item["eventType"].as_str(), item["callSid"].as_str()),
        (Some("completed"), Some(first.as_str()))
    );
    assert_eq!(item["timestamp"], "2026-03-01T10:05:00Z");
    assert_eq!(item["data"], json!({"n": 1}));
    assert_eq!(item["call"]["to"], "+14155552671");
    assert_eq!(item["call"]["status"], "completed");

    let details = s.get(&format!("/api/db/dashboard/call/{first}")).await;
    let details = details.data();
    assert_eq!(details["call"]["callSid"], first.as_str());
    assert_eq!(details["recordings"].as_array().map(Vec::len), Some(1));
    assert_eq!(details["transcript"]["transcript"][0]["message"], "Hi");
    let kinds: Vec<&str> = details["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter_map(|e| e["eventType"].as_str())
        .collect();
    assert_eq!(kinds, ["initiated", "completed"], "oldest first");
    let bare = s
        .get(&format!("/api/db/dashboard/call/{}", call_sid(5)))
        .await;
    assert_eq!(bare.data()["transcript"], Value::Null);

    let r = s.get("/api/db/dashboard/realtime").await;
    let r = r.data();
    assert_eq!(n(&r["activeCount"]), 1);
    assert_eq!(r["activeCalls"][0]["callSid"], call_sid(6).as_str());
    assert_eq!(
        r["last5Minutes"],
        json!({"calls": 6, "answered": 4, "completed": 4, "failed": 0})
    );
    let minutes = r["perMinute"].as_array().expect("perMinute");
    assert_eq!(minutes.len(), 15);
    assert_eq!(minutes.iter().map(|m| n(&m["count"])).sum::<u64>(), 6);
    let times: Vec<DateTime<Utc>> = minutes
        .iter()
        .map(|m| crate::support::time(&m["minute"]))
        .collect();
    assert!(
        times.windows(2).all(|w| (w[1] - w[0]).num_seconds() == 60),
        "oldest first, every minute"
    );
    assert_eq!(r["callsPerMinute"].as_f64(), Some(1.2));
}

const EL_SECRET: &str = "wsec_analytics";

async fn post_conversation(s: &TestServer, call: &str, user_says: &[&str]) -> u16 {
    let mut turns = vec![
        json!({"role": "agent", "message": "Hi, this is Ada. Terrible weather today!", "time_in_call_secs": 0}),
    ];
    turns.extend(
        user_says
            .iter()
            .enumerate()
            .map(|(i, m)| json!({"role": "user", "message": m, "time_in_call_secs": i + 1})),
    );
    let body = json!({
        "type": "post_call_transcription",
        "event_timestamp": Utc::now().timestamp(),
        "data": {
            "agent_id": "agent_1",
            "conversation_id": format!("conv_{call}"),
            "status": "done",
            "transcript": turns,
            "conversation_initiation_client_data": {"dynamic_variables": {"call_sid": call}}
        }
    })
    .to_string();
    let signature =
        outcall_elevenlabs::signature::sign(body.as_bytes(), EL_SECRET, Utc::now().timestamp());
    s.client
        .post(format!("{}/webhooks/elevenlabs", s.base))
        .header("content-type", "application/json")
        .header("elevenlabs-signature", signature)
        .body(body)
        .send()
        .await
        .expect("request")
        .status()
        .as_u16()
}

#[tokio::test]
async fn finished_conversations_get_a_local_sentiment_of_the_callees_words() {
    let s = TestServer::start_with(&[&format!("--elevenlabs-webhook-secret={EL_SECRET}")]).await;
    for sid in ["CAhappy", "CAangry", "CAsilent", "CAgiven"] {
        s.store
            .insert_call(Call::new(sid, "+15005550006", "+14155552671"))
            .await
            .expect("insert");
    }
    assert_eq!(
        post_conversation(
            &s,
            "CAhappy",
            &["Yes, that sounds great, thank you!", "Wonderful."]
        )
        .await,
        200
    );
    assert_eq!(
        post_conversation(&s, "CAangry", &["No. This is awful, stop calling me."]).await,
        200
    );
    assert_eq!(post_conversation(&s, "CAsilent", &[]).await, 200);
    let sentiment = |sid: &'static str| {
        let s = &s;
        async move { s.get(&format!("/api/db/transcripts/{sid}")).await.data()["sentiment"].clone() }
    };
    let happy = sentiment("CAhappy").await;
    assert_eq!(happy["label"], "positive");
    assert!(
        happy["score"].as_f64().is_some_and(|x| x > 0.5 && x <= 1.0),
        "{happy}"
    );
    let angry = sentiment("CAangry").await;
    assert_eq!(angry["label"], "negative");
    assert!(
        angry["score"].as_f64().is_some_and(|x| x < -0.05),
        "{angry}"
    );
    assert_eq!(
        sentiment("CAsilent").await,
        Value::Null,
        "no user words, no sentiment"
    );

    // A sentiment already stored is kept.
    s.post(
        "/api/db/transcripts",
        json!({"callSid": "CAgiven", "sentiment": {"label": "neutral", "score": 0.0}}),
    )
    .await;
    assert_eq!(
        post_conversation(&s, "CAgiven", &["This is great!"]).await,
        200
    );
    assert_eq!(
        sentiment("CAgiven").await,
        json!({"label": "neutral", "score": 0.0})
    );

    let report = s.get(ROUTES[3]).await;
    assert_eq!(
        report.data()["distribution"],
        json!({"positive": 1, "neutral": 1, "negative": 1})
    );
}
