"""The data change log (DataChange) and the triggers that fill it on every analysed table."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models

TABLES = (
    "surveys_productionsite",
    "surveys_area",
    "surveys_areapopulation",
    "surveys_vocabularycode",
    "surveys_resident",
    "surveys_visit",
    "surveys_observation",
    "surveys_station",
    "surveys_measurement",
)

PG_FUNCTION = """
CREATE OR REPLACE FUNCTION surveys_data_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO surveys_datachange (table_name, changed_at) VALUES (TG_TABLE_NAME, now());
    RETURN NULL;
END
$$
"""


def _create(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FUNCTION)
        for table in TABLES:
            schema_editor.execute(
                f"CREATE TRIGGER {table}_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE "
                f"ON {table} FOR EACH STATEMENT EXECUTE FUNCTION surveys_data_changed()"
            )
    elif vendor == "sqlite":
        # Row triggers only; one writer at a time, so the latest id orders the commits.
        for table in TABLES:
            for event in ("INSERT", "UPDATE", "DELETE"):
                schema_editor.execute(
                    f"CREATE TRIGGER {table}_{event.lower()}_changed AFTER {event} ON {table} "
                    "FOR EACH ROW BEGIN "
                    "INSERT INTO surveys_datachange (table_name, changed_at) "
                    f"VALUES ('{table}', CURRENT_TIMESTAMP); "
                    "DELETE FROM surveys_datachange "
                    "WHERE id < (SELECT max(id) FROM surveys_datachange); "
                    "END"
                )
    else:
        raise NotImplementedError(f"no data change triggers for {vendor}")


def _drop(apps: Any, schema_editor: Any) -> None:
    vendor = schema_editor.connection.vendor
    for table in TABLES:
        if vendor == "postgresql":
            schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_changed ON {table}")
        else:
            for event in ("insert", "update", "delete"):
                schema_editor.execute(f"DROP TRIGGER IF EXISTS {table}_{event}_changed")
    if vendor == "postgresql":
        schema_editor.execute("DROP FUNCTION IF EXISTS surveys_data_changed()")


class Migration(migrations.Migration):
    dependencies = [
        ("surveys", "0007_i18n_code_label_translations"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataChange",
            fields=[
                ("id", models.BigAutoField(primary_key=True, serialize=False)),
                ("table_name", models.CharField(max_length=64)),
                ("changed_at", models.DateTimeField(auto_now_add=True)),
            ],
        ),
        migrations.RunPython(_create, _drop, elidable=False),
    ]
