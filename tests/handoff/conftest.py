from __future__ import annotations

from typing import Iterator

import pytest

from tests.handoff.cluster import Cluster, small_team_service
from tests.handoff.redis_cluster import redis_cluster  # noqa: F401  (session fixture: a 3-master Redis Cluster)


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis and one handoff-service process, with a small team: ann (general, after_sales), bob
    (billing), sue (supervisor). Reservation 30 s, sweep every 0.5 s."""
    with small_team_service(tmp_path_factory.mktemp("handoff")) as cluster:
        yield cluster
