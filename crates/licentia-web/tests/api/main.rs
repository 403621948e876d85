//! Integration tests of the HTTP layer: real HTTP, real PostgreSQL, real keys.

mod helpers;

mod agreement_pages;
mod agreements;
mod audit_log;
mod artifacts;
mod assets;
mod auth;
mod authz;
mod bad_input;
mod escaping;
mod pages;
mod security;
mod portfolio;
mod training;
mod visibility;
mod xss;
