"""The API's JSON answers and request bodies: NaN / inf as null, no caching,
and POST bodies of a declared Content-Type, capped in size and checked for
the types their fields need."""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import Request
from fastapi.responses import Response

from fedjax_sim.control import uploads
from fedjax_sim.control.safety import Refused


def finite(value: Any) -> Any:
  """`value` with NaN / inf floats replaced by None, recursively (JSON)."""
  if isinstance(value, float) and not math.isfinite(value):
    return None
  if isinstance(value, dict):
    return {k: finite(v) for k, v in value.items()}
  if isinstance(value, (list, tuple)):
    return [finite(v) for v in value]
  return value


def reply(payload: Any, status: int = 200) -> Response:
  return Response(json.dumps(finite(payload), allow_nan=False), status,
                  media_type='application/json', headers={'Cache-Control': 'no-store'})


async def read_body(request: Request, max_bytes: int) -> dict[str, Any]:
  """The request's JSON object body ({} when empty), at most `max_bytes`."""
  check_type(request, 'application/json')
  raw = await uploads.read_text(request.stream(), max_bytes)
  if not raw:
    return {}
  try:
    body = json.loads(raw)
  except ValueError:
    raise Refused('the request body is not JSON') from None
  if not isinstance(body, dict):
    raise Refused('the request body must be a JSON object')
  return body


def check_type(request: Request, kind: str) -> None:
  """Refuses a POST whose Content-Type is not `kind`: a page of another site
  cannot send JSON or CSV without the browser asking first (CORS), which this
  server never allows, so such a page cannot drive it."""
  if request.headers.get('content-type', '').split(';')[0].strip() != kind:
    raise Refused(f'expected Content-Type: {kind}', 415)


def typed_field(body: dict[str, Any], key: str, kind: type, default: Any) -> Any:
  """`body[key]` if it is a `kind` (`default` when absent or null)."""
  value = body.get(key)
  if value is None:
    return default
  if not isinstance(value, kind):
    raise Refused(f'{key}={value!r}: expected {kind.__name__}')
  return value
