//! Two stores on one database file, as two processes (two servers, or a server and the
//! CLI) have them: each has its own writer connection, so their compare-and-set
//! writes race for real. A write that lost to the other process's must be decided
//! again, never lost nor applied twice.

use std::collections::HashSet;
use std::sync::Arc;

use chrono::TimeDelta;
use outcall_domain::ObjectId;
use outcall_domain::attempt::{Attempt, Event};
use outcall_domain::campaign::{Campaign, StatsDelta};
use outcall_domain::campaign_contact::{CampaignContact, Claim, Stage};
use outcall_domain::contact::Contact;
use outcall_domain::time;
use outcall_store::{CampaignContactStore, CampaignStore, ContactStore};
use outcall_store_sqlite::SqliteStore;

async fn two_stores() -> (tempfile::TempDir, Arc<SqliteStore>, Arc<SqliteStore>) {
    let dir = tempfile::tempdir().expect("tempdir");
    let url = format!("sqlite://{}", dir.path().join("shared.db").display());
    let a = SqliteStore::open(&url).await.expect("open a");
    let b = SqliteStore::open(&url).await.expect("open b");
    (dir, Arc::new(a), Arc::new(b))
}

fn claim(owner: &str, attempt: String) -> Claim {
    let now = time::now();
    Claim {
        owner: owner.into(),
        attempt_id: attempt,
        now,
        expires_at: now + TimeDelta::seconds(60),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn claims_of_two_processes_never_share_a_contact() {
    let (_dir, a, b) = two_stores().await;
    let campaign = ObjectId::new();
    let mut enrolled = HashSet::new();
    for i in 0..40 {
        let cc = CampaignContact::new(campaign, ObjectId::new(), format!("+1415555{i:04}"));
        enrolled.insert(cc.contact_id);
        a.upsert_campaign_contact(cc).await.expect("enroll");
    }
    let mut tasks = Vec::new();
    for (w, store) in [a.clone(), b.clone(), a, b].into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let mut got = Vec::new();
            for i in 0.. {
                let owner = format!("w{w}");
                let c = claim(&owner, format!("{owner}-{i}"));
                match store.claim_campaign_contact(campaign, &c).await {
                    Ok(Some(cc)) => {
                        let lease = cc.lease.as_ref().expect("claimed with a lease");
                        assert_eq!(lease.attempt_id, c.attempt_id);
                        got.push(cc.contact_id);
                    }
                    Ok(None) => break,
                    Err(e) => panic!("claim: {e}"),
                }
            }
            got
        }));
    }
    let mut all = Vec::new();
    for t in tasks {
        all.extend(t.await.expect("claimer"));
    }
    assert_eq!(
        all.len(),
        enrolled.len(),
        "every contact claimed exactly once"
    );
    assert_eq!(all.into_iter().collect::<HashSet<_>>(), enrolled);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stats_added_by_two_processes_all_count() {
    let (_dir, a, b) = two_stores().await;
    let campaign = a
        .insert_campaign(Campaign::new("two writers"))
        .await
        .expect("insert campaign");
    let contact = a
        .insert_contact(Contact::new("+14155550123"))
        .await
        .expect("insert contact");
    let mut tasks = Vec::new();
    for store in [a.clone(), b.clone(), a.clone(), b.clone()] {
        tasks.push(tokio::spawn(async move {
            for _ in 0..25 {
                let delta = StatsDelta {
                    calls_placed: 1,
                    ..Default::default()
                };
                store
                    .add_campaign_stats(campaign.id, &delta)
                    .await
                    .expect("add stats")
                    .expect("campaign exists");
                store
                    .record_contact_call(contact.id, ObjectId::new(), time::now())
                    .await
                    .expect("record call")
                    .expect("contact exists");
            }
        }));
    }
    for t in tasks {
        t.await.expect("writer");
    }
    for store in [&a, &b] {
        let c = store
            .get_campaign(campaign.id)
            .await
            .expect("get")
            .expect("campaign");
        assert_eq!(c.stats.calls_placed, 100, "no increment lost or doubled");
        let k = store
            .get_contact(contact.id)
            .await
            .expect("get")
            .expect("contact");
        assert_eq!(k.call_count, 100);
        assert_eq!(k.call_ids.len(), 100);
    }
}

/// The owner's step and another process's take-over race on one attempt: exactly one
/// of them applies, whichever process each runs in.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_step_and_a_take_over_from_two_processes_apply_once() {
    let (_dir, a, b) = two_stores().await;
    let campaign = ObjectId::new();
    for round in 0..20 {
        let cc = CampaignContact::new(campaign, ObjectId::new(), format!("+1415666{round:04}"));
        a.upsert_campaign_contact(cc).await.expect("enroll");
        let claimed = a
            .claim_campaign_contact(campaign, &claim("owner-a", format!("r{round}")))
            .await
            .expect("claim")
            .expect("a contact is due");
        let send = Attempt::of(&claimed)
            .transition(Event::Send { at: time::now() })
            .expect("send from claimed");
        let later = time::now() + TimeDelta::seconds(120);
        let take = Attempt::of(&claimed)
            .transition(Event::TakeOver {
                owner: "owner-b",
                now: later,
                expires_at: later + TimeDelta::seconds(60),
            })
            .expect("take over a claimed attempt");
        let (sent, taken) = tokio::join!(
            a.step_attempt(campaign, claimed.contact_id, &send.guard, &send.step),
            b.step_attempt(campaign, claimed.contact_id, &take.guard, &take.step),
        );
        let (sent, taken) = (sent.expect("send"), taken.expect("take over"));
        assert!(
            sent.is_some() != taken.is_some(),
            "round {round}: exactly one applies (sent {}, taken {})",
            sent.is_some(),
            taken.is_some()
        );
        let stored = a
            .get_campaign_contact(campaign, claimed.contact_id)
            .await
            .expect("get")
            .expect("pair");
        let winner = sent.or(taken).expect("one applied");
        assert_eq!(stored, winner, "the stored pair is the winner's write");
        if Stage::of(&stored) == Stage::Sent {
            assert_eq!(
                stored.lease.as_ref().map(|l| l.owner.as_str()),
                Some("owner-a")
            );
        }
        a.cancel_campaign_contacts(campaign).await.expect("cancel");
    }
}

/// Each store remembers the documents it last wrote and writes over them without a
/// read; the other process's writes since must still be seen: a write expecting the
/// remembered document misses and is decided again on the stored one, and so is a
/// refusal decided on the remembered document.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_decides_on_the_other_process_s_last_write_not_on_its_own() {
    use outcall_domain::CampaignAction;
    use outcall_store::Transition;
    let (_dir, a, b) = two_stores().await;
    let campaign = a
        .insert_campaign(Campaign::new("remembered"))
        .await
        .expect("insert campaign");
    let applied = |t: Transition| matches!(t, Transition::Applied(_));
    assert!(applied(
        a.transition_campaign(campaign.id, CampaignAction::Start)
            .await
            .expect("start")
    ));
    // `a` last wrote it active; `b` pauses it: `a` must not open a dial.
    assert!(applied(
        b.transition_campaign(campaign.id, CampaignAction::Pause)
            .await
            .expect("pause")
    ));
    let t = time::now();
    let later = t + TimeDelta::seconds(60);
    let opened = a
        .open_campaign_dial(campaign.id, "owner-a", "d1", t, later)
        .await
        .expect("open");
    assert!(opened.is_none(), "a paused campaign opens no dial");
    // `a` last saw it paused; `b` resumes it: `a` must open the dial now.
    assert!(applied(
        b.transition_campaign(campaign.id, CampaignAction::Resume)
            .await
            .expect("resume")
    ));
    let opened = a
        .open_campaign_dial(campaign.id, "owner-a", "d2", t, later)
        .await
        .expect("open")
        .expect("an active campaign opens its dial");
    assert!(opened.dials.contains_key("d2"));
    let stored = b
        .get_campaign(campaign.id)
        .await
        .expect("get")
        .expect("campaign");
    assert_eq!(stored, opened, "the stored campaign is `a`'s write");

    // The attempt: `a` claimed it (and remembers it so), `b` took it over.
    let cc = CampaignContact::new(campaign.id, ObjectId::new(), "+14155557001");
    a.upsert_campaign_contact(cc).await.expect("enroll");
    let claimed = a
        .claim_campaign_contact(campaign.id, &claim("owner-a", "a-1".into()))
        .await
        .expect("claim")
        .expect("a contact is due");
    let later = time::now() + TimeDelta::seconds(120);
    let take = Attempt::of(&claimed)
        .transition(Event::TakeOver {
            owner: "owner-b",
            now: later,
            expires_at: later + TimeDelta::seconds(60),
        })
        .expect("take over a claimed attempt");
    let taken = b
        .step_attempt(campaign.id, claimed.contact_id, &take.guard, &take.step)
        .await
        .expect("take over")
        .expect("taken over");
    // `a`'s own next step (as the owner it remembers) must lose.
    let send = Attempt::of(&claimed)
        .transition(Event::Send { at: time::now() })
        .expect("send from claimed");
    let lost = a
        .step_attempt(campaign.id, claimed.contact_id, &send.guard, &send.step)
        .await
        .expect("send");
    assert!(
        lost.is_none(),
        "the old owner's step loses to the take-over"
    );
    // A step of the new owner's, written through `a`, applies: refused on what `a`
    // remembers, admitted on what is stored.
    let release = Attempt::of(&taken)
        .transition(Event::Release)
        .expect("release a claimed attempt");
    let released = a
        .step_attempt(
            campaign.id,
            claimed.contact_id,
            &release.guard,
            &release.step,
        )
        .await
        .expect("release")
        .expect("the new owner's step applies");
    let stored = b
        .get_campaign_contact(campaign.id, claimed.contact_id)
        .await
        .expect("get")
        .expect("pair");
    assert_eq!(stored, released);
    assert_eq!(Stage::of(&stored), Stage::Waiting);
}

/// A contact's call count is one `UPDATE … RETURNING`: it must commit at once, leaving
/// no write transaction open on the writer connection (the other process would wait
/// on its lock, this one could not begin a transaction).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_recorded_call_leaves_no_write_open() {
    let (_dir, a, b) = two_stores().await;
    let contact = a
        .insert_contact(Contact::new("+14155557002"))
        .await
        .expect("insert contact");
    let recorded = a
        .record_contact_call(contact.id, ObjectId::new(), time::now())
        .await
        .expect("record call")
        .expect("contact exists");
    assert_eq!(recorded.call_count, 1);
    let started = std::time::Instant::now();
    b.insert_contact(Contact::new("+14155557003"))
        .await
        .expect("the other process writes");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(2),
        "the other process waited {:?} for a lock",
        started.elapsed()
    );
    a.insert_contact(Contact::new("+14155557004"))
        .await
        .expect("this process begins a transaction");
    let stored = b
        .get_contact(contact.id)
        .await
        .expect("get")
        .expect("contact");
    assert_eq!(stored, recorded, "the count is stored as returned");
}
