//! The OpenAPI document: it describes every `/api/v1` route of the table with the permission
//! the table gives it, every schema it names compiles, it is served over HTTP, and the API
//! reference page loads its viewer from the binary. (Each HTTP test also checks its JSON
//! answers against the document: `helpers::check_against_document`.)

use std::collections::BTreeSet;

use licentia_web::routes::{Access, table};
use serde_json::Value;

use crate::helpers::*;

#[test]
fn every_api_route_of_the_table_is_in_the_document_and_nothing_else() -> TestResult {
    let doc = &licentia_web::routes::openapi_document().0;
    let routes: BTreeSet<(String, String)> =
        table().iter().filter(|r| r.path.starts_with("/api/v1/")).map(|r| (r.method.as_str().to_ascii_lowercase(), r.path.to_owned())).collect();
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().ok_or("no paths")? {
        for method in item.as_object().ok_or("bad path item")?.keys() {
            documented.insert((method.clone(), path.clone()));
        }
    }
    let missing: Vec<_> = routes.difference(&documented).collect();
    let extra: Vec<_> = documented.difference(&routes).collect();
    assert!(missing.is_empty(), "routes missing from the OpenAPI document: {missing:?}");
    assert!(extra.is_empty(), "documented operations no route serves: {extra:?}");
    Ok(())
}

#[test]
fn each_operation_names_the_permission_of_the_table_and_its_errors() -> TestResult {
    let doc = &licentia_web::routes::openapi_document().0;
    for r in table().iter().filter(|r| r.path.starts_with("/api/v1/")) {
        let op = &doc["paths"][r.path][r.method.as_str().to_ascii_lowercase()];
        let label = format!("{} {}", r.method, r.path);
        match r.access {
            Access::Requires(p) => {
                let name = serde_json::to_value(p)?;
                assert_eq!(op["x-permission"], name, "{label}");
                let roles: Vec<&str> = op["x-roles"].as_array().ok_or(label.clone())?.iter().filter_map(Value::as_str).collect();
                for role in licentia_domain::Role::ALL {
                    assert_eq!(roles.contains(&role.as_str()), role.allows(p), "{label}: role {role:?}");
                }
                for status in ["401", "403", "503"] {
                    assert!(op["responses"][status].is_object(), "{label} lacks {status}");
                }
                if r.path.contains('{') {
                    assert!(op["responses"]["404"].is_object(), "{label} lacks 404");
                }
            }
            Access::Public => assert_eq!(op["security"], serde_json::json!([]), "{label}"),
        }
        let success = op["responses"].as_object().ok_or(label.clone())?.keys().filter(|s| s.starts_with('2')).count();
        assert!(success >= 1, "{label}: a success status");
        // A JSON body is described by a schema, never an empty placeholder.
        if let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() {
            assert!(!schema.is_empty(), "{label}: empty request schema");
        }
    }
    Ok(())
}

#[test]
fn no_two_types_claim_one_schema_name() {
    let (_, clashes) = licentia_web::routes::openapi_document();
    assert!(clashes.is_empty(), "schema names used by two different types (rename one with #[schema(as = ...)]): {clashes:?}");
}

#[test]
fn every_schema_in_the_document_compiles_as_json_schema() -> TestResult {
    let doc = &licentia_web::routes::openapi_document().0;
    assert_eq!(doc["openapi"], "3.1.0");
    let schemas = doc["components"]["schemas"].as_object().ok_or("no components")?;
    assert!(schemas.contains_key("ErrorBody") && schemas.contains_key("AgreementDetail") && schemas.contains_key("Hyper"), "{:?}", schemas.keys());
    for (name, _) in schemas {
        let root = serde_json::json!({ "$ref": format!("#/components/schemas/{name}"), "components": doc["components"] });
        jsonschema::validator_for(&root).map_err(|e| format!("{name}: {e}"))?;
    }
    // A sample that must fail: the check is not vacuous.
    let root = serde_json::json!({ "$ref": "#/components/schemas/ErrorBody", "components": doc["components"] });
    let v = jsonschema::validator_for(&root)?;
    assert!(v.is_valid(&serde_json::json!({ "error": { "code": "not_found", "message": "Not found" } })));
    assert!(!v.is_valid(&serde_json::json!({ "error": { "message": "no code" } })));
    Ok(())
}

#[actix_web::test]
async fn the_document_and_the_reference_page_are_served() -> TestResult {
    let app = spawn_app().await?;
    let doc = app.send(app.get("/api/v1/openapi.json")).await?;
    assert_eq!(doc.status, 200);
    assert_eq!(doc.json(), licentia_web::routes::openapi_document().0);
    let page = app.send(app.get("/api/docs")).await?;
    assert_eq!(page.status, 200);
    for asset in ["swagger-ui-bundle.js", "swagger-ui.css", "api-docs.js"] {
        assert!(page.body.contains(&format!("/static/{asset}?v=")), "{asset} not linked");
        let file = app.send(app.get(&format!("/static/{asset}"))).await?;
        assert_eq!(file.status, 200, "{asset}");
        assert!(file.body.len() > 100, "{asset}");
    }
    assert!(!page.body.contains("<script>"), "no inline script (CSP)");
    Ok(())
}

/// Every JSON request body has an example, and the example is valid under its own schema (a
/// wrong example in a reference misleads more than none).
#[test]
fn every_request_body_has_an_example_its_schema_accepts() -> TestResult {
    let doc = &licentia_web::routes::openapi_document().0;
    let mut checked = 0;
    for (path, item) in doc["paths"].as_object().ok_or("no paths")? {
        for (method, op) in item.as_object().ok_or("bad item")? {
            let Some(schema) = op["requestBody"]["content"]["application/json"]["schema"].as_object() else { continue };
            let name = schema.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix("#/components/schemas/"));
            let example = name.map_or(schema.get("example").unwrap_or(&Value::Null), |n| &doc["components"]["schemas"][n]["example"]);
            let example = Some(example).filter(|e| !e.is_null());
            let example = example.ok_or(format!("{method} {path}: the request body has no example"))?;
            let mut root = schema.clone();
            root.insert("components".into(), doc["components"].clone());
            let v = jsonschema::validator_for(&Value::Object(root))?;
            let errors: Vec<String> = v.iter_errors(example).map(|e| format!("{e} at {}", e.instance_path())).collect();
            assert!(errors.is_empty(), "{method} {path}: its example does not match its schema: {errors:?}");
            checked += 1;
        }
    }
    assert!(checked >= 20, "only {checked} request bodies checked");
    Ok(())
}
