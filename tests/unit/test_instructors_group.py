"""The group "instructors" survives a flush (a transactional test empties the database after it): it is made
again after every ``migrate`` and ``flush`` by :func:`topology.apps.ensure_instructors_group`."""
import pytest
from django.contrib.auth.models import Group


@pytest.mark.django_db(transaction=True)
def test_the_group_is_there_and_this_test_deletes_it():
    assert Group.objects.filter(name="instructors").exists()
    Group.objects.all().delete()


@pytest.mark.django_db(transaction=True)
def test_after_the_flush_it_is_back_with_its_permission():
    """Runs after the test above (file order): its deletion was flushed away, the group made again."""
    group = Group.objects.get(name="instructors")
    assert list(group.permissions.values_list("content_type__app_label", "codename")) == [("topology", "add_course")]
