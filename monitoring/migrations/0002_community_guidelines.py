"""The starter guideline values (WHO air quality and drinking-water), as data admins can edit."""

from django.db import migrations

from monitoring.guidelines import load_guidelines


def load(apps, schema_editor):
    load_guidelines(apps.get_model("monitoring", "Guideline"), apps.get_model("surveys", "VocabularyCode"))


def unload(apps, schema_editor):
    apps.get_model("monitoring", "Guideline").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [
        ("monitoring", "0001_community_initial"),
        ("surveys", "0002_vocabulary_v1"),
    ]

    operations = [migrations.RunPython(load, unload)]
