"""GraphQL over WebSocket for Django Channels, with Graphene-style subscriptions."""

from .client import GraphqlWsClient, GraphqlWsResponseError
from .consumer import GraphqlWsConsumer
from .subscription import Subscription
from .transport import GraphqlWsTransportAiohttp

__version__ = "1.0.0.dev0"

__all__ = [
    "GraphqlWsClient",
    "GraphqlWsConsumer",
    "GraphqlWsResponseError",
    "GraphqlWsTransportAiohttp",
    "Subscription",
    "__version__",
]
