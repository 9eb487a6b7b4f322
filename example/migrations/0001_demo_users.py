"""Demo users to log in with: alice (password "alice") and bob (password "bob").

The example is for development only; `python3 run.py example` applies this
migration to its SQLite database.
"""

from django.contrib.auth.hashers import make_password
from django.db import migrations

DEMO_USERS = ("alice", "bob")


def create_demo_users(apps, schema_editor):
    user_model = apps.get_model("auth", "User")
    for name in DEMO_USERS:
        if not user_model.objects.filter(username=name).exists():
            user_model.objects.create(username=name, password=make_password(name))


def delete_demo_users(apps, schema_editor):
    apps.get_model("auth", "User").objects.filter(username__in=DEMO_USERS).delete()


class Migration(migrations.Migration):
    # Tuples rather than the usual lists: Django copies them into lists anyway.
    dependencies = (("auth", "0012_alter_user_first_name_max_length"),)

    operations = (migrations.RunPython(create_demo_users, delete_demo_users),)
