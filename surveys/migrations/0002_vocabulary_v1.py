from django.db import migrations

from surveys.vocabulary import load_vocabulary


def load_v1(apps, schema_editor):
    load_vocabulary(apps.get_model("surveys", "VocabularyCode"), version="1")


class Migration(migrations.Migration):
    dependencies = [("surveys", "0001_initial")]

    operations = [migrations.RunPython(load_v1, migrations.RunPython.noop)]
