//! The OpenAPI 3.1 document of the service (`nodehost serve`), generated from the code: the paths, their
//! parameters and every status with its body come from the `#[utoipa::path]` attribute on each
//! handler in `routes`; the body schemas come from the Rust types the handlers send
//! (`RunDocument`, `RunError`, `NodeSummary`, the error body), through their `schemars`
//! derives, the same schemas the node definitions use. Checked in as `openapi.json` and
//! compared with this output by a test, like `node-definitions/`.

use std::borrow::Cow;

use schemars::{JsonSchema, Schema, SchemaGenerator, json_schema};
use serde_json::{Value, json};
use utoipa::OpenApi;
use utoipa::openapi::{Ref, RefOr};

use crate::routes;

/// A body named in a `#[utoipa::path]` attribute whose schema is the `schemars` component of
/// the same name: utoipa writes the `$ref`, [`document`] fills in the component.
macro_rules! component {
    ($marker:ident, $name:literal) => {
        pub(crate) struct $marker;
        impl utoipa::PartialSchema for $marker {
            fn schema() -> RefOr<utoipa::openapi::schema::Schema> {
                RefOr::Ref(Ref::from_schema_name($name))
            }
        }
        impl utoipa::ToSchema for $marker {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }
        }
    };
}

component!(RunDocumentBody, "RunDocument");
component!(RunBodyBody, "RunBody");
component!(ErrorBodyBody, "ErrorBody");
component!(NodeSummariesBody, "NodeSummaries");
component!(NdjsonLineBody, "NdjsonLine");
component!(UnavailableBody, "Unavailable");
component!(StatusBody, "Status");
component!(JsonObjectBody, "JsonObject");

#[derive(OpenApi)]
#[openapi(
    info(
        title = "nodehost serve",
        description = "Workflow nodes over HTTP: list and describe them, run items through them \
            with validation first, bounded concurrency, input order, retries and a stop report. \
            Every `/v1` and `/mcp` request needs `Authorization: Bearer TOKEN` when the server has \
            a token; the probes and `/metrics` never do.",
        license(name = "MIT OR Apache-2.0"),
    ),
    paths(
        routes::list,
        routes::definition,
        routes::schema,
        routes::run_node,
        routes::mcp_doc,
        routes::healthz,
        routes::ready,
        routes::metrics,
        routes::openapi,
    ),
    tags(
        (name = "nodes", description = "What the server runs"),
        (name = "runs", description = "Running items"),
        (name = "mcp", description = "The nodes as MCP tools, for AI agents"),
        (name = "operations", description = "Probes, metrics and this document"),
    ),
)]
struct ApiDoc;

/// The document, as `GET /openapi.json` serves it and `openapi.json` holds it.
pub fn document() -> Value {
    let mut doc = serde_json::to_value(ApiDoc::openapi()).unwrap_or(Value::Null);
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .for_serialize()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    generator.subschema_for::<nodehost_core::RunDocument>();
    generator.subschema_for::<RunBody>();
    generator.subschema_for::<routes::ErrorBody>();
    generator.subschema_for::<NodeSummaries>();
    generator.subschema_for::<NdjsonLine>();
    generator.subschema_for::<Unavailable>();
    generator.subschema_for::<Status>();
    generator.subschema_for::<JsonObject>();
    let schemas = Value::Object(generator.take_definitions(true));
    doc["components"] = json!({
        "schemas": schemas,
        "securitySchemes": {
            "bearer": {
                "type": "http",
                "scheme": "bearer",
                "description": "The server's token (--token-file or NODEHOST_TOKEN), when it has one."
            }
        }
    });
    doc
}

/// The body of a run: the same document `nodehost run` reads on stdin.
struct RunBody;

impl JsonSchema for RunBody {
    fn schema_name() -> Cow<'static, str> {
        "RunBody".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "description": "The input `nodehost run` reads: an envelope, an array of items, or one item. An item is the node's parameters (`GET /v1/nodes/{name}/schema` gives their JSON Schema), or n8n's `{\"json\": {...}}`.",
            "oneOf": [
                {
                    "title": "Envelope",
                    "type": "object",
                    "properties": {
                        "items": {"type": "array", "items": {"type": "object"}, "description": "The items, in order."},
                        "parameters": {"type": "object", "description": "Parameters every item gets unless it sets them."},
                        "credentials": {"type": "object", "description": "The node's credentials; without, the server's (--credentials, --sandbox) are used. Never echoed."},
                        "continueOnFail": {"type": "boolean", "description": "A failed item becomes an error item instead of stopping the run.", "default": false}
                    },
                    "additionalProperties": false,
                    "anyOf": [
                        {"required": ["items"], "properties": {"items": {"type": "array"}}},
                        {"required": ["parameters"]},
                        {"required": ["credentials"]}
                    ]
                },
                {"title": "Items", "type": "array", "items": {"type": "object"}},
                // An object with any of the envelope's members is read as an envelope.
                {"title": "One item", "type": "object", "not": {"anyOf": [
                    {"required": ["items"]}, {"required": ["parameters"]}, {"required": ["credentials"]}
                ]}}
            ]
        })
    }
}

struct NodeSummaries;

impl JsonSchema for NodeSummaries {
    fn schema_name() -> Cow<'static, str> {
        "NodeSummaries".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<nodehost_core::NodeSummary>();
        json_schema!({"type": "array", "items": item})
    }
}

/// One line of an `application/x-ndjson` run.
struct NdjsonLine;

impl JsonSchema for NdjsonLine {
    fn schema_name() -> Cow<'static, str> {
        "NdjsonLine".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let item = generator.subschema_for::<nodehost_core::OutputItem>();
        let error = generator.subschema_for::<nodehost_core::RunError>();
        json_schema!({
            "description": "One line of a streamed run: an output item as it completes, in input order, and last `{\"done\": true}`, with the run's `error` when it stopped.",
            "oneOf": [
                item,
                {
                    "title": "Done",
                    "type": "object",
                    "properties": {"done": {"const": true}, "error": error},
                    "required": ["done"]
                }
            ]
        })
    }
}

/// 503: too many runs at once, or a run given up at its deadline or at shutdown.
struct Unavailable;

impl JsonSchema for Unavailable {
    fn schema_name() -> Cow<'static, str> {
        "Unavailable".into()
    }

    fn json_schema(generator: &mut SchemaGenerator) -> Schema {
        let error = generator.subschema_for::<routes::ErrorBody>();
        let document = generator.subschema_for::<nodehost_core::RunDocument>();
        json_schema!({
            "description": "`ErrorBody` with reason `overloaded` (retry after `Retry-After`), or the run document of a run given up (reason `cancelled`: the deadline passed or the server is stopping; writes in flight are in `maybeApplied`).",
            "oneOf": [error, document]
        })
    }
}

struct Status;

impl JsonSchema for Status {
    fn schema_name() -> Cow<'static, str> {
        "Status".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({
            "type": "object",
            "properties": {"status": {"type": "string", "enum": ["alive", "ready"]}},
            "required": ["status"]
        })
    }
}

struct JsonObject;

impl JsonSchema for JsonObject {
    fn schema_name() -> Cow<'static, str> {
        "JsonObject".into()
    }

    fn json_schema(_: &mut SchemaGenerator) -> Schema {
        json_schema!({"type": "object"})
    }
}
