//! The Licentia binary's library half: configuration, database resolution, the demo workspace,
//! the commands. `main.rs` only parses the command line and calls [`cli::run`].

pub mod cli;
pub mod config;
pub mod database;
pub mod demo;
pub mod rotation;
pub mod serve;
