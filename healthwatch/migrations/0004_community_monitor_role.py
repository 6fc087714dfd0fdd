from django.db import migrations

ROLE = "community_monitor"


def create_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.get_or_create(name=ROLE)


def remove_group(apps, schema_editor):
    apps.get_model("auth", "Group").objects.filter(name=ROLE).delete()


class Migration(migrations.Migration):
    dependencies = [("healthwatch", "0003_i18n_user_profile")]

    operations = [migrations.RunPython(create_group, remove_group)]
