"""Enrolment from CSV: the pure parser (line numbers and reasons, exactly) and the enrolment that follows
(good rows created, each bad row reported, a row that fails half-way leaves nothing)."""
from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError

from topology import courses
from topology.models import CourseMember, UserFlags

User = get_user_model()

BAD = (
    "username,name,email\n"          # 1 header
    "ada,Ada Lovelace,ada@example.org\n"   # 2 good
    "bad name,Bad,bad@example.org\n"  # 3 bad username
    "ada,Ada Again,ada2@example.org\n"    # 4 duplicate of line 2
    "grace,Grace Hopper,not-an-email\n"   # 5 invalid email
    "linus,Linus\n"                   # 6 two columns
    "\n"                              # 7 blank: skipped
    "alan,Alan Turing,\n"             # 8 good, no email
)


def test_the_parser_reports_each_bad_line_with_its_reason():
    parsed = courses.parse_csv(BAD)
    assert [(r.line, r.username, r.name, r.email) for r in parsed.rows] == [
        (2, "ada", "Ada Lovelace", "ada@example.org"), (8, "alan", "Alan Turing", "")]
    assert parsed.problems == [
        {"line": 3, "message": "bad username 'bad name': Enter a valid username. This value may contain only letters, "
                               "numbers, and @/./+/-/_ characters."},
        {"line": 4, "message": "'ada' is already on line 2"},
        {"line": 5, "message": "invalid email 'not-an-email'"},
        {"line": 6, "message": "expected 3 columns (username, name, email), found 2"},
    ]


def test_the_header_is_optional_and_quoted_fields_count_from_their_first_line():
    parsed = courses.parse_csv('ada,"Lovelace,\nAda",ada@example.org\nbob,Bob,\n')
    assert [(r.line, r.username, r.name) for r in parsed.rows] == [(1, "ada", "Lovelace,\nAda"), (3, "bob", "Bob")]
    assert parsed.problems == []


def test_an_empty_or_too_long_username():
    parsed = courses.parse_csv(",No One,\n" + "x" * 151 + ",Long,\n")
    assert parsed.problems == [{"line": 1, "message": "bad username '': the username is empty"},
                               {"line": 2, "message": f"bad username '{'x' * 151}': the username is longer than 150 characters"}]


def test_utf8_with_a_bom_is_read_and_anything_else_is_refused():
    assert courses.decode_csv("\ufeffusername,name,email\nzoë,Zoë,\n".encode()) == "username,name,email\nzoë,Zoë,\n"
    with pytest.raises(courses.InvalidCsv, match="not UTF-8 text \\(byte 3\\)"):
        courses.decode_csv("zoë,Zoë,".encode("latin-1"))


def test_the_file_is_capped_in_bytes_and_rows():
    with pytest.raises(courses.InvalidCsv, match="the limit is 262144"):
        courses.decode_csv(b"a" * (256 * 1024 + 1))
    courses.parse_csv("".join(f"u{i},U,\n" for i in range(100)))  # 100 rows: fine
    with pytest.raises(courses.InvalidCsv, match="line 102: too many rows; at most 100"):
        courses.parse_csv("username,name,email\n" + "".join(f"u{i},U,\n" for i in range(101)))


def test_unreadable_csv_is_reported_where_it_breaks():
    parsed = courses.parse_csv('ada,Ada,\nbob,"Bob\x00,\n')
    assert [r.username for r in parsed.rows] == ["ada"]
    assert parsed.problems[0]["line"] == 2 and "the rest was not read" in parsed.problems[0]["message"]


# -- enrolment ------------------------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def _fast(fast_passwords):
    pass


def test_good_rows_are_created_bad_ones_reported(course, bob):
    before = set(User.objects.values_list("username", flat=True))
    text = BAD + "bob,Bob Existing,bob@example.org\nalice,Alice,\n"
    result = courses.enrol_csv(course, text.encode())
    assert [c["username"] for c in result["created"]] == ["ada", "alan"]
    assert result["enrolled"] == [{"line": 9, "username": "bob", "note": "existing account: enrolled, password unchanged"}]
    assert [p["line"] for p in result["problems"]] == [3, 4, 5, 6, 10]
    assert result["problems"][-1] == {"line": 10, "message": "'alice' is already enrolled"}
    assert set(User.objects.values_list("username", flat=True)) - before == {"ada", "alan"}
    ada = User.objects.get(username="ada")
    assert (ada.first_name, ada.last_name, ada.email) == ("Ada", "Lovelace", "ada@example.org")
    assert ada.check_password(result["created"][0]["password"])
    assert result["created"][0]["password"] not in ada.password  # only its hash is kept
    assert UserFlags.objects.get(user=ada).must_change_password
    assert not UserFlags.objects.filter(user=bob).exists()  # an existing account keeps its password
    assert set(course.members.filter(role="student").values_list("user__username", flat=True)) == {
        "alice", "ada", "alan", "bob"}


def test_a_row_that_fails_half_way_leaves_nothing(course, monkeypatch):
    real = CourseMember.objects.create

    def create(**kwargs):
        if kwargs["user"].username == "ada":
            raise IntegrityError("simulated")
        return real(**kwargs)

    monkeypatch.setattr(CourseMember.objects, "create", create)
    result = courses.enrol_csv(course, b"ada,Ada,\nalan,Alan,\n")
    assert [c["username"] for c in result["created"]] == ["alan"]
    assert result["problems"] == [{"line": 1, "message": "'ada' could not be created (simulated); nothing of this row "
                                                         "was kept"}]
    assert not User.objects.filter(username="ada").exists()
    assert not UserFlags.objects.filter(user__username="ada").exists()


def test_a_refused_file_creates_nothing(course):
    count = User.objects.count()
    with pytest.raises(courses.InvalidCsv):
        courses.enrol_csv(course, "ada,Ada,\n".encode("utf-16"))
    assert User.objects.count() == count
