"""The limits hold when requests race: many threads deploying (or creating topologies) at the same moment,
each with its own database connection, against the real Redis locks, end with exactly as many accepted as
the limit allows. The count is slowed down so that, without the locks, every thread would count the same
free room: one test proves that it then does (the race is real, so the others could fail).
"""
from __future__ import annotations

import contextlib
import threading
import time

import pytest
from django.db import connection

from topology import quotas, services
from topology.models import Assignment, Course, CourseLimits, CourseMember, Lab, LabState, Topology, UserLimits

from .test_quotas import document

THREADS = 8
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def slow_count(monkeypatch):
    """Counting takes a while (as on a loaded host): every racing thread is inside the window at once."""
    for name in ("usage", "course_usage"):
        real = getattr(quotas, name)

        def slow(*args, _real=real, **kwargs):
            counted = _real(*args, **kwargs)
            time.sleep(0.2)
            return counted

        monkeypatch.setattr(quotas, name, slow)
    real_guard = quotas.TopologyGuard.__init__

    def slow_guard(self, used, allowed):
        time.sleep(0.2)
        real_guard(self, used, allowed)

    monkeypatch.setattr(quotas.TopologyGuard, "__init__", slow_guard)


def race(calls) -> tuple[list, list]:
    """Run every call in its own thread, all released at once: (results, exceptions)."""
    start = threading.Barrier(len(calls))
    results, errors, lock = [], [], threading.Lock()

    def run(call):
        try:
            start.wait()
            result = call()
            with lock:
                results.append(result)
        except Exception as exc:  # noqa: BLE001 - each refusal is counted and checked by the test
            with lock:
                errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert not any(thread.is_alive() for thread in threads)
    return results, errors


def deployer(lab: Lab):
    return lambda: services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=lab.pk))


def deploying() -> int:
    return Lab.objects.filter(state=LabState.DEPLOYING).count()


def test_many_deploys_at_once_of_one_user_end_with_exactly_the_limit(alice, broker, released, slow_count):
    UserLimits.objects.create(user=alice, max_running_labs=3)
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(THREADS)]
    accepted, refused = race([deployer(lab) for lab in labs])
    assert len(accepted) == 3 and deploying() == 3 and len(broker) == 3
    assert len(refused) == THREADS - 3 and all(isinstance(e, quotas.LimitReached) for e in refused), refused
    assert {e.message for e in refused} == {"limit reached: running labs — you have 3 of 3 running and this deploy "
                                            "needs 1 more; destroy a lab first"}


def test_many_deploys_at_once_stay_under_the_running_nodes_limit(alice, broker, released, slow_count):
    UserLimits.objects.create(user=alice, max_running_nodes=10, max_running_labs=100)  # 4-node labs: 2 fit
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(THREADS)]
    accepted, refused = race([deployer(lab) for lab in labs])
    assert len(accepted) == 2 and deploying() == 2 and len(broker) == 2
    assert all(isinstance(e, quotas.LimitReached) and e.limit == "running nodes" for e in refused), refused


def test_without_the_locks_the_same_race_lets_too_many_through(alice, broker, released, slow_count, monkeypatch):
    monkeypatch.setattr(quotas, "_locked", lambda kind, pk: contextlib.nullcontext())
    UserLimits.objects.create(user=alice, max_running_labs=3)
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(THREADS)]
    accepted, _ = race([deployer(lab) for lab in labs])
    assert len(accepted) > 3  # what the locks prevent: every thread counted the same free room


def test_students_of_one_course_deploying_at_once_share_its_limit(django_user_model, broker, released, slow_count):
    # Made directly: a transactional test has no "instructors" group (its migration's rows are flushed).
    course = Course.objects.create(name="Networks 101", slug="networks-101", join_code="race-code")
    assignment = Assignment.objects.create(course=course, title="Switching", template=document("template"))
    CourseLimits.objects.create(course=course, max_running_nodes=8)  # two 4-node labs
    students = [django_user_model.objects.create_user(f"s{i}", None, None) for i in range(THREADS)]
    for student in students:
        CourseMember.objects.create(course=course, user=student, role=CourseMember.Role.STUDENT)
    labs = [services.import_topology(s, document("copy"), assignment=assignment).lab for s in students]
    accepted, refused = race([deployer(lab) for lab in labs])
    assert len(accepted) == 2 and deploying() == 2 and len(broker) == 2
    assert all(isinstance(e, quotas.LimitReached) and e.limit == "running nodes of the course 'Networks 101'"
               for e in refused), refused
    assert quotas.course_usage(course) == {"running_labs": 2, "running_nodes": 8}


def test_many_new_topologies_at_once_end_with_exactly_the_limit(alice, slow_count):
    UserLimits.objects.create(user=alice, max_topologies=3)
    accepted, refused = race([lambda i=i: services.import_topology(alice, document(f"t{i}")) for i in range(THREADS)])
    assert len(accepted) == 3 and Topology.objects.filter(owner=alice).count() == 3 and Lab.objects.count() == 3
    assert len(refused) == THREADS - 3 and all(isinstance(e, quotas.LimitReached) for e in refused), refused
