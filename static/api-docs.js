// Starts the vendored Swagger UI on /api/docs (an external file: the CSP allows no inline script).
window.addEventListener("DOMContentLoaded", function () {
  window.ui = SwaggerUIBundle({
    url: "/api/v1/openapi.json",
    dom_id: "#swagger-ui",
    deepLinking: true,
    // "Try it out" sends requests with the browser's session cookie; state changes also need the
    // CSRF token, so programs should use a bearer token (Authorize button).
    tryItOutEnabled: false,
  });
});
