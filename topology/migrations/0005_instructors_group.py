"""The "instructors" group, whose members may create courses (permission topology.add_course)."""
from django.db import migrations


def forwards(apps, schema_editor):
    ContentType = apps.get_model("contenttypes", "ContentType")
    Permission = apps.get_model("auth", "Permission")
    Group = apps.get_model("auth", "Group")
    # Permissions are made after migrations run (post_migrate); make this one now, as that would.
    content_type, _ = ContentType.objects.get_or_create(app_label="topology", model="course")
    permission, _ = Permission.objects.get_or_create(content_type=content_type, codename="add_course",
                                                     defaults={"name": "Can add course"})
    group, _ = Group.objects.get_or_create(name="instructors")
    group.permissions.add(permission)


def backwards(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name="instructors").delete()


class Migration(migrations.Migration):

    dependencies = [
        ("topology", "0004_courses"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("contenttypes", "0002_remove_content_type_name"),
    ]

    operations = [migrations.RunPython(forwards, backwards)]
