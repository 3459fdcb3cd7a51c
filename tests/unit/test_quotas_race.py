"""The limits hold when requests race: many threads deploying (or creating topologies) at the same moment,
each with its own database connection, against the real Redis reservations (deploys) and locks (topologies),
end with exactly as many accepted as the limit allows, and all of them when the limit has room. The count is
slowed down so that, without the reservations, every thread would count the same free room: one test proves
that it then does (the race is real, so the others could fail).
"""
from __future__ import annotations

import threading
import time
import uuid

import pytest
import redis
from django.db import connection

from topology import labstate, leases, quotas, services
from topology.models import Assignment, Course, CourseLimits, CourseMember, Lab, LabState, Topology, UserLimits
from topology.testing.races import race

from .test_quotas import document

THREADS = 8
CLASS = 30  # a class pressing Deploy at once
pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def worker_stays_alive(workers_alive_in_unit_tests):
    """The fake lab worker's heartbeat, renewed while the test runs: a class of 120 takes longer than it lives."""
    stop = threading.Event()

    def beat():
        while not stop.wait(2):
            workers_alive_in_unit_tests.beat()

    thread = threading.Thread(target=beat, daemon=True)
    thread.start()
    yield
    stop.set()
    thread.join()


@pytest.fixture
def big_redis_pool(monkeypatch, settings):
    """A Redis client that 120 request threads of one process can share (redis-py's pool stops at 100 connections;
    a web process serves requests from a much smaller thread pool)."""
    client = redis.Redis.from_url(settings.REDIS_URL, decode_responses=True, socket_timeout=10, max_connections=1000)
    monkeypatch.setattr(leases, "_client", lambda: client)
    yield
    client.close()


@pytest.fixture
def slow_count(monkeypatch):
    """Counting takes a while (as on a loaded host): every racing thread is inside the window at once."""
    for name in ("read_user", "read_course"):
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


def test_without_the_reservations_the_same_race_lets_too_many_through(alice, broker, released, slow_count,
                                                                      monkeypatch):
    # Each deploy's reservations in a place of its own: none sees another's, as if there were none.
    monkeypatch.setattr(quotas, "_reservations_key", lambda *scope: f"topolab:test:{uuid.uuid4().hex}")
    UserLimits.objects.create(user=alice, max_running_labs=3)
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(THREADS)]
    accepted, _ = race([deployer(lab) for lab in labs])
    assert len(accepted) > 3  # what the reservations prevent: every thread counted the same free room


def test_without_the_locks_of_old_a_deploy_waits_for_no_other(alice, broker, released, monkeypatch):
    # The guard's part is the count and one script: a deploy's own body (slow here) holds nothing others wait for.
    UserLimits.objects.create(user=alice, max_running_labs=THREADS)
    labs = [services.import_topology(alice, document(f"lab{i}")).lab for i in range(THREADS)]
    begin = services.begin_operation

    def slow_begin(*args, **kwargs):
        time.sleep(1)
        return begin(*args, **kwargs)

    monkeypatch.setattr(services, "begin_operation", slow_begin)
    started = time.monotonic()
    accepted, refused = race([deployer(lab) for lab in labs])
    assert len(accepted) == THREADS and not refused and deploying() == THREADS
    assert time.monotonic() - started < THREADS * 1 / 2  # side by side, not one after another


def course_of(students: int, max_running_nodes: int | None, django_user_model):
    """A course with a published assignment (4-node labs) and ``students`` students, each with a copy: their labs."""
    course = Course.objects.create(name="Networks 101", slug="networks-101", join_code="race-code")
    assignment = Assignment.objects.create(course=course, title="Switching", template=document("template"))
    if max_running_nodes is not None:
        CourseLimits.objects.create(course=course, max_running_nodes=max_running_nodes)
    labs = []
    for i in range(students):
        student = django_user_model.objects.create_user(f"s{i}", None, None)
        CourseMember.objects.create(course=course, user=student, role=CourseMember.Role.STUDENT)
        labs.append(services.import_topology(student, document("copy"), assignment=assignment).lab)
    return course, labs


@pytest.mark.parametrize("room", [0, 1, 7, 29])
def test_a_class_deploying_at_once_gets_exactly_the_courses_room(django_user_model, broker, released, slow_count,
                                                                  room):
    course, labs = course_of(CLASS, 4 * room, django_user_model)
    accepted, refused = race([deployer(lab) for lab in labs])
    assert len(accepted) == room and deploying() == room and len(broker) == room
    assert len(refused) == CLASS - room
    assert all(isinstance(e, quotas.LimitReached) and e.limit == "running nodes of the course 'Networks 101'"
               for e in refused), refused
    assert quotas.course_usage(course) == {"running_labs": room, "running_nodes": 4 * room}


def needs_connections(threads: int) -> None:
    """Skip unless the database takes a connection for each of ``threads`` at once (each raced call holds one;
    Debian's PostgreSQL allows 100 in all, a few reserved). A web process serves from a much smaller pool."""
    if connection.vendor != "postgresql":
        return
    with connection.cursor() as cursor:
        cursor.execute("SHOW max_connections")
        allowed = int(cursor.fetchone()[0])
    if threads + 10 > allowed:
        pytest.skip(f"this PostgreSQL allows {allowed} connections; {threads} deploys at once need one each "
                    "(run on SQLite, and on PostgreSQL with the class of 30)")


@pytest.mark.parametrize("students", [CLASS, 4 * CLASS])
def test_a_class_deploying_at_once_under_its_limit_is_all_accepted(django_user_model, broker, released,
                                                                   slow_count, big_redis_pool, students):
    needs_connections(students)
    course, labs = course_of(students, 4 * students, django_user_model)
    accepted, refused = race([deployer(lab) for lab in labs])
    assert not refused and len(accepted) == students and deploying() == students and len(broker) == students
    assert quotas.course_usage(course) == {"running_labs": students, "running_nodes": 4 * students}


def test_a_deploy_committed_between_anothers_count_and_its_reservation_is_counted(alice, broker, released,
                                                                                 monkeypatch):
    # The one gap between the database's count and the script: the other deploy commits (and ends its guard) in it.
    UserLimits.objects.create(user=alice, max_running_labs=1)
    first, second = (services.import_topology(alice, document(f"lab{i}")).lab for i in range(2))
    real = quotas.read_user
    interleaved = []

    def read_then_let_the_other_commit(user):
        counted = real(user)
        if not interleaved:  # the first deploy's count: the second deploy runs whole before its script
            interleaved.append("second")
            services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=second.pk))
        return counted

    monkeypatch.setattr(quotas, "read_user", read_then_let_the_other_commit)
    with pytest.raises(quotas.LimitReached, match="running labs"):
        services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=first.pk))
    assert interleaved and deploying() == 1 and len(broker) == 1


def test_a_count_older_than_the_reservations_keep_time_is_made_again(alice, broker, released, monkeypatch):
    monkeypatch.setattr(quotas, "KEEP", 0.1)
    real, reads = quotas.read_user, []

    def slow(user):
        reads.append(user)
        time.sleep(0.2 if len(reads) < 2 else 0)  # the first count is too old by the time it is checked
        return real(user)

    monkeypatch.setattr(quotas, "read_user", slow)
    lab = services.import_topology(alice, document("lab")).lab
    services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=lab.pk))
    assert len(reads) == 2 and deploying() == 1


def test_a_host_too_busy_to_count_in_time_refuses_as_busy(alice, broker, released, monkeypatch):
    monkeypatch.setattr(quotas, "KEEP", 0.05)
    real = quotas.read_user
    monkeypatch.setattr(quotas, "read_user", lambda user: (time.sleep(0.1), real(user))[1])
    lab = services.import_topology(alice, document("lab")).lab
    with pytest.raises(services.Conflict, match="could not be checked in time"):
        services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=lab.pk))
    assert deploying() == 0 and not broker


def test_a_refused_body_frees_its_room_at_once(alice, broker, released, monkeypatch):
    UserLimits.objects.create(user=alice, max_running_labs=1)
    first, second = (services.import_topology(alice, document(f"lab{i}")).lab for i in range(2))
    monkeypatch.setattr(services, "begin_operation", lambda *a, **kw: (_ for _ in ()).throw(services.NoWorker("none")))
    with pytest.raises(services.NoWorker):
        services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=first.pk))
    monkeypatch.undo()
    services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=second.pk))
    assert deploying() == 1


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


def deploy(lab: Lab) -> str:
    return services.request_deploy(Lab.objects.select_related("topology__owner").get(pk=lab.pk))


def test_a_destroyed_lab_frees_its_room_at_once_though_its_reservation_is_kept(alice, broker, released):
    UserLimits.objects.create(user=alice, max_running_labs=1)
    first, second = (services.import_topology(alice, document(f"lab{i}")).lab for i in range(2))
    operation = deploy(first)
    with pytest.raises(quotas.LimitReached, match="running labs"):  # its reservation and its row: one lab, once
        deploy(second)
    leases.release(first.pk, operation)
    labstate.do_finish(Lab.objects.get(pk=first.pk), operation, LabState.STOPPED)  # destroyed, within KEEP
    deploy(second)
    assert list(Lab.objects.filter(state=LabState.DEPLOYING).values_list("pk", flat=True)) == [second.pk]


def test_without_redis_a_deploy_is_refused_with_503_and_nothing_is_written(alice, broker, released, monkeypatch):
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    lab = services.import_topology(alice, document("lab")).lab
    nowhere = redis.Redis(host="127.0.0.1", port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 0))
    monkeypatch.setattr(leases, "client", lambda: nowhere)
    with pytest.raises(services.ServiceError) as refused:
        deploy(lab)
    assert refused.value.status == 503 and "the limits cannot be checked right now" in refused.value.message
    assert Lab.objects.get(pk=lab.pk).state == LabState.STOPPED and not broker and not lab.events.exists()


def scope(user, read: dict, max_labs: int = 1, max_nodes: int = 100) -> list:
    return [("user", user.pk, user.date_joined, max_labs, max_nodes, read)]


def test_a_second_request_for_the_same_lab_drops_only_its_own_reservation(alice, released):
    # A double click: both guards reserve the lab; the one whose body loses the lease drops its reservation, and
    # the other's (its body not committed yet) still counts the lab for a third deploy that read the old row.
    UserLimits.objects.create(user=alice, max_running_labs=1)
    first, second = (services.import_topology(alice, document(f"lab{i}")).lab for i in range(2))
    read = quotas.read_user(alice)
    winner = quotas.reserve(first.pk, read[first.pk][0], 4, scope(alice, read))
    loser = quotas.reserve(first.pk, read[first.pk][0], 4, scope(alice, read))
    assert isinstance(winner, quotas.Reservation) and isinstance(loser, quotas.Reservation)
    loser.keep(0)
    assert quotas.reserve(second.pk, read[second.pk][0], 4, scope(alice, read)) == (0, "labs", 1)
    winner.keep(0)
    third = quotas.reserve(second.pk, read[second.pk][0], 4, scope(alice, read))
    assert isinstance(third, quotas.Reservation)
    third.keep(0)


def test_a_lab_reserved_twice_counts_once_and_the_keys_expire(alice, released):
    first, second = (services.import_topology(alice, document(f"lab{i}")).lab for i in range(2))
    read = quotas.read_user(alice)
    taken = [quotas.reserve(first.pk, read[first.pk][0], 4, scope(alice, read, max_labs=2, max_nodes=8))
             for _ in range(2)]
    assert all(isinstance(r, quotas.Reservation) for r in taken)
    # One lab of 4 nodes, not two of 8: a lab of 4 more fits, one of 5 more would not.
    assert quotas.reserve(second.pk, read[second.pk][0], 5, scope(alice, read, max_labs=2, max_nodes=8)) == (0, "nodes", 4)
    mine = quotas.reserve(second.pk, read[second.pk][0], 4, scope(alice, read, max_labs=2, max_nodes=8))
    assert isinstance(mine, quotas.Reservation)
    assert 0 < leases.client().pttl(mine.keys[0]) <= quotas.RESERVE_TTL * 1000
    for reservation in (*taken, mine):
        reservation.keep(0)
