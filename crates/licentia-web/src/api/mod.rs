//! The JSON API under `/api/v1`.

pub mod audit;
pub mod auth;
pub mod organisations;
pub mod users;
