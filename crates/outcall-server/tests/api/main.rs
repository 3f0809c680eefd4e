//! The HTTP API, driven over real HTTP against a server on an ephemeral port.

mod support;

mod analytics;
mod archive;
mod cache;
mod calling;
mod calls;
mod campaigns;
mod chaos;
mod cli;
mod contacts;
mod conventions;
mod conversation;
mod crash;
mod drain;
mod engine;
mod events;
mod faults;
mod guards;
mod live;
mod media;
mod mongo_shard;
mod recordings;
mod seed_docs;
mod sheets;
mod transcripts;
mod web;
mod webhooks;
