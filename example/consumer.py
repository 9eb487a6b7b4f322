"""The example's GraphQL WebSocket consumer."""

import channels_graphql_ws
import example.schema


class GraphqlConsumer(channels_graphql_ws.GraphqlWsConsumer):
    """Serves `example.schema.schema` over the GraphQL WebSocket protocol."""

    schema = example.schema.schema
