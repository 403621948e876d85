//! Vendored static files, compiled into the binary so the app works offline and from any working
//! directory. Pages link them with `?v=<version>`, so they can be cached for a year.

use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::error::AppError;

/// Cache-busting token appended to static URLs.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

const FILES: &[(&str, &str, &[u8])] = &[
    ("licentia.css", "text/css; charset=utf-8", include_bytes!("../../../static/licentia.css")),
    ("htmx.min.js", "text/javascript; charset=utf-8", include_bytes!("../../../static/htmx.min.js")),
    ("licentia.js", "text/javascript; charset=utf-8", include_bytes!("../../../static/licentia.js")),
    // The API reference's viewer: swagger-ui-dist from npm, unchanged (static/swagger-ui/VERSION).
    ("swagger-ui-bundle.js", "text/javascript; charset=utf-8", include_bytes!("../../../static/swagger-ui/swagger-ui-bundle.js")),
    ("swagger-ui.css", "text/css; charset=utf-8", include_bytes!("../../../static/swagger-ui/swagger-ui.css")),
    ("api-docs.js", "text/javascript; charset=utf-8", include_bytes!("../../../static/api-docs.js")),
];

pub async fn serve(name: web::Path<String>) -> crate::error::Reply<HttpResponse> {
    let (_, content_type, body) = FILES.iter().find(|(n, _, _)| *n == name.as_str()).ok_or(AppError::NotFound)?;
    Ok(HttpResponse::Ok().content_type(*content_type).insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable")).body(*body))
}
