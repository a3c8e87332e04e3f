"""How sessionorm learns about changes: per-model metadata and class hooks.

A flush must cost in proportion to what changed, so the session is told of each
change when it happens instead of diffing snapshots. :func:`instrument` prepares a
model class once, the first time one of its objects meets a session:

- a ``__setattr__`` on the class hands every assignment to the object's
  :class:`~sessionorm.state.InstanceState`, which records the old value once and
  puts the object in its session's modified set. An object that never met a
  session has no state, and the hook is one dictionary lookup;
- each concrete field's Django descriptor (``DeferredAttribute`` and its
  subclasses) is replaced by a subclass that loads *expired* attributes through
  the session, all of them in one SELECT; deferred fields of objects outside a
  session keep Django's behaviour;
- each forward foreign-key descriptor looks the related object up in the
  session's identity map first, so ``book.author`` is the session's one Author;
- ``refresh_from_db`` loads values without recording them as changes.
"""

from __future__ import annotations

import functools
import threading

from django.db.models import DateField, Field, Model
from django.db.models.base import ModelState
from django.db.models.fields.related_descriptors import (
    ForeignKeyDeferredAttribute,
    ForwardManyToOneDescriptor,
)
from django.db.models.query_utils import DeferredAttribute
from django.db.models.signals import post_init, pre_init

from sessionorm.exc import UnmappedInstanceError

STATE_ATTR = "_sessionorm_state"

_object_setattr = object.__setattr__
_MODEL_FROM_DB = Model.from_db.__func__
_infos: dict[type, ModelInfo] = {}
_lock = threading.Lock()


class ModelInfo:
    """What the session needs to know about one model class, computed once.

    ``tables`` lists the classes whose tables hold one row of the model, root
    ancestor first (more than one under multi-table inheritance); each carries
    the fields stored in it.
    """

    def __init__(self, model):
        opts = model._meta
        self.model = model
        self.concrete_model = opts.concrete_model
        self.label = opts.label
        self.pk_fields = list(opts.pk_fields)
        self.pk_attname = opts.pk.attname
        # obj.pk is obj.__dict__[pk_attname]: one concrete key column, no inheritance link.
        self.simple_pk = len(self.pk_fields) == 1 and not opts.parents
        fields = [f for f in opts.concrete_fields if not getattr(f, "generated", False)]
        self.fields = fields
        self.attnames = tuple(f.attname for f in opts.concrete_fields)
        self.tracked = frozenset(self.attnames)
        # Key columns identify the row and never expire (MTI: every link in the chain).
        keys = {f.attname for f in opts.concrete_fields if f.primary_key}
        keys.update(f.attname for f in opts.pk_fields)  # CompositePrimaryKey's columns
        self.expirable = tuple(name for name in self.attnames if name not in keys)
        self.expirable_set = frozenset(self.expirable)
        self.field_for_attname = {f.attname: f for f in opts.concrete_fields}
        parent_links = {link for link in opts.parents.values() if link}
        # Foreign keys whose related object the flush must order before this one.
        self.fk_fields = [
            f for f in opts.concrete_fields if f.is_relation and f not in parent_links
        ]
        # Assigning an object to one of these attributes adds it to the session.
        self.cascade_names = frozenset(f.name for f in self.fk_fields)
        self.tables = list(reversed(opts.get_parent_list())) + [opts.concrete_model]
        self.version_field = _version_field(model)
        # Fields whose pre_save(add=False) produces the value to write (auto_now).
        self.update_presave_fields = [
            f
            for f in fields
            if isinstance(f, DateField)
            and f.auto_now
            or type(f).pre_save is not Field.pre_save
            and not isinstance(f, DateField)
        ]

    def __repr__(self):
        return f"<ModelInfo {self.label}>"


def _version_field(model) -> str | None:
    """The attname of the model's optimistic-concurrency version column, if any.

    Declared on the model like ``Meta``::

        class Book(models.Model):
            version = models.PositiveIntegerField(default=1)

            class SessionORM:
                version_field = "version"
    """
    options = getattr(model, "SessionORM", None)
    name = getattr(options, "version_field", None)
    if name is None:
        return None
    try:
        return model._meta.get_field(name).attname
    except Exception as exc:
        raise UnmappedInstanceError(
            f"{model._meta.label}.SessionORM.version_field names {name!r}, which is not a "
            f"field of {model.__name__}. Name an integer field of the model."
        ) from exc


def model_info(model) -> ModelInfo:
    """The :class:`ModelInfo` of a model class, instrumenting it on first use."""
    info = _infos.get(model)
    if info is None:
        if not (isinstance(model, type) and hasattr(model, "_meta")):
            raise UnmappedInstanceError(
                f"{model!r} is not a Django model class; a Session maps Django models only."
            )
        with _lock:
            info = _infos.get(model)
            if info is None:
                instrument(model)
                info = _infos[model] = ModelInfo(model)
    return info


def instance_info(obj) -> ModelInfo:
    """The :class:`ModelInfo` of an object's class; a clear error for non-models."""
    cls = type(obj)
    info = _infos.get(cls)
    if info is not None:
        return info
    if not hasattr(cls, "_meta") or getattr(cls._meta, "abstract", False):
        raise UnmappedInstanceError(
            f"{obj!r} ({cls.__module__}.{cls.__qualname__}) is not a Django model instance, "
            "so a Session cannot track it. Add instances of concrete Django models."
        )
    return model_info(cls)


# -- class hooks -----------------------------------------------------------------


def _make_setattr(original):
    def __setattr__(self, name, value):
        state = self.__dict__.get(STATE_ATTR)
        if state is None:
            original(self, name, value)
            return
        state.on_set(self, name)  # detached objects record changes too, for a later add()
        original(self, name, value)
        if name in state.info.cascade_names and state.session_id is not None:
            state.on_assign_related(self, value)  # book.author = Author(): add the author

    __setattr__._sessionorm_hook = True
    return __setattr__


_tracking_setattr = _make_setattr(_object_setattr)


class ExpiredAttributeLoader:
    """Mixin for Django's field descriptors: expired attributes load via the session."""

    def __get__(self, instance, cls=None):
        if instance is not None:
            data = instance.__dict__
            attname = self.field.attname
            if attname not in data:
                state = data.get(STATE_ATTR)
                if state is not None and state.is_expired(instance, attname):
                    state.load_expired(instance)
        return super().__get__(instance, cls)


class SessionForwardDescriptor:
    """Mixin for forward FK descriptors: the related object comes from the session."""

    def get_object(self, instance):
        state = instance.__dict__.get(STATE_ATTR)
        session = state.session if state is not None else None
        if session is not None and self.field.target_field.primary_key:
            value = getattr(instance, self.field.attname)
            # From the database the object came from: Django has no cross-database
            # foreign keys, and on shards the same key names another row elsewhere.
            using = state.key[2] if state.key is not None else None
            related = session.get(self.field.related_model, value, using=using)
            if related is None:
                raise self.field.related_model.DoesNotExist(
                    f"{self.field.related_model.__name__} matching {value!r} does not exist."
                )
            return related
        return super().get_object(instance)


_subclasses: dict[tuple[type, type], type] = {}


def _swap_class(descriptor, mixin):
    base = type(descriptor)
    if issubclass(base, mixin):
        return
    key = (mixin, base)
    sub = _subclasses.get(key)
    if sub is None:
        sub = _subclasses[key] = type(f"Session{base.__name__}", (mixin, base), {})
    descriptor.__class__ = sub


def _owner_dict_value(model, name):
    for klass in model.__mro__:
        if name in klass.__dict__:
            return klass.__dict__[name]
    return None


def _wrap_refresh_from_db(model):
    original = model.refresh_from_db
    if getattr(original, "_sessionorm_hook", False):
        return

    @functools.wraps(original)
    def refresh_from_db(self, *args, **kwargs):
        state = self.__dict__.get(STATE_ATTR)
        if state is None:
            return original(self, *args, **kwargs)
        with state.loading():
            return original(self, *args, **kwargs)

    refresh_from_db._sessionorm_hook = True
    model.refresh_from_db = refresh_from_db


def _plain_descriptors(model) -> bool:
    """True if every concrete field's descriptor only stores the value it is given."""
    allowed = (None, ForeignKeyDeferredAttribute.__set__)
    for field in model._meta.concrete_fields:
        descriptor = _owner_dict_value(model, field.attname)
        if not isinstance(descriptor, DeferredAttribute):
            return False
        if getattr(type(descriptor), "__set__", None) not in allowed:
            return False
    return True


def _install_fast_from_db(model) -> None:
    """Load rows without running ``__init__``'s per-field setattr through the hook.

    ``Model.from_db`` calls ``cls(*values)``, and ``__init__`` assigns each field
    with setattr, which on an instrumented class runs the Python ``__setattr__``
    hook: that made loading ~1.5x slower than Django. For a model whose
    ``__init__``, ``from_db`` and field descriptors are Django's own, the values
    go straight into ``__dict__``, which is what those setattr calls store; a
    model with ``pre_init``/``post_init`` receivers keeps Django's path.
    """
    if model.__init__ is not Model.__init__ or model.from_db.__func__ is not _MODEL_FROM_DB:
        return
    if not _plain_descriptors(model):
        return
    attnames = [f.attname for f in model._meta.concrete_fields]
    count = len(attnames)

    def from_db(cls, db, field_names, values, **kwargs):
        if cls is not model or (
            (pre_init.receivers or post_init.receivers)
            and (pre_init.has_listeners(cls) or post_init.has_listeners(cls))
        ):
            return _MODEL_FROM_DB(cls, db, field_names, values, **kwargs)
        new = cls.__new__(cls)
        state = ModelState()
        state.adding = False
        state.db = db
        data = new.__dict__
        data["_state"] = state
        data.update(zip(attnames if len(values) == count else field_names, values, strict=True))
        fetch_mode = kwargs.get("fetch_mode")
        if fetch_mode is not None:
            state.fetch_mode = fetch_mode
        return new

    from_db._sessionorm_hook = True
    model.from_db = classmethod(from_db)


def instrument(model) -> None:
    """Install the hooks described in the module docstring on ``model``.

    Idempotent, and safe for code that never uses a session: every hook falls
    through to Django's behaviour when the object has no session state.
    """
    current = model.__setattr__
    if not getattr(current, "_sessionorm_hook", False):
        hook = _tracking_setattr if current is _object_setattr else _make_setattr(current)
        model.__setattr__ = hook
    for field in model._meta.concrete_fields:
        descriptor = _owner_dict_value(model, field.attname)
        if isinstance(descriptor, DeferredAttribute):
            _swap_class(descriptor, ExpiredAttributeLoader)
        if field.is_relation and field.many_to_one or field.one_to_one:
            forward = _owner_dict_value(model, field.name)
            if isinstance(forward, ForwardManyToOneDescriptor) and not (
                field.remote_field.parent_link
            ):
                _swap_class(forward, SessionForwardDescriptor)
    _wrap_refresh_from_db(model)
    _install_fast_from_db(model)
