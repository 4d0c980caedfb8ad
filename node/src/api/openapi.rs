//! The OpenAPI 3.0 description of the desk API, served at `GET /openapi.json` without a
//! token. The document is written by hand in `openapi.json` next to this file; the tests
//! check that it parses, that every `$ref` resolves and that it lists every desk endpoint.

use axum::http::header;
use axum::response::IntoResponse;

/// The document, as served.
pub const DOCUMENT: &str = include_str!("openapi.json");

pub async fn serve() -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], DOCUMENT)
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::DOCUMENT;
    use crate::api::desk::ENDPOINTS;

    fn document() -> Value {
        serde_json::from_str(DOCUMENT).expect("openapi.json is JSON")
    }

    fn refs<'a>(v: &'a Value, out: &mut Vec<&'a str>) {
        match v {
            Value::Object(map) => {
                for (k, v) in map {
                    match (k.as_str(), v) {
                        ("$ref", Value::String(r)) => out.push(r),
                        _ => refs(v, out),
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|v| refs(v, out)),
            _ => {}
        }
    }

    #[test]
    fn the_document_is_openapi_3_and_every_ref_resolves() {
        let doc = document();
        assert!(
            doc["openapi"]
                .as_str()
                .is_some_and(|v| v.starts_with("3.0."))
        );
        assert_eq!(
            doc["components"]["securitySchemes"]["bearerAuth"]["scheme"],
            "bearer"
        );
        let mut found = Vec::new();
        refs(&doc, &mut found);
        assert!(found.len() > 50);
        for r in found {
            let pointer = r.strip_prefix('#').expect("local reference");
            assert!(doc.pointer(pointer).is_some(), "{r} does not resolve");
        }
    }

    #[test]
    fn every_desk_endpoint_is_described_with_its_errors() {
        let doc = document();
        for (method, path) in ENDPOINTS {
            let op = &doc["paths"][path][method];
            assert!(op.is_object(), "{method} {path} is not in openapi.json");
            assert!(op["operationId"].is_string(), "{method} {path}");
            let responses = op["responses"].as_object().expect("responses");
            assert!(
                responses.keys().any(|c| c.starts_with('2')),
                "{method} {path} has no success response"
            );
            assert!(responses.contains_key("401"), "{method} {path} lacks 401");
            if *method != "get" {
                for code in ["403", "422"] {
                    assert!(responses.contains_key(code), "{method} {path} lacks {code}");
                }
            }
            if path.contains("{id}") {
                assert!(responses.contains_key("422"), "{method} {path} lacks 422");
            }
        }
    }
}
