"""The identity map: one Python object per database row per session.

Keys are ``(concrete model, primary key, database alias)``: a proxy model shares
the identity of its concrete model, and the same primary key in two databases is
two rows. The map holds states; a state holds its object weakly, so a clean
persistent object the application dropped disappears from the map on its own.
Objects with unflushed changes are kept alive by their states (see ``state.py``).
"""

from __future__ import annotations

from collections.abc import Iterator

__all__ = ["IdentityMap", "identity_key"]


def identity_key(model, pk, using: str = "default") -> tuple:
    """The identity-map key of the row of ``model`` with primary key ``pk`` in ``using``."""
    return (model._meta.concrete_model, pk, using)


class IdentityMap:
    """``key -> InstanceState`` with a read API that speaks in objects.

    Alongside the map it counts the states of each (model, database), so the
    flush can ask "does this session hold any Review?" without a scan.
    """

    __slots__ = ("_dict", "_counts")

    def __init__(self):
        self._dict: dict = {}
        self._counts: dict = {}  # (concrete model, alias) -> number of states

    def __len__(self) -> int:
        return len(self._dict)

    def __contains__(self, key) -> bool:
        return self.get(key) is not None

    def __getitem__(self, key):
        obj = self.get(key)
        if obj is None:
            raise KeyError(key)
        return obj

    def get(self, key, default=None):
        state = self._dict.get(key)
        if state is None:
            return default
        obj = state.obj()
        return default if obj is None else obj

    def get_state(self, key):
        return self._dict.get(key)

    def keys(self):
        return list(self._dict)

    def values(self) -> list:
        return [obj for obj in (s.obj() for s in list(self._dict.values())) if obj is not None]

    def items(self) -> list:
        pairs = ((key, state.obj()) for key, state in list(self._dict.items()))
        return [(key, obj) for key, obj in pairs if obj is not None]

    def __iter__(self) -> Iterator:
        return iter(list(self._dict))

    def all_states(self) -> list:
        return list(self._dict.values())

    def states_of(self, concrete_model, alias) -> Iterator:
        """States of one model in one database (a scan: used by rare paths only)."""
        if not self.has_model(concrete_model, alias):
            return
        for (model, _pk, db), state in list(self._dict.items()):
            if model is concrete_model and db == alias:
                yield state

    def has_model(self, concrete_model, alias) -> bool:
        return self._counts.get((concrete_model, alias), 0) > 0

    # -- mutation, for the session only -------------------------------------

    def add(self, state) -> None:
        self.add_all((state,))

    def add_all(self, states) -> None:
        """Map each state's key to it; a key already held for a live object is a bug."""
        mapped, counts = self._dict, self._counts
        for state in states:
            key = state.key
            existing = mapped.get(key)
            if existing is None:
                counter = (key[0], key[2])
                counts[counter] = counts.get(counter, 0) + 1
            elif existing is not state and existing.obj() is not None:
                raise AssertionError(f"identity map already holds {key!r}")
            mapped[key] = state

    def _put(self, key, state, existing=None) -> None:
        """Map ``key`` to ``state`` (``existing``: what the map held for it, if known)."""
        self._dict[key] = state
        if existing is None:
            counter = (key[0], key[2])
            self._counts[counter] = self._counts.get(counter, 0) + 1

    def _remove(self, key) -> None:
        del self._dict[key]
        counter = (key[0], key[2])
        self._counts[counter] -= 1

    def discard(self, state) -> None:
        if self._dict.get(state.key) is state:
            self._remove(state.key)

    def replace_key(self, state, new_key) -> None:
        self.discard(state)
        state.key = new_key
        self._put(new_key, state, self._dict.get(new_key))

    def clear(self) -> None:
        self._dict.clear()
        self._counts.clear()

    def _discard_collected(self, state) -> None:
        if state.key is not None and self._dict.get(state.key) is state:
            self._remove(state.key)
