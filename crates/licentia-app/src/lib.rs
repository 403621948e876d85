//! Licentia's use-case layer: who is acting ([`Actor`]) and the one policy that decides, per kind
//! of object, whether an actor may see it and which view of it ([`policy`]). Every face (the JSON
//! API, the pages, print, PDF, server-sent events, exports) asks here; none decides on its own.
//!
//! Layering: `domain ← crypto/store/db/audit/train ← app ← web ← licentia`. This crate links no
//! HTTP framework (`cargo tree -p licentia-app -e normal -i actix-web` finds nothing).

pub mod account;
pub mod actor;
pub mod admin;
pub mod agreements;
pub mod artifacts;
pub mod assets;
pub mod checkpoints;
pub(crate) mod credentials;
pub mod docket;
pub mod error;
pub mod evidence;
pub mod export;
pub mod factors;
pub mod inbox;
pub mod mail;
pub mod metrics;
pub mod models;
pub mod notify;
pub mod pdf;
pub mod policy;
pub mod receipts;
pub mod rejections;
pub mod reset;
pub mod state;
pub mod training;
pub mod upload;
pub mod webhooks;
pub mod worker;

pub use actor::Actor;
pub use error::{AppError, AppResult};
pub use state::{AppState, Settings};
