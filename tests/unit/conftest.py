"""Fixtures shared by the unit tests: two users, alice's reference topology, a signed-in browser,
a fake broker, lease cleanup."""
import pytest
from django.test import Client

from tests.classroom import make_instructor
from tests.documents import reference_document
from topology import leases, services
from topology.models import Lab, Topology


@pytest.fixture
def alice(db, django_user_model):
    """A user (without a password: hashing one costs more than the tests that use her)."""
    return django_user_model.objects.create_user("alice", "alice@example.org", None)


@pytest.fixture
def bob(db, django_user_model):
    """Another user, who must never see or touch alice's things."""
    return django_user_model.objects.create_user("bob", "bob@example.org", None)


@pytest.fixture
def topology(alice) -> Topology:
    """Alice's copy of the reference lab (c1 -- r1 -- c2), stopped."""
    return services.import_topology(alice, reference_document())


@pytest.fixture
def client(alice):
    """Alice's browser: signed in, CSRF not enforced (as Django's test client does by default)."""
    c = Client()
    c.force_login(alice)
    return c


@pytest.fixture
def released(db):
    """After the test, every lease a lab of the test database holds is given back."""
    yield
    for lab in Lab.objects.all():
        operation = leases.holder(lab.pk)
        if operation is not None:
            leases.release(lab.pk, operation)


@pytest.fixture
def broker(monkeypatch):
    """Records what would be queued for the lab worker, as ``(action, apply_async keyword arguments)``."""
    sent = []
    monkeypatch.setattr("topology.tasks.deploy_lab.apply_async", lambda *a, **kw: sent.append(("deploy", kw)))
    monkeypatch.setattr("topology.tasks.destroy_lab.apply_async", lambda *a, **kw: sent.append(("destroy", kw)))
    return sent


@pytest.fixture
def fast_passwords(settings):
    """Cheap password hashing: a CSV enrolment hashes one password per new account."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def carol(db, django_user_model):
    """An instructor: in the group "instructors", so she may create courses."""
    return make_instructor(django_user_model.objects.create_user("carol", "carol@example.org", None,
                                                                 first_name="Carol", last_name="Teacher"))


@pytest.fixture
def course(carol, alice):
    """Carol's course, with alice enrolled as a student (bob is in nothing)."""
    from topology import courses
    from topology.models import CourseMember

    c = courses.create_course(carol, "Networks 101")
    CourseMember.objects.create(course=c, user=alice, role=CourseMember.Role.STUDENT)
    return c
