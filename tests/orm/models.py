"""Authors write posts (a foreign key) with tags (a many-to-many); hooks leave events."""

from __future__ import annotations

from django.db import models


class Author(models.Model):
    name = models.CharField(max_length=100, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    name = models.CharField(max_length=50, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Post(models.Model):
    title = models.CharField(max_length=200)
    author = models.ForeignKey(Author, related_name="posts", on_delete=models.CASCADE)
    tags = models.ManyToManyField(Tag, related_name="posts", blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.title


class HookEvent(models.Model):
    """Written by the ``subscribe`` and ``unsubscribed`` hooks: proof they reached the database."""

    kind = models.CharField(max_length=20)
    author = models.CharField(max_length=100)

    class Meta:
        ordering = ["id"]
