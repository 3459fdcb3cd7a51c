"""The check routes of the REST API, with the database and Redis: who may check which copy, every refusal
(400 with paths, 404, 409, 429, 503, 504), what a student sees (never the answer key; nothing of hidden
checks before the due date, nor their points in the score), trials (their checks in the row, not the
task's message), checks run in a probe, lateness, the results table, its CSV and a class re-run.

The exec worker is faked by running :func:`topology.check_runner.run` in the test's process when the task is
sent, with commands in nodes faked (:func:`fake_node`): the real worker and Docker are
tests/integration/test_checks_live.py's. Transactional, since the task is sent once the run is committed.
"""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.test import Client
from django.utils import timezone

from tests.celery_results import FakeResult
from tests.documents import reference_document
from topology import check_runner, checking, leases, services, tasks, workers
from topology.models import Assignment, CheckRun, CourseMember, Lab, LabNode, LabState, NodeStatus, Topology

API = "/api/v1"
pytestmark = pytest.mark.django_db(transaction=True)

CHECKS = [
    {"node": "c1", "argv": ["ping", "-c1", "-W1", "192.168.11.2"], "expect": "exit0", "description": "c1 reaches c2"},
    {"node": "c1", "argv": ["ip", "route"], "expect": "match", "pattern": r"^default via 192\.168\.10\.1",
     "description": "c1 has a route via r1", "points": 2},
    {"node": "r1", "argv": ["sysctl", "net.ipv4.ip_forward"], "expect": "match", "pattern": "= 1",
     "description": "secret: r1 forwards", "points": 3, "hidden": True},
]


def fake_node(lab_id, node, argv, timeout):
    """What the nodes of a correct reference lab answer (and ``sleep`` outlives its timeout)."""
    if argv[0] == "ping":
        return {"exit_code": 0, "output": "1 packets transmitted, 1 received", "timed_out": False, "truncated": False}
    if argv[0] == "ip":
        return {"exit_code": 0, "output": "default via 192.168.10.1 dev eth0\n", "timed_out": False, "truncated": False}
    if argv[0] == "sysctl":
        return {"exit_code": 0, "output": "net.ipv4.ip_forward = 1\n", "timed_out": False, "truncated": False}
    if argv[0] == "sleep":
        return {"exit_code": 124, "output": "", "timed_out": True, "truncated": False}
    return {"error": "not_running", "detail": f"'{node}' is not running (the lab is stopped)"}


@pytest.fixture
def worker(monkeypatch):
    """The exec worker, in this process: what was sent (``(args, options)``) is run at once."""
    sent = []

    def apply_async(args, **options):
        sent.append((args, options))
        return FakeResult(check_runner.run(*args))

    monkeypatch.setattr(tasks.run_checks, "apply_async", apply_async)
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    return sent


@pytest.fixture(autouse=True)
def _fresh(released, transactional_db):
    """Transactional (the runs' threads need committed rows); the run locks of this test run are removed after."""
    yield
    client = leases.client()
    for key in client.scan_iter(f"topolab:{settings.TOPOLAB_SITE}:checks:*"):
        client.delete(key)


@pytest.fixture
def assignment(course, carol):
    return Assignment.objects.create(course=course, title="Static routes", template=reference_document(),
                                     checks=CHECKS, created_by=carol, published=timezone.now())


def copy_of(assignment, user, *, run=True) -> Topology:
    topology = services.import_topology(user, reference_document() | {"name": f"copy-{user.username}"})
    Topology.objects.filter(pk=topology.pk).update(assignment=assignment)
    if run:
        lab = topology.lab
        Lab.objects.filter(pk=lab.pk).update(state=LabState.RUNNING, operation="op1")
        for i, node in enumerate(("c1", "r1", "c2")):
            LabNode.objects.create(lab=lab, name=node, state=NodeStatus.RUNNING, container_id=f"{i:064x}")
    return Topology.objects.select_related("lab", "assignment", "owner").get(pk=topology.pk)


def signed_in(user) -> Client:
    c = Client()
    c.force_login(user)
    return c


def post(client, url, body=None):
    return client.post(url, json.dumps(body or {}), content_type="application/json")


# -- check my work ----------------------------------------------------------------------------------------------
def test_a_student_checks_their_work_and_sees_hidden_checks_masked(assignment, alice, worker):
    copy = copy_of(assignment, alice)
    response = post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    assert response.status_code == 200, response.content
    body = response.json()
    # Before the due date the score is the visible checks' (1 + 2): the hidden one's 3 points would tell it passed.
    assert body["state"] == "done" and body["score"] == 3 and body["max_score"] == 3
    assert body["user"] == "alice" and body["requested_by"] == "alice" and body["trial"] is False
    assert [r.get("passed") for r in body["results"]] == [True, True, None]
    assert body["results"][1] == {"index": 1, "description": "c1 has a route via r1", "points": 2, "passed": True,
                                  "seen": "exit status 0; the output matched the expected pattern; output:\n"
                                          "default via 192.168.10.1 dev eth0",
                                  "exit_code": 0, "timed_out": False, "error": ""}
    assert body["results"][2] == {"index": 2, "description": "hidden check", "hidden": True, "points": 3}
    text = response.content.decode()
    for secret in ("secret", "ip_forward", "sysctl", r"192\\.168", '"node"', '"argv"', "pattern matched"):
        assert secret not in text, secret
    [(args, options)] = worker
    assert args == [body["id"]]  # the worker reads the assignment's checks itself
    assert options["queue"] == workers.exec_queue(copy.lab.queue)  # never the lab worker's queue
    run = CheckRun.objects.get(pk=body["id"])
    assert run.results[2]["description"] == "secret: r1 forwards" and run.finished and not run.late
    assert run.score == 6 and run.max_score == 6 and run.results[2]["passed"] is True  # the record keeps it all
    assert run.results[1]["seen"].startswith("exit status 0; the pattern matched 'default via 192.168.10.1'")
    # The lock is given back: a second check runs at once.
    assert post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks").status_code == 200


def test_the_list_of_runs_and_the_grade(assignment, alice, carol, worker):
    copy = copy_of(assignment, alice)
    post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    response = signed_in(alice).get(f"{API}/topologies/{copy.pk}/checks")
    body = response.json()
    # The answer key is the instructor's: a student sees what each check is for and its points, nothing more.
    assert body["checks"] == [{"index": 0, "description": "c1 reaches c2", "points": 1},
                              {"index": 1, "description": "c1 has a route via r1", "points": 2},
                              {"index": 2, "description": "hidden check", "points": 3, "hidden": True}]
    for secret in ("secret", '"argv"', '"node"', '"expect"', '"pattern"', '"in"', "ping", r"192\\.168"):
        assert secret not in response.content.decode(), secret
    run = body["runs"][0]
    assert len(body["runs"]) == 1 and run["results"][2] == {"index": 2, "description": "hidden check",
                                                             "points": 3, "hidden": True}
    assert (run["score"], run["max_score"]) == (3, 3)
    assert body["grade"]["score"] == 3 and body["grade"]["max_score"] == 3 and body["grade"]["counted"] is True
    # Their instructor sees everything, the full grade included.
    full = signed_in(carol).get(f"{API}/topologies/{copy.pk}/checks").json()
    assert full["checks"][2] == {"index": 2, **CHECKS[2], "timeout": 10, "in": "node"}
    assert full["runs"][0]["results"][1]["node"] == "c1" and "pattern matched" in full["runs"][0]["results"][1]["seen"]
    assert (full["runs"][0]["score"], full["grade"]["score"], full["grade"]["max_score"]) == (6, 6, 6)
    # Once the due date has passed, the student sees hidden checks' descriptions, results and points; still
    # not what any check runs or looks for.
    Assignment.objects.filter(pk=assignment.pk).update(due=timezone.now() - timedelta(minutes=1))
    response = signed_in(alice).get(f"{API}/topologies/{copy.pk}/checks")
    after = response.json()
    assert after["checks"][2] == {"index": 2, "description": "secret: r1 forwards", "points": 3}
    hidden = after["runs"][0]["results"][2]
    assert hidden["description"] == "secret: r1 forwards" and hidden["passed"] is True and hidden["hidden"] is True
    assert (after["runs"][0]["score"], after["grade"]["score"], after["grade"]["max_score"]) == (6, 6, 6)
    assert '"argv"' not in response.content.decode() and '"node"' not in response.content.decode()


def test_an_instructor_reruns_a_students_checks(assignment, alice, carol, worker):
    copy = copy_of(assignment, alice)
    body = post(signed_in(carol), f"{API}/topologies/{copy.pk}/checks").json()
    assert body["user"] == "alice" and body["requested_by"] == "carol" and body["trial"] is False
    assert body["results"][2]["description"] == "secret: r1 forwards" and body["results"][2]["node"] == "r1"
    assert body["score"] == 6


def test_an_instructors_own_copy_makes_a_trial(assignment, carol, worker):
    copy = copy_of(assignment, carol)
    body = post(signed_in(carol), f"{API}/topologies/{copy.pk}/checks").json()
    assert body["trial"] is True and CheckRun.objects.get(pk=body["id"]).trial
    # The assignment's own checks, all of them shown: an instructor is not a student.
    assert body["score"] == 6 and body["results"][2]["description"] == "secret: r1 forwards"
    assert CheckRun.objects.get(pk=body["id"]).checks == []


def test_a_superusers_own_copy_is_a_trial_shown_in_full(assignment, worker, django_user_model):
    root = django_user_model.objects.create_superuser("root", None, None)
    copy = copy_of(assignment, root)
    body = post(signed_in(root), f"{API}/topologies/{copy.pk}/checks").json()
    assert body["trial"] is True and body["results"][2]["node"] == "r1"
    listing = signed_in(root).get(f"{API}/topologies/{copy.pk}/checks").json()
    assert listing["checks"][0]["argv"] == CHECKS[0]["argv"]


def test_strangers_get_404_and_the_anonymous_401(assignment, alice, bob, worker, course, django_user_model):
    copy = copy_of(assignment, alice)
    classmate = django_user_model.objects.create_user("erin", None, None)
    CourseMember.objects.create(course=course, user=classmate, role=CourseMember.Role.STUDENT)
    for user in (bob, classmate):
        assert post(signed_in(user), f"{API}/topologies/{copy.pk}/checks").status_code == 404
        assert signed_in(user).get(f"{API}/topologies/{copy.pk}/checks").status_code == 404
    assert post(Client(), f"{API}/topologies/{copy.pk}/checks").status_code == 401
    assert Client().get(f"{API}/topologies/{copy.pk}/checks").status_code == 401
    assert worker == [] and not CheckRun.objects.exists()


def test_refusals(assignment, alice, worker):
    own = services.import_topology(alice, reference_document())
    response = post(signed_in(alice), f"{API}/topologies/{own.pk}/checks")
    assert response.status_code == 400 and response.json()["errors"][0]["message"].startswith("this topology is not a copy")

    stopped = copy_of(assignment, alice, run=False)
    response = post(signed_in(alice), f"{API}/topologies/{stopped.pk}/checks")
    assert response.status_code == 409 and "it is stopped" in response.json()["detail"]

    Assignment.objects.filter(pk=assignment.pk).update(checks=[])
    Lab.objects.filter(pk=stopped.lab.pk).update(state=LabState.RUNNING)
    response = post(signed_in(alice), f"{API}/topologies/{stopped.pk}/checks")
    assert response.status_code == 400 and response.json()["errors"] == [{"path": "checks", "message": "no checks"}]
    assert worker == [] and not CheckRun.objects.exists()


def test_one_run_at_a_time_per_user(assignment, alice, worker):
    copy = copy_of(assignment, alice)
    ongoing = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    leases.client().set(checking._user_key(alice.pk), str(ongoing.pk), px=60_000)
    response = post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    assert response.status_code == 429 and "already running" in response.json()["detail"]
    assert worker == [] and CheckRun.objects.count() == 1  # the refused run left nothing behind
    # A run that has finished gives its place back at once, without waiting for its key to lapse.
    CheckRun.objects.filter(pk=ongoing.pk).update(state=CheckRun.State.DONE, finished=timezone.now())
    assert post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks").status_code == 200


def test_at_most_the_exec_pool_of_runs_per_host(assignment, alice, bob, worker, settings):
    settings.TOPOLAB_EXEC_CONCURRENCY = 1
    copy = copy_of(assignment, alice)
    other = CheckRun.objects.create(assignment=assignment, user=bob)
    key = checking._host_key(workers.exec_queue(copy.lab.queue))
    leases.client().zadd(key, {str(other.pk): 10 ** 15})
    response = post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    assert response.status_code == 429 and "this host already runs 1 check runs" in response.json()["detail"]
    # Alice's own lock went back with the refusal.
    assert leases.client().get(checking._user_key(alice.pk)) is None
    CheckRun.objects.filter(pk=other.pk).update(state=CheckRun.State.DONE)
    assert post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks").status_code == 200


def test_no_exec_worker_is_503_and_nothing_runs(assignment, alice, worker):
    copy = copy_of(assignment, alice)
    Lab.objects.filter(pk=copy.lab.pk).update(queue="nowhere")
    response = post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    assert response.status_code == 503 and "no exec worker is running" in response.json()["detail"]
    assert worker == [] and not CheckRun.objects.exists()


def test_a_worker_that_does_not_answer_in_time_is_504_and_the_run_failed(assignment, alice, monkeypatch):
    from celery.exceptions import TimeoutError as CeleryTimeout

    class Silent(FakeResult):
        def get(self, timeout=None, propagate=True):
            raise CeleryTimeout("no answer")

    monkeypatch.setattr(tasks.run_checks, "apply_async", lambda args, **options: Silent(None))
    copy = copy_of(assignment, alice)
    response = post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    assert response.status_code == 504 and "did not finish the checks" in response.json()["detail"]
    run = CheckRun.objects.get()
    assert run.state == "failed" and run.finished and "did not finish" in run.reason
    assert leases.client().get(checking._user_key(alice.pk)) is None


# -- trials -----------------------------------------------------------------------------------------------------
def test_an_instructor_tries_unsaved_checks_on_their_own_copy(assignment, carol, worker):
    copy_of(assignment, carol)
    trial = [{"node": "c2", "argv": ["sleep", "30"], "expect": "exit0", "description": "too slow", "timeout": 1},
             {"node": "c1", "argv": ["ping", "c2"], "expect": "exit0", "description": "pings"}]
    response = post(signed_in(carol), f"{API}/assignments/{assignment.pk}/checks/try", {"checks": trial})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["trial"] is True and body["score"] == 1 and body["max_score"] == 2
    assert body["results"][0]["timed_out"] is True and body["results"][0]["seen"].startswith("timed out after 1 s")
    [(args, _)] = worker
    assert args == [body["id"]]  # the checks travel in the row, not in the task's message
    stored = CheckRun.objects.get(pk=body["id"]).checks
    assert stored[0]["argv"] == ["sleep", "30"] and stored[1]["timeout"] == 10  # normalised, defaults filled
    assert Assignment.objects.get(pk=assignment.pk).checks == CHECKS  # nothing saved


def test_trial_refusals(assignment, carol, alice, bob, worker):
    url = f"{API}/assignments/{assignment.pk}/checks/try"
    response = post(signed_in(carol), url, {"checks": CHECKS})
    assert response.status_code == 404 and "start the assignment and deploy your copy first" in response.json()["detail"]
    copy = copy_of(assignment, carol, run=False)
    response = post(signed_in(carol), url, {"checks": CHECKS})
    assert response.status_code == 409 and "start the assignment and deploy your copy first" in response.json()["detail"]
    Lab.objects.filter(pk=copy.lab.pk).update(state=LabState.RUNNING)
    response = post(signed_in(carol), url, {"checks": [{"node": "c9", "argv": [], "expect": "exit0",
                                                        "description": "x"}]})
    assert response.status_code == 400
    assert [e["path"] for e in response.json()["errors"]] == ["checks[0].node", "checks[0].argv"]
    response = post(signed_in(carol), url, {"checks": []})
    assert response.status_code == 400 and response.json()["errors"][0]["path"] == "checks"
    assert post(signed_in(carol), url, {}).status_code == 400
    for user in (alice, bob):  # a student of the course, a stranger
        assert post(signed_in(user), url, {"checks": CHECKS}).status_code == 404
    assert post(signed_in(carol), f"{API}/assignments/999999/checks/try", {"checks": CHECKS}).status_code == 404
    assert post(Client(), url, {"checks": CHECKS}).status_code == 401
    assert worker == []


# -- results ----------------------------------------------------------------------------------------------------
def test_results_table_csv_and_class_rerun(assignment, carol, alice, bob, course, worker, django_user_model):
    dave = django_user_model.objects.create_user("dave", None, None, first_name="@dave")
    CourseMember.objects.create(course=course, user=dave, role=CourseMember.Role.STUDENT)
    erin = django_user_model.objects.create_user("erin", None, None)
    CourseMember.objects.create(course=course, user=erin, role=CourseMember.Role.STUDENT)
    copy_of(assignment, alice)
    copy_of(assignment, erin, run=False)
    copy_of(assignment, carol)  # the instructor's own copy: not a student's

    response = post(signed_in(carol), f"{API}/assignments/{assignment.pk}/results/rerun")
    assert response.status_code == 200, response.content
    assert response.json() == {"queued": ["alice"], "skipped": [
        {"username": "dave", "reason": "has not started the assignment"},
        {"username": "erin", "reason": "the lab is not running (it is stopped)"}]}
    [(args, options)] = worker
    assert options["expires"] == checking.BULK_EXPIRES and options["queue"].endswith(".exec")

    rows = signed_in(carol).get(f"{API}/assignments/{assignment.pk}/results").json()
    assert [r["username"] for r in rows] == ["alice", "dave", "erin"]
    assert rows[0]["grade"]["score"] == 6 and rows[1]["grade"] is None and rows[1]["copy_id"] is None

    response = signed_in(carol).get(f"{API}/assignments/{assignment.pk}/results.csv")
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith("attachment; filename=") and ".csv" in response["Content-Disposition"]
    lines = response.content.decode().splitlines()
    assert lines[0].startswith("username,name,score,max_score,late,finished")
    assert lines[2].startswith("dave,'@dave,")

    for user in (alice, bob):
        assert signed_in(user).get(f"{API}/assignments/{assignment.pk}/results").status_code == 404
        assert signed_in(user).get(f"{API}/assignments/{assignment.pk}/results.csv").status_code == 404
        assert post(signed_in(user), f"{API}/assignments/{assignment.pk}/results/rerun").status_code == 404
    assert Client().get(f"{API}/assignments/{assignment.pk}/results").status_code == 401
    assert len(worker) == 1


def test_the_runner_records_a_lab_that_is_not_running_and_a_crash(assignment, alice, monkeypatch):
    copy = copy_of(assignment, alice, run=False)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    assert check_runner.run(run.pk)["state"] == "failed"
    run.refresh_from_db()
    assert run.finished and run.reason == "the lab is not running (it is stopped): deploy it, then check again"

    copy = copy_of(assignment, alice.__class__.objects.create_user("fred", None, None))
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=copy.owner)
    monkeypatch.setattr(check_runner, "_execute", lambda *a: 1 / 0)
    assert check_runner.run(run.pk)["state"] == "failed"
    run.refresh_from_db()
    assert run.reason == "the check run crashed: division by zero"
    assert check_runner.run(10 ** 9) == {"error": f"no check run {10 ** 9}"}


def test_the_runner_reads_a_trials_checks_from_its_row_and_a_graded_run_its_assignments(assignment, alice, carol,
                                                                                         monkeypatch):
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    mine = [{"node": "c1", "argv": ["ping", "c2"], "expect": "exit0", "description": "pings"}]
    copy = copy_of(assignment, carol)
    trial = CheckRun.objects.create(assignment=assignment, topology=copy, user=carol, trial=True, checks=mine)
    check_runner.run(trial.pk)
    trial.refresh_from_db()
    assert [r["description"] for r in trial.results] == ["pings"] and trial.score == 1
    # A graded run runs the assignment's checks, whatever its row holds (nobody may grade by their own).
    student = copy_of(assignment, alice)
    graded = CheckRun.objects.create(assignment=assignment, topology=student, user=alice, checks=mine)
    check_runner.run(graded.pk)
    graded.refresh_from_db()
    assert len(graded.results) == 3 and graded.max_score == 6
    # A message queued before the checks moved to the row still carries them: the task ignores them.
    legacy = CheckRun.objects.create(assignment=assignment, topology=student, user=alice)
    answer = tasks.run_checks(legacy.pk, [{"node": "c1", "argv": ["true"], "expect": "exit0", "description": "x"}])
    legacy.refresh_from_db()
    assert answer["state"] == "done" and len(legacy.results) == 3


def test_a_check_in_a_probe_runs_there_and_its_student_sees_nothing_of_it(assignment, alice, monkeypatch):
    probed = []

    class Session:
        """The run's probes (topology.probes.Session): one per node, closed when the run ends."""

        closed = False

        def run(self, node, argv, timeout):
            probed.append((node, argv))
            return fake_node(0, node, argv, timeout)

        def close(self):
            self.closed = True

    session = Session()
    monkeypatch.setattr(check_runner, "run_in_node", lambda *a: {"error": "exec_failed", "detail": "not in the node"})
    monkeypatch.setattr(check_runner, "_probe_session", lambda lab_id, items: session)
    checks = [dict(CHECKS[0], **{"in": "probe"}), CHECKS[1]]
    Assignment.objects.filter(pk=assignment.pk).update(checks=checks)
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert probed == [("c1", CHECKS[0]["argv"])] and session.closed
    assert run.results[0]["passed"] is True and run.results[1]["error"] == "exec_failed: not in the node"
    response = signed_in(alice).get(f"{API}/topologies/{copy.pk}/checks")
    assert '"in"' not in response.content.decode() and "probe" not in response.content.decode()


def test_a_probe_check_without_the_probes_module_fails_saying_so(assignment, alice, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "topology.probes", None)  # an import of it raises ImportError
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    Assignment.objects.filter(pk=assignment.pk).update(checks=[dict(CHECKS[0], **{"in": "probe"}), CHECKS[1]])
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert run.results[0]["passed"] is False and run.results[0]["error"].startswith("no_probe: probes are not available")
    assert run.results[1]["passed"] is True and run.state == "done"


def test_a_pattern_that_would_exhaust_the_memory_is_refused_by_the_runner_too(assignment, alice, monkeypatch):
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    monkeypatch.setattr(check_runner.checklist.regex, "compile", lambda *a, **k: pytest.fail(f"compiled {a[0]!r}"))
    bomb = dict(CHECKS[1], pattern=r"(?:(?:(?:a{100}){100}){100})")  # saved before the rule (or by hand)
    Assignment.objects.filter(pk=assignment.pk).update(checks=[CHECKS[0], bomb])
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert run.state == "done" and run.results[0]["passed"] is True
    assert run.results[1]["passed"] is False and "repeats too much" in run.results[1]["error"]
    shown = signed_in(alice).get(f"{API}/topologies/{copy.pk}/checks").json()["runs"][0]["results"][1]
    assert shown["error"] == shown["seen"] == check_runner.checklist.INVALID_TOLD  # the student is not told why


def test_a_run_asked_for_before_the_due_date_is_on_time_whenever_it_finishes(assignment, alice, monkeypatch):
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    CheckRun.objects.filter(pk=run.pk).update(started=timezone.now() - timedelta(minutes=2))
    Assignment.objects.filter(pk=assignment.pk).update(due=timezone.now() - timedelta(minutes=1))
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert run.state == "done" and run.finished > run.assignment.due and run.late is False


def test_the_runner_fails_a_run_where_no_check_could_run(assignment, alice, monkeypatch):
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    monkeypatch.setattr(check_runner, "run_in_node", lambda *a: {"error": "exec_failed", "detail": "engine down"})
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert run.state == "failed" and run.reason == "no check could run: exec_failed: engine down"
    assert len(run.results) == 3 and run.score == 0 and run.max_score == 6
    assert run.results[0]["error"] == "exec_failed: engine down" and run.results[0]["passed"] is False


def test_a_students_reason_does_not_name_a_hidden_checks_node(assignment, alice, carol, monkeypatch):
    monkeypatch.setattr(check_runner, "run_in_node",
                        lambda lab, node, *a: {"error": "not_running", "detail": f"'{node}' is not running"})
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert "'r1'" in run.reason  # the record names every node
    [shown] = signed_in(alice).get(f"{API}/topologies/{copy.pk}/checks").json()["runs"]
    assert shown["reason"] == "no check could run: not_running: 'c1' is not running"
    [full] = signed_in(carol).get(f"{API}/topologies/{copy.pk}/checks").json()["runs"]
    assert full["reason"] == run.reason


def test_the_runner_marks_late_runs_and_tells_the_course_feed(assignment, alice, monkeypatch):
    told = []
    monkeypatch.setattr(check_runner.coursefeed, "check_run_changed", told.append)
    monkeypatch.setattr(check_runner, "run_in_node", fake_node)
    Assignment.objects.filter(pk=assignment.pk).update(due=timezone.now() - timedelta(hours=1))
    copy = copy_of(assignment, alice)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    check_runner.run(run.pk)
    run.refresh_from_db()
    assert run.state == "done" and run.late and run.score == 6 and told == [run.pk]
    assert [r["hidden"] for r in run.results] == [False, False, True]


def test_a_broker_that_cannot_be_reached_fails_the_run_and_answers_503(assignment, alice, monkeypatch):
    def down(args, **options):
        raise ConnectionError("broker down")

    monkeypatch.setattr(tasks.run_checks, "apply_async", down)
    copy = copy_of(assignment, alice)
    response = post(signed_in(alice), f"{API}/topologies/{copy.pk}/checks")
    assert response.status_code == 503 and "cannot be reached: broker down" in response.json()["detail"]
    run = CheckRun.objects.get()
    assert run.state == "failed" and "broker down" in run.reason
    assert leases.client().get(checking._user_key(alice.pk)) is None  # the next try is not refused as busy


def test_a_class_rerun_without_an_exec_worker_is_503(assignment, carol, alice, worker):
    copy = copy_of(assignment, alice)
    Lab.objects.filter(pk=copy.lab.pk).update(queue="nowhere")
    response = post(signed_in(carol), f"{API}/assignments/{assignment.pk}/results/rerun")
    assert response.status_code == 503 and worker == [] and not CheckRun.objects.exists()


def test_a_check_that_reads_output_and_saw_none_is_asked_once_more(assignment, alice, monkeypatch):
    """The engine now and then loses a fast command's whole output (docker-py#2042): an empty answer to a
    check that reads the output is asked again; a check of the exit status alone is not."""
    copy = copy_of(assignment, alice)
    calls = []

    def flaky(lab_id, node, argv, timeout):
        calls.append(argv[0])
        if argv[0] == "ip" and calls.count("ip") == 1:
            return {"exit_code": 0, "output": "", "timed_out": False, "truncated": False}
        return fake_node(lab_id, node, argv, timeout)

    monkeypatch.setattr(check_runner, "run_in_node", flaky)
    run = CheckRun.objects.create(assignment=assignment, topology=copy, user=alice)
    assert check_runner.run(run.pk)["state"] == "done"
    run.refresh_from_db()
    assert all(r["passed"] for r in run.results), run.results
    assert calls.count("ip") == 2 and calls.count("ping") == 1
