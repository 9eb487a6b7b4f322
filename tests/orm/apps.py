from django.apps import AppConfig


class OrmTestsConfig(AppConfig):
    name = "tests.orm"
    label = "orm"
    default_auto_field = "django.db.models.BigAutoField"
