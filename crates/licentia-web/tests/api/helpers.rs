//! `spawn_app()`: a real server over real HTTP (actix's test server) on a fresh, migrated database,
//! with one seeded user per role and two licensee organisations.

use std::collections::HashMap;

use actix_web::http::StatusCode;
use licentia_crypto::KeyMaterial;
use licentia_db::testing::TestDb;
use licentia_db::{organisations, users};
use licentia_domain::{Email, OrgKind, OrgName, OrganisationId, Role, UserId};
use licentia_web::{AppState, WebSettings};

use serde_json::Value;

pub type TestResult = Result<(), Box<dyn std::error::Error>>;
pub type Res<T> = Result<T, Box<dyn std::error::Error>>;

pub const PASSWORD: &str = "correct horse battery staple";

pub struct Account {
    pub id: UserId,
    pub email: String,
}

pub struct TestApp {
    pub srv: actix_test::TestServer,
    /// A client that does not follow redirects, so tests see the 303s themselves.
    pub client: awc::Client,
    pub t: TestDb,
    pub keys: KeyMaterial,
    pub dir: std::path::PathBuf,
    pub store: licentia_store::BlobStore,
    /// The server's state, for driving workers from tests.
    pub state: AppState,
    pub accounts: HashMap<&'static str, Account>,
    pub licensor: OrganisationId,
    pub licensee_a: OrganisationId,
    pub licensee_b: OrganisationId,
    _dir: TempDir,
}

pub struct TempDir(pub std::path::PathBuf);
impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A parsed response: status, headers, body.
pub struct Reply {
    pub status: StatusCode,
    pub headers: actix_web::http::header::HeaderMap,
    pub body: String,
    /// The body as it came, for binary answers.
    pub bytes: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or(Value::Null)
    }
    pub fn header(&self, name: &str) -> Option<String> {
        self.headers.get(name).and_then(|v| v.to_str().ok()).map(str::to_owned)
    }
    /// All `Set-Cookie` headers.
    pub fn set_cookies(&self) -> Vec<String> {
        self.headers.get_all("set-cookie").filter_map(|v| v.to_str().ok().map(str::to_owned)).collect()
    }
    pub fn cookie_value(&self, name: &str) -> Option<String> {
        self.set_cookies().iter().find_map(|c| c.strip_prefix(&format!("{name}=")).map(|rest| rest.split(';').next().unwrap_or("").to_owned()))
    }
    pub fn error_code(&self) -> Option<String> {
        self.json()["error"]["code"].as_str().map(str::to_owned)
    }
}

pub async fn spawn_app() -> Res<TestApp> {
    spawn_with(|_| {}).await
}

pub async fn spawn_with(tweak: impl FnOnce(&mut WebSettings)) -> Res<TestApp> {
    spawn_full(tweak, None).await
}

/// With a given blob store (the S3 tests); `None` is the local store under the test's folder.
pub async fn spawn_full(tweak: impl FnOnce(&mut WebSettings), store: Option<licentia_store::BlobStore>) -> Res<TestApp> {
    let t = TestDb::migrated().await?;
    let dir = std::env::temp_dir().join(format!("licentia-web-test-{}", uuid::Uuid::new_v4()));
    let keys = KeyMaterial::load(&dir.join("keys"), true)?;
    let mut settings = WebSettings::for_data_dir(&dir);
    tweak(&mut settings);
    let keyring = licentia_crypto::KeyRing::load(&dir.join("keys/master"), true)?;
    let store = store.unwrap_or_else(|| licentia_store::BlobStore::Local(licentia_store::LocalStore::new(dir.join("blobs"))));
    // The application runs as it does in production, on the least-privileged role; the test keeps
    // the owner's pool (`t.db`) to seed and to tamper.
    let state = AppState::new(t.db.restricted().await?, &keys, keyring, store, settings)?;

    let mut conn = t.db.pool.acquire().await?;
    let org = |n: &str| OrgName::parse(n).map_err(|e| e.to_string());
    let licensor = organisations::insert(&mut conn, &org("Aurora Innovations")?, OrgKind::Licensor).await?.id;
    let licensee_a = organisations::insert(&mut conn, &org("Borealis Analytics")?, OrgKind::Licensee).await?.id;
    let licensee_b = organisations::insert(&mut conn, &org("Cirrus Robotics")?, OrgKind::Licensee).await?.id;
    // Where each is established (export control and the country a run is used in decide by it).
    for (id, country) in [(licensor, "US"), (licensee_a, "DE"), (licensee_b, "FR")] {
        organisations::set_country(&mut conn, id, Some(country)).await?;
    }
    // A licensor requires a second factor of its admins and managers by default; the tests of
    // everything else log in with a password, so the fixture turns that off. The second-factor
    // tests (`identity.rs`) prove the default on a fresh licensor and turn it back on.
    organisations::set_second_factor_roles(&mut conn, licensor, &[]).await?;
    let hash = licentia_crypto::password::hash(PASSWORD)?;
    let mut accounts = HashMap::new();
    for (key, email, role, org) in [
        ("admin", "admin@aurora.example", Role::Admin, licensor),
        ("manager", "manager@aurora.example", Role::Manager, licensor),
        // A second manager: four-eyes approval needs one who did not write the version.
        ("reviewer", "reviewer@aurora.example", Role::Manager, licensor),
        ("auditor", "auditor@aurora.example", Role::Auditor, licensor),
        ("licensee", "licensee@borealis.example", Role::Licensee, licensee_a),
        ("licensee_b", "licensee@cirrus.example", Role::Licensee, licensee_b),
    ] {
        let e = Email::parse(email)?;
        let id = users::insert(&mut conn, users::NewUser { organisation_id: org, email: &e, display_name: key, password_hash: &hash, role }).await?;
        accounts.insert(key, Account { id, email: email.to_owned() });
    }
    drop(conn);
    let app_state = state.clone();
    let srv = actix_test::start(move || licentia_web::app(app_state.clone()));
    // awc gives up after 5 s by default; a 10,000-row import in an unoptimised test build on two
    // busy cores can take longer, and a timeout there says nothing about the code.
    let client = awc::Client::builder().disable_redirects().timeout(std::time::Duration::from_secs(120)).finish();
    Ok(TestApp {
        srv,
        client,
        t,
        keys,
        dir: dir.clone(),
        store: state.store.clone(),
        state: state.clone(),
        accounts,
        licensor,
        licensee_a,
        licensee_b,
        _dir: TempDir(dir),
    })
}

/// Every JSON answer of an `/api/v1` route is checked against the schema that the OpenAPI
/// document names for its route and status: a field renamed, dropped or retyped, or a status the
/// document does not list, fails the test that saw it.
fn check_against_document(method: &actix_web::http::Method, path: &str, reply: &Reply) -> Res<()> {
    use std::sync::{Mutex, OnceLock};
    if !path.starts_with("/api/v1/") {
        return Ok(());
    }
    let is_json = reply.header("content-type").is_some_and(|c| c.starts_with("application/json"));
    let Some(template) = licentia_web::routes::template_of(method, path) else { return Ok(()) };
    let doc = &licentia_web::routes::openapi_document().0;
    let op = &doc["paths"][template][method.as_str().to_ascii_lowercase()];
    if op.is_null() {
        return Err(format!("{method} {template} answered but is not in the OpenAPI document").into());
    }
    let status = reply.status.as_u16();
    let documented = &op["responses"][status.to_string()];
    if documented.is_null() {
        return Err(format!(
            "{method} {template} answered {status}, which the OpenAPI document does not list: {}",
            reply.body.chars().take(400).collect::<String>()
        )
        .into());
    }
    let media = reply.header("content-type").unwrap_or_default().split(';').next().unwrap_or_default().trim().to_owned();
    if !media.is_empty() && !documented["content"].is_null() && documented["content"][&media].is_null() && documented["content"]["*/*"].is_null() {
        return Err(format!("{method} {template} {status} answered {media}; the document lists {}", documented["content"]).into());
    }
    let Some(schema) = documented["content"]["application/json"]["schema"].as_object().filter(|_| is_json) else { return Ok(()) };
    static VALIDATORS: OnceLock<Mutex<HashMap<String, std::sync::Arc<jsonschema::Validator>>>> = OnceLock::new();
    let key = format!("{method} {template} {status}");
    let cache = VALIDATORS.get_or_init(Default::default);
    let validator = {
        let mut cache = cache.lock().map_err(|_| "validator cache poisoned")?;
        match cache.get(&key) {
            Some(v) => v.clone(),
            None => {
                // The response's schema at the root, beside the components its $refs point into.
                let mut root = schema.clone();
                root.insert("components".into(), doc["components"].clone());
                let v = std::sync::Arc::new(
                    jsonschema::validator_for(&Value::Object(root)).map_err(|e| format!("{key}: the document's schema does not compile: {e}"))?,
                );
                cache.insert(key.clone(), v.clone());
                v
            }
        }
    };
    let body: Value = serde_json::from_str(&reply.body).map_err(|e| format!("{key}: not JSON: {e}"))?;
    let errors: Vec<String> = validator.iter_errors(&body).map(|e| format!("{} at {}", e, e.instance_path())).take(5).collect();
    let excerpt: String = reply.body.chars().take(400).collect();
    if errors.is_empty() { Ok(()) } else { Err(format!("{key}: the answer does not match the OpenAPI document: {}\n{excerpt}", errors.join("; ")).into()) }
}

async fn checked<S>(method: actix_web::http::Method, path: String, res: awc::ClientResponse<S>) -> Res<Reply>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_http::error::PayloadError>> + Unpin,
{
    let reply = into_reply(res).await?;
    check_against_document(&method, &path, &reply)?;
    Ok(reply)
}

async fn into_reply<S>(mut res: awc::ClientResponse<S>) -> Res<Reply>
where
    S: futures_util::Stream<Item = Result<actix_web::web::Bytes, actix_http::error::PayloadError>> + Unpin,
{
    let body = res.body().limit(16 * 1024 * 1024).await?;
    Ok(Reply { status: res.status(), headers: res.headers().clone(), body: String::from_utf8_lossy(&body).into_owned(), bytes: body.to_vec() })
}

impl TestApp {
    pub fn get(&self, path: &str) -> awc::ClientRequest {
        self.client.get(self.srv.url(path))
    }
    pub fn post(&self, path: &str) -> awc::ClientRequest {
        self.client.post(self.srv.url(path))
    }
    pub fn patch(&self, path: &str) -> awc::ClientRequest {
        self.client.patch(self.srv.url(path))
    }
    pub fn put(&self, path: &str) -> awc::ClientRequest {
        self.client.put(self.srv.url(path))
    }
    pub fn request(&self, method: actix_web::http::Method, path: &str) -> awc::ClientRequest {
        self.client.request(method, self.srv.url(path))
    }

    pub fn email(&self, who: &str) -> String {
        self.accounts.get(who).map(|a| a.email.clone()).unwrap_or_default()
    }

    pub async fn send(&self, req: awc::ClientRequest) -> Res<Reply> {
        let (method, path) = (req.get_method().clone(), req.get_uri().path().to_owned());
        checked(method, path, req.send().await?).await
    }

    pub async fn send_json(&self, req: awc::ClientRequest, body: &Value) -> Res<Reply> {
        let (method, path) = (req.get_method().clone(), req.get_uri().path().to_owned());
        checked(method, path, req.send_json(body).await?).await
    }

    pub async fn send_body(&self, req: awc::ClientRequest, body: impl Into<actix_web::web::Bytes>) -> Res<Reply> {
        let (method, path) = (req.get_method().clone(), req.get_uri().path().to_owned());
        checked(method, path, req.send_body(body.into()).await?).await
    }

    pub async fn send_form(&self, req: awc::ClientRequest, form: &[(&str, &str)]) -> Res<Reply> {
        let body = serde_urlencoded::to_string(form)?;
        into_reply(req.insert_header(("content-type", "application/x-www-form-urlencoded")).send_body(body).await?).await
    }

    pub async fn login_api(&self, email: &str, password: &str) -> Res<Reply> {
        self.send_json(self.post("/api/v1/auth/token"), &serde_json::json!({ "email": email, "password": password })).await
    }

    /// A bearer token for one of the seeded accounts.
    pub async fn token(&self, who: &str) -> Res<String> {
        let r = self.login_api(&self.email(who), PASSWORD).await?;
        r.json()["token"].as_str().map(str::to_owned).ok_or_else(|| format!("login of {who} failed: {} {}", r.status, r.body).into())
    }

    pub async fn get_as(&self, token: &str, path: &str) -> Res<Reply> {
        self.send(self.get(path).bearer_auth(token)).await
    }

    /// Logs in through the browser form; returns the session cookie value and the page CSRF token.
    /// A page as the browser session sees it.
    pub async fn page(&self, s: &BrowserSession, path: &str) -> Res<Reply> {
        self.send(self.get(path).insert_header(("cookie", s.cookie.clone()))).await
    }

    /// A form post from the browser session, with its CSRF token.
    pub async fn form(&self, s: &BrowserSession, path: &str, fields: &[(&str, &str)]) -> Res<Reply> {
        let mut all = vec![("csrf", s.csrf.as_str())];
        all.extend_from_slice(fields);
        self.send_form(self.post(path).insert_header(("cookie", s.cookie.clone())), &all).await
    }

    pub async fn browser_login(&self, who: &str) -> Res<BrowserSession> {
        let page = self.send(self.get("/login")).await?;
        let pre = page.cookie_value("__Host-licentia-pre").ok_or("no pre-session cookie")?;
        let csrf = extract_csrf(&page.body).ok_or("no csrf field on the login page")?;
        let email = self.email(who);
        let r = self
            .send_form(
                self.post("/login").insert_header(("cookie", format!("__Host-licentia-pre={pre}"))),
                &[("csrf", &csrf), ("email", &email), ("password", PASSWORD), ("next", "/")],
            )
            .await?;
        if r.status != StatusCode::SEE_OTHER {
            return Err(format!("browser login failed: {} {}", r.status, r.body).into());
        }
        let session = r.cookie_value("__Host-licentia").ok_or("no session cookie")?;
        let home = self.send(self.get("/").insert_header(("cookie", format!("__Host-licentia={session}")))).await?;
        let csrf = extract_meta_csrf(&home.body).ok_or("no csrf meta tag on the home page")?;
        Ok(BrowserSession { cookie: format!("__Host-licentia={session}"), csrf, set_cookie: r.set_cookies() })
    }

    pub async fn count(&self, sql: &'static str) -> Res<i64> {
        Ok(sqlx::query_scalar(sql).fetch_one(&self.t.db.pool).await?)
    }
}

pub struct BrowserSession {
    pub cookie: String,
    pub csrf: String,
    pub set_cookie: Vec<String>,
}

pub fn extract_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf\" value=\"")? + "name=\"csrf\" value=\"".len();
    Some(html[at..].split('"').next()?.to_owned())
}

pub fn extract_meta_csrf(html: &str) -> Option<String> {
    let at = html.find("name=\"csrf-token\" content=\"")? + "name=\"csrf-token\" content=\"".len();
    let v = html[at..].split('"').next()?.to_owned();
    (!v.is_empty()).then_some(v)
}

/// The local SMTP server and its maildir, when this machine has one (`LICENTIA_TEST_SMTP=host:port`,
/// `LICENTIA_TEST_SMTP_MAILDIR`); `.ci/run` sets both and `LICENTIA_REQUIRE_SMTP_TEST=1`, so CI
/// fails rather than skips without it.
pub fn smtp_server() -> Res<Option<(String, std::path::PathBuf)>> {
    match (std::env::var("LICENTIA_TEST_SMTP"), std::env::var("LICENTIA_TEST_SMTP_MAILDIR")) {
        (Ok(addr), Ok(dir)) if !addr.is_empty() => Ok(Some((addr, std::path::PathBuf::from(dir)))),
        _ if std::env::var("LICENTIA_REQUIRE_SMTP_TEST").as_deref() == Ok("1") => {
            Err("LICENTIA_REQUIRE_SMTP_TEST=1 but LICENTIA_TEST_SMTP / LICENTIA_TEST_SMTP_MAILDIR are not set".into())
        }
        _ => {
            // Straight to the terminal: the test harness hides what a passing test prints with eprintln!.
            std::io::Write::write_fmt(
                &mut std::io::stderr(),
                format_args!(
                    "SKIPPED the SMTP delivery part: no local SMTP server (start `python -m aiosmtpd -n -l 127.0.0.1:2525 -c aiosmtpd.handlers.Mailbox DIR` \
                 and set LICENTIA_TEST_SMTP=127.0.0.1:2525 LICENTIA_TEST_SMTP_MAILDIR=DIR, as .ci/run does)\n"
                ),
            )
            .ok();
            Ok(None)
        }
    }
}

/// Every message in the maildir (new and cur), as text, with quoted-printable's soft line breaks
/// and `=3D` undone (lettre encodes a plain-text body with lines over 76 characters that way).
pub fn maildir_messages(dir: &std::path::Path) -> Vec<String> {
    ["new", "cur"]
        .iter()
        .filter_map(|sub| std::fs::read_dir(dir.join(sub)).ok())
        .flatten()
        .filter_map(|e| e.ok().and_then(|e| std::fs::read_to_string(e.path()).ok()))
        .map(|m| m.replace("=\r\n", "").replace("=\n", "").replace("=3D", "="))
        .collect()
}
