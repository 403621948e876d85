//! Integration tests of the HTTP layer: real HTTP, real PostgreSQL, real keys.

mod helpers;

mod agreement_pages;
mod agreements;
mod artifacts;
mod asset_pages;
mod assets;
mod audit_log;
mod auth;
mod authz;
mod bad_input;
mod compliance;
mod docketing;
mod escaping;
mod hostile_input;
mod identity;
mod layering;
mod models;
mod notifications;
mod openapi;
mod pages;
mod portfolio;
mod security;
mod training;
mod visibility;
mod webhooks;
mod xss;
