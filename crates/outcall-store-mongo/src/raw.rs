//! [`RawDocumentStore`]: a document as another system wrote it. Extended JSON
//! (`$oid`, `$date`) becomes the BSON types a Mongoose app stores; nothing else is
//! converted, so a `campaignId` given as a string stays a string.

use async_trait::async_trait;
use bson::{Bson, Document};
use outcall_store::raw::RawDocumentStore;
use outcall_store::{StoreError, StoreResult};
use serde_json::{Map, Value};

use crate::mapping::{CALLS, CAMPAIGNS, CONTACTS, EVENTS, RECORDINGS, TRANSCRIPTS};
use crate::{MongoStore, db_err};

#[async_trait]
impl RawDocumentStore for MongoStore {
    async fn insert_raw(&self, collection: &str, doc: Map<String, Value>) -> StoreResult<()> {
        let known = [
            &CALLS,
            &RECORDINGS,
            &TRANSCRIPTS,
            &EVENTS,
            &CAMPAIGNS,
            &CONTACTS,
        ];
        let Some(schema) = known.into_iter().find(|s| s.name == collection) else {
            return Err(StoreError::Internal(format!(
                "raw documents of {collection:?} are not supported"
            )));
        };
        let doc = match Bson::try_from(Value::Object(doc)) {
            Ok(Bson::Document(d)) => d,
            Ok(other) => {
                return Err(StoreError::Internal(format!("not a document: {other}")));
            }
            Err(e) => return Err(StoreError::Internal(format!("extended JSON: {e}"))),
        };
        self.db
            .collection::<Document>(schema.name)
            .insert_one(doc)
            .await
            .map_err(|e| db_err(e, &[]))?;
        Ok(())
    }
}
