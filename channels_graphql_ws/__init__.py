"""GraphQL over WebSocket and HTTP for Django Channels, with Graphene-style subscriptions."""

from .client import GraphqlWsClient, GraphqlWsResponseError
from .consumer import GraphqlWsConsumer
from .subscription import Subscription
from .transport import GraphqlWsTransportAiohttp

#: The same class under a name that fits every transport (WebSocket and HTTP).
GraphqlConsumer = GraphqlWsConsumer

__version__ = "1.0.0.dev0"

__all__ = [
    "GraphqlConsumer",
    "GraphqlWsClient",
    "GraphqlWsConsumer",
    "GraphqlWsResponseError",
    "GraphqlWsTransportAiohttp",
    "Subscription",
    "__version__",
]
