"""The chat's messages, read and written by the schema's sync resolvers."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = (("example", "0001_demo_users"),)

    operations = (
        migrations.CreateModel(
            name="ChatMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("chatroom", models.CharField(db_index=True, max_length=200)),
                ("text", models.TextField()),
                (
                    "sender",
                    models.CharField(help_text="User name, or 'anonymous'.", max_length=150),
                ),
            ],
            options={"ordering": ("id",)},
        ),
    )
