//! Licentia's HTTP layer: actix-web routes (HTML for people, JSON under `/api/v1` for programs),
//! authentication, the route table with its permissions, CSRF, and askama pages.

pub mod api;
pub mod audit_query;
pub mod auth;
pub mod context;
pub mod csv_export;
pub mod error;
pub mod layout;
pub mod openapi;
pub mod ops;
pub mod pages;
pub mod routes;
pub mod static_files;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceFactory, ServiceRequest, ServiceResponse};
use actix_web::middleware::from_fn;
use actix_web::{App, web};

pub use error::AppError;
pub use licentia_app::state::{AppState, Settings as WebSettings};

/// The application's state, settings and metrics live in the use-case layer; the web face reaches
/// them under their old paths.
pub mod state {
    pub use licentia_app::state::{AppState, Inner, Settings as WebSettings};
}

/// The whole application, ready for `HttpServer::new` or the test server.
pub fn app(
    state: AppState,
) -> App<impl ServiceFactory<ServiceRequest, Config = (), Response = ServiceResponse<impl MessageBody>, Error = actix_web::Error, InitError = ()>> {
    let json_limit = state.settings.json_limit;
    let form_limit = state.settings.form_limit;
    App::new()
        .app_data(web::Data::new(state))
        .app_data(web::JsonConfig::default().limit(json_limit).error_handler(context::json_error))
        .app_data(web::FormConfig::default().limit(form_limit).error_handler(context::form_error))
        .app_data(web::QueryConfig::default().error_handler(context::query_error))
        .app_data(web::PathConfig::default().error_handler(context::path_error))
        .app_data(web::PayloadConfig::default().limit(json_limit.max(form_limit)))
        .configure(routes::configure)
        .default_service(web::to(|| async { Err::<actix_web::HttpResponse, _>(error::HttpError(AppError::NotFound)) }))
        .wrap(from_fn(routes::authorize))
        .wrap(from_fn(layout::error_pages))
        .wrap(from_fn(context::outer))
}
