"""common.cluster: which hint a refused Ray cluster gets."""

from __future__ import annotations

import ray

from common.cluster import _caused_by


def _wrapped(inner: BaseException) -> ConnectionError:
    # the shape ray.init raises: ConnectionError from RuntimeError whose text holds the inner traceback
    try:
        try:
            raise RuntimeError(f"Failed to connect to GCS. Last connection error: Traceback ...\n{type(inner).__name__}: x")
        except RuntimeError as mid:
            raise ConnectionError("Failed to connect to Ray cluster at 127.0.0.2:18379") from mid
    except ConnectionError as outer:
        return outer


def test_an_auth_refusal_is_found_in_the_text_ray_passes_on():
    err = _wrapped(ray.exceptions.AuthenticationError("RPC error: InvalidAuthToken"))
    assert _caused_by(err, ray.exceptions.AuthenticationError)


def test_an_auth_refusal_is_found_as_a_chained_exception():
    try:
        raise ConnectionError("no") from ray.exceptions.AuthenticationError("bad token")
    except ConnectionError as e:
        assert _caused_by(e, ray.exceptions.AuthenticationError)


def test_a_cluster_that_is_not_there_is_not_an_auth_problem():
    assert not _caused_by(_wrapped(TimeoutError("deadline exceeded")), ray.exceptions.AuthenticationError)
