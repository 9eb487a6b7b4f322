"""A Django app with real models for the ORM tests (graphene-django, SQLite and PostgreSQL)."""
