//! Browser pages: one askama struct per template, rendered through askama_web.

pub mod account;
pub mod admin;
pub mod agreements;
pub mod asset_form;
pub mod assets;
pub mod audit;
pub mod home;
pub mod identity;
pub mod login;
pub mod organisation;
pub mod portfolio;
pub mod training;
pub mod webhooks;

// The layout pieces every page uses; they live below the pages (in `crate::layout`) so that the
// error pages and the upload handlers can use them without depending on the pages.
pub use crate::layout::{Nav, back, flash_from, see_other, see_other_with};
