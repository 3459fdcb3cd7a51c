"""Root-side operations that end before touching Docker: a lab deleted while its task was queued."""
from topology import operations


def test_it_does_nothing_for_a_lab_deleted_while_its_task_waited(db):
    assert operations.deploy(987654321, "some-operation") == operations.GONE
    assert operations.destroy(987654321, "some-operation") == operations.GONE
