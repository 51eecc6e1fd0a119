"""The OpenAPI document, and schemathesis against a live daphne with it: every described
endpoint, with generated parameters (valid and not), answers without a server error, with a
status the document names, and with a body its schema allows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import requests
import schemathesis
from django.test import Client
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hmi.openapi import add_paths, document
from plant.demo_energy import backfill_energy
from plant.demo_vibration import backfill_vibration
from plant.models import ApiToken, OeeMachine, Plant, Sample, SpcSettings, Tag
from tests.browser.conftest import Daphne, make_server_user
from tests.oee_data import DAY, record

CHECKS = [
    schemathesis.checks.not_a_server_error,
    schemathesis.checks.status_code_conformance,
    schemathesis.checks.content_type_conformance,
    schemathesis.checks.response_schema_conformance,
]
EXAMPLES = 15  # per operation and mode: about 300 requests in all


def test_the_document_is_served_without_a_login_and_names_every_api(
    client: Client, db: None
) -> None:
    response = client.get("/api/openapi.json")
    assert response.status_code == 200
    body = response.json()
    assert body["openapi"] == "3.1.0"
    assert {"/api/history/", "/api/current/", "/api/markers/", "/api/energy/",
            "/api/energy/demand/", "/api/oee/", "/api/quality/", "/api/quality/charts/",
            "/api/maintenance/"} <= set(body["paths"])  # fmt: skip
    assert set(body["components"]["securitySchemes"]) == {"bearer", "session"}
    errors = body["paths"]["/api/energy/"]["get"]["responses"]
    assert {"200", "400", "401", "404"} <= set(errors)


def test_a_path_described_twice_is_refused() -> None:
    with pytest.raises(ValueError, match="described twice"):
        add_paths({"/api/history/": {}})
    assert document()["paths"]["/api/history/"]["get"]["operationId"] == "history"


@pytest.fixture
def server(committed_db: None, demo_plant: Plant, tmp_path: Path) -> Iterator[tuple[str, str]]:
    """A daphne on the test database with the demo plant, ten days of its meter, three of its
    pump's vibration, a shift of the filler and an hour of fill levels, and a viewer's
    read-only token: the server's URL and the token."""
    backfill_energy(demo_plant, days=10)
    backfill_vibration(demo_plant, days=3, step_s=60.0)
    # The filler's state over the Early shift of DAY, a jam in it (its counters are the
    # energy backfill's bottles).
    filler = OeeMachine.objects.get(machine__line__plant=demo_plant, machine__slug="filler")
    record(filler.state_tag, *[(m / 12, "jammed" if 60 <= m / 12 < 75 else "running")
                               for m in range(480 * 12)])  # fmt: skip
    fill_level = SpcSettings.objects.filter(tag__machine__line__plant=demo_plant).first()
    assert fill_level is not None
    now = timezone.now()
    Sample.objects.bulk_create(
        [
            Sample(
                tag_id=fill_level.tag_id,
                time=now - timedelta(seconds=s),
                value=500.0 + (s % 7) * 0.5,
            )
            for s in range(1, 3600, 5)
        ]
    )
    viewer = make_server_user("openapi-viewer", "viewer", demo_plant)
    _, secret = ApiToken.issue(viewer, "schemathesis")
    daphne = Daphne(tmp_path / "daphne.log")
    daphne.start()
    try:
        yield daphne.url, secret
    finally:
        daphne.stop()


def run_operation(operation: schemathesis.APIOperation, url: str, headers: dict[str, str],
                  strategy: st.SearchStrategy[schemathesis.Case]) -> None:  # fmt: skip
    session = requests.Session()

    @given(case=strategy)
    @settings(max_examples=EXAMPLES, database=None,
              suppress_health_check=list(HealthCheck))  # fmt: skip
    def check(case: schemathesis.Case) -> None:
        response = case.call(base_url=url, session=session, headers=headers)
        case.validate_response(response, checks=CHECKS)

    check()


@pytest.mark.timeout(600)
def test_schemathesis_finds_no_server_error_and_no_answer_outside_the_schema(
    server: tuple[str, str], demo_plant: Plant
) -> None:
    url, secret = server
    schema = schemathesis.openapi.from_url(f"{url}/api/openapi.json")
    headers = {"Authorization": f"Bearer {secret}"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    tags = list(Tag.objects.filter(machine__line__plant=demo_plant).values_list("pk", flat=True))
    for operation in operations:
        for mode in (schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE):
            run_operation(operation, url, headers, operation.as_strategy(generation_mode=mode))
        # And with the demo plant's own ids, so the 200 answers are generated and checked too.
        for pinned in own_ids(operation, demo_plant, tags):
            run_operation(operation, url, headers, operation.as_strategy(query=pinned))


def own_ids(
    operation: schemathesis.APIOperation, plant: Plant, tags: list[int]
) -> list[dict[str, object]]:
    """The demo plant's ids for the operation's parameters: each way to name what it shows."""
    parameters = {p["name"]: p["schema"] for p in operation.definition.raw.get("parameters", [])}
    if "plant" in parameters:
        return [{"plant": plant.pk}]
    if "machine" in parameters:
        filler = OeeMachine.objects.get(machine__line__plant=plant, machine__slug="filler")
        day = {"date": DAY.isoformat()}
        return [
            {"machine": filler.machine_id, "period": "day"} | day,
            {"line": filler.machine.line_id, "period": "shift", "shift": "Early"} | day,
        ]
    if parameters["tag"].get("type") == "integer":  # one SPC-watched tag
        watched = SpcSettings.objects.filter(tag__machine__line__plant=plant)
        return [{"tag": pk} for pk in watched.values_list("tag_id", flat=True)]
    return [{"tag": tags[:3]}]
