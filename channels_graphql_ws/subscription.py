"""The Graphene-style ``Subscription`` base class.

Defined like a graphene ``Mutation``: output fields (or ``Output``), an inner
``Arguments`` class, a required ``publish`` and optional ``subscribe`` and
``unsubscribed`` hooks, each a static, class or plain method, sync or async.
This module knows nothing of consumers: it runs the hooks when asked and
sends broadcasts through ``broadcast``.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import graphene
from django.db import transaction
from django.db.models import Model, signals
from graphene.types.objecttype import ObjectTypeOptions
from graphene.types.utils import yank_fields_from_attrs
from graphene.utils.props import props
from graphql import GraphQLResolveInfo

from . import broadcast as layer_messages
from . import sync_thread as sync_thread_module


class SubscriptionOptions(ObjectTypeOptions):  # type: ignore[misc]
    """What ``Subscription`` subclasses keep in ``_meta``."""

    arguments: dict[str, Any] | None = None
    output: Any = None
    subscribe: Callable[..., Any] | None = None
    publish: Callable[..., Any] | None = None
    unsubscribed: Callable[..., Any] | None = None


class PublishResolver:
    """The resolver of a ``Subscription.Field()``: calls ``publish``.

    It also tells the consumer which ``Subscription`` class a schema field
    belongs to: graphql-core keeps this object as the field's ``resolve``,
    so the lookup needs no registry and works with ``Output`` too.
    """

    __slots__ = ("subscription_class",)

    def __init__(self, subscription_class: type[Subscription]) -> None:
        self.subscription_class = subscription_class

    def __call__(self, root: Any, info: GraphQLResolveInfo, **args: Any) -> Any:
        publish = self.subscription_class._meta.publish
        assert publish is not None
        return publish(root, info, **args)


class Subscription(graphene.ObjectType):  # type: ignore[misc]
    """Subclass it to define a subscription, then mount ``MySubscription.Field()``.

    ``subscribe(root, info, **args)`` returns the extra groups to join (the
    class's default group is always joined); ``publish(payload, info, **args)``
    shapes each broadcast payload into the result for one subscriber, or
    returns None to skip that subscriber; ``unsubscribed(root, info, **args)``
    is told when the subscription ends for any reason, disconnect included.
    ``info.context`` is one object for all three, so ``subscribe`` can leave
    data for ``publish``.
    """

    #: Notifications a subscriber may have waiting; None or <= 0: the
    #: consumer's ``subscription_notification_queue_limit``. 1 keeps only the
    #: latest (silently); above 1 each drop is logged.
    notification_queue_limit: ClassVar[int | None] = None
    #: Run ``publish`` (and the subscriber's document) once per broadcast for
    #: all of a process's subscribers with the same document and variables,
    #: and send them that one result. Set it when ``publish`` and the fields
    #: it returns depend only on the payload and the arguments, never on
    #: ``info.context`` (the user, the connection): fan-out then costs about
    #: one frame per subscriber. Ignored when the consumer has middleware,
    #: which must see every subscriber's fields (API.md decision 13).
    publish_once: ClassVar[bool] = False

    _meta: ClassVar[SubscriptionOptions]

    class Meta:
        abstract = True

    @classmethod
    def __init_subclass_with_meta__(
        cls,
        subscribe: Callable[..., Any] | None = None,
        publish: Callable[..., Any] | None = None,
        unsubscribed: Callable[..., Any] | None = None,
        output: Any = None,
        arguments: dict[str, Any] | None = None,
        _meta: SubscriptionOptions | None = None,
        **options: Any,
    ) -> None:
        if _meta is None:
            _meta = SubscriptionOptions(cls)
        output = output or getattr(cls, "Output", None)
        fields: dict[str, Any] = {}
        if not output:
            for base in reversed(cls.__mro__):
                fields.update(yank_fields_from_attrs(base.__dict__, _as=graphene.Field))
            output = cls
        if arguments is None:
            arguments_class = getattr(cls, "Arguments", None)
            arguments = props(arguments_class) if arguments_class else {}
        # Read through the class: a staticmethod gives the function, a
        # classmethod a bound method, a plain method the function (root as self).
        publish = publish or getattr(cls, "publish", None)
        assert publish is not None, (
            f"Subscription '{cls.__qualname__}' does not define a method 'publish'! "
            "All subscriptions must define 'publish', which turns a broadcast "
            "payload into the result."
        )
        if _meta.fields:
            _meta.fields.update(fields)
        else:
            _meta.fields = fields
        _meta.arguments = arguments
        _meta.output = output
        _meta.publish = publish
        _meta.subscribe = subscribe or getattr(cls, "subscribe", None)
        _meta.unsubscribed = unsubscribed or getattr(cls, "unsubscribed", None)
        super().__init_subclass_with_meta__(_meta=_meta, **options)

    @classmethod
    def Field(
        cls,
        name: str | None = None,
        description: str | None = None,
        deprecation_reason: str | None = None,
        required: bool = False,
    ) -> graphene.Field:
        """The field to mount on the schema's root ``Subscription`` type."""
        return graphene.Field(
            cls._meta.output,
            args=cls._meta.arguments,
            resolver=PublishResolver(cls),
            name=name,
            description=description or cls._meta.description,
            deprecation_reason=deprecation_reason,
            required=required,
        )

    # ------------------------------------------------------------ broadcast

    @classmethod
    def broadcast(cls, *, group: Any = None, payload: Any = None) -> asyncio.Task[None] | None:
        """Notify the subscribers of ``group`` (all of this class's when None).

        The payload is packed here, so one that cannot travel raises here.
        On an event loop a queryset not evaluated yet is the exception (Django
        refuses queries there): it is evaluated in Django's sync thread just
        before the send, but the rest of the payload is still checked here,
        so only a database error comes later, from the returned task. From
        code running on an event loop it returns the scheduled task (await
        it, or let it run); from sync code it sends before returning. Calls
        made one after another reach the layer in that order.
        """
        name = cls._group_name(group)
        packed = layer_messages.pack_now(payload)
        message = layer_messages.broadcast_message(name, packed)  # type: ignore[arg-type]
        return layer_messages.send(name, message, payload)

    @classmethod
    async def broadcast_async(cls, *, group: Any = None, payload: Any = None) -> None:
        """``broadcast`` for async code: returns once the layer took the message."""
        task = cls.broadcast(group=group, payload=payload)
        if task is not None:
            await task

    @classmethod
    def broadcast_sync(cls, *, group: Any = None, payload: Any = None) -> None:
        """``broadcast`` for sync code; must not run in a thread with a running loop."""
        _require_no_running_loop("broadcast_sync")
        cls.broadcast(group=group, payload=payload)

    @classmethod
    def broadcast_on_commit(
        cls, *, group: Any = None, payload: Any = None, using: str | None = None
    ) -> None:
        """``broadcast`` once the current database transaction commits; never on rollback.

        Subscribers then never hear of rows they cannot read yet, nor of rows
        that were rolled back. The payload is packed here, so a value that
        cannot travel raises here, as does a missing ``CHANNEL_LAYERS``;
        outside a transaction it is sent at once (Django's
        ``transaction.on_commit``). A layer that fails when the commit comes
        is logged, not raised: the data is saved by then. Call it from sync
        code, where Django transactions live; ``using`` names the database.
        """
        name = cls._group_name(group)
        layer_messages.channel_layer()
        packed = layer_messages.pack_now(payload)
        message = layer_messages.broadcast_message(name, packed)  # type: ignore[arg-type]
        transaction.on_commit(
            functools.partial(layer_messages.send_after_commit, name, message, payload),
            using=using,
        )

    @classmethod
    def broadcast_model_changes(
        cls,
        model: type[Model],
        *,
        group: Callable[[Any], Any] | None = None,
        payload: Callable[[Any, str], Any] | None = None,
        on: Iterable[str] = ("save", "delete"),
    ) -> Callable[[], None]:
        """Broadcast every committed save and/or delete of ``model``'s instances.

        Connects Django's ``post_save`` and ``post_delete`` of ``model`` to
        ``broadcast_on_commit``, so a change reaches subscribers once its
        transaction commits, and never when it rolls back, whether it was
        made in a view, a management command, the admin or a resolver.

        ``group(instance)`` picks the group (None, or no ``group``: the
        class's default group, which every subscriber of it joins).
        ``payload(instance, change)`` picks what is sent, ``change`` being
        ``"created"``, ``"updated"`` or ``"deleted"``; without it the
        instance itself is sent (its concrete fields; ``publish`` may read
        relations from the database). Saves of fixtures (``loaddata``, where
        ``raw`` is true) are not broadcast. Call it once (an ``AppConfig.ready``
        or a module imported once); the returned function disconnects.
        """
        events = set(on)
        unknown = events - {"save", "delete"}
        if unknown:
            raise ValueError(f"`on` takes 'save' and 'delete', not {sorted(unknown)!r}.")

        def send(instance: Any, change: str, using: str) -> None:
            cls.broadcast_on_commit(
                group=None if group is None else group(instance),
                payload=instance if payload is None else payload(instance, change),
                using=using,
            )

        def saved(
            sender: Any, instance: Any, created: bool, raw: bool, using: str, **_: Any
        ) -> None:
            if not raw:
                send(instance, "created" if created else "updated", using)

        def deleted(sender: Any, instance: Any, using: str, **_: Any) -> None:
            send(instance, "deleted", using)

        # Strong references: the receivers are closures nobody else keeps.
        if "save" in events:
            signals.post_save.connect(saved, sender=model, weak=False)
        if "delete" in events:
            signals.post_delete.connect(deleted, sender=model, weak=False)

        def disconnect() -> None:
            signals.post_save.disconnect(saved, sender=model)
            signals.post_delete.disconnect(deleted, sender=model)

        return disconnect

    @classmethod
    def unsubscribe(cls, *, group: Any = None) -> asyncio.Task[None] | None:
        """End the subscriptions of ``group`` (all of this class's when None).

        Each client gets one ``complete`` for each, as if it had stopped them.
        Same sync/async behaviour as ``broadcast``.
        """
        name = cls._group_name(group)
        return layer_messages.send(name, layer_messages.unsubscribe_message(name))

    @classmethod
    async def unsubscribe_async(cls, *, group: Any = None) -> None:
        task = cls.unsubscribe(group=group)
        if task is not None:
            await task

    @classmethod
    def unsubscribe_sync(cls, *, group: Any = None) -> None:
        _require_no_running_loop("unsubscribe_sync")
        cls.unsubscribe(group=group)

    @classmethod
    def _group_name(cls, group: Any = None) -> str:
        return layer_messages.group_name(cls, group)

    @classmethod
    def _channel_layer(cls) -> Any:
        return layer_messages.channel_layer()


def _require_no_running_loop(name: str) -> None:
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return
    raise RuntimeError(
        f"`{name}` blocks, so it cannot run in a thread with a running event loop; "
        "use `broadcast()` / `unsubscribe()` or their `_async` variants there."
    )


# --------------------------------------------------------- running hooks


@dataclass
class SubscriptionSetup:
    """One subscriber of a ``Subscription`` class, as ``subscribe`` left it."""

    subscription_class: type[Subscription]
    info: GraphQLResolveInfo
    arguments: dict[str, Any]
    groups: list[str] = field(default_factory=list)


def subscription_class_of(info: GraphQLResolveInfo) -> type[Subscription] | None:
    """The ``Subscription`` class whose field ``info`` resolves, if any."""
    schema_field = info.parent_type.fields.get(info.field_name)
    resolver = getattr(schema_field, "resolve", None)
    if isinstance(resolver, PublishResolver):
        return resolver.subscription_class
    return None


async def run_subscribe(
    subscription_class: type[Subscription],
    info: GraphQLResolveInfo,
    arguments: dict[str, Any],
    *,
    sync_thread: bool = False,
) -> SubscriptionSetup:
    """Call ``subscribe`` and work out the groups to join (the default one first).

    With ``sync_thread``, a plain-function ``subscribe`` runs in Django's
    sync thread (``sync_thread.call_hook``).
    """
    setup = SubscriptionSetup(subscription_class, info, arguments)
    groups: Any = None
    hook = subscription_class._meta.subscribe
    if hook is not None:
        groups = await sync_thread_module.call_hook(
            hook, None, info, sync_thread=sync_thread, **arguments
        )
    if groups is not None and not isinstance(groups, (list, tuple)):
        raise AssertionError(
            f"Method 'subscribe' returned a value of an incorrect type {type(groups)}! "
            "A list, a tuple, or 'None' expected."
        )
    names = [subscription_class._group_name(None)]
    names += [subscription_class._group_name(group) for group in groups or ()]
    setup.groups = list(dict.fromkeys(names))
    return setup


async def run_unsubscribed(setup: SubscriptionSetup, *, sync_thread: bool = False) -> None:
    """Call ``unsubscribed`` with the ``info`` and arguments ``subscribe`` had.

    ``sync_thread`` as for ``run_subscribe``.
    """
    hook = setup.subscription_class._meta.unsubscribed
    if hook is not None:
        await sync_thread_module.call_hook(
            hook, None, setup.info, sync_thread=sync_thread, **setup.arguments
        )
