//! The JSON API under `/api/v1` (and the few downloads and form posts that share its handlers:
//! artifact uploads, the registry's CSV, calendar feeds). Handlers parse, call one use case in
//! `licentia-app` and render; the browser pages are in `crate::pages`.

pub mod agreements;
pub mod artifacts;
pub mod asset_csv;
pub mod assets;
pub mod audit;
pub mod auth;
pub mod calendar;
pub mod export;
pub mod identity;
pub mod models;
pub mod organisations;
pub mod portfolio;
pub mod training;
pub mod users;
pub mod webhooks;
