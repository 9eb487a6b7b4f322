"""GraphQL over WebSocket for Django Channels, with Graphene-style subscriptions."""

from .client import GraphqlWsClient, GraphqlWsResponseError
from .consumer import GraphqlWsConsumer
from .subscription import Subscription

__version__ = "1.0.0.dev0"

__all__ = [
    "GraphqlWsClient",
    "GraphqlWsConsumer",
    "GraphqlWsResponseError",
    "Subscription",
    "__version__",
]
