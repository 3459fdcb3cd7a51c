"""App configuration of ``topology``."""
from django.apps import AppConfig
from django.db.models.signals import post_migrate

INSTRUCTORS = "instructors"  # the group whose members may create courses (permission topology.add_course)


def ensure_instructors_group(sender=None, using="default", **kwargs) -> None:
    """The group "instructors" with the permission ``topology.add_course``, made if it is missing.

    Migration 0005 makes it; this runs after every ``migrate`` and every ``flush`` (both send
    ``post_migrate``, after Django has made the models' permissions), so a database emptied by a
    flush, such as a transactional test's, has it again too. Its members are never touched.
    """
    from django.contrib.auth.models import Group, Permission

    permission = Permission.objects.using(using).filter(codename="add_course", content_type__app_label="topology").first()
    if permission is None:  # permissions not made (yet) in this database: the migration's job
        return
    group, _ = Group.objects.using(using).get_or_create(name=INSTRUCTORS)
    group.permissions.add(permission)


class TopologyConfig(AppConfig):
    """The topology app."""

    name = "topology"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        post_migrate.connect(ensure_instructors_group, sender=self, dispatch_uid="topology.instructors-group")
