"""The example's one model: the messages of the chat rooms."""

from __future__ import annotations

from django.db import models


class ChatMessage(models.Model):
    """One message of a chat room, as `sendChatMessage` saved it."""

    chatroom = models.CharField(max_length=200, db_index=True)
    text = models.TextField()
    sender = models.CharField(max_length=150, help_text="User name, or 'anonymous'.")

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.chatroom}: {self.text}"
