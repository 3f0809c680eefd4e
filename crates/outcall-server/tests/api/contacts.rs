//! Contact API: create, get (by id and by number), list, update, delete, tags, call
//! history, import (JSON and CSV, with row numbers), export, and the CLI import.

use outcall_domain::campaign::Campaign;
use outcall_domain::campaign_contact::{DialStatus, SkipReason};
use outcall_domain::phone::Region;
use outcall_domain::{ObjectId, PageRequest};
use outcall_server::bus::BusEvent;
use outcall_server::contacts::{self, ContactDraft};
use outcall_store::{ContactFilter, ContactStore};
use reqwest::Method;
use serde_json::{Value, json};

use crate::support::{Answer, TestServer, call_sid, with_query};

const ADA: &str = "+14155552671";
const GRACE: &str = "+14155552672";
const ALAN: &str = "+442079460958";

impl TestServer {
    async fn create_contact(&self, body: Value) -> Value {
        let answer = self.post("/api/db/contacts", body).await;
        assert_eq!(answer.status.as_u16(), 201, "create contact: {answer:?}");
        answer.data().clone()
    }

    async fn import_csv(&self, csv: impl Into<String>) -> Answer {
        self.send_raw(Method::POST, "/api/db/contacts/import", "text/csv", csv)
            .await
    }

    async fn contact_count(&self) -> u64 {
        self.total("/api/db/contacts").await
    }

    async fn contact_by_phone(&self, phone: &str) -> Value {
        let got = self
            .get(&format!(
                "/api/db/contacts/phone/{}",
                phone.replace('+', "%2B")
            ))
            .await;
        assert_eq!(got.status.as_u16(), 200, "{phone}: {got:?}");
        got.data().clone()
    }
}

fn id_of(contact: &Value) -> String {
    contact["_id"].as_str().expect("_id").to_string()
}

#[tokio::test]
async fn create_normalises_the_number_and_reads_back_by_id_and_by_number() {
    let s = TestServer::start().await;
    let created = s
        .create_contact(json!({
            "phoneNumber": "(415) 555-2671",
            "name": "Ada Lovelace",
            "email": "ada@example.com",
            "tags": ["vip", " west", "vip"],
            "notes": "Prefers mornings",
            "status": "active",
            "priority": 7,
            "timezone": "America/Los_Angeles",
            "customFields": {"company": "Analytical Engines", "seats": 3}
        }))
        .await;
    assert_eq!(created["phoneNumber"], ADA);
    assert_eq!(created["tags"], json!(["vip", "west"]));
    assert_eq!(created["priority"], 7);
    assert_eq!(created["timezone"], "America/Los_Angeles");
    assert_eq!(created["customFields"]["seats"], 3);
    assert_eq!(created["callCount"], 0);
    assert!(created["createdAt"].is_string());

    let id = id_of(&created);
    let got = s.get(&format!("/api/db/contacts/{id}")).await;
    assert_eq!(got.data(), &created);
    // Any written form of the number finds it.
    for written in ["%2B14155552671", "415-555-2671", "(415)%20555%202671"] {
        let got = s.get(&format!("/api/db/contacts/phone/{written}")).await;
        assert_eq!(got.status.as_u16(), 200, "{written}: {got:?}");
        assert_eq!(got.data()["_id"], created["_id"], "{written}");
    }
    let list = s.get("/api/db/contacts").await;
    assert_eq!(list.pagination(), (1, 20, 1, 1));
    assert_eq!(list.items(), &vec![created]);
}

#[tokio::test]
async fn get_unknown_is_404_and_malformed_is_400() {
    let s = TestServer::start().await;
    let unknown = ObjectId::new();
    s.get(&format!("/api/db/contacts/{unknown}"))
        .await
        .assert_error(404, "not_found");
    s.get("/api/db/contacts/not-an-id")
        .await
        .assert_field_error("contactId");
    s.get("/api/db/contacts/phone/%2B14155552671")
        .await
        .assert_error(404, "not_found");
    s.get("/api/db/contacts/phone/hello")
        .await
        .assert_field_error("phoneNumber");
}

#[tokio::test]
async fn invalid_contacts_are_refused_whole_and_nothing_is_written() {
    let s = TestServer::start().await;
    let cases = [
        (json!({"name": "no number"}), "phoneNumber"),
        (json!({"phoneNumber": "123"}), "phoneNumber"),
        (json!({"phoneNumber": ADA, "priority": 11}), "priority"),
        (json!({"phoneNumber": ADA, "priority": -1}), "priority"),
        (
            json!({"phoneNumber": ADA, "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (
            json!({"phoneNumber": ADA, "email": "not an email"}),
            "email",
        ),
        (json!({"phoneNumber": ADA, "tags": ["ok", "  "]}), "tags"),
        (json!({"phoneNumber": ADA, "name": "x".repeat(201)}), "name"),
    ];
    for (body, field) in cases {
        s.post("/api/db/contacts", body)
            .await
            .assert_field_error(field);
    }
    for body in [
        json!({"phoneNumber": ADA, "status": "gone"}),
        json!({"phoneNumber": ADA, "priority": "high"}),
        json!({"phoneNumber": ADA, "campaignIds": []}),
        json!({"phoneNumber": ADA, "customFields": "not an object"}),
    ] {
        s.post("/api/db/contacts", body.clone())
            .await
            .assert_error(400, "validation_error");
    }
    assert_eq!(s.contact_count().await, 0);
}

#[tokio::test]
async fn a_duplicate_number_is_409_naming_the_existing_contact() {
    let s = TestServer::start().await;
    let first = s.create_contact(json!({"phoneNumber": ADA})).await;
    let again = s
        .post("/api/db/contacts", json!({"phoneNumber": "415.555.2671"}))
        .await;
    again.assert_error(409, "conflict");
    assert_eq!(again.body["error"]["details"]["existingId"], first["_id"]);
    assert_eq!(s.contact_count().await, 1);
}

#[tokio::test]
async fn update_changes_only_the_given_fields_and_do_not_call_persists() {
    let s = TestServer::start().await;
    let c = s
        .create_contact(json!({"phoneNumber": ADA, "name": "Ada", "tags": ["a"], "priority": 2}))
        .await;
    let id = id_of(&c);
    let path = format!("/api/db/contacts/{id}");
    let updated = s
        .put(
            &path,
            json!({"status": "do-not-call", "notes": "asked not to be called"}),
        )
        .await;
    assert_eq!(updated.status.as_u16(), 200, "{updated:?}");
    let got = s.get(&path).await;
    let d = got.data();
    assert_eq!(d["status"], "do-not-call");
    assert_eq!(d["notes"], "asked not to be called");
    assert_eq!(
        (d["name"].clone(), d["priority"].clone()),
        (json!("Ada"), json!(2))
    );
    assert_eq!(d["tags"], json!(["a"]));
    let list = s
        .get(&with_query(
            "/api/db/contacts",
            &[("status", "do-not-call")],
        ))
        .await;
    assert_eq!(list.column("_id"), vec![id.clone()]);

    // The same number, written differently, is no change; another number is refused.
    let same = s.put(&path, json!({"phoneNumber": "(415) 555-2671"})).await;
    assert_eq!(same.status.as_u16(), 200, "{same:?}");
    s.put(&path, json!({"phoneNumber": GRACE}))
        .await
        .assert_field_error("phoneNumber");
    s.put(&path, json!({"priority": 99}))
        .await
        .assert_field_error("priority");
    s.put(&path, json!({"createdAt": "2020-01-01T00:00:00Z"}))
        .await
        .assert_error(400, "validation_error");
    assert_eq!(s.get(&path).await.data()["priority"], 2, "nothing written");
    s.put(
        &format!("/api/db/contacts/{}", ObjectId::new()),
        json!({"name": "x"}),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn delete_removes_the_contact_once() {
    let s = TestServer::start().await;
    let mut events = s.bus.subscribe();
    let id = id_of(&s.create_contact(json!({"phoneNumber": ADA})).await);
    let path = format!("/api/db/contacts/{id}");
    let deleted = s.delete(&path).await;
    assert_eq!(deleted.data()["deleted"], true);
    s.get(&path).await.assert_error(404, "not_found");
    s.delete(&path).await.assert_error(404, "not_found");
    let mut kinds = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let BusEvent::Contact(c) = event.as_ref() {
            assert_eq!(c.contact_id, id);
            kinds.push(c.kind);
        }
    }
    assert_eq!(kinds, vec!["created", "deleted"], "published on the bus");
    s.delete("/api/db/contacts/xyz")
        .await
        .assert_field_error("contactId");
}

#[tokio::test]
async fn tags_are_added_and_removed_as_a_set() {
    let s = TestServer::start().await;
    let id = id_of(
        &s.create_contact(json!({"phoneNumber": ADA, "tags": ["a"]}))
            .await,
    );
    let path = format!("/api/db/contacts/{id}/tags");
    let added = s.post(&path, json!({"tags": ["b", "a", " c "]})).await;
    assert_eq!(added.data()["tags"], json!(["a", "b", "c"]));
    let removed = s
        .call(Method::DELETE, &path, Some(json!({"tags": ["a", "zzz"]})))
        .await;
    assert_eq!(removed.data()["tags"], json!(["b", "c"]));
    let tagged = s
        .get(&with_query("/api/db/contacts", &[("tag", "c")]))
        .await;
    assert_eq!(tagged.column("_id"), vec![id.clone()]);

    s.post(&path, json!({"tags": []}))
        .await
        .assert_field_error("tags");
    s.post(&path, json!({"tag": "b"}))
        .await
        .assert_error(400, "validation_error");
    s.post(
        &format!("/api/db/contacts/{}/tags", ObjectId::new()),
        json!({"tags": ["x"]}),
    )
    .await
    .assert_error(404, "not_found");
}

#[tokio::test]
async fn call_history_is_the_contacts_calls_newest_first() {
    let s = TestServer::start().await;
    let id = id_of(&s.create_contact(json!({"phoneNumber": ADA})).await);
    let other = id_of(&s.create_contact(json!({"phoneNumber": GRACE})).await);
    for n in 1..=3 {
        s.create_call(&call_sid(n), json!({"contactId": id})).await;
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    s.create_call(&call_sid(9), json!({"contactId": other}))
        .await;
    let path = format!("/api/db/contacts/{id}/calls");
    let all = s.get(&path).await;
    assert_eq!(
        all.column("callSid"),
        vec![call_sid(3), call_sid(2), call_sid(1)]
    );
    let second = s
        .get(&with_query(&path, &[("limit", "2"), ("page", "2")]))
        .await;
    assert_eq!(second.pagination(), (2, 2, 3, 2));
    assert_eq!(second.column("callSid"), vec![call_sid(1)]);
    s.get(&with_query(&path, &[("sort", "to")]))
        .await
        .assert_field_error("sort");
    s.get(&format!("/api/db/contacts/{}/calls", ObjectId::new()))
        .await
        .assert_error(404, "not_found");
}

#[tokio::test]
async fn list_filters_sorts_searches_and_projects() {
    let s = TestServer::start().await;
    let ada = s
        .create_contact(json!({"phoneNumber": ADA, "name": "Ada Lovelace", "tags": ["vip"]}))
        .await;
    let grace = s
        .create_contact(json!({"phoneNumber": GRACE, "name": "Grace Hopper", "email": "grace@navy.example", "status": "inactive"}))
        .await;
    let alan = s
        .create_contact(json!({"phoneNumber": ALAN, "name": "Alan Turing", "tags": ["vip"]}))
        .await;
    let campaign = ObjectId::new();
    s.store
        .add_contact_campaign(id_of(&grace).parse().expect("id"), campaign)
        .await
        .expect("add campaign");
    let srv = &s;
    let ids = |q: &[(&str, &str)]| {
        let path = with_query("/api/db/contacts", q);
        async move { srv.get(&path).await.column("_id") }
    };
    let (a, g, t) = (id_of(&ada), id_of(&grace), id_of(&alan));
    assert_eq!(
        ids(&[]).await,
        vec![t.clone(), g.clone(), a.clone()],
        "newest first"
    );
    assert_eq!(
        ids(&[("tag", "vip"), ("sort", "createdAt")]).await,
        vec![a.clone(), t.clone()]
    );
    assert_eq!(ids(&[("status", "inactive")]).await, vec![g.clone()]);
    assert_eq!(
        ids(&[("campaignId", &campaign.to_hex())]).await,
        vec![g.clone()]
    );
    assert_eq!(ids(&[("q", "hopper")]).await, vec![g.clone()], "name");
    assert_eq!(ids(&[("q", "NAVY")]).await, vec![g.clone()], "email");
    assert_eq!(
        ids(&[("q", "(415) 555-2671")]).await,
        vec![a.clone()],
        "number"
    );
    assert_eq!(
        ids(&[("q", "2079")]).await,
        vec![t.clone()],
        "part of a number"
    );
    assert_eq!(
        ids(&[("sort", "phoneNumber")]).await,
        vec![a.clone(), g.clone(), t.clone()]
    );
    let projected = s
        .get(&with_query(
            "/api/db/contacts",
            &[("fields", "name"), ("limit", "1")],
        ))
        .await;
    let item = projected.items()[0].as_object().expect("object");
    assert_eq!(item.keys().collect::<Vec<_>>(), vec!["_id", "name"]);

    for (k, v) in [
        ("status", "gone"),
        ("campaignId", "nope"),
        ("sort", "email"),
        ("limit", "101"),
        ("colour", "red"),
    ] {
        s.get(&with_query("/api/db/contacts", &[(k, v)]))
            .await
            .assert_error(400, "validation_error");
    }
}

#[tokio::test]
async fn csv_import_counts_rows_and_names_them() {
    let s = TestServer::start().await;
    let existing = s
        .create_contact(json!({"phoneNumber": GRACE, "name": "Grace", "tags": ["navy"], "customFields": {"rank": "RADM"}}))
        .await;
    // A BOM, `;` separators, aliases, a first/last name pair, a custom column.
    let csv = "\u{feff}Mobile;First Name;Last Name;Email;Tags;Priority;Status;TZ;Company\n\
               (415) 555-2671;Ada;Lovelace;ada@example.com;vip|west;7;active;Europe/London;Engines\n\
               +1 415 555 2672;Grace;Hopper;;admiral;;;;Navy\n\
               hello;Bad;Number;;;;;;\n\
               +14155552671;Ada;Again;;;;;;\n\
               +442079460958;Alan;Turing;;;12;;;\n\
               +442079460959;Kat;;;;;dnc;Mars/Base;\n\
               020 7946 0960;Ann;;;;;maybe;;\n";
    let answer = s.import_csv(csv).await;
    assert_eq!(answer.status.as_u16(), 200, "{answer:?}");
    let r = answer.data();
    assert_eq!(
        (
            &r["created"],
            &r["updated"],
            &r["duplicates"],
            &r["invalid"],
            &r["total"]
        ),
        (&json!(1), &json!(1), &json!(1), &json!(4), &json!(7)),
        "{r}"
    );
    let rows: Vec<u64> = r["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .map(|e| e["row"].as_u64().expect("row"))
        .collect();
    assert_eq!(rows, vec![4, 5, 6, 7, 8], "{r}");
    let reason = |row: u64| {
        r["errors"]
            .as_array()
            .and_then(|e| e.iter().find(|e| e["row"] == row))
            .and_then(|e| e["reason"].as_str())
            .unwrap_or("")
            .to_string()
    };
    assert!(reason(4).contains("phoneNumber"), "{r}");
    assert!(
        reason(5).contains("row 2"),
        "the first row with the number wins: {r}"
    );
    assert!(reason(6).contains("priority"), "{r}");
    assert!(reason(7).contains("timezone"), "{r}");
    assert!(reason(8).contains("status"), "{r}");

    let ada = s.contact_by_phone(ADA).await;
    assert_eq!(ada["name"], "Ada Lovelace");
    assert_eq!(ada["email"], "ada@example.com");
    assert_eq!(ada["tags"], json!(["vip", "west"]));
    assert_eq!(ada["priority"], 7);
    assert_eq!(ada["timezone"], "Europe/London");
    assert_eq!(ada["customFields"], json!({"Company": "Engines"}));
    // The stored contact was updated in place: given fields replaced, tags and custom
    // fields merged.
    let grace = s.contact_by_phone(GRACE).await;
    assert_eq!(grace["_id"], existing["_id"]);
    assert_eq!(grace["name"], "Grace Hopper");
    assert_eq!(grace["tags"], json!(["navy", "admiral"]));
    assert_eq!(
        grace["customFields"],
        json!({"rank": "RADM", "Company": "Navy"})
    );
    assert_eq!(s.contact_count().await, 2);
}

#[tokio::test]
async fn malformed_csv_is_refused_with_its_row_and_nothing_is_written() {
    let s = TestServer::start().await;
    s.create_contact(json!({"phoneNumber": GRACE, "name": "Grace"}))
        .await;
    let unclosed = "phone,name\n+14155552671,Ada\n+14155552672,\"Grace\n+442079460958,Alan\n";
    let answer = s.import_csv(unclosed).await;
    answer.assert_error(400, "validation_error");
    assert_eq!(answer.body["error"]["details"]["row"], 3, "{answer:?}");
    assert!(answer.message().contains("row 3"), "{answer:?}");

    let mut bytes = b"phone,name\n+14155552671,Ada\n+14155552673,".to_vec();
    bytes.extend_from_slice(&[0xC3, 0x28, b'\n']);
    let res = s
        .client
        .post(format!("{}/api/db/contacts/import", s.base))
        .bearer_auth(crate::support::KEY)
        .header("content-type", "text/csv")
        .body(bytes)
        .send()
        .await
        .expect("send");
    assert_eq!(res.status().as_u16(), 400);
    let body: Value = res.json().await.expect("json");
    assert_eq!(body["error"]["details"]["row"], 3, "{body}");

    for bad in [
        "name,email\nAda,ada@example.com\n",
        "phone,name\n+14155552671,Ada,extra\n",
        "",
    ] {
        s.import_csv(bad)
            .await
            .assert_error(400, "validation_error");
    }
    assert_eq!(s.contact_count().await, 1, "nothing half-imported");
    assert_eq!(s.contact_by_phone(GRACE).await["name"], "Grace");
}

#[tokio::test]
async fn json_import_takes_the_seeds_array() {
    let s = TestServer::start().await;
    let answer = s
        .post(
            "/api/db/contacts/import",
            json!([
                {"phoneNumber": ADA, "name": "Ada", "priority": 3, "customFields": {"n": 1}},
                {"phoneNumber": "415-555-2671", "name": "Ada again"},
                {"phoneNumber": GRACE, "status": "do-not-call"},
                {"phoneNumber": ALAN, "priority": 11}
            ]),
        )
        .await;
    let r = answer.data();
    assert_eq!(
        (&r["created"], &r["duplicates"], &r["invalid"], &r["total"]),
        (&json!(2), &json!(1), &json!(1), &json!(4)),
        "{r}"
    );
    assert_eq!(r["errors"][1]["row"], 4, "JSON rows count from 1: {r}");
    assert_eq!(s.contact_by_phone(GRACE).await["status"], "do-not-call");
    assert_eq!(s.contact_by_phone(ADA).await["customFields"]["n"], 1);

    let wrapped = s
        .post(
            "/api/db/contacts/import",
            json!({"contacts": [{"phoneNumber": ALAN}]}),
        )
        .await;
    assert_eq!(wrapped.data()["created"], 1);

    // A wrong shape anywhere refuses the whole array.
    let bad = s
        .post(
            "/api/db/contacts/import",
            json!([{"phoneNumber": "+14155552673"}, {"phoneNumber": "+14155552674", "phone": "x"}]),
        )
        .await;
    bad.assert_error(400, "validation_error");
    assert_eq!(bad.body["error"]["details"]["row"], 2);
    s.post("/api/db/contacts/import", json!({"phoneNumber": ADA}))
        .await
        .assert_error(400, "validation_error");
    s.send_raw(
        Method::POST,
        "/api/db/contacts/import",
        "text/plain",
        "phone\n",
    )
    .await
    .assert_error(415, "unsupported_media_type");
    assert_eq!(s.contact_count().await, 3);
}

#[tokio::test]
async fn imports_may_exceed_the_global_body_limit() {
    let s = TestServer::start_with(&["--body-limit-bytes=2000"]).await;
    let mut csv = String::from("phone,notes\n");
    for i in 0..50 {
        csv.push_str(&format!("+1415555{:04},{}\n", 2600 + i, "n".repeat(100)));
    }
    assert!(csv.len() > 2000);
    let answer = s.import_csv(csv.clone()).await;
    assert_eq!(answer.status.as_u16(), 200, "{answer:?}");
    assert_eq!(answer.data()["created"], 50);
    // Other routes keep the global limit.
    s.post(
        "/api/db/contacts",
        json!({"phoneNumber": ADA, "notes": "n".repeat(3000)}),
    )
    .await
    .assert_error(413, "payload_too_large");
}

/// Parses an export into (header, records).
fn parse_export(text: &str) -> (Vec<String>, Vec<Vec<String>>) {
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header = reader
        .headers()
        .expect("header")
        .iter()
        .map(String::from)
        .collect();
    let rows = reader
        .records()
        .map(|r| r.expect("record").iter().map(String::from).collect())
        .collect();
    (header, rows)
}

#[tokio::test]
async fn export_round_trips_what_was_created() {
    let s = TestServer::start().await;
    let ada = s
        .create_contact(json!({
            "phoneNumber": ADA, "name": "Ada, Countess", "email": "ada@example.com",
            "tags": ["vip", "west"], "notes": "line one\n\"quoted\"", "priority": 9,
            "timezone": "Europe/London", "customFields": {"company": "Engines"}
        }))
        .await;
    let grace = s
        .create_contact(json!({"phoneNumber": GRACE, "status": "do-not-call"}))
        .await;
    let res = s
        .client
        .get(format!("{}/api/db/contacts/export", s.base))
        .bearer_auth(crate::support::KEY)
        .send()
        .await
        .expect("export");
    assert_eq!(res.status().as_u16(), 200);
    let content_type = res.headers()["content-type"]
        .to_str()
        .unwrap_or("")
        .to_string();
    assert!(content_type.starts_with("text/csv"), "{content_type}");
    let text = res.text().await.expect("body");
    let (header, rows) = parse_export(&text);
    assert_eq!(
        header,
        vec![
            "id",
            "phoneNumber",
            "name",
            "email",
            "status",
            "priority",
            "tags",
            "timezone",
            "callCount",
            "lastContacted",
            "notes",
            "customFields"
        ]
    );
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0],
        vec![
            id_of(&ada),
            ADA.to_string(),
            "Ada, Countess".into(),
            "ada@example.com".into(),
            "active".into(),
            "9".into(),
            "vip;west".into(),
            "Europe/London".into(),
            "0".into(),
            String::new(),
            "line one\n\"quoted\"".into(),
            r#"{"company":"Engines"}"#.into(),
        ]
    );
    assert_eq!(rows[1][0], id_of(&grace));
    assert_eq!(rows[1][4], "do-not-call");

    let filtered = s
        .get(&with_query(
            "/api/db/contacts/export",
            &[("status", "do-not-call")],
        ))
        .await;
    let (_, rows) = parse_export(filtered.body.as_str().expect("csv text"));
    assert_eq!(rows.len(), 1);
    assert_eq!(rows[0][0], id_of(&grace));
    s.get(&with_query("/api/db/contacts/export", &[("page", "2")]))
        .await
        .assert_error(400, "validation_error");
}

#[tokio::test]
async fn export_pages_through_many_contacts() {
    let s = TestServer::start().await;
    let mut csv = String::from("phone\n");
    for i in 0..1_234 {
        csv.push_str(&format!("+1415555{:04}\n", 3000 + i));
    }
    assert_eq!(s.import_csv(csv).await.data()["created"], 1_234);
    let export = s.get("/api/db/contacts/export").await;
    let (_, rows) = parse_export(export.body.as_str().expect("csv text"));
    assert_eq!(rows.len(), 1_234);
    let distinct: std::collections::HashSet<&String> = rows.iter().map(|r| &r[1]).collect();
    assert_eq!(distinct.len(), 1_234, "every contact once");
}

#[tokio::test]
async fn import_into_a_campaign_enrolls_each_contact_once() {
    let s = TestServer::start().await;
    let campaign = s
        .store
        .insert_campaign(Campaign::new("spring"))
        .await
        .expect("campaign");
    let draft =
        |row: usize, phone: &str, status: Option<&str>, priority: Option<&str>| ContactDraft {
            row,
            phone_number: phone.into(),
            status: status.map(String::from),
            priority: priority.map(String::from),
            ..ContactDraft::default()
        };
    let rows = vec![
        draft(2, ADA, None, Some("5")),
        draft(3, GRACE, Some("do-not-call"), None),
        draft(4, "nope", None, None),
    ];
    let seen = std::sync::Mutex::new(Vec::new());
    let report = contacts::import_contacts(
        s.store.as_ref(),
        Region::default(),
        rows.clone(),
        Some(campaign.id),
        &|n| seen.lock().expect("lock").push(n),
    )
    .await
    .expect("import");
    assert_eq!(
        (report.created, report.invalid, report.enrolled),
        (2, 1, Some(2))
    );
    assert_eq!(
        seen.lock().expect("lock").last(),
        Some(&3),
        "progress reaches every row"
    );

    let page =
        PageRequest::new(None, None, outcall_domain::page::Sort::desc("priority")).expect("page");
    let dial = s
        .store
        .list_campaign_contacts(campaign.id, None, &page)
        .await
        .expect("list");
    assert_eq!(dial.total, 2);
    let ada = &dial.items[0];
    assert_eq!(
        (ada.phone_number.as_str(), ada.status, ada.priority),
        (ADA, DialStatus::Pending, 5)
    );
    let grace = &dial.items[1];
    assert_eq!(grace.status, DialStatus::Skipped);
    assert_eq!(grace.skip_reason, Some(SkipReason::DoNotCall));
    let members = s
        .store
        .list_contacts(
            &ContactFilter {
                campaign_id: Some(campaign.id),
                ..ContactFilter::default()
            },
            &page_by_created(),
        )
        .await
        .expect("members");
    assert_eq!(members.total, 2);

    // Importing again updates and enrolls nobody twice; totalContacts counts each once.
    let again = contacts::import_contacts(
        s.store.as_ref(),
        Region::default(),
        rows,
        Some(campaign.id),
        &|_| {},
    )
    .await
    .expect("import again");
    assert_eq!((again.updated, again.enrolled), (2, Some(0)));
    let stored = s
        .store
        .get_campaign(campaign.id)
        .await
        .expect("get")
        .expect("campaign");
    assert_eq!(stored.stats.total_contacts, 2);
    let contact = s
        .store
        .get_contact_by_phone(ADA)
        .await
        .expect("get")
        .expect("ada");
    assert!(
        !contacts::enroll(s.store.as_ref(), campaign.id, &contact)
            .await
            .expect("enroll")
    );

    let missing = contacts::import_contacts(
        s.store.as_ref(),
        Region::default(),
        Vec::new(),
        Some(ObjectId::new()),
        &|_| {},
    )
    .await;
    assert!(matches!(
        missing,
        Err(contacts::ImportError::CampaignNotFound(_))
    ));
}

fn page_by_created() -> PageRequest {
    PageRequest::new(None, None, outcall_domain::page::Sort::desc("createdAt")).expect("page")
}

fn outcall(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_outcall"))
        .args(args)
        .env("DATABASE_URL", format!("sqlite://{}/cli.db", dir.display()))
        .env("DEFAULT_REGION", "GB")
        .current_dir(dir)
        .output()
        .expect("run outcall")
}

#[tokio::test]
async fn the_cli_imports_a_file_and_refuses_a_malformed_one() {
    let dir = tempfile::tempdir().expect("tempdir");
    let good = dir.path().join("good.csv");
    std::fs::write(
        &good,
        "phone,name\n020 7946 0958,Alan\n+14155552671,Ada\n123,Bad\n020 7946 0958,Twice\n",
    )
    .expect("write");
    let out = outcall(
        dir.path(),
        &["contacts", "import", good.to_str().expect("path")],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("2 created, 0 updated, 1 duplicates, 1 invalid"),
        "{stdout}"
    );
    assert!(
        stdout.contains("row 4:") && stdout.contains("row 5:"),
        "{stdout}"
    );

    let bad = dir.path().join("bad.csv");
    std::fs::write(&bad, "phone,name\n+14155552672,\"Grace\n").expect("write");
    let out = outcall(
        dir.path(),
        &["contacts", "import", bad.to_str().expect("path")],
    );
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("row 2"), "{stderr}");

    let store = outcall_store_sqlite::SqliteStore::open(&format!(
        "sqlite://{}/cli.db",
        dir.path().display()
    ))
    .await
    .expect("open");
    let all = store
        .list_contacts(&ContactFilter::default(), &page_by_created())
        .await
        .expect("list");
    assert_eq!(all.total, 2, "the malformed file wrote nothing");
    assert!(
        store
            .get_contact_by_phone(ALAN)
            .await
            .expect("get")
            .is_some(),
        "national numbers read with DEFAULT_REGION"
    );
}
