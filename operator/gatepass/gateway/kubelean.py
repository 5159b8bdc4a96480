"""kubernetes_asyncio, imported lean: its packages load a name the first time it is used.

``import kubernetes_asyncio`` runs ``client/__init__.py``, which imports every API class and
all 768 model modules: 67 MiB resident in every gateway (measured on Python 3.11), over a
quarter of the chart's 256 MiB limit, before the first object is listed. The gateway calls
three APIs and deserialises a model or two (the last-seen ConfigMap patch's answer);
everything else it reads unparsed. Here the packages ``kubernetes_asyncio``, ``.client``,
``.client.api`` and ``.client.models`` are put in place as modules whose names (as their
own ``__init__`` files list them: ``from kubernetes_asyncio.client.X import Name``) are
imported on first access, and the rest of the library imports as it is: the same code
runs, only what is touched is loaded (16 of its modules). A process holding every module
the gateway imports: 67 MiB resident instead of 118.

:func:`install` must run before anything imports kubernetes_asyncio (the ``gateway``
command calls it first); in a process that already has it, it does nothing.
"""

from __future__ import annotations

import importlib
import importlib.machinery
import importlib.util
import re
import sys
import types
from pathlib import Path

ROOT = "kubernetes_asyncio"
# The packages made lazy, and the files whose imports name what each one holds.
LAZY = (ROOT, f"{ROOT}.client", f"{ROOT}.client.api", f"{ROOT}.client.models")
_FROM = re.compile(r"^from (kubernetes_asyncio[\w.]*) import (\w+)", re.MULTILINE)


class LazyPackage(types.ModuleType):
    """A package: a submodule or a listed name is imported when first asked for."""

    def __init__(self, name: str, path: Path, names: dict[str, str]) -> None:
        super().__init__(name)
        self.__path__ = [str(path)]
        self.__spec__ = importlib.machinery.ModuleSpec(name, None, is_package=True)
        self.__spec__.submodule_search_locations = [str(path)]
        self._names = names  # name -> the module that defines it

    def __getattr__(self, attr: str) -> object:
        if attr.startswith("__"):
            raise AttributeError(attr)
        where = self._names.get(attr)
        try:
            value = (
                getattr(importlib.import_module(where), attr)
                if where is not None
                else importlib.import_module(f"{self.__name__}.{attr}")  # a submodule
            )
        except ModuleNotFoundError:
            raise AttributeError(f"module {self.__name__!r} has no attribute {attr!r}") from None
        setattr(self, attr, value)
        return value

    def __dir__(self) -> list[str]:
        return sorted({*super().__dir__(), *self._names})


def names_in(init: Path) -> dict[str, str]:
    """What a package's ``__init__`` imports by name, and from where."""
    try:
        text = init.read_text()
    except OSError:
        return {}
    return {name: module for module, name in _FROM.findall(text)}


def install() -> bool:
    """Put the lazy packages in place; False (nothing done) if kubernetes_asyncio is
    imported already or cannot be found."""
    if any(name == ROOT or name.startswith(f"{ROOT}.") for name in sys.modules):
        return False
    spec = importlib.util.find_spec(ROOT)  # finds, does not run, the package
    if spec is None or not spec.submodule_search_locations:
        return False
    base = Path(next(iter(spec.submodule_search_locations)))
    for name in LAZY:
        path = base.joinpath(*name.split(".")[1:])
        names = {} if name == ROOT else names_in(path / "__init__.py")
        module = LazyPackage(name, path, names)
        sys.modules[name] = module
        parent, _, child = name.rpartition(".")
        if parent:
            setattr(sys.modules[parent], child, module)
    return True
