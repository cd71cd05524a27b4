"""Updating a diffusers config after construction without losing the values on reload."""

from __future__ import annotations

from typing import Any

from diffusers.configuration_utils import ConfigMixin, FrozenDict


def update_config(obj: ConfigMixin, **values: Any) -> None:
    """Set config values of a constructed diffusers object so that ``from_pretrained`` restores them.

    diffusers lists the arguments a constructor took by default in
    ``_use_default_values`` and, on loading, drops them from the saved config in
    favour of the defaults; a value set later (e.g. statistics measured after
    training) must therefore also leave that list.
    """
    obj.register_to_config(**values)
    d = dict(obj._internal_dict)
    if "_use_default_values" in d:
        d["_use_default_values"] = [k for k in d["_use_default_values"] if k not in values]
    obj._internal_dict = FrozenDict(d)
