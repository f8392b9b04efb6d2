"""The OpenAPI document, with the argument schema of every known task.

FastAPI documents ``POST /jobs`` with the generic ``JobCreate`` (``args``: any
object). Here the document also gets one ``TaskArgs.<task>`` component per task
the API knows (those it imports: their pydantic schema; those published in the
task catalog: the published schema) and the request body of ``POST /jobs``
becomes a ``oneOf`` of one ``JobCreate.<task>`` per task, discriminated on
``task``, so ``/docs`` and generated clients show each task's arguments.

The document is rebuilt when the set of (task, schema hash) changes: a worker
publishing a new task or a new version shows up without restarting the API.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Callable
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from jobs.control.catalog import CatalogTask, TaskDirectory
from jobs.tasks.catalog import schema_hash

_COMPONENT_NAME = re.compile(r"[^A-Za-z0-9._-]")
Schema = dict[str, Any]


def install(app: FastAPI, directory: Callable[[], TaskDirectory | None]) -> None:
    """Replace ``app.openapi`` with one that documents the tasks ``directory()`` knows."""
    cache: dict[str, Any] = {"key": None}

    def task_schemas() -> dict[str, Schema]:
        found = directory()
        if found is None:
            return {}
        schemas: dict[str, Schema] = {}
        for task in found:
            if isinstance(task, CatalogTask):
                schemas[task.name] = task.current.args_schema
            else:
                schemas[task.name] = task.json_schema()
        return schemas

    def openapi() -> dict[str, Any]:
        schemas = task_schemas()
        key = tuple(sorted((name, schema_hash(schema)) for name, schema in schemas.items()))
        if app.openapi_schema is not None and cache["key"] == key:
            return app.openapi_schema
        document = get_openapi(
            title=app.title,
            version=app.version,
            summary=app.summary,
            description=app.description,
            routes=app.routes,
        )
        document_tasks(document, schemas)
        app.openapi_schema = document
        cache["key"] = key
        return document

    app.openapi = openapi  # type: ignore[method-assign]


def document_tasks(document: dict[str, Any], schemas: dict[str, Schema]) -> None:
    """Add each task's argument schema and the discriminated ``POST /jobs`` body."""
    if not schemas:
        return
    components: dict[str, Schema] = document.setdefault("components", {}).setdefault("schemas", {})
    variants: dict[str, str] = {}
    for name, schema in sorted(schemas.items()):
        safe = _COMPONENT_NAME.sub("_", name)
        args_name = f"TaskArgs.{safe}"
        components[args_name] = _inline_defs(schema, prefix=f"TaskArgs.{safe}.", into=components)
        variant = f"JobCreate.{safe}"
        components[variant] = {
            "title": f"JobCreate {name}",
            "allOf": [{"$ref": "#/components/schemas/JobCreate"}],
            "properties": {
                "task": {"const": name},
                "args": {"$ref": f"#/components/schemas/{args_name}"},
            },
            "required": ["task"],
        }
        variants[name] = f"#/components/schemas/{variant}"
    body = document["paths"]["/jobs"]["post"]["requestBody"]["content"]["application/json"]
    body["schema"] = {
        "oneOf": [{"$ref": ref} for ref in variants.values()],
        "discriminator": {"propertyName": "task", "mapping": variants},
    }


def _inline_defs(schema: Schema, *, prefix: str, into: dict[str, Schema]) -> Schema:
    """The schema with its ``$defs`` moved to components (``$ref``s rewritten to them)."""
    schema = copy.deepcopy(schema)
    definitions = schema.pop("$defs", {})
    for name, definition in definitions.items():
        into[prefix + _COMPONENT_NAME.sub("_", name)] = _rewrite_refs(definition, prefix)
    rewritten: Schema = _rewrite_refs(schema, prefix)
    return rewritten


def _rewrite_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {
            key: (
                "#/components/schemas/" + prefix + _COMPONENT_NAME.sub("_", value.split("/")[-1])
                if key == "$ref" and isinstance(value, str) and value.startswith("#/$defs/")
                else _rewrite_refs(value, prefix)
            )
            for key, value in node.items()
        }
    if isinstance(node, list):
        return [_rewrite_refs(item, prefix) for item in node]
    return node
