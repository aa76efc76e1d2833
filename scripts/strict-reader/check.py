"""Strict reader of the OpenAI Batch output format: every line of an `openai` export must load.

Usage: check.py OUT.jsonl

Each line must be exactly {id, custom_id, response, error} (no other key), with exactly one of
`response` / `error` set. A response is {status_code: int, request_id: str, body: object} (a
string request_id: OpenAI types it so, a null is refused). A 2xx body must validate as the
`openai` package's `ChatCompletion`, or, for a `/v1/embeddings` line (a body whose `object` is
"list"), as its `CreateEmbeddingResponse` with every vector a list of floats or a base64 string
of packed float32, indexes 0, 1, … in order, or, for a `/v1/responses` line (a body whose
`object` is "response"), as its `Response`, completed or incomplete, with output; any other body
must be {"error": {message: str, ...}}.
An error is {code: str, message: str}. Prints one line per failure and a closing count.
"""
import json
import struct
import sys
from typing import Any, Optional, Union

import base64

from openai.types import CreateEmbeddingResponse
from openai.types.chat import ChatCompletion
from openai.types.responses import Response
from pydantic import BaseModel, ConfigDict, StrictInt, StrictStr, ValidationError


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class BatchResponse(Strict):
    status_code: StrictInt
    request_id: StrictStr
    body: dict[str, Any]


class BatchError(Strict):
    code: StrictStr
    message: StrictStr


class BatchOutputLine(Strict):
    id: StrictStr
    custom_id: StrictStr
    response: Optional[BatchResponse]
    error: Optional[BatchError]


class ProviderErrorObject(BaseModel):
    model_config = ConfigDict(extra="allow")
    message: StrictStr
    type: Optional[StrictStr] = None
    code: Optional[Union[StrictStr, StrictInt]] = None


class ProviderErrorBody(Strict):
    error: ProviderErrorObject


def check(line: str) -> Optional[str]:
    try:
        parsed = BatchOutputLine.model_validate_json(line)
    except ValidationError as e:
        return f"not a Batch output line: {e}"
    if (parsed.response is None) == (parsed.error is None):
        return "exactly one of response and error must be set"
    if parsed.response is not None:
        body = parsed.response.body
        try:
            if 200 <= parsed.response.status_code < 300 and body.get("object") == "list":
                return check_embeddings(body)
            if 200 <= parsed.response.status_code < 300 and body.get("object") == "response":
                return check_response(body)
            if 200 <= parsed.response.status_code < 300:
                completion = ChatCompletion.model_validate(body)
                if completion.object != "chat.completion" or not completion.choices:
                    return "the body is not a chat.completion with choices"
            else:
                ProviderErrorBody.model_validate(body)
        except ValidationError as e:
            return f"body of a {parsed.response.status_code} response: {e}"
    return None


def check_embeddings(body: dict[str, Any]) -> Optional[str]:
    """An embeddings body: the SDK's model (which types `embedding` as a list of floats), after
    decoding base64 vectors as the SDK does (packed little-endian float32)."""
    data = body.get("data")
    if not isinstance(data, list) or not data:
        return "the embeddings body has no data"
    decoded = dict(body, data=[dict(item) for item in data])
    for item in decoded["data"]:
        vector = item.get("embedding")
        if isinstance(vector, str):
            raw = base64.b64decode(vector, validate=True)
            if len(raw) % 4:
                return "a base64 embedding is not packed float32"
            item["embedding"] = list(struct.unpack(f"<{len(raw) // 4}f", raw))
    response = CreateEmbeddingResponse.model_validate(decoded)
    if response.object != "list" or [e.index for e in response.data] != list(range(len(response.data))):
        return "the embeddings are not a list indexed 0, 1, …"
    if len({len(e.embedding) for e in response.data}) != 1 or not response.data[0].embedding:
        return "the embeddings do not all have the same, non-zero, length"
    return None


def check_response(body: dict[str, Any]) -> Optional[str]:
    """A Responses body: the SDK's `Response` (which requires the echoed request settings and the
    usage details), completed or incomplete, with at least one output item; its `output_text`
    (the SDK's join of the message parts) is what the job answered."""
    response = Response.model_validate(body)
    if response.status not in ("completed", "incomplete") or not response.output:
        return f"the response is {response.status} with {len(response.output)} output items"
    if response.usage is not None and response.usage.total_tokens != response.usage.input_tokens + response.usage.output_tokens:
        return "the usage does not add up"
    return None


def main() -> int:
    path = sys.argv[1]
    passed = failed = 0
    kinds: dict[str, int] = {}
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, 1):
            problem = check(line)
            if problem:
                failed += 1
                print(f"{path}:{number}: {problem}")
            else:
                passed += 1
                o = json.loads(line)
                kind = f"HTTP {o['response']['status_code']}" if o["response"] else f"error {o['error']['code']}"
                kinds[kind] = kinds.get(kind, 0) + 1
    print("strict reader:", ", ".join(f"{k}: {v}" for k, v in sorted(kinds.items())))
    print(f"{passed} passed, {failed} failed")
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())
