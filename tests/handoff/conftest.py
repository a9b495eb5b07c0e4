from __future__ import annotations

from typing import Iterator

import pytest

from tests.handoff.cluster import Cluster


@pytest.fixture(scope="module")
def service(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """Redis and one handoff-service process, with a small team: ann (general, after_sales), bob
    (billing), sue (supervisor). Reservation 30 s, sweep every 0.5 s."""
    cluster = Cluster(tmp_path_factory.mktemp("handoff"))
    try:
        cluster.start_redis()
        cluster.add_agents([{"id": "ann", "skills": ["general", "after_sales"], "max_chats": 3},
                            {"id": "bob", "skills": ["billing"], "max_chats": 3},
                            {"id": "sue", "skills": ["general"], "max_chats": 3, "role": "supervisor"}])
        cluster.start_service()
        yield cluster
    finally:
        cluster.stop()
