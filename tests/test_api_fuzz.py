"""Schemathesis over the whole OpenAPI, as five callers: every operation of the API and of Open311 gets generated
requests, valid and invalid (wrong types, missing fields, strings past their limits, odd Unicode, boundary numbers),
as a resident, a grid worker, a street's staff, the command centre and the administrator.

For every answer: no server error; the status code is one the operation declares; the content type and the body
match what is declared for that status (errors carry the one ``{code, message}`` body); declared headers are present.

Path parameters that name an object are, in turn, an object of the caller's own side, one outside the caller's
jurisdiction, and whatever the generator made up (``routematrix_world``: every kind of object exists on both
sides), so the requests reach the services instead of stopping at 404. Each request runs in a savepoint rolled back
afterwards (``routematrix_harness``), so a generated deletion or workflow step cannot change what the next one sees.

``make test`` runs the short pass (``ZHILI_FUZZ_EXAMPLES``, 3 examples per operation and role by default); ``make
stress`` runs the long one. The figures of the long run are in docs/reliability.md.
"""

from __future__ import annotations

import itertools
import json
import os
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from sqlalchemy import Engine

import routematrix_table as table
from routematrix_harness import Harness, open_harness
from zhili.app import create_app

FUZZ_ROLES = ("resident", "grid_worker", "street_staff", "command_centre", "admin")
EXAMPLES = int(os.environ.get("ZHILI_FUZZ_EXAMPLES", "3"))
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          response_headers_conformance]

_APP = create_app()
_CONFIG = SchemathesisConfig.from_dict({
    "generation": {"mode": "all", "max-examples": EXAMPLES, "database": "none"},
    "phases": {"examples": {"enabled": True}, "coverage": {"enabled": EXAMPLES > 20}, "fuzzing": {"enabled": True}},
})
schema = schemathesis.openapi.from_dict(_APP.openapi(), config=_CONFIG)

_SIDES = itertools.cycle(("own", "other", None))  # None: the generated value is kept


_SENT: Counter[str] = Counter()  # answers by status class, for the long run's figures


@pytest.fixture(scope="module")
def fuzz(engine: Engine, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Harness]:
    with open_harness(_APP, engine, tmp_path_factory.mktemp("fuzz-files")) as h:
        yield h
    report = os.environ.get("ZHILI_FUZZ_REPORT")
    if report:  # `make stress` writes the figures docs/reliability.md quotes
        Path(report).write_text(json.dumps({"examples_per_operation_and_role": EXAMPLES, "roles": FUZZ_ROLES,
                                            "operations": len(list(schema.get_all_operations())),
                                            "requests": sum(_SENT.values()), "answers": dict(sorted(_SENT.items()))},
                                           ensure_ascii=False, indent=1))


def _aim(case: Any, h: Harness, role: str) -> None:
    """Point the object ids in the path at real objects, one side or the other, or leave them as generated."""
    side = next(_SIDES)
    if side is None or not case.path_parameters:
        return
    ctx = table.Ctx(mw=h.mw, role=role, side=side, variant="")
    for name in list(case.path_parameters):
        if name in table.OBJECT_PARAMS:
            case.path_parameters[name] = str(table.OBJECT_PARAMS[name](ctx, case.path))


@pytest.mark.parametrize("role", FUZZ_ROLES)
@schema.parametrize()
def test_every_operation_answers_as_declared_whatever_it_is_sent(case: Any, role: str, fuzz: Harness) -> None:
    _aim(case, fuzz, role)
    token = fuzz.mw.token(role)
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    fuzz.client.cookies.clear()
    with fuzz.rolled_back():
        kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=headers)
        response = _send(fuzz.client, kwargs)
    _SENT[f"{response.status_code}"] += 1
    case.validate_response(response, checks=CHECKS, headers=headers)


def _send(client: Any, kwargs: dict[str, Any]) -> Any:
    """Send the transport's requests-style arguments through the test client: ``requests`` encodes the body
    (JSON, form or multipart, exactly as schemathesis would send it), httpx carries it."""
    import requests

    prepared = requests.Request(method=kwargs["method"], url=kwargs["url"], headers=kwargs.get("headers"),
                                params=kwargs.get("params"), data=kwargs.get("data"), json=kwargs.get("json"),
                                files=kwargs.get("files"), cookies=kwargs.get("cookies")).prepare()
    body = prepared.body.encode("utf-8") if isinstance(prepared.body, str) else prepared.body
    return client.request(prepared.method, prepared.url, content=body, headers=dict(prepared.headers),
                          follow_redirects=False)
