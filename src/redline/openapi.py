"""The gateway's OpenAPI document (served at ``/openapi.json``)."""

from __future__ import annotations

from typing import Any

_ERROR = {
    "type": "object",
    "properties": {
        "error": {
            "type": "object",
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "code": {
                    "type": "string",
                    "description": "RL-SURV / RL-AUTO for a red line, else the error's code",
                },
                "scores": {"type": "object", "additionalProperties": {"type": "number"}},
                "record": {"type": "integer", "description": "the ledger record of the decision"},
            },
        }
    },
}
_JSON = "application/json"


def _json_body(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return {"required": True, "content": {_JSON: {"schema": schema}}}


def _responses(ok: str, *, stream: bool = False) -> dict[str, Any]:
    content: dict[str, Any] = {_JSON: {"schema": {"type": "object"}}}
    if stream:
        content["text/event-stream"] = {"schema": {"type": "string"}}
    return {
        "200": {
            "description": ok,
            "content": content,
            "headers": {
                "x-redline-record": {"schema": {"type": "integer"}, "description": "ledger record id"}
            },
        },
        "400": {
            "description": "malformed request; the message names the field",
            "content": {_JSON: {"schema": _ERROR}},
        },
        "401": {"description": "missing or wrong API key", "content": {_JSON: {"schema": _ERROR}}},
        "403": {
            "description": "the request or the answer crosses a red line (code = clause id)",
            "content": {_JSON: {"schema": _ERROR}},
        },
        "404": {"description": "no provider serves the model", "content": {_JSON: {"schema": _ERROR}}},
        "429": {"description": "the tenant's rate limit", "content": {_JSON: {"schema": _ERROR}}},
        "502": {"description": "no provider of the route answered", "content": {_JSON: {"schema": _ERROR}}},
        "504": {
            "description": "every provider of the route timed out",
            "content": {_JSON: {"schema": _ERROR}},
        },
    }


def openapi_document() -> dict[str, Any]:
    secured: list[dict[str, list[str]]] = [{"bearer": []}, {"apiKey": []}]
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "Redline gateway",
            "version": "1",
            "description": "OpenAI- and Anthropic-compatible endpoints that enforce the tenant's contract.",
        },
        "components": {
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "x-api-key"},
            }
        },
        "paths": {
            "/v1/chat/completions": {
                "post": {
                    "summary": "OpenAI Chat Completions (plain and stream: true), screened both ways",
                    "security": secured,
                    "requestBody": _json_body(
                        {
                            "model": {"type": "string"},
                            "messages": {"type": "array"},
                            "tools": {"type": "array"},
                            "stream": {"type": "boolean"},
                        },
                        ("model", "messages"),
                    ),
                    "responses": _responses(
                        "a chat.completion, or chat.completion.chunk events", stream=True
                    ),
                }
            },
            "/v1/messages": {
                "post": {
                    "summary": "Anthropic Messages (plain and stream: true), screened both ways",
                    "security": secured,
                    "requestBody": _json_body(
                        {
                            "model": {"type": "string"},
                            "messages": {"type": "array"},
                            "system": {},
                            "tools": {"type": "array"},
                            "max_tokens": {"type": "integer"},
                            "stream": {"type": "boolean"},
                        },
                        ("model", "messages", "max_tokens"),
                    ),
                    "responses": _responses("a message, or message stream events", stream=True),
                }
            },
            "/v1/models": {
                "get": {
                    "summary": "The routes' model patterns",
                    "security": secured,
                    "responses": _responses("a list of models"),
                }
            },
            "/v1/redline/check": {
                "post": {
                    "summary": "Screen texts without calling any provider",
                    "security": secured,
                    "requestBody": _json_body(
                        {
                            "text": {"type": "string"},
                            "texts": {"type": "array", "items": {"type": "string"}},
                        }
                    ),
                    "responses": _responses("one verdict per text"),
                }
            },
            "/healthz": {"get": {"summary": "Liveness", "responses": {"200": {"description": "ok"}}}},
            "/metrics": {
                "get": {"summary": "Prometheus metrics", "responses": {"200": {"description": "text"}}}
            },
        },
    }


__all__ = ["openapi_document"]
