"""The older release's import path for the consumer."""

from .consumer import GraphqlWsConsumer

__all__ = ["GraphqlWsConsumer"]
