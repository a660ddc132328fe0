"""The public surface of ``aioqruntime.protocol``."""

from __future__ import annotations

import aioqruntime.protocol as protocol


def test_all_is_unique_complete_and_resolvable() -> None:
    names = protocol.__all__
    assert len(names) == len(set(names))
    for name in names:
        assert getattr(protocol, name) is not None
    public = {n for n in vars(protocol) if not n.startswith("_")}
    # Every public binding that is not a submodule is exported.
    modules = {n for n in public if type(getattr(protocol, n)).__name__ == "module"}
    assert public - modules - {"annotations"} == set(names)
