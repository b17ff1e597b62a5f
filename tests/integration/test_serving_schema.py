"""Fuzz the live API from its own OpenAPI spec with schemathesis: no server error, every status documented.

Each operation gets valid and invalid bodies, paths and headers generated from the spec. The checks
are schemathesis' own (server errors, undocumented statuses, response schemas and content types,
headers, invalid data accepted, auth ignored), except ``positive_data_acceptance``: the spec cannot
say which strings are keys or chords (``"H minor"`` is a valid string and a 422), so a schema-valid
body may rightly be refused.
"""

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.specs.openapi.checks import positive_data_acceptance

pytestmark = pytest.mark.serving


@pytest.fixture
def api_schema(served):
    return schemathesis.openapi.from_url(served.url + "/openapi.json")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_the_api_holds_to_its_spec(api_schema, served, mode):
    """Every operation, 25 generated cases each; the failures of all operations are reported together."""
    failures, calls = {}, {}
    for result in api_schema.get_all_operations():
        op = result.ok()
        calls[op.label] = 0

        @given(case=op.as_strategy(generation_mode=mode))
        @settings(max_examples=25, deadline=None, derandomize=True, database=None,
                  suppress_health_check=list(HealthCheck))
        def run(case):
            calls[op.label] += 1
            case.call_and_validate(headers=served.headers, excluded_checks=[positive_data_acceptance], timeout=120)

        try:
            run()
        except Unsatisfiable:  # negative mode on an operation without parameters: there is no invalid input
            assert mode == GenerationMode.NEGATIVE and not op.body and not list(op.iter_parameters()), op.label
            calls[op.label] = "no invalid input exists"
        except Exception as e:  # noqa: BLE001 - collected, so one operation's failure does not hide another's
            failures[op.label] = f"{type(e).__name__}: {str(e)[:1500]}"
    assert not failures, "\n\n".join(f"{k}: {v}" for k, v in failures.items())
    assert len(calls) >= 7 and all(isinstance(n, str) or n > 0 for n in calls.values()), calls


def test_the_spec_documents_auth_limits_and_backpressure(api_schema, served):
    import requests

    spec = requests.get(served.url + "/openapi.json", timeout=30).json()
    generate = spec["paths"]["/v1/generate"]["post"]
    assert {"200", "401", "404", "408", "413", "422", "429", "500", "503", "504"} <= set(generate["responses"])
    assert "Retry-After" in generate["responses"]["503"]["headers"]
    wav = spec["paths"]["/v1/pieces/{piece_id}.{fmt}"]
    assert {"get", "head"} <= set(wav) and "422" in wav["get"]["responses"]  # render caps
    assert "/v1/pieces/{piece_id}/records" in spec["paths"]
    assert "request_id" in spec["components"]["schemas"]["ErrorResponse"]["properties"]
    assert {"APIKeyHeader", "HTTPBearer"} <= set(spec["components"]["securitySchemes"])
    assert "/healthz" in spec["paths"] and "security" not in spec["paths"]["/healthz"]["get"]
