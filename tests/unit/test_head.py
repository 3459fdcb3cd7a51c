"""``HEAD`` answers as ``GET`` does, without the body: same status, same headers (Content-Length of the
GET body included), on every GET route of the API and on the pages.

Before, the API's routes (django-ninja operations registered for GET only) answered HEAD with 405.
"""
from __future__ import annotations

import copy

import pytest
from asgiref.sync import async_to_sync
from channels.testing import HttpCommunicator
from django.test import Client

from tests.documents import reference_document
from topology import services, tasks

API = "/api/v1"
IMAGES = [{"name": "topolab/base", "kinds": ["host", "router", "switch"], "present": True, "up_to_date": True,
           "size_bytes": 123}]

# (path, whether it needs credentials); {id} is alice's topology
GET_ROUTES = [
    ("/topologies", True),
    ("/topologies/{id}", True),
    ("/topologies/{id}/export", True),
    ("/topologies/{id}/lab", True),
    ("/images", True),
    ("/openapi.json", False),
    ("/docs", False),
]


class Answer:
    """A Celery result that answers at once."""

    def __init__(self, value):
        self.value = value

    def get(self, timeout=None):
        return self.value

    def forget(self):
        pass


@pytest.fixture(autouse=True)
def images_worker(monkeypatch):
    """The image list comes from a fake worker (and no cached list survives a test)."""
    from django.core.cache import cache

    cache.clear()
    monkeypatch.setattr(tasks.list_images, "apply_async", lambda *a, **kw: Answer({"images": IMAGES}))
    yield
    cache.clear()


@pytest.fixture
def topology(alice):
    return services.import_topology(alice, copy.deepcopy(reference_document()))


def same_answer(client: Client, url: str, status: int) -> None:
    got, head = client.get(url), client.head(url)
    assert got.status_code == status, (url, got.content[:200])
    assert head.status_code == status, url
    assert head.content == b""
    assert dict(head.headers) == dict(got.headers), url
    assert head.get("Content-Length") in (None, str(len(got.content))), url


# Every route of views.py also answers with a trailing slash; ninja's own two views do not.
@pytest.mark.parametrize("path", [p for p, _ in GET_ROUTES] + [p + "/" for p, private in GET_ROUTES if private])
def test_head_answers_like_get_for_the_owner(client, topology, path):
    same_answer(client, API + path.format(id=topology.pk), 200)


@pytest.mark.parametrize("path", [p for p, private in GET_ROUTES if "{id}" in p])
def test_head_answers_404_where_get_does(client, bob, topology, path):
    other = Client()
    other.force_login(bob)
    same_answer(other, API + path.format(id=topology.pk), 404)  # alice's topology, for bob
    same_answer(client, API + path.format(id=topology.pk + 1000), 404)  # no such topology


@pytest.mark.parametrize("path", [p for p, private in GET_ROUTES if private])
def test_head_answers_401_without_credentials(topology, path):
    same_answer(Client(), API + path.format(id=topology.pk), 401)


def test_head_sends_the_get_bodys_length(client, topology):
    url = f"{API}/topologies/{topology.pk}/export"
    got = client.get(url)
    head = client.head(url)
    assert int(head["Content-Length"]) == len(got.content) > 0
    assert head["Content-Disposition"] == got["Content-Disposition"]


def test_head_is_still_not_a_way_to_call_other_methods(client, topology):
    """Only GET routes gain HEAD: a POST-only route answers HEAD with 405, as it answers GET."""
    for path in ("/validate", f"/topologies/{topology.pk}/deploy"):
        assert client.get(API + path).status_code == 405
        assert client.head(API + path).status_code == 405


@pytest.mark.parametrize("path", ["/", "/tokens/", "/help/format/", "/topologies/{id}/"])
def test_head_answers_like_get_on_the_pages(client, topology, path):
    same_answer(client, path.format(id=topology.pk), 200)


@pytest.mark.django_db(transaction=True)
def test_the_application_itself_sends_no_body(alice):
    """Django's test client drops a HEAD body by itself; the ASGI application must not send one at all."""
    topology = services.import_topology(alice, copy.deepcopy(reference_document()))
    client = Client()
    client.force_login(alice)
    cookie = "; ".join(f"{k}={v.value}" for k, v in client.cookies.items())
    from labsite.asgi import application

    async def ask(method, path):
        communicator = HttpCommunicator(application, method, path,
                                        headers=[(b"host", b"localhost"), (b"cookie", cookie.encode())])
        return await communicator.get_response(timeout=10)

    for path in (f"{API}/topologies/{topology.pk}/export", f"{API}/openapi.json", f"{API}/docs", "/"):
        got, head = async_to_sync(ask)("GET", path), async_to_sync(ask)("HEAD", path)
        assert got["status"] == head["status"] == 200, path
        assert head["body"] == b"", path
        assert dict(head["headers"])[b"Content-Length"] == str(len(got["body"])).encode(), path
